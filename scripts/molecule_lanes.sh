#!/usr/bin/env bash
# Run Molecule scenarios in parallel lanes: each lane takes the next scenario
# of the list when its current one ends, so the longest go first. Scenarios
# share nothing (each has its own containers, network, cluster name and
# emulator port) and spend much of their time waiting on services, so two
# lanes finish well before one on two cores.
#
# A job is a scenario's name, or `make:<target>,<target>...` for make targets
# that take a lane like a scenario (`make test` runs lint, unit and
# integration that way, beside the longest scenario, instead of before all of
# them). A job's whole output is printed when it ends, one job at a time, and
# a table of results and times comes last, then why each failed job failed
# (its error lines and its last lines). Exits non-zero if any failed.
#   scripts/molecule_lanes.sh <lanes> <scenario | make:target,...>...
set -euo pipefail

if (($# < 2)) || ! [[ $1 =~ ^[1-9][0-9]*$ ]]; then
  echo "usage: $0 <lanes (a positive number)> <scenario | make:target,...>..." >&2
  exit 2
fi
lanes=$1
shift

logs=${MOLECULE_LOG_DIR:-$PWD/.logs/molecule}
mkdir -p "$logs"
rm -f "$logs"/*.log "$logs"/*.result
export logs

# The name a job has in the logs and the table: the scenario, or the targets joined by '+'.
job_name() {
  local job=$1 name
  name=${job#make:}
  echo "${name//,/+}"
}
export -f job_name

run_scenario() {
  local scenario=$1 name command start rc=0
  name=$(job_name "$scenario")
  if [[ $scenario == make:* ]]; then
    command="make --no-print-directory ${scenario#make:}"
    command=${command//,/ }
  else
    # A wide "terminal": Molecule wraps Ansible's lines at its width, and an
    # error cut over several lines is lost to the failure digest below.
    command="env COLUMNS=4000 molecule test -s $scenario"
  fi
  start=$(date +%s)
  echo "--- started $command (log: $logs/$name.log)"
  # shellcheck disable=SC2086 # the command's words are split on purpose
  $command >"$logs/$name.log" 2>&1 || rc=$?
  local took=$(($(date +%s) - start))
  echo "$name $rc $took" >"$logs/$name.result"
  {
    flock 9
    echo "=== $command"
    cat "$logs/$name.log"
    echo "=== $name: $( ((rc == 0)) && echo passed || echo "FAILED (exit $rc)") in $((took / 60)) min $((took % 60)) s"
  } 9>"$logs/.print.lock"
  # Let the other lanes go on: a failure is reported in the table at the end.
  return 0
}
export -f run_scenario

# A log's error lines, each Ansible failure after the name of its task, but
# not the failures Ansible ignored (those followed by "...ignoring").
first_errors() {
  awk '
    { line = $0; sub(/^ *│ /, "", line) }
    pending != "" {
      if (line !~ /^\.\.\.ignoring/) { if (task != "") print task; print pending }
      pending = ""
    }
    line ~ /^TASK \[/ { task = line }
    line ~ /^(fatal|failed): / { pending = line; next }
    line ~ /^((FAILED|ERROR) |E  |make: \*\*\*)|Error( [0-9]+)?:/ { print line }
    END { if (pending != "") { if (task != "") print task; print pending } }
  '
}

began=$(date +%s)
printf '%s\n' "$@" | xargs -P "$lanes" -I{} bash -c "run_scenario \"\$1\"" _ {}

echo "=== Jobs, $lanes lane(s), $(($(date +%s) - began)) s in all"
failed=()
for scenario in "$@"; do
  name=$(job_name "$scenario")
  if [[ -f $logs/$name.result ]]; then
    read -r _ rc took <"$logs/$name.result"
  else
    rc=missing took=0
  fi
  printf '  %-24s %-8s %3d min %02d s\n' "$name" "$([[ $rc == 0 ]] && echo passed || echo FAILED)" $((took / 60)) $((took % 60))
  [[ $rc == 0 ]] || failed+=("$name")
done
if ((${#failed[@]})); then
  # The end of a CI log is often all that is kept: say there, last and short,
  # why each job failed: its last lines, then its first errors (the cause,
  # before what followed from it), each cut to 700 characters.
  for name in "${failed[@]}"; do
    echo "--- why $name failed: its last lines, then its first error lines ($logs/$name.log)" >&2
    # Without colours, and with Molecule's "  │ " before each line of a step's output.
    sed 's/\x1b\[[0-9;]*m//g' "$logs/$name.log" 2>/dev/null | grep -v '^ *$' | tail -n 6 >&2 || true
    sed 's/\x1b\[[0-9;]*m//g' "$logs/$name.log" 2>/dev/null | first_errors | head -n 8 | cut -c 1-700 >&2 || true
  done
  echo "Failed: ${failed[*]} (logs in $logs)" >&2
  exit 1
fi
