#!/usr/bin/env bash
# The whole cluster on the local cloud, in the reference layout
# (inventories/local: 3 managers with RabbitMQ + ZooKeeper, one of them also
# Citus coordinator + Prometheus, 2 workers that are Citus workers, 1 web):
#   1. site.yml from nothing (fresh emulator, provision, containers, every layer);
#   2. the idempotent re-run of site.yml;
#   3. the floor: the packages the converge installed on each node, installed
#      by bare `apt-get install` in fresh containers of the same image, all
#      nodes in parallel (apt lists refreshed first, as the roles do);
#   4. scale-out cost: scale.yml adding one worker to 2 workers (2 -> 3), and
#      to 4 workers (4 -> 5);
#   5. the teardown.
# Uses its own emulator port and cluster name, so `make cluster` is not touched.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$PWD/.venv/bin:$PATH" ANSIBLE_CONFIG="$PWD/ansible.cfg" AWS_EC2_METADATA_DISABLED=true
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
cluster=bench$$
inv=$(mktemp -d)
state=$(mktemp -d)
out=benchmarks/results; mkdir -p "$out"; log="$out/local_cloud.log"; : >"$log"
export GEOSTACK_MOTO_PORT=$port GEOSTACK_STATE_DIR="$state"
image=${GEOSTACK_TEST_IMAGE:-geostack/debian13-systemd:latest}
floor_nodes=()

cleanup() {
  ansible-playbook -i "$inv" playbooks/teardown.yml -e geostack_teardown_confirm=$cluster >>"$log" 2>&1 || true
  ./scripts/local_cloud.sh stop >>"$log" 2>&1 || true
  [ ${#floor_nodes[@]} -eq 0 ] || docker rm -f -v "${floor_nodes[@]}" >>"$log" 2>&1 || true
  rm -rf "$inv" "$state"
}
trap cleanup EXIT

cp -r inventories/local/group_vars "$inv/"
sed -e "s/^cluster: .*/cluster: $cluster/" -e "s#^endpoint_url: .*#endpoint_url: http://127.0.0.1:$port#" \
  inventories/local/geostack_ec2.yml >"$inv/geostack_ec2.yml"

now() { date +%s.%N; }
play() { ansible-playbook -i "$inv" "$@" >>"$log" 2>&1; }
nodes() { docker ps --filter "label=geostack.cluster=$cluster" --format '{{.Names}}' | sort; }

t0=$(now)
./scripts/local_cloud.sh start >>"$log" 2>&1
play site.yml
t1=$(now)
play site.yml
t2=$(now)

# The floor: what each node got from apt, installed bare in a fresh container.
base=$(docker run --rm --entrypoint apt-mark "$image" showmanual | sort)
i=0
for node in $(nodes); do
  pkgs=$(comm -13 <(echo "$base") <(docker exec "$node" apt-mark showmanual | sort) | tr '\n' ' ')
  name=bench$$-floor-$i; i=$((i + 1))
  docker run -d --name "$name" --cap-add ALL --cap-drop SYS_RESOURCE --security-opt seccomp=unconfined \
    --security-opt apparmor=unconfined --cgroupns=host -v /sys/fs/cgroup:/sys/fs/cgroup:rw --tmpfs /run --tmpfs /run/lock \
    -v /var/lib/docker "$image" /lib/systemd/systemd >>"$log"
  floor_nodes+=("$name")
  echo "$name $pkgs" >>"$log"
  printf '%s\n' "$pkgs" >"$state/$name.pkgs"
done
t3=$(now)
for name in "${floor_nodes[@]}"; do
  docker exec -e DEBIAN_FRONTEND=noninteractive "$name" sh -c \
    "apt-get update -q && apt-get install -y -q --no-install-recommends $(cat "$state/$name.pkgs")" >>"$log" 2>&1 &
done
wait
t4=$(now)
docker rm -f -v "${floor_nodes[@]}" >>"$log" 2>&1; floor_nodes=()

play playbooks/scale.yml -e workers=3
t5=$(now)
play playbooks/scale.yml -e workers=4
t6=$(now)
play playbooks/scale.yml -e workers=5
t7=$(now)
cleanup; trap - EXIT
t8=$(now)

awk -v a="$t0" -v b="$t1" -v c="$t2" -v d="$t3" -v e="$t4" -v f="$t5" -v g="$t6" -v h="$t7" -v k="$t8" 'BEGIN {
  printf "%-60s %8s\n", "local cloud, reference layout (6 nodes), seconds", "value"
  printf "%-60s %8.1f\n", "site.yml from nothing (emulator, provision, all layers)", b - a
  printf "%-60s %8.1f\n", "idempotent re-run of site.yml", c - b
  printf "%-60s %8.2f\n", "  re-run / first converge", (c - b) / (b - a)
  printf "%-60s %8.1f\n", "floor: bare parallel apt-get of the same packages", e - d
  printf "%-60s %8.2f\n", "  first converge / floor", (b - a) / (e - d)
  printf "%-60s %8.1f\n", "scale.yml: add a worker to 2 workers (2 -> 3)", f - e
  printf "%-60s %8.1f\n", "scale.yml: add a worker to 4 workers (4 -> 5)", h - g
  printf "%-60s %8.2f\n", "  cost with 4 workers / with 2", (h - g) / (f - e)
  printf "%-60s %8.1f\n", "teardown (instances, containers, network, SGs)", k - h
}'
