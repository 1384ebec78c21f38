#!/usr/bin/env python
"""Inventory time: geostack.cluster.ec2 against amazon.aws.aws_ec2 on the same 5,000 instances.

Starts a moto EC2 server on 127.0.0.1, launches N instances of one cluster
with mixed roles (plus instances of another cluster that both must filter
out), and times `ansible-inventory --list` with:
  - our plugin, uncached and on a cache hit (jsonfile cache);
  - amazon.aws.aws_ec2 configured for equivalent grouping (a keyed group per
    role from the roles tag, the same server-side filters, Name hostnames).
It prints user CPU and wall time (median of the runs) and the ratios the
issue asks for. Usage: python benchmarks/inventory.py [--instances 5000] [--runs 3]
"""

from __future__ import annotations

import argparse
import json
import os
import re
import resource
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import boto3
import yaml
from moto.server import ThreadedMotoServer

ROOT = Path(__file__).resolve().parents[1]
REGION = "us-east-1"
CLUSTER = "bench"


def speed_up_moto_tags() -> None:
    """Index moto's tag lookup by resource id, in this process only.

    moto answers each instance's tags by scanning every tag of the account,
    which makes describe_instances quadratic: minutes per call at 5,000
    instances. Both plugins get the same answers, only sooner. EC2 itself is
    not measured here; the plugins' own CPU is.
    """
    from moto.ec2.models.core import TaggedEC2Resource
    from moto.ec2.utils import EC2_PREFIX_TO_RESOURCE, get_prefix

    def get_tags(self):
        if not self.id:
            return []
        kind = EC2_PREFIX_TO_RESOURCE.get(get_prefix(self.id), "")
        return [
            {"resource_id": self.id, "key": key, "value": value, "resource_type": kind}
            for key, value in self.ec2_backend.tags.get(self.id, {}).items()
        ]

    TaggedEC2Resource.get_tags = get_tags


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def populate(ec2, total: int) -> None:
    fixed = [("manager", 3), ("citus_coordinator", 1), ("rabbitmq,zookeeper", 3), ("monitoring", 1)]
    rest = total - sum(n for _group, n in fixed)
    mix = [*fixed, ("worker,citus_worker", rest // 2), ("worker", rest // 4), ("web", rest - rest // 2 - rest // 4)]
    for roles, count in mix:
        done = 0
        while done < count:
            batch = min(1000, count - done)
            launched = ec2.run_instances(
                ImageId="ami-12c6146b",
                MinCount=batch,
                MaxCount=batch,
                TagSpecifications=[
                    {
                        "ResourceType": "instance",
                        "Tags": [{"Key": "geostack:cluster", "Value": CLUSTER}, {"Key": "geostack:roles", "Value": roles}],
                    }
                ],
            )["Instances"]
            # Unique names, as provision.yml gives them.
            for n, inst in enumerate(launched, start=done + 1):
                name = f"{CLUSTER}-{roles.replace(',', '-')}-{n}"
                ec2.create_tags(Resources=[inst["InstanceId"]], Tags=[{"Key": "Name", "Value": name}])
            done += batch
    # Another cluster's instances: both plugins must filter them out server-side.
    ec2.run_instances(
        ImageId="ami-12c6146b",
        MinCount=200,
        MaxCount=200,
        TagSpecifications=[{"ResourceType": "instance", "Tags": [{"Key": "geostack:cluster", "Value": "other"}, {"Key": "geostack:roles", "Value": "worker"}]}],
    )


def timed(cmd: list[str], env: dict) -> tuple[float, float, int]:
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    out = subprocess.run(cmd, env=env, capture_output=True, text=True, check=False)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if out.returncode != 0:
        sys.exit(f"{' '.join(cmd)} failed:\n{out.stderr[-2000:]}")
    return after.ru_utime - before.ru_utime, wall, out.stdout.count('"ansible_host"')


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--instances", type=int, default=5000)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()

    import logging

    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    speed_up_moto_tags()
    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    url = f"http://127.0.0.1:{port}"
    try:
        ec2 = boto3.client("ec2", region_name=REGION, endpoint_url=url, aws_access_key_id="testing", aws_secret_access_key="testing")
        t0 = time.perf_counter()
        populate(ec2, args.instances)
        launch = time.perf_counter() - t0
        print(f"launched {args.instances} instances (+200 of another cluster) in {launch:.1f} s")

        with tempfile.TemporaryDirectory() as tmp:
            tmp = Path(tmp)
            creds = {"endpoint_url": url, "access_key": "testing", "secret_key": "testing", "regions": [REGION]}
            ours = tmp / "bench.geostack_ec2.yml"
            ours.write_text(yaml.safe_dump({"plugin": "geostack.cluster.ec2", "cluster": CLUSTER, **creds}))
            cached = tmp / "cached.geostack_ec2.yml"
            cached.write_text(
                yaml.safe_dump(
                    {
                        "plugin": "geostack.cluster.ec2",
                        "cluster": CLUSTER,
                        **creds,
                        "cache": True,
                        "cache_plugin": "ansible.builtin.jsonfile",
                        "cache_connection": str(tmp / "cache"),
                        "cache_timeout": 3600,
                    }
                )
            )
            theirs = tmp / "bench.aws_ec2.yml"
            theirs.write_text(
                yaml.safe_dump(
                    {
                        "plugin": "amazon.aws.aws_ec2",
                        **creds,
                        "filters": {"tag:geostack:cluster": CLUSTER, "instance-state-name": ["pending", "running", "stopping", "stopped"]},
                        "hostnames": ["tag:Name", "instance-id"],
                        "keyed_groups": [{"key": "tags['geostack:roles'].split(',')", "prefix": "role"}],
                        "compose": {"ansible_host": "private_ip_address"},
                    }
                )
            )
            env = dict(os.environ, ANSIBLE_CONFIG=str(ROOT / "ansible.cfg"), AWS_EC2_METADATA_DISABLED="true")

            def measure(path: Path, what: str) -> tuple[float, float, int]:
                cmd = ["ansible-inventory", "-i", str(path), what]
                samples = [timed(cmd, env) for _run in range(args.runs)]
                hosts = samples[0][2] if what == "--list" else 0
                return (statistics.median(s[0] for s in samples), statistics.median(s[1] for s in samples), hosts)

            timed(["ansible-inventory", "-i", str(cached), "--list", "--flush-cache"], env)  # fill the cache
            rows = {}
            # --list also serialises every hostvar (ansible-inventory's own cost, larger for aws_ec2, which keeps
            # every attribute); --graph is the parse a playbook run pays.
            for what in ("--list", "--graph"):
                rows[f"geostack.cluster.ec2 {what} (uncached)"] = measure(ours, what)
                rows[f"geostack.cluster.ec2 {what} (cache hit)"] = measure(cached, what)
                rows[f"amazon.aws.aws_ec2 {what} (uncached)"] = measure(theirs, what)
    finally:
        server.stop()

    # Seconds to 0.01, as the table shows them: cache hits take well under a second.
    figures: dict[str, float] = {"instances": args.instances, "launch_s": round(launch, 1)}
    print(f"\n{'ansible-inventory, ' + str(args.instances) + ' instances':52} {'user CPU s':>10} {'wall s':>8} {'hosts':>6}")
    for name, (cpu, wall, hosts) in rows.items():
        print(f"{name:52} {cpu:10.2f} {wall:8.2f} {hosts or '':>6}")
        key = re.sub(r"[^a-z0-9]+", "_", name.lower()).strip("_")
        figures |= {f"{key}_cpu_s": round(cpu, 2), f"{key}_wall_s": round(wall, 2)}
        if hosts:
            figures[f"{key}_hosts"] = hosts
    for what in ("--list", "--graph"):
        cases = (("geostack.cluster.ec2", "uncached"), ("geostack.cluster.ec2", "cache hit"), ("amazon.aws.aws_ec2", "uncached"))
        ours, hit, theirs = (rows[f"{p} {what} ({c})"] for p, c in cases)
        cpu_ratio, wall_ratio = ours[0] / theirs[0], hit[1] / ours[1]
        print(f"\n{what}: ours / aws_ec2, user CPU uncached: {cpu_ratio:.2f}  (target <= 0.5)")
        print(f"{what}: cache hit / ours uncached, wall:    {wall_ratio:.2f}  (target <= 0.2)")
        figures[f"{what[2:]}_cpu_ours_over_aws_ec2"] = round(cpu_ratio, 2)
        figures[f"{what[2:]}_wall_cache_hit_over_uncached"] = round(wall_ratio, 2)
    # Last stdout line, for scripts.
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
