#!/usr/bin/env bash
# Print how long the messaging layer takes on the `messaging` scenario's three
# nodes (each a RabbitMQ and a ZooKeeper member):
#   first converge          fresh nodes: both roles
#   idempotent re-run       the same converge again (0 changed)
#   ZooKeeper failover      stop the leader's service: seconds until a survivor leads
#   RabbitMQ rejoin         stop a node's service, converge: seconds until 3 nodes run
set -euo pipefail
cd "$(dirname "$0")/.."
scenario=messaging
# shellcheck source=benchmarks/molecule_lib.sh
. benchmarks/molecule_lib.sh
nodes=(geostack-msg-1 geostack-msg-2 geostack-msg-3)
mode() {
  docker exec "$1" python3 -c "
import socket, sys
try:
    s = socket.create_connection((socket.gethostbyname(socket.gethostname()), 2181), timeout=2)
    s.sendall(b'srvr'); print([l[6:] for l in s.recv(4096).decode().splitlines() if l.startswith('Mode: ')][0])
except Exception:
    print('down')" 2>/dev/null || echo down
}

quiet molecule destroy -s $scenario
quiet molecule create -s $scenario
t0=$(now); quiet molecule converge -s $scenario; t1=$(now)
quiet molecule converge -s $scenario; t2=$(now)

leader=""
for n in "${nodes[@]}"; do [ "$(mode "$n")" = leader ] && leader=$n; done
[ -n "$leader" ] || { echo "no ZooKeeper leader; see $log" >&2; exit 1; }
docker exec "$leader" systemctl stop zookeeper
t3=$(now); elected=""
while [ -z "$elected" ]; do
  for n in "${nodes[@]}"; do [ "$n" != "$leader" ] && [ "$(mode "$n")" = leader ] && elected=$n; done
  sleep 0.2
done
t4=$(now)

docker exec geostack-msg-3 systemctl stop rabbitmq-server
t5=$(now); quiet molecule converge -s $scenario
until docker exec geostack-msg-1 rabbitmqctl -q cluster_status --formatter json \
  | python3 -c 'import json, sys; sys.exit(len(json.load(sys.stdin)["running_nodes"]) != 3)'; do sleep 1; done
t6=$(now)

first=$(elapsed "$t0" "$t1"); rerun=$(elapsed "$t1" "$t2")
failover=$(elapsed "$t3" "$t4"); rejoin=$(elapsed "$t5" "$t6")

printf '%-52s %8s\n' "measure (seconds)" "value"
printf '%-52s %8s\n' "first converge, 3 nodes (ZooKeeper + RabbitMQ)" "$first"
printf '%-52s %8s\n' "idempotent re-run" "$rerun"
printf '%-52s %8s\n' "ZooKeeper leader stopped -> new leader elected" "$failover"
printf '%-52s %8s\n' "RabbitMQ node stopped -> rejoined by a converge" "$rejoin"
json_line first_converge_s "$first" rerun_s "$rerun" zookeeper_failover_s "$failover" rabbitmq_rejoin_s "$rejoin"
