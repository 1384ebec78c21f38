"""The shared apt_repository role (the one the docker, citus, rabbitmq and grafana roles add their upstream
repositories with), against a real signed apt repository.

The repository is built here: a small package, its index, and a Release file signed by a throwaway GnuPG key (its
InRelease), served by a real HTTP server on the second node's loopback. apt on the node verifies the signature with
the keyring the role wrote, so a package that installs proves the right key is in place.
"""

import hashlib
import subprocess
import textwrap
from pathlib import Path

import pytest
import yaml
from nodes import sh, wait_for
from playbook_runner import run_playbook

NODE = "geostack-docker-2"
PORT = 8498
ROOT = "/srv/geostack-test-apt"
URL = f"http://127.0.0.1:{PORT}"
PROBE = "geostack-signed-probe"
KEYRING = "/etc/apt/keyrings/geostack-probe.asc"
SOURCE = "/etc/apt/sources.list.d/geostack-probe.sources"
# apt-get update of the probe repository alone (whether apt trusts it), not of Debian's archive too.
UPDATE_PROBE = f"apt-get update -q -o Dir::Etc::SourceParts=/nonexistent -o Dir::Etc::SourceList={SOURCE}"


def gpg(home: Path, *args: str, **kwargs) -> str:
    return subprocess.run(["gpg", "--batch", "--quiet", "--homedir", str(home), *args], check=True,
                          capture_output=True, **kwargs).stdout


def new_key(home: Path, uid: str) -> str:
    """A new signing key in home; its fingerprint."""
    gpg(home, "--passphrase", "", "--quick-gen-key", uid, "ed25519", "sign", "never")
    listing = gpg(home, "--with-colons", "--list-keys", uid, text=True)
    return next(line.split(":")[9] for line in listing.splitlines() if line.startswith("fpr"))


def build_repository(work: Path) -> dict:
    """A one-package apt repository for trixie, signed by a new key; the keys' files and fingerprints."""
    home = work / "gnupg"
    home.mkdir(mode=0o700)
    repo_fpr = new_key(home, "geostack probe repository <repo@test.invalid>")
    other_fpr = new_key(home, "someone else <other@test.invalid>")
    repo = work / "repo"
    package = work / "pkg"
    (package / "DEBIAN").mkdir(parents=True)
    (package / "DEBIAN" / "control").write_text(textwrap.dedent(f"""\
        Package: {PROBE}
        Version: 1.0
        Architecture: all
        Maintainer: geostack.cluster tests <tests@test.invalid>
        Description: a package served by the apt_repository test's signed repository
        """))
    (package / "usr" / "share" / PROBE).mkdir(parents=True)
    (package / "usr" / "share" / PROBE / "hello").write_text("signed\n")
    (repo / "pool").mkdir(parents=True)
    subprocess.run(["dpkg-deb", "--root-owner-group", "--build", str(package), str(repo / "pool" / f"{PROBE}_1.0_all.deb")],
                   check=True, capture_output=True)
    index_dir = repo / "dists" / "trixie" / "main" / "binary-amd64"
    index_dir.mkdir(parents=True)
    index = subprocess.run(["dpkg-scanpackages", "pool"], cwd=repo, check=True, capture_output=True).stdout
    (index_dir / "Packages").write_bytes(index)
    release = textwrap.dedent(f"""\
        Origin: geostack-test
        Suite: trixie
        Codename: trixie
        Date: Thu, 03 Dec 2026 00:00:00 UTC
        Architectures: amd64
        Components: main
        SHA256:
         {hashlib.sha256(index).hexdigest()} {len(index)} main/binary-amd64/Packages
        """)
    (repo / "dists" / "trixie" / "Release").write_text(release)
    gpg(home, "--local-user", repo_fpr, "--clearsign", "--output", str(repo / "dists" / "trixie" / "InRelease"),
        str(repo / "dists" / "trixie" / "Release"))
    (repo / "key.asc").write_bytes(gpg(home, "--armor", "--export", repo_fpr))
    (repo / "other.asc").write_bytes(gpg(home, "--armor", "--export", other_fpr))
    (repo / "both.asc").write_bytes(gpg(home, "--armor", "--export", repo_fpr, other_fpr))
    return {"repo": repo, "fingerprint": repo_fpr, "other": other_fpr, "gnupg": home}


@pytest.fixture(scope="module")
def signed_repo(tmp_path_factory):
    built = build_repository(tmp_path_factory.mktemp("apt"))
    subprocess.run(["docker", "cp", str(built["repo"]), f"{NODE}:{ROOT}"], check=True)
    sh(NODE, f"systemd-run --unit=geostack-test-apt-repo python3 -m http.server {PORT} --bind 127.0.0.1 --directory {ROOT}")
    wait_for(lambda: sh(NODE, f"python3 -c \"import urllib.request; urllib.request.urlopen('{URL}/key.asc')\"",
                        check=False).returncode == 0, timeout=30)
    yield built
    sh(NODE, f"systemctl stop geostack-test-apt-repo; apt-get purge -y -q {PROBE} >/dev/null; "
             f"rm -rf {ROOT} {KEYRING} {SOURCE}; apt-get update -q >/dev/null", check=False)
    # GnuPG started an agent for the throwaway home; it would outlive the test.
    subprocess.run(["gpgconf", "--homedir", str(built["gnupg"]), "--kill", "gpg-agent"], check=False, capture_output=True)


@pytest.fixture
def playbook(tmp_path):
    def write(key: str, fingerprints: list[str]) -> Path:
        path = tmp_path / "repo.yml"
        path.write_text(yaml.safe_dump([{
            "name": "A signed repository through geostack.cluster.apt_repository",
            "hosts": NODE,
            "gather_facts": False,
            "tasks": [
                {"name": "Add the probe repository", "ansible.builtin.include_role": {"name": "geostack.cluster.apt_repository"},
                 "vars": {"apt_repository_name": "geostack-probe", "apt_repository_key_url": f"{URL}/{key}",
                          "apt_repository_key_fingerprints": fingerprints,
                          "apt_repository_fingerprints_variable": "probe_key_fingerprints",
                          "apt_repository_sources": [{"name": "geostack-probe", "uris": [URL], "suites": ["trixie"]}]}},
                {"name": "Install the probe package from it", "ansible.builtin.apt": {"name": PROBE}},
            ],
        }], sort_keys=False))
        return path
    return write


def apt_trusts_the_probe_repository() -> bool:
    """Whether apt-get update of the probe repository verifies its signature (apt exits 0 either way when the index
    is unchanged, and says it on the output)."""
    update = sh(NODE, UPDATE_PROBE, check=False)
    output = update.stdout + update.stderr
    return update.returncode == 0 and "Err:" not in output and "signature" not in output


def assert_refused_untouched(run, unpinned: str):
    """The run failed at the key, naming the key that is not pinned and the caller's variable, and wrote nothing."""
    assert run.rc != 0
    messages = " ".join(m for msgs in run.failures.values() for m in msgs)
    assert f"holds the key(s) {unpinned}, which probe_key_fingerprints does not list" in messages
    assert run.total("changed") == 0
    assert sh(NODE, f"test ! -e {KEYRING} && test ! -e {SOURCE}", check=False).returncode == 0


@pytest.mark.parametrize(("key", "pinned", "unpinned"), [
    ("key.asc", "other", "fingerprint"),  # another key than the pinned one
    ("both.asc", "fingerprint", "other"),  # the pinned key and a second one beside it
], ids=["another-key", "an-added-key"])
def test_a_key_file_with_a_key_that_is_not_pinned_is_refused(signed_repo, playbook, key, pinned, unpinned):
    assert_refused_untouched(run_playbook(playbook(key, [signed_repo[pinned]])), signed_repo[unpinned])


def test_the_pinned_key_installs_from_the_signed_repository_then_reruns_and_check_change_nothing(signed_repo, playbook):
    path = playbook("key.asc", [signed_repo["fingerprint"]])
    first = run_playbook(path)
    assert first.rc == 0, first.failures
    assert sh(NODE, f"cat /usr/share/{PROBE}/hello").stdout == "signed\n"
    assert apt_trusts_the_probe_repository()
    assert sh(NODE, f"cat {KEYRING}").stdout == (signed_repo["repo"] / "key.asc").read_text()
    source = sh(NODE, f"cat {SOURCE}").stdout
    assert f"Signed-By: {KEYRING}" in source and f"URIs: {URL}" in source
    for args in ((), ("--check",)):
        again = run_playbook(path, *args)
        assert again.rc == 0, again.failures
        assert again.total("changed") == 0, again.changed_tasks()


def test_a_keyring_replaced_by_hand_is_put_back(signed_repo, playbook):
    path = playbook("key.asc", [signed_repo["fingerprint"]])
    assert run_playbook(path).rc == 0
    sh(NODE, f"cp {ROOT}/other.asc {KEYRING}")
    # apt no longer trusts the repository while the keyring holds another key.
    assert not apt_trusts_the_probe_repository()
    healed = run_playbook(path)
    assert healed.rc == 0, healed.failures
    assert set(healed.changed_tasks()[NODE]) >= {"geostack.cluster.apt_repository : Install the repository's signing key, "
                                                 "checked against its pins - geostack-probe"}
    assert sh(NODE, f"cat {KEYRING}").stdout == (signed_repo["repo"] / "key.asc").read_text()
    assert apt_trusts_the_probe_repository()
