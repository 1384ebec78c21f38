#!/usr/bin/env bash
# Print how long the swarm takes on the `swarm` scenario's six nodes
# (3 managers, 2 workers, 1 web), and what adding one worker costs:
#   first converge        fresh nodes: docker role + swarm role
#   idempotent re-run     the same converge again (0 changed)
#   swarm role re-run     --tags swarm only (the swarm layer's own cost)
#   add one worker        a 7th node with --limit to it (what scale-out runs)
#   add one worker, full  an 8th node with a full run over all the nodes
#   idempotent, 8 nodes   the full run again
set -euo pipefail
cd "$(dirname "$0")/.."
scenario=swarm
# shellcheck source=benchmarks/molecule_lib.sh
. benchmarks/molecule_lib.sh

quiet molecule destroy -s $scenario
quiet molecule create -s $scenario
t0=$(now); quiet molecule converge -s $scenario; t1=$(now)
quiet molecule converge -s $scenario; t2=$(now)
quiet molecule converge -s $scenario -- --tags swarm; t3=$(now)

# A seventh node joins as a worker: first with --limit to it, then the full run.
inventory=$(mktemp -d)/hosts.yml
cat >"$inventory" <<'YAML'
all:
  vars: {ansible_connection: community.docker.docker}
  children:
    swarm:
      children:
        swarm_bootstrap: {hosts: {geostack-swarm-1: {}}}
        managers: {hosts: {geostack-swarm-1: {}, geostack-swarm-2: {}, geostack-swarm-3: {}}}
        workers: {hosts: {geostack-swarm-4: {}, geostack-swarm-5: {swarm_node_labels: {disk: ssd}}, geostack-swarm-7: {}, geostack-swarm-8: {}}}
        web: {hosts: {geostack-swarm-6: {}}}
YAML
quiet ansible-playbook -i "$inventory" molecule/swarm/add_node.yml -e new_node=geostack-swarm-7
quiet ansible-playbook -i "$inventory" molecule/swarm/add_node.yml -e new_node=geostack-swarm-8
t4=$(now); quiet ansible-playbook -i "$inventory" --limit geostack-swarm-7 molecule/swarm/converge.yml; t5=$(now)
quiet ansible-playbook -i "$inventory" molecule/swarm/converge.yml; t6=$(now)
quiet ansible-playbook -i "$inventory" molecule/swarm/converge.yml; t7=$(now)
for n in geostack-swarm-7 geostack-swarm-8; do
  docker exec geostack-swarm-1 docker node ls --format '{{.Hostname}} {{.Status}}' | grep -q "^$n Ready\$" \
    || { echo "$n did not join; see $log" >&2; exit 1; }
done

first=$(elapsed "$t0" "$t1"); rerun=$(elapsed "$t1" "$t2"); swarm_only=$(elapsed "$t2" "$t3")
add_limit=$(elapsed "$t4" "$t5"); add_full=$(elapsed "$t5" "$t6"); rerun8=$(elapsed "$t6" "$t7")

printf '%-46s %8s\n' "measure (seconds)" "value"
printf '%-46s %8s\n' "first converge, 6 nodes (docker + swarm)" "$first"
printf '%-46s %8s\n' "idempotent re-run, 6 nodes" "$rerun"
printf '%-46s %8s\n' "swarm role only (--tags swarm), 6 nodes" "$swarm_only"
printf '%-46s %8s\n' "add a 7th node (--limit to it)" "$add_limit"
printf '%-46s %8s\n' "add an 8th node (full run over 8 nodes)" "$add_full"
printf '%-46s %8s\n' "idempotent re-run, 8 nodes" "$rerun8"
json_line first_converge_s "$first" rerun_s "$rerun" swarm_role_s "$swarm_only" \
  add_node_limit_s "$add_limit" add_node_full_s "$add_full" rerun_8_nodes_s "$rerun8"
