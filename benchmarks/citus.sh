#!/usr/bin/env bash
# Print how long the citus role takes on the `citus` scenario's nodes
# (1 coordinator + 2 workers), loaded with generated trajectories:
#   first converge        fresh nodes: install, TLS, settings, roles, tables, data
#   idempotent re-run     the same converge again (0 changed)
# and, with a Citus package (GEOSTACK_CITUS_PACKAGE=/path/to/postgresql-17-citus-*.deb):
#   add a worker          converge with a third worker, including the rebalance
#   drain a worker        playbooks/remove_node.yml on a worker: rows moved per second
# Usage: benchmarks/citus.sh [trips] [points per trip]   (default 2000 x 100)
set -euo pipefail
cd "$(dirname "$0")/.."
scenario=citus
# shellcheck source=benchmarks/molecule_lib.sh
. benchmarks/molecule_lib.sh
trips=${1:-2000}
points=${2:-100}
data=(-e "citus_demo_trips=$trips" -e "citus_demo_points_per_trip=$points")
psql_c() { docker exec geostack-citus-1 psql -U postgres -d geostack -AtXc "$1"; }
address() { docker inspect -f '{{range .NetworkSettings.Networks}}{{.IPAddress}}{{end}}' "$1"; }

quiet molecule destroy -s $scenario
quiet molecule create -s $scenario
t0=$(now); quiet molecule converge -s $scenario -- "${data[@]}"; t1=$(now)
quiet molecule converge -s $scenario -- "${data[@]}"; t2=$(now)
rows=$(psql_c "SELECT count(*) FROM mobilitydb_table")
first=$(elapsed "$t0" "$t1"); rerun=$(elapsed "$t1" "$t2")
figures=(rows "$rows" first_converge_s "$first" rerun_s "$rerun")

printf '%-52s %10s\n' "measure ($rows rows)" "value"
printf '%-52s %10s\n' "first converge, 1 coordinator + 2 workers (s)" "$first"
printf '%-52s %10s\n' "idempotent re-run (s)" "$rerun"

if [ -z "${GEOSTACK_CITUS_PACKAGE:-}" ]; then
  echo "(no GEOSTACK_CITUS_PACKAGE: Citus scale-out and drain not measured)"
  json_line "${figures[@]}"
  exit 0
fi

# The scenario's inventory plus geostack-citus-4 as a third worker, with addresses.
inventory=$(mktemp -d)/grown.yml
{
  echo "all:"
  echo "  hosts:"
  for n in 1 2 3 4; do echo "    geostack-citus-$n: {geostack_private_address: $(address geostack-citus-$n)}"; done
  echo "  children:"
  echo "    citus: {hosts: {geostack-citus-4: {}}}"
  echo "    citus_workers: {hosts: {geostack-citus-4: {}}}"
} >"$inventory"
inventories=(~/.ansible/tmp/molecule.*."$scenario"/inventory)
molecule_inventory=${inventories[0]}
run() { quiet ansible-playbook -i "$molecule_inventory" -i "$inventory" "$@"; }

t3=$(now); run molecule/citus/converge.yml "${data[@]}"; t4=$(now)
job_seconds() { psql_c "SELECT round(extract(epoch FROM finished_at - started_at)::numeric, 1) FROM pg_dist_background_job ORDER BY job_id DESC LIMIT 1"; }
rebalance=$(job_seconds)
on_node() {
  psql_c "SELECT coalesce(sum(result::bigint), 0) FROM run_command_on_placements('mobilitydb_table', 'SELECT count(*) FROM %s') WHERE nodename = '$(address "$1")'"
}
moved=$(on_node geostack-citus-3)
t5=$(now); run playbooks/remove_node.yml -e node=geostack-citus-3 -e remove_node_confirm=geostack-citus-3; t6=$(now)
drain=$(job_seconds)
[ "$(psql_c "SELECT count(*) FROM mobilitydb_table")" = "$rows" ] || { echo "row count changed; see $log" >&2; exit 1; }

add=$(elapsed "$t3" "$t4"); remove=$(elapsed "$t5" "$t6")
per_second=$(awk -v r="$moved" -v s="$drain" 'BEGIN { if (s > 0) printf "%.0f", r / s }')

printf '%-52s %10s\n' "add a 3rd worker incl. rebalance, playbook (s)" "$add"
printf '%-52s %10s\n' "  of which the rebalance job (s)" "$rebalance"
printf '%-52s %10s\n' "drain + remove a worker, playbook (s)" "$remove"
printf '%-52s %10s\n' "  rows drained from it" "$moved"
printf '%-52s %10s\n' "  drain job (s)" "$drain"
printf '%-52s %10s\n' "  rows moved per second (drain job)" "$per_second"
json_line "${figures[@]}" add_worker_s "$add" rebalance_job_s "$rebalance" remove_worker_s "$remove" \
  rows_drained "$moved" drain_job_s "$drain" drain_rows_per_s "$per_second"
