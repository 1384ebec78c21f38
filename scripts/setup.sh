#!/usr/bin/env bash
# One set-up path for a fresh machine: venv, requirements, a Docker engine,
# the systemd test image and the collection link. Every step checks first,
# so a second run does nothing that is already done.
set -euo pipefail

here=$(cd "$(dirname "$0")/.." && pwd)
cd "$here"

VENV=${GEOSTACK_VENV:-$here/.venv}
IMAGE=${GEOSTACK_TEST_IMAGE:-geostack/debian13-systemd:latest}
SUITE=${GEOSTACK_DEBIAN_SUITE:-trixie}
MIRROR=${GEOSTACK_DEBIAN_MIRROR:-http://deb.debian.org/debian}
DOCKERD_LOG=${GEOSTACK_DOCKERD_LOG:-/var/log/geostack-dockerd.log}

say() { printf '[setup] %s\n' "$*"; }
die() { printf '[setup] ERROR: %s\n' "$*" >&2; exit 1; }
as_root() { if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi; }

# ---------------------------------------------------------------- python
find_python() {
  local c
  # An explicit choice wins, then whatever is on PATH, then pyenv's versions.
  for c in ${GEOSTACK_PYTHON:-} python3.13 python3.12 python3 \
           "${PYENV_ROOT:-$HOME/.pyenv}"/versions/3.1[2-9]*/bin/python3; do
    [ -n "$c" ] || continue
    command -v "$c" >/dev/null 2>&1 || [ -x "$c" ] || continue
    # pyenv shims exist on PATH but fail unless a version is selected.
    if "$c" -c 'import sys, venv; assert sys.version_info >= (3, 12)' >/dev/null 2>&1; then
      command -v "$c" 2>/dev/null || echo "$c"
      return 0
    fi
  done
  return 1
}

setup_venv() {
  local py stamp="$VENV/.requirements.sha256" want
  # The stamp also names the bytecode step, so that a venv made before it gets it.
  want="$(cat requirements.txt requirements-test.txt constraints.txt | sha256sum | cut -d' ' -f1) bytecode-1"
  if [ -x "$VENV/bin/python" ] && [ "$(cat "$stamp" 2>/dev/null)" = "$want" ]; then
    say "venv $VENV is up to date"
    return 0
  fi
  if [ ! -x "$VENV/bin/python" ]; then
    py=$(find_python) || die "no Python >= 3.12 with venv found (tried GEOSTACK_PYTHON, python3.13, python3.12, python3, pyenv versions). Install one, or set GEOSTACK_PYTHON=/path/to/python3.12."
    say "creating venv $VENV with $py ($("$py" -V 2>&1))"
    "$py" -m venv "$VENV"
  fi
  say "installing pinned requirements into $VENV"
  # --no-compile: the venv holds some 22,000 Python files (13,600 of them the
  # PyPI ansible package's collections), of which a run imports a few hundred.
  # That more than halves the install (111 s -> 45 s with a warm pip cache);
  # setup_bytecode then compiles what the controller imports.
  "$VENV/bin/python" -m pip install -q --disable-pip-version-check --no-compile \
    -r requirements-test.txt -c constraints.txt
  setup_bytecode
  echo "$want" > "$stamp"
}

setup_bytecode() {
  # Byte-compile what the controller's processes import: every package of the
  # venv but the PyPI ansible package's collections, and of those only the
  # plugins of the collections galaxy.yml depends on. Python writes these files
  # on first import, but not where PYTHONDONTWRITEBYTECODE is set (as in this
  # machine's shells), and then every ansible-playbook, every module run on
  # the controller (boto3, botocore) and every EC2 emulator compiles them again:
  # 5 amazon.aws module runs took 13.1 s of CPU without the bytecode and 5.1 s
  # with it (docs/performance.md). About 25 s on 2 cores, once per venv.
  local site dependency dependencies
  local -a plugins=()
  site=$("$VENV/bin/python" -c 'import sysconfig; print(sysconfig.get_path("purelib"))')
  dependencies=$("$VENV/bin/python" scripts/dependencies.py) || die "galaxy.yml's dependencies (above)"
  for dependency in $dependencies; do plugins+=("$dependency/plugins"); done
  say "byte-compiling the venv's packages and the plugins of ${#plugins[@]} collections"
  # A file that does not compile (a test fixture, another Python's syntax) is
  # compiled on import, or never imported, as before.
  "$VENV/bin/python" -m compileall -q -j0 -x "^$site/ansible_collections/" "$site" >/dev/null || true
  if ((${#plugins[@]} > 0)); then
    "$VENV/bin/python" -m compileall -q -j0 "${plugins[@]}" >/dev/null || true
  fi
}

# ---------------------------------------------------------------- collection link
setup_collection_link() {
  # ansible.cfg points collections_path at .collections; the link makes this
  # checkout importable as geostack.cluster without a Galaxy install.
  local link=.collections/ansible_collections/geostack/cluster
  if [ -L "$link" ] && [ "$(readlink "$link")" = "$here" ]; then
    return 0
  fi
  mkdir -p "$(dirname "$link")"
  ln -sfn "$here" "$link"
  say "linked $link -> $here"
}

# ---------------------------------------------------------------- docker
docker_answers() { docker info >/dev/null 2>&1; }

setup_docker() {
  if docker_answers; then
    say "Docker engine answers ($(docker version --format '{{.Server.Version}}' 2>/dev/null))"
    return 0
  fi
  if ! command -v dockerd >/dev/null 2>&1; then
    if [ -r /etc/debian_version ] && command -v apt-get >/dev/null 2>&1; then
      say "installing docker.io from Debian"
      as_root apt-get update -qq
      as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq docker.io >/dev/null
    else
      die "no Docker engine answers and this is not Debian: install Docker Engine and start it, then re-run."
    fi
  fi
  if docker_answers; then return 0; fi
  if [ -d /run/systemd/system ] && command -v systemctl >/dev/null 2>&1; then
    say "starting docker.service"
    as_root systemctl start docker || true
  fi
  if ! docker_answers; then
    say "starting dockerd in the background (log: $DOCKERD_LOG)"
    # In a session of its own: a Ctrl-C (or a kill of the process group) that
    # stops a test run must not stop the engine its nodes run in.
    as_root setsid sh -c "nohup dockerd >>'$DOCKERD_LOG' 2>&1 &" </dev/null
  fi
  for _ in $(seq 1 60); do
    docker_answers && { say "Docker engine answers"; return 0; }
    sleep 1
  done
  die "dockerd did not answer within 60 s; see $DOCKERD_LOG"
}

# ---------------------------------------------------------------- tools
# The tests build and sign a small apt repository on the controller (the
# apt_repository role's test): gpg and dpkg-scanpackages.
setup_tools() {
  command -v gpg >/dev/null 2>&1 && command -v dpkg-scanpackages >/dev/null 2>&1 && return 0
  [ -r /etc/debian_version ] || die "the tests need gpg and dpkg-scanpackages (gnupg, dpkg-dev); install them and re-run."
  say "installing gnupg and dpkg-dev from Debian"
  as_root apt-get update -qq
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends gnupg dpkg-dev >/dev/null
}

# ---------------------------------------------------------------- test image
setup_image() {
  if [ -n "${GEOSTACK_TEST_IMAGE:-}" ] && [ "$IMAGE" != "geostack/debian13-systemd:latest" ]; then
    docker image inspect "$IMAGE" >/dev/null 2>&1 && { say "test image $IMAGE is present"; return 0; }
    say "pulling $IMAGE (GEOSTACK_TEST_IMAGE)"
    docker pull "$IMAGE" || die "cannot pull $IMAGE named by GEOSTACK_TEST_IMAGE"
    return 0
  fi
  # The image carries a hash of the recipe below, so changing the recipe
  # rebuilds it and nothing else does.
  # The host's own extra CAs (see build_image) count as part of the recipe.
  RECIPE=$( (declare -f build_image; cat /usr/local/share/ca-certificates/*.crt 2>/dev/null) | sha256sum | cut -c1-16)
  if [ "$(docker image inspect -f '{{index .Config.Labels "geostack.recipe"}}' "$IMAGE" 2>/dev/null)" = "$RECIPE" ]; then
    say "test image $IMAGE is present"
    return 0
  fi
  if ! command -v debootstrap >/dev/null 2>&1; then
    [ -r /etc/debian_version ] || die "debootstrap is needed to build $IMAGE; install it or set GEOSTACK_TEST_IMAGE to an image you can pull."
    as_root apt-get update -qq
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq debootstrap >/dev/null
  fi
  build_image
}

build_image() (
  rootfs=$(mktemp -d /tmp/geostack-rootfs.XXXXXX)
  trap 'as_root rm -rf "$rootfs"' EXIT
  say "building $IMAGE from Debian $SUITE with debootstrap"
  as_root debootstrap --variant=minbase \
    --include=python3,python3-apt,systemd,systemd-sysv,dbus,iproute2,ca-certificates,sudo,gnupg,busybox-static \
    "$SUITE" "$rootfs" "$MIRROR" >/dev/null
  # Make the image behave like a cloud VM: no getty, a machine-id made at boot,
  # no apt caches or docs. dbus's copy of the machine-id goes too: systemd would
  # copy it into every node's /etc/machine-id, and all nodes would share one.
  as_root sh -c "
    set -e
    : > '$rootfs/etc/machine-id'
    rm -f '$rootfs/var/lib/dbus/machine-id'
    rm -f '$rootfs'/etc/systemd/system/getty.target.wants/* \
          '$rootfs'/lib/systemd/system/multi-user.target.wants/getty.target
    printf 'path-exclude /usr/share/doc/*\npath-exclude /usr/share/man/*\npath-exclude /usr/share/locale/*\n' \
      > '$rootfs/etc/dpkg/dpkg.cfg.d/01-nodoc'
    rm -rf '$rootfs'/var/lib/apt/lists/* '$rootfs'/var/cache/apt/*.bin
    # An empty apt cache must look stale, as on a fresh cloud VM, so that
    # cache_valid_time triggers the first update.
    touch -d @0 '$rootfs/var/lib/apt/lists'
  "
  # Nodes trust what this host trusts: a network that re-signs TLS (an egress
  # proxy with its own CA) must not break pip or get_url on the nodes.
  if ls /usr/local/share/ca-certificates/*.crt >/dev/null 2>&1; then
    as_root cp /usr/local/share/ca-certificates/*.crt "$rootfs/usr/local/share/ca-certificates/"
    as_root chroot "$rootfs" update-ca-certificates >/dev/null
  fi
  as_root tar -C "$rootfs" -c . | docker import \
    -c 'CMD ["/lib/systemd/systemd"]' -c 'ENV container=docker' \
    -c "LABEL geostack.recipe=$RECIPE" \
    - "$IMAGE" >/dev/null
  say "built $IMAGE"
)

run_step() {
  case "$1" in
    venv) setup_venv ;;
    link) setup_collection_link ;;
    docker) setup_docker ;;
    tools) setup_tools ;;
    image) setup_image ;;
    *) die "unknown step '$1' (venv, link, docker, tools, image)" ;;
  esac
}

main() {
  local s venv_pid
  if [ $# -gt 0 ]; then
    for s in "$@"; do run_step "$s"; done
    return 0
  fi
  # Everything, as `make` asks for it. On a new machine the venv's pip install
  # and the engine, tools and image (apt, debootstrap) each take minutes and
  # share nothing, so the venv is made beside them rather than before them.
  setup_venv &
  venv_pid=$!
  for s in link docker tools image; do run_step "$s"; done
  wait "$venv_pid" || die "the venv step failed (above)"
}
main "$@"
