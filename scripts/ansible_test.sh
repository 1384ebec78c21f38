#!/usr/bin/env bash
# ansible-test against this checkout, without network access to the Ansible
# project's CI file host:
#   scripts/ansible_test.sh sanity   # every sanity test, Python 3.12 (and 3.13 if present)
#   scripts/ansible_test.sh units    # tests/unit under ansible-test's own venv
#   scripts/ansible_test.sh sanity --test pep8   # any further ansible-test arguments
#
# ansible-test wants the collection at .../ansible_collections/geostack/cluster
# and resolves symlinks, so the files git knows of (tracked, and untracked but
# not ignored) are copied into such a tree in a temporary directory (removed
# at the end). It builds each test's virtualenv with a pip bootstrap script
# it downloads from a host this machine cannot reach; when that script is not
# in its cache, a stand-in is put there that installs pip from the
# interpreter's own bundled wheel (pip then installs from PyPI as usual).
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD

(($# >= 1)) || { echo "usage: $0 sanity|units [ansible-test arguments...]" >&2; exit 2; }
command=$1
shift
case $command in sanity | units) ;; *) echo "$0: '$command' is not sanity or units" >&2; exit 2 ;; esac

VENV=${VENV:-$root/.venv}
ansible_test=$VENV/bin/ansible-test
[[ -x $ansible_test ]] || { echo "$0: $ansible_test is missing; run make setup" >&2; exit 1; }

# Python versions to test: those ansible-test supports that are on this machine.
pythons=()
for version in 3.12 3.13 3.14; do
  # (A pyenv shim is on the PATH even when it has no such version: run it.)
  if [[ $version == "$("$VENV/bin/python" -c 'import sys; print("%d.%d" % sys.version_info[:2])')" ]] ||
    "python$version" -c 'import venv' >/dev/null 2>&1; then
    pythons+=("$version")
  fi
done

# The pip bootstrap stand-in, under the name ansible-test looks for.
# (ansible-test names the pip it bootstraps in get_venv_packages: pip='25.2'.)
pip_version=$(sed -n "s/^ *pip='\([0-9.]*\)',*$/\1/p" \
  "$("$VENV/bin/python" -c 'import ansible_test, os; print(os.path.dirname(ansible_test.__file__))')/_internal/python_requirements.py")
[[ -n $pip_version ]] || { echo "$0: cannot tell which pip version ansible-test bootstraps" >&2; exit 1; }
cache=$HOME/.ansible/test/cache
bootstrap=$cache/get_pip_${pip_version//./_}.py
if [[ ! -s $bootstrap ]]; then
  mkdir -p "$cache"
  cat >"$bootstrap" <<'EOF'
"""Stand-in for ansible-test's pip bootstrap (written by geostack.cluster's scripts/ansible_test.sh).

Installs pip from this interpreter's bundled wheel, with the arguments given
(less get-pip's own --no-setuptools and --no-wheel).
"""
import glob
import os
import sys

wheels = sorted(glob.glob(os.path.join(os.path.dirname(os.__file__), "ensurepip", "_bundled", "pip-*.whl")))
if not wheels:
    sys.exit("no bundled pip wheel under ensurepip/_bundled")
sys.path.insert(0, wheels[-1])
from pip._internal.cli.main import main  # noqa: E402

sys.exit(main(["install"] + [a for a in sys.argv[1:] if a not in ("--no-setuptools", "--no-wheel")]))
EOF
fi

# The shellcheck sanity test is skipped, not failed, without shellcheck.
if [[ $command == sanity ]] && ! command -v shellcheck >/dev/null 2>&1 && command -v apt-get >/dev/null 2>&1; then
  echo "[ansible-test] installing shellcheck from Debian"
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq shellcheck >/dev/null
fi

# Outside this checkout: inside it, ansible-test would ask git for the files
# and find none (the copy is ignored).
tree=$(mktemp -d "${TMPDIR:-/tmp}/geostack-ansible-test.XXXXXX")
trap 'rm -rf "$tree"' EXIT
collection=$tree/ansible_collections/geostack/cluster
mkdir -p "$collection"
git ls-files -z --cached --others --exclude-standard |
  while IFS= read -r -d '' f; do [[ -e $f ]] && printf '%s\0' "$f"; done |
  tar --null -T - -c | tar -x -C "$collection"

# The collections it depends on (galaxy.yml), from the PyPI `ansible`
# package's bundled ones, beside it: the doc fragments, module_utils and
# imports the tests resolve come from them.
dependencies=$("$VENV/bin/python" scripts/dependencies.py) || exit 1
for dependency in $dependencies; do
  namespace=$(basename "$(dirname "$dependency")")
  mkdir -p "$tree/ansible_collections/$namespace"
  ln -s "$dependency" "$tree/ansible_collections/$namespace/$(basename "$dependency")"
done

cd "$collection"
if [[ $command == units ]]; then
  # One version is enough for the unit tests.
  "$ansible_test" units --color no --python "${pythons[0]}" "$@"
  exit
fi
for version in "${pythons[@]}"; do
  "$ansible_test" sanity --color no --python "$version" "$@"
done
