#!/usr/bin/env python
"""Provisioning time: provision.yml and teardown.yml against a moto EC2 server, with no nodes.

Starts a moto server on 127.0.0.1 and, for a cluster of 3 managers and 2
workers over 2 availability zones, times each step of a cluster's EC2 life:
  - first: provision.yml from nothing (network, security groups, 5 instances);
  - rerun: provision.yml again (changes nothing);
  - check: provision.yml --check (changes nothing);
  - grow: workers 2 -> 4;
  - shrink: workers 4 -> 2 (provision_allow_scale_in);
  - teardown: teardown.yml;
  - teardown_again: teardown.yml on nothing.
Each step's wall time and the CPU time of its ansible-playbook process tree
(user + system) are the median of --runs runs, each on a fresh cluster. This is
the controller's and the EC2 API's part of site.yml, scale.yml and teardown,
without the local cloud's containers. Prints a table, then one JSON object as
its last line. Usage: python benchmarks/provision.py [--runs 3]
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import resource
import socket
import statistics
import sys
import tempfile
import time
from pathlib import Path

import yaml
from moto.server import ThreadedMotoServer

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests" / "helpers"))
from playbook_runner import run_playbook  # noqa: E402

REGION = "us-east-1"
ZONES = ["us-east-1a", "us-east-1b"]
LAYOUT = {"manager": {"count": 3}, "worker": {"count": 2}}
STEPS = [
    ("first", "provision.yml", (), {}),
    ("rerun", "provision.yml", (), {}),
    ("check", "provision.yml", ("--check",), {}),
    ("grow", "provision.yml", (), {"provision_layout": {**LAYOUT, "worker": {"count": 4}}}),
    ("shrink", "provision.yml", (), {"provision_layout": LAYOUT, "provision_allow_scale_in": True}),
    ("teardown", "teardown.yml", (), {"geostack_teardown_confirm": "{cluster}"}),
    ("teardown_again", "teardown.yml", (), {"geostack_teardown_confirm": "{cluster}"}),
]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def inventory(root: Path, url: str, cluster: str) -> Path:
    """A plugin config and group_vars for a cluster in the emulator, reached through local connections only."""
    path = root / cluster
    (path / "group_vars").mkdir(parents=True)
    plugin = {"plugin": "geostack.cluster.ec2", "cluster": cluster, "regions": [REGION], "endpoint_url": url,
              "access_key": "testing", "secret_key": "testing", "connect_via": "private",
              "compose": {"ansible_connection": "'local'"}}
    (path / "geostack_ec2.yml").write_text(yaml.safe_dump(plugin))
    settings = {"provision_aws_access_key": "testing", "provision_aws_secret_key": "testing",
                "provision_ami_ids": {REGION: "ami-12c6146b"}, "provision_admin_cidr": "127.0.0.1/32",
                "geostack_wait_for_nodes": False, "provision_layout": LAYOUT, "provision_availability_zones": ZONES}
    (path / "group_vars" / "all.yml").write_text(yaml.safe_dump(settings))
    return path


def children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def one_run(root: Path, url: str, cluster: str) -> dict[str, dict]:
    inv = inventory(root, url, cluster)
    out = {}
    for name, playbook, args, extra in STEPS:
        extra = {k: v.format(cluster=cluster) if isinstance(v, str) else v for k, v in extra.items()}
        cpu, start = children_cpu(), time.monotonic()
        run = run_playbook(ROOT / "playbooks" / playbook, *args, inventory=inv, extra_vars=extra or None)
        wall, cpu = time.monotonic() - start, children_cpu() - cpu
        if run.rc != 0:
            sys.exit(f"{name}: {playbook} failed: {run.failures or run.output[-2000:]}")
        out[name] = {"wall_s": wall, "cpu_s": cpu, "changed": run.total("changed")}
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", maxsplit=1)[0])
    parser.add_argument("--runs", type=int, default=3)
    runs = parser.parse_args().runs
    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    os.environ.setdefault("ANSIBLE_CONFIG", str(ROOT / "ansible.cfg"))
    os.environ["AWS_EC2_METADATA_DISABLED"] = "true"
    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    try:
        with tempfile.TemporaryDirectory(prefix="geostack-bench-provision-") as tmp:
            results = [one_run(Path(tmp), f"http://127.0.0.1:{port}", f"benchprov{n}") for n in range(runs)]
    finally:
        server.stop()

    figures = {"runs": runs}
    print(f"provision.yml and teardown.yml against moto, 3 managers + 2 workers over 2 zones, median of {runs} run(s)")
    print(f"  {'step':<16}{'wall s':>8}{'CPU s':>8}{'changed':>9}")
    for step in STEPS:
        name = step[0]
        wall = statistics.median(r[name]["wall_s"] for r in results)
        cpu = statistics.median(r[name]["cpu_s"] for r in results)
        changed = results[-1][name]["changed"]
        print(f"  {name:<16}{wall:>8.1f}{cpu:>8.1f}{changed:>9}")
        figures.update({f"{name}_s": round(wall, 2), f"{name}_cpu_s": round(cpu, 2), f"{name}_changed": changed})
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
