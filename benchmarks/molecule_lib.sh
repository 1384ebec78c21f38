# shellcheck shell=bash
# Sourced by the benchmarks that time a Molecule scenario. Set `scenario`
# first; this sets up PATH, the log ($log), timing helpers, json_line, and
# destroys the scenario's nodes on exit (output to the log: stdout must end
# with the JSON line).
: "${scenario:?set scenario before sourcing benchmarks/molecule_lib.sh}"
export PATH="$PWD/.venv/bin:$PATH" MOLECULE_GLOB='molecule/*/molecule.yml' ANSIBLE_CONFIG="$PWD/ansible.cfg"
# The scenarios' inventories are YAML files; the project's ansible.cfg reads only plugin configs.
export ANSIBLE_INVENTORY_ENABLED=host_list,auto,yaml
out=benchmarks/results; mkdir -p "$out"
log="$out/$(basename "$0" .sh).log"

now() { date +%s.%N; }
elapsed() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.1f", b - a }'; }
quiet() { "$@" >>"$log" 2>&1; }
# json_line key value [key value ...]: the figures as one JSON object, the
# benchmark's last stdout line, for scripts. Values are passed as printed (so
# JSON and table agree); one that is not a finite number becomes null.
json_line() {
  python3 -c '
import json, math, sys
a = sys.argv[1:]
if len(a) % 2:
    sys.exit(f"json_line: {a[-1]} has no value")
def num(v):
    try:
        return int(v)
    except ValueError:
        pass
    try:
        f = float(v)
    except ValueError:
        return None
    return f if math.isfinite(f) else None
print(json.dumps({k: num(v) for k, v in zip(a[::2], a[1::2])}))' "$@"
}
trap 'quiet molecule destroy -s $scenario' EXIT
: >"$log"
