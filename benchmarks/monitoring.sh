#!/usr/bin/env bash
# Print the monitoring layer's figures on the `monitoring` scenario's 4 nodes
# (the spare node added to the monitored group, so all 4 run node_exporter):
#   first converge          fresh nodes: node_exporter on 4, Prometheus on 1
#   idempotent re-run       the same converge again (0 changed)
#   scrape duration         Prometheus's own scrape_duration_seconds for the
#                           node job, averaged over the 4 targets after 30 s
set -euo pipefail
cd "$(dirname "$0")/.."
scenario=monitoring
# shellcheck source=benchmarks/molecule_lib.sh
. benchmarks/molecule_lib.sh
extra=$(mktemp --suffix=.yml)
printf 'all:\n  children:\n    monitored:\n      hosts:\n        geostack-mon-4:\n' >"$extra"

quiet molecule destroy -s $scenario
quiet molecule create -s $scenario
t0=$(now); quiet molecule converge -s $scenario -- -i "$extra"; t1=$(now)
quiet molecule converge -s $scenario -- -i "$extra"; t2=$(now)
sleep 30
server=$(docker inspect -f '{{range .NetworkSettings.Networks}}{{.IPAddress}}{{end}}' geostack-mon-1)
scrape=$(python3 - "$server" <<'PY'
import json, sys, urllib.parse, urllib.request
q = urllib.parse.quote('avg(avg_over_time(scrape_duration_seconds{job="node"}[30s]))')
with urllib.request.urlopen(f"http://{sys.argv[1]}:9090/api/v1/query?query={q}", timeout=10) as r:
    print(f'{float(json.load(r)["data"]["result"][0]["value"][1]) * 1000:.1f}')
PY
)
rm -f "$extra"

first=$(elapsed "$t0" "$t1"); rerun=$(elapsed "$t1" "$t2")

printf '%-60s %10s\n' "measure" "value"
printf '%-60s %10s\n' "first converge, 4 nodes (node_exporter) + Prometheus (s)" "$first"
printf '%-60s %10s\n' "idempotent re-run (s)" "$rerun"
printf '%-60s %10s\n' "node_exporter scrape duration, mean of 4 targets (ms)" "$scrape"
json_line first_converge_s "$first" rerun_s "$rerun" scrape_ms "$scrape"
