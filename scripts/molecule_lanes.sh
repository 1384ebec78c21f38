#!/usr/bin/env bash
# Run Molecule scenarios in parallel lanes: each lane takes the next scenario
# of the list when its current one ends, so the longest go first. Scenarios
# share nothing (each has its own containers, network, cluster name and
# emulator port) and spend much of their time waiting on services, so two
# lanes finish well before one on two cores.
#
# A scenario's whole output is printed when it ends, one scenario at a time,
# and a table of results and times comes last. Exits non-zero if any failed.
#   scripts/molecule_lanes.sh <lanes> <scenario>...
set -euo pipefail

if (($# < 2)) || ! [[ $1 =~ ^[1-9][0-9]*$ ]]; then
  echo "usage: $0 <lanes (a positive number)> <scenario>..." >&2
  exit 2
fi
lanes=$1
shift

logs=${MOLECULE_LOG_DIR:-$PWD/.logs/molecule}
mkdir -p "$logs"
rm -f "$logs"/*.log "$logs"/*.result
export logs

run_scenario() {
  local scenario=$1 start rc=0
  start=$(date +%s)
  echo "--- started molecule test -s $scenario (log: $logs/$scenario.log)"
  molecule test -s "$scenario" >"$logs/$scenario.log" 2>&1 || rc=$?
  local took=$(($(date +%s) - start))
  echo "$scenario $rc $took" >"$logs/$scenario.result"
  {
    flock 9
    echo "=== molecule test -s $scenario"
    cat "$logs/$scenario.log"
    echo "=== $scenario: $( ((rc == 0)) && echo passed || echo "FAILED (exit $rc)") in $((took / 60)) min $((took % 60)) s"
  } 9>"$logs/.print.lock"
  # Let the other lanes go on: a failure is reported in the table at the end.
  return 0
}
export -f run_scenario

printf '%s\n' "$@" | xargs -P "$lanes" -I{} bash -c 'run_scenario "$1"' _ {}

echo "=== Molecule scenarios, $lanes lane(s)"
failed=()
for scenario in "$@"; do
  if [[ -f $logs/$scenario.result ]]; then
    read -r _ rc took <"$logs/$scenario.result"
  else
    rc=missing took=0
  fi
  printf '  %-12s %-8s %3d min %02d s\n' "$scenario" "$([[ $rc == 0 ]] && echo passed || echo FAILED)" $((took / 60)) $((took % 60))
  [[ $rc == 0 ]] || failed+=("$scenario")
done
if ((${#failed[@]})); then
  echo "Failed: ${failed[*]} (logs in $logs)" >&2
  exit 1
fi
