"""Integration fixtures: a moto EC2 server on loopback and throwaway inventories."""

from __future__ import annotations

import itertools
import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from ..conftest import ROOT

sys.path.insert(0, str(ROOT / "tests" / "helpers"))
from emulator import REGION, client, instances
from playbook_runner import run_playbook

AMI = "ami-12c6146b"
PLAYBOOKS = ROOT / "playbooks"
_seq = itertools.count()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="session")
def moto_url():
    """A real moto server process on 127.0.0.1, as the local cloud runs it."""
    import logging

    from moto.server import ThreadedMotoServer

    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    yield f"http://127.0.0.1:{port}"
    server.stop()


@pytest.fixture
def ec2(moto_url):
    return client(moto_url)


class Cluster:
    """A cluster in the emulator: its inventory directory and helpers to run playbooks on it."""

    def __init__(self, root: Path, moto_url: str, name: str, connect_via: str = "private", **group_vars):
        self.name = name
        self.dir = root / name
        (self.dir / "group_vars").mkdir(parents=True)
        plugin = {
            "plugin": "geostack.cluster.ec2",
            "cluster": name,
            "regions": [REGION],
            "endpoint_url": moto_url,
            "access_key": "testing",
            "secret_key": "testing",
            "connect_via": connect_via,
        }
        if connect_via != "docker":
            # The emulator's 10.x addresses must never be contacted: every host
            # is reached through the controller's local connection instead.
            plugin["compose"] = {"ansible_connection": "'local'"}
        (self.dir / "geostack_ec2.yml").write_text(yaml.safe_dump(plugin))
        base = {
            "provision_aws_access_key": "testing",
            "provision_aws_secret_key": "testing",
            "provision_ami_ids": {REGION: AMI},
            "provision_admin_cidr": "127.0.0.1/32",
            "geostack_wait_for_nodes": connect_via == "docker",
        }
        base.update(group_vars)
        (self.dir / "group_vars" / "all.yml").write_text(yaml.safe_dump(base))

    def play(self, playbook: str, *args: str, **extra_vars):
        return run_playbook(PLAYBOOKS / playbook, *args, inventory=self.dir, extra_vars=extra_vars or None)

    def inventory(self) -> dict:
        out = subprocess.run(
            ["ansible-inventory", "-i", str(self.dir), "--list"], capture_output=True, text=True, check=False
        )
        assert out.returncode == 0, out.stderr
        return json.loads(out.stdout, object_hook=unwrap_unsafe)

    def group(self, name: str) -> list[str]:
        return sorted(self.inventory().get(name, {}).get("hosts", []))

    def ids(self, group: str) -> dict[str, str]:
        inv = self.inventory()
        return {h: inv["_meta"]["hostvars"][h]["ec2_instance_id"] for h in inv.get(group, {}).get("hosts", [])}


@pytest.fixture
def make_cluster(tmp_path, moto_url):
    def make(connect_via="private", **group_vars):
        return Cluster(tmp_path, moto_url, f"it{os.getpid() % 1000}x{next(_seq)}", connect_via, **group_vars)

    return make


def unwrap_unsafe(obj: dict):
    """ansible-inventory writes every untrusted string as {"__ansible_unsafe": value}."""
    return obj["__ansible_unsafe"] if obj.keys() == {"__ansible_unsafe"} else obj


def live(ec2, cluster: str) -> list[dict]:
    """A cluster's instances that still exist, stopped ones included."""
    return instances(ec2, cluster)


def security_groups(ec2, cluster: str) -> dict[str, dict]:
    groups = ec2.describe_security_groups(Filters=[{"Name": "tag:geostack:cluster", "Values": [cluster]}])["SecurityGroups"]
    return {g["GroupName"]: g for g in groups}
