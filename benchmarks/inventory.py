#!/usr/bin/env python3
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
import os
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


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def populate(ec2, total: int) -> None:
    fixed = [("manager", 3), ("citus_coordinator", 1), ("rabbitmq,zookeeper", 3), ("monitoring", 1)]
    rest = total - sum(n for _, n in fixed)
    mix = fixed + [("worker,citus_worker", rest // 2), ("worker", rest // 4), ("web", rest - rest // 2 - rest // 4)]
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
                ec2.create_tags(Resources=[inst["InstanceId"]], Tags=[{"Key": "Name", "Value": f"{CLUSTER}-{roles.split(',')[0]}-{n}"}])
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
    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    url = f"http://127.0.0.1:{port}"
    try:
        ec2 = boto3.client("ec2", region_name=REGION, endpoint_url=url, aws_access_key_id="testing", aws_secret_access_key="testing")
        t0 = time.perf_counter()
        populate(ec2, args.instances)
        print(f"launched {args.instances} instances (+200 of another cluster) in {time.perf_counter() - t0:.1f} s")

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

            def measure(path: Path, flush: bool) -> tuple[float, float, int]:
                cmd = ["ansible-inventory", "-i", str(path), "--list"] + (["--flush-cache"] if flush else [])
                samples = [timed(cmd, env) for _ in range(args.runs)]
                return (statistics.median(s[0] for s in samples), statistics.median(s[1] for s in samples), samples[0][2])

            timed(["ansible-inventory", "-i", str(cached), "--list", "--flush-cache"], env)  # fill the cache
            rows = {
                "geostack.cluster.ec2 (uncached)": measure(ours, False),
                "geostack.cluster.ec2 (cache hit)": measure(cached, False),
                "amazon.aws.aws_ec2 (uncached)": measure(theirs, False),
            }
    finally:
        server.stop()

    print(f"\n{'ansible-inventory --list, ' + str(args.instances) + ' instances':48} {'user CPU s':>10} {'wall s':>8} {'hosts':>6}")
    for name, (cpu, wall, hosts) in rows.items():
        print(f"{name:48} {cpu:10.2f} {wall:8.2f} {hosts:6d}")
    ours_cpu = rows["geostack.cluster.ec2 (uncached)"][0]
    hit_wall = rows["geostack.cluster.ec2 (cache hit)"][1]
    print(f"\nours / aws_ec2, user CPU uncached: {ours_cpu / rows['amazon.aws.aws_ec2 (uncached)'][0]:.2f}  (target <= 0.5)")
    print(f"cache hit / ours uncached, wall:    {hit_wall / rows['geostack.cluster.ec2 (uncached)'][1]:.2f}  (target <= 0.2)")


if __name__ == "__main__":
    main()
