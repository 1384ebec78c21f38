"""Verify the tiles role: a split zip served over HTTP on the controller's
loopback, extracted on a manager, bound into a Docker volume, and backed up
to a second node."""

import json
import os
from pathlib import Path

import pytest
from nodes import sh
from playbook_runner import assert_refused_before_any_change, run_playbook

SOURCE = Path(os.environ.get("MOLECULE_EPHEMERAL_DIRECTORY", "/nonexistent")) / "tiles-source"
TILES_DIR = "/srv/geostack/tiles"
BACKUP_DIR = "/srv/geostack/tiles-backup/geostack-tiles-1"
SERVER = "geostack-tiles-1"
BACKUP = "geostack-tiles-2"

testinfra_hosts = [f"docker://{SERVER}"]


def digests(node: str, root: str) -> dict[str, str]:
    out = sh(node, f"cd {root} && find . -type f -name '*.png' -exec sha256sum {{}} +").stdout
    return {path[2:]: digest for digest, path in (line.split(maxsplit=1) for line in out.splitlines())}


def expected() -> dict[str, str]:
    return json.loads((SOURCE / "tiles.json").read_text())


def downloads() -> int:
    return sum(" /tiles.z" in line for line in (SOURCE / "http.log").read_text().splitlines())


def test_the_archive_was_split():
    parts = json.loads((SOURCE / "parts.json").read_text())
    assert len(parts) >= 3
    assert parts[-1]["url"].endswith("/tiles.zip")


def test_extracted_tree_matches_the_source():
    assert digests(SERVER, TILES_DIR) == expected()


def test_parts_are_not_kept_on_the_node(host):
    assert host.file("/var/cache/geostack/tiles").is_directory
    assert host.file("/var/cache/geostack/tiles").listdir() == []


def test_volume_binds_the_tiles_directory(host):
    volume = json.loads(host.check_output("docker volume inspect tiles-data"))[0]
    assert volume["Driver"] == "local"
    assert volume["Options"] == {"type": "none", "o": "bind", "device": TILES_DIR}


def test_a_container_sees_the_tiles_through_the_volume(host):
    host.check_output(
        "docker image inspect geostack/busybox:test >/dev/null 2>&1 || tar -C /usr/bin -c busybox"
        " | docker import -c 'ENTRYPOINT [\"/busybox\"]' - geostack/busybox:test"
    )
    out = host.check_output(
        "docker run --rm --network none -v tiles-data:/tiles:ro geostack/busybox:test sha256sum /tiles/2/3/1.png"
    )
    assert out.split()[0] == expected()["2/3/1.png"]
    denied = host.run("docker run --rm --network none -v tiles-data:/tiles:ro geostack/busybox:test touch /tiles/x")
    assert denied.rc != 0


# Once per scenario from here on.


def test_second_converge_downloads_and_changes_nothing():
    before = downloads()
    run = run_playbook("converge.yml")
    assert run.rc == 0, run.failures
    assert run.total("changed") == 0, run.output
    assert downloads() == before


def test_check_mode_changes_nothing():
    run = run_playbook("converge.yml", "--check", "--diff")
    assert run.rc == 0, run.failures
    assert run.total("changed") == 0, run.output


def test_wrong_checksum_fails_and_keeps_the_tiles():
    parts = json.loads((SOURCE / "parts.json").read_text())
    parts[0]["sha256"] = "0" * 64
    marker = sh(SERVER, "cat /var/lib/geostack/tiles.source").stdout
    run = run_playbook("converge.yml", extra_vars={"tiles_archive_parts": parts})
    assert run.rc != 0
    assert any("checksum" in m.lower() for msgs in run.failures.values() for m in msgs), run.failures
    assert digests(SERVER, TILES_DIR) == expected()
    assert sh(SERVER, "cat /var/lib/geostack/tiles.source").stdout == marker


@pytest.mark.parametrize(
    ("parts", "named"),
    [
        ([{"url": "http://127.0.0.1:1/t.zip"}], "tiles_archive_parts[0].sha256"),
        ([{"url": "ssh://h/t.zip", "sha256": "a" * 64}], "tiles_archive_parts[0].url"),
        ([{"url": "http://h/t.z01", "sha256": "a" * 64}, {"url": "http://h/t.z02", "sha256": "b" * 64}], ".zip part"),
        ("tiles.zip", "tiles_archive_parts"),
    ],
)
def test_bad_input_fails_before_anything_changes(parts, named):
    run = run_playbook("converge.yml", "--tags", "tiles", extra_vars={"tiles_archive_parts": parts})
    assert_refused_before_any_change(run, named, "tiles")


def test_a_volume_with_other_options_is_not_replaced():
    sh(SERVER, "docker volume create tiles-elsewhere >/dev/null")
    try:
        run = run_playbook("converge.yml", "--tags", "tiles", extra_vars={"tiles_volume_name": "tiles-elsewhere"})
        assert run.rc != 0
        assert any("tiles-elsewhere" in m for msgs in run.failures.values() for m in msgs), run.failures
        options = sh(SERVER, "docker volume inspect -f '{{json .Options}}' tiles-elsewhere").stdout.strip()
        assert options in ("null", "{}")
    finally:
        sh(SERVER, "docker volume rm tiles-elsewhere >/dev/null")


def test_backup_copies_the_tiles_to_the_other_node():
    assert sh(SERVER, "systemctl is-enabled geostack-tiles-backup.timer").stdout.strip() == "enabled"
    sh(BACKUP, f"rm -rf {BACKUP_DIR}/*")
    sh(SERVER, "systemctl start geostack-tiles-backup.service")
    assert digests(BACKUP, BACKUP_DIR) == expected()


def test_backup_key_can_only_write_its_own_directory():
    shell = sh(
        SERVER,
        "ssh -i /root/.ssh/geostack_tiles_backup -o BatchMode=yes"
        f" -o UserKnownHostsFile=/root/.ssh/geostack_tiles_backup_known_hosts root@{BACKUP} cat /etc/shadow",
        check=False,
    )
    assert shell.returncode != 0
    assert "root:" not in shell.stdout
