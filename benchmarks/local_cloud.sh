#!/usr/bin/env bash
# Wall time to bring the local cloud up from nothing to a converged 3-node
# docker layer (1 manager, 1 worker, 1 web): a fresh EC2 emulator, provision,
# one container per instance, the docker role. Then the idempotent re-run and
# the teardown. Uses its own emulator port and cluster name, so a running
# `make cluster` is not touched.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$PWD/.venv/bin:$PATH" ANSIBLE_CONFIG="$PWD/ansible.cfg" AWS_EC2_METADATA_DISABLED=true
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
cluster=bench$$
inv=$(mktemp -d)
state=$(mktemp -d)
out=benchmarks/results; mkdir -p "$out"; log="$out/local_cloud.log"; : >"$log"
export GEOSTACK_MOTO_PORT=$port GEOSTACK_STATE_DIR="$state"

cleanup() {
  ansible-playbook -i "$inv" playbooks/teardown.yml -e geostack_teardown_confirm=$cluster >>"$log" 2>&1 || true
  ./scripts/local_cloud.sh stop >>"$log" 2>&1 || true
  rm -rf "$inv" "$state"
}
trap cleanup EXIT

cp -r inventories/local/group_vars "$inv/"
sed -e "s/^cluster: .*/cluster: $cluster/" -e "s#^endpoint_url: .*#endpoint_url: http://127.0.0.1:$port#" \
  inventories/local/geostack_ec2.yml >"$inv/geostack_ec2.yml"

now() { date +%s.%N; }
t0=$(now)
./scripts/local_cloud.sh start >>"$log" 2>&1
ansible-playbook -i "$inv" site.yml >>"$log" 2>&1
t1=$(now)
ansible-playbook -i "$inv" site.yml >>"$log" 2>&1
t2=$(now)
cleanup; trap - EXIT
t3=$(now)

awk -v a="$t0" -v b="$t1" -v c="$t2" -v d="$t3" 'BEGIN {
  printf "%-52s %8s\n", "local cloud, 3 nodes (seconds)", "value"
  printf "%-52s %8.1f\n", "from nothing to a converged site.yml", b - a
  printf "%-52s %8.1f\n", "idempotent re-run of site.yml", c - b
  printf "%-52s %8.1f\n", "teardown (instances, containers, network, SGs)", d - c
}'
