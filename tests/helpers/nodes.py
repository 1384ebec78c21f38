"""Reach the scenarios' node containers from a test: run a command in one, and
read its address on the scenario's network."""

from __future__ import annotations

import json
import os
import subprocess
import time

IMAGE = os.environ.get("GEOSTACK_TEST_IMAGE", "geostack/debian13-systemd:latest")
# What systemd as PID 1 needs in a container here (../shared/ENVIRONMENT.md), as the local cloud runs its nodes.
SYSTEMD_FLAGS = ["--cap-add", "ALL", "--cap-drop", "SYS_RESOURCE", "--security-opt", "seccomp=unconfined",
                 "--security-opt", "apparmor=unconfined", "--cgroupns=host", "-v", "/sys/fs/cgroup:/sys/fs/cgroup:rw",
                 "--tmpfs", "/run", "--tmpfs", "/run/lock"]


def sh(node: str, command: str, check: bool = True, env: dict | None = None) -> subprocess.CompletedProcess:
    """Run `sh -c command` in the node's container (as root)."""
    flags = [arg for key, value in (env or {}).items() for arg in ("-e", f"{key}={value}")]
    proc = subprocess.run(["docker", "exec", *flags, node, "sh", "-c", command], capture_output=True, text=True, check=False)
    if check and proc.returncode != 0:
        raise AssertionError(f"{node}: {command}: {proc.stderr}")
    return proc


def start_systemd_container(name: str, *docker_args: str, image: str = IMAGE) -> str:
    """Start a container of the test image with systemd as PID 1 (remove it with `docker rm -f -v name`)."""
    subprocess.run(["docker", "run", "-d", "--name", name, *SYSTEMD_FLAGS, *docker_args, image],
                   capture_output=True, text=True, check=True)
    return name


def address(node: str) -> str:
    """The node's address on its (only) network."""
    out = subprocess.run(["docker", "inspect", "-f", "{{json .NetworkSettings.Networks}}", node], capture_output=True, text=True, check=True).stdout
    return next(iter(json.loads(out).values()))["IPAddress"]


def wait_for(predicate, timeout: float = 60, step: float = 1):
    """Poll predicate until it returns something true (returned), or fail after timeout seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if value := predicate():
            return value
        time.sleep(step)
    raise AssertionError(f"not true within {timeout} s: {predicate.__doc__ or predicate}")


def scenario_hosts() -> list[str]:
    """testinfra hosts for every platform of the running Molecule scenario, reached with `docker exec`.

    (The scenarios' Ansible inventory uses the Docker API connection, which
    testinfra's ansible backend does not know.)"""
    import os
    from pathlib import Path

    import yaml

    spec = yaml.safe_load((Path(os.environ["MOLECULE_SCENARIO_DIRECTORY"]) / "molecule.yml").read_text())
    return [f"docker://{platform['name']}" for platform in spec.get("platforms") or []]
