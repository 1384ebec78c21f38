#!/usr/bin/env bash
# Print how long the docker role takes on the two nodes of the `docker`
# scenario, against the floor: the same packages installed by hand with
# `docker exec apt-get` on two fresh nodes in parallel.
#   first converge   fresh nodes, apt update + install + configure
#   second converge  idempotent re-run (0 changed)
#   floor            apt-get update && apt-get install docker.io python3-docker docker-compose
set -euo pipefail
cd "$(dirname "$0")/.."
scenario=docker
nodes=(geostack-docker-1 geostack-docker-2)
# shellcheck source=benchmarks/molecule_lib.sh
. benchmarks/molecule_lib.sh

quiet molecule destroy -s $scenario
quiet molecule create -s $scenario
quiet molecule prepare -s $scenario
t0=$(now); quiet molecule converge -s $scenario; t1=$(now)
quiet molecule converge -s $scenario; t2=$(now)
first=$(elapsed "$t0" "$t1"); second=$(elapsed "$t1" "$t2")

quiet molecule destroy -s $scenario
quiet molecule create -s $scenario
t3=$(now)
for n in "${nodes[@]}"; do
  docker exec "$n" sh -c 'apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq docker.io python3-docker docker-compose' \
    >>"$log" 2>&1 &
done
wait
t4=$(now)
floor=$(elapsed "$t3" "$t4")
# Empty without a divisor, so the table still prints (null in the JSON).
ratio=$(awk -v a="$first" -v b="$floor" 'BEGIN { if (b > 0) printf "%.2f", a / b }')

printf '%-36s %8s\n' "measure (2 nodes, seconds)" "value"
printf '%-36s %8s\n' "first converge" "$first"
printf '%-36s %8s\n' "idempotent second converge" "$second"
printf '%-36s %8s\n' "floor: parallel docker exec apt-get" "$floor"
printf '%-36s %8s\n' "overhead ratio (converge / floor)" "$ratio"
json_line first_converge_s "$first" rerun_s "$second" floor_s "$floor" converge_over_floor "$ratio"
