# Sourced by the benchmarks that time a Molecule scenario. Set `scenario`
# first; this sets up PATH, the log ($log), timing helpers, and destroys the
# scenario's nodes on exit.
export PATH="$PWD/.venv/bin:$PATH" MOLECULE_GLOB='molecule/*/molecule.yml' ANSIBLE_CONFIG="$PWD/ansible.cfg"
out=benchmarks/results; mkdir -p "$out"
log="$out/$(basename "$0" .sh).log"

now() { date +%s.%N; }
elapsed() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.1f", b - a }'; }
quiet() { "$@" >>"$log" 2>&1; }
trap 'quiet molecule destroy -s $scenario' EXIT
: >"$log"
