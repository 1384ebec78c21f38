#!/usr/bin/env bash
# Print the web tier's figures on the `web` scenario's node (3 apps, TLS):
#   first converge          fresh node (nginx, 3 releases, 3 virtualenvs)
#   idempotent re-run       the same converge again (0 changed)
#   redeploy                a code change committed to the rides app's repo, converged (HUP)
#   requests per second     wrk in the node for 10 s, 16 connections, a 10 KB tile from the
#                           reference tiles app: through nginx (HTTPS, keep-alive) and
#                           from gunicorn directly (a second gunicorn of the same app and
#                           config on 127.0.0.1:8001), and the ratio (the proxy's cost)
set -euo pipefail
cd "$(dirname "$0")/.."
scenario=web
# shellcheck source=benchmarks/molecule_lib.sh
. benchmarks/molecule_lib.sh
node=geostack-web-1

quiet molecule destroy -s $scenario
quiet molecule create -s $scenario
quiet molecule prepare -s $scenario
t0=$(now); quiet molecule converge -s $scenario; t1=$(now)
quiet molecule converge -s $scenario; t2=$(now)
docker exec $node sh -c "cd /srv/repos/rides && sed -i 's/^VERSION = 1$/VERSION = 2/' app.py \
  && git -c user.name=b -c user.email=b@b.invalid commit -qam v2"
t3=$(now); quiet molecule converge -s $scenario; t4=$(now)

quiet docker exec $node apt-get install -y -qq wrk
docker exec $node sh -c 'mkdir -p /srv/geostack/tiles/3/4 && head -c 10240 /dev/urandom > /srv/geostack/tiles/3/4/5.png'
docker exec -d $node runuser -u web-tiles -- /srv/geostack-web/tiles/venv/bin/gunicorn \
  --config /etc/geostack-web/tiles.conf.py --bind 127.0.0.1:8001 --pid /tmp/bench-gunicorn.pid
sleep 3
rps() { docker exec $node wrk -t2 -c16 -d10s "$1" | awk '/Requests\/sec/ { print $2 }'; }
via_nginx=$(rps https://127.0.0.1/tiles/3/4/5.png)
direct=$(rps http://127.0.0.1:8001/tiles/3/4/5.png)
docker exec $node sh -c 'kill $(cat /tmp/bench-gunicorn.pid)'

first=$(elapsed "$t0" "$t1"); rerun=$(elapsed "$t1" "$t2"); redeploy=$(elapsed "$t3" "$t4")
# Empty without a divisor, so the table still prints (null in the JSON).
ratio=$(awk -v a="$via_nginx" -v b="$direct" 'BEGIN { if (b > 0) printf "%.2f", a / b }')

printf '%-60s %10s\n' "measure" "value"
printf '%-60s %10s\n' "first converge, 1 node, 3 apps (s)" "$first"
printf '%-60s %10s\n' "idempotent re-run (s)" "$rerun"
printf '%-60s %10s\n' "redeploy after a code change (s)" "$redeploy"
printf '%-60s %10s\n' "tile requests/s through nginx (HTTPS) -> gunicorn" "$via_nginx"
printf '%-60s %10s\n' "tile requests/s from gunicorn directly (HTTP)" "$direct"
printf '%-60s %10s\n' "ratio nginx / direct" "$ratio"
json_line first_converge_s "$first" rerun_s "$rerun" redeploy_s "$redeploy" \
  nginx_rps "$via_nginx" direct_rps "$direct" nginx_over_direct "$ratio"
