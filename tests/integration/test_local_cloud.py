"""The local cloud as a user runs it: scripts/local_cloud.sh's emulator keeps its state across a stop, a start and
a crash; a stopped emulator is one error that names `make cloud-up`; the container backend keeps the nodes no
instance accounts for."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from emulator import client
from nodes import address, sh, wait_for

from ..conftest import ROOT
from .conftest import PLAYBOOKS, REGION, Cluster, free_port, live, run_playbook

SCRIPT = ROOT / "scripts" / "local_cloud.sh"


class Emulator:
    """scripts/local_cloud.sh on a port and a state file of this test's own."""

    def __init__(self, tmp_path: Path):
        self.port = free_port()
        self.state = tmp_path / "cloud" / "aws.state"
        self.env = dict(os.environ, GEOSTACK_MOTO_PORT=str(self.port), GEOSTACK_CLOUD_STATE=str(self.state),
                        GEOSTACK_STATE_DIR=str(tmp_path / "run"), GEOSTACK_VENV=str(Path(sys.executable).parents[1]))
        self.url = f"http://127.0.0.1:{self.port}"

    def __call__(self, command: str) -> str:
        # The script waits up to 90 s for the emulator to answer or to exit (a busy machine is slow).
        proc = subprocess.run([str(SCRIPT), command], env=self.env, capture_output=True, text=True, timeout=200, check=False)
        assert proc.returncode == 0, proc.stdout + proc.stderr
        return proc.stdout

    def pid(self) -> int:
        return int((Path(self.env["GEOSTACK_STATE_DIR"]) / f"moto-{self.port}.pid").read_text())

    def ec2(self):
        return client(self.url)


@pytest.fixture
def emulator(tmp_path):
    cloud = Emulator(tmp_path)
    cloud("start")
    yield cloud
    cloud("reset")


def records(ec2, cluster: str) -> dict:
    """What provisioning made, by id: instances (with their tags), VPC, subnets, security groups, key pairs."""
    tagged = [{"Name": "tag:geostack:cluster", "Values": [cluster]}]
    return {
        "instances": sorted((i["InstanceId"], i["State"]["Name"], sorted((t["Key"], t["Value"]) for t in i["Tags"]))
                            for i in live(ec2, cluster)),
        "vpcs": sorted(v["VpcId"] for v in ec2.describe_vpcs(Filters=tagged)["Vpcs"]),
        "subnets": sorted(s["SubnetId"] for s in ec2.describe_subnets(Filters=tagged)["Subnets"]),
        "groups": sorted(g["GroupId"] for g in ec2.describe_security_groups(Filters=tagged)["SecurityGroups"]),
        "keys": sorted(k["KeyPairId"] for k in ec2.describe_key_pairs()["KeyPairs"]),
    }


def test_a_stop_a_start_and_a_crash_keep_the_cluster(emulator, tmp_path):
    cluster = Cluster(tmp_path, emulator.url, f"keep{os.getpid() % 1000}")
    run = cluster.play("provision.yml")
    assert run.rc == 0, run.failures
    before = records(emulator.ec2(), cluster.name)
    assert before["instances"] and before["vpcs"] and before["subnets"] and before["groups"]

    said = emulator("stop")
    assert "the cluster stays" in said and "make cluster-down" in said, said
    emulator("start")
    assert records(emulator.ec2(), cluster.name) == before
    # Provisioning again finds everything: nothing new, nothing changed.
    again = cluster.play("provision.yml")
    assert again.rc == 0 and again.total("changed") == 0, again.changed_tasks()
    assert records(emulator.ec2(), cluster.name) == before

    # A crash (no chance to write on exit) loses nothing either: each change is written when it is made.
    doomed = before["instances"][0][0]
    emulator.ec2().terminate_instances(InstanceIds=[doomed])
    os.kill(emulator.pid(), signal.SIGKILL)
    emulator("start")
    after = records(emulator.ec2(), cluster.name)
    assert [i[0] for i in after["instances"]] == [i[0] for i in before["instances"][1:]]
    assert {k: v for k, v in after.items() if k != "instances"} == {k: v for k, v in before.items() if k != "instances"}

    # reset forgets it all: a throwaway cluster's end.
    emulator("reset")
    emulator("start")
    assert records(emulator.ec2(), cluster.name)["instances"] == []


def test_a_stopped_emulator_is_one_error_that_names_make_cloud_up(tmp_path):
    inventory = tmp_path / "inventory"
    inventory.mkdir()
    plugin = {"plugin": "geostack.cluster.ec2", "cluster": "down", "regions": [REGION], "endpoint_url": f"http://127.0.0.1:{free_port()}",
              "access_key": "testing", "secret_key": "testing", "retries_max_attempts": 1, "connect_timeout": 1}
    (inventory / "geostack_ec2.yml").write_text(yaml.safe_dump(plugin))
    # As a user runs it: the project's ansible.cfg.
    env = dict(os.environ, ANSIBLE_CONFIG=str(ROOT / "ansible.cfg"), ANSIBLE_NOCOLOR="1")
    proc = subprocess.run(["ansible-playbook", "-i", str(inventory), str(PLAYBOOKS / "verify.yml")], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=120, check=False)
    output = proc.stdout + proc.stderr
    assert proc.returncode != 0
    # Only the plugin tried (no yaml or ini parser noise), and its first line says what to run.
    assert "'yaml' plugin" not in output and "'ini' plugin" not in output, output
    first = output.strip().splitlines()[0]
    assert "cannot reach" in first and "Start it with: make cloud-up" in first, output


@pytest.fixture
def backend(tmp_path):
    """Run geostack.cluster.local_cloud (the container backend) from the controller with these extra vars."""
    playbook = tmp_path / "backend.yml"
    playbook.write_text(yaml.safe_dump([{
        "name": "The local cloud's backend", "hosts": "localhost", "connection": "local", "gather_facts": False,
        "vars": {"ansible_python_interpreter": "{{ ansible_playbook_python }}"},
        "tasks": [{"name": "Back the instances", "ansible.builtin.include_role": {"name": "geostack.cluster.local_cloud"}}],
    }]))
    return lambda **extra_vars: run_playbook(playbook, inventory="localhost,", extra_vars=extra_vars)


def test_the_backend_keeps_a_node_no_instance_accounts_for_and_teardown_removes_it(backend):
    """A node no live instance accounts for is kept and reported; teardown removes it, and the node images baked from
    the cluster's instances (what the backend's entry point `image` commits), not another cluster's."""
    cluster = f"orphan{os.getpid() % 1000}"
    name = f"i-0orphan{os.getpid()}"  # the backend names a node after its instance id
    image = os.environ.get("GEOSTACK_TEST_IMAGE", "geostack/debian13-systemd:latest")
    baked = {c: f"geostack/ami:ami-{c}{os.getpid()}" for c in (cluster, f"{cluster}other")}
    subprocess.run(["docker", "run", "-d", "--name", name, "--label", f"geostack.cluster={cluster}",
                    "--label", f"geostack.instance={name}", "--entrypoint", "sleep", image, "infinity"],
                   check=True, capture_output=True)
    for owner, tag in baked.items():
        subprocess.run(["docker", "commit", "--change", f"LABEL geostack.cluster={owner}", name, tag],
                       check=True, capture_output=True)
    try:
        kept = backend(local_cloud_cluster=cluster, local_cloud_instances=[])
        assert kept.rc == 0 and kept.total("changed") == 0, kept.failures
        assert f"Kept 1 node container(s) of cluster {cluster}" in kept.output
        assert f"docker rm -f -v {name}" in kept.output
        assert container_exists(name) and all(map(image_exists, baked.values()))

        gone = backend(local_cloud_cluster=cluster, local_cloud_instances=[], local_cloud_teardown=True)
        assert gone.rc == 0 and gone.total("changed") > 0, gone.failures
        assert not container_exists(name)
        assert [image_exists(tag) for tag in baked.values()] == [False, True]
    finally:
        subprocess.run(["docker", "rm", "-f", "-v", name], capture_output=True, check=False)
        subprocess.run(["docker", "image", "rm", "-f", *baked.values()], capture_output=True, check=False)


def test_nodes_keep_their_instance_addresses_across_restarts_and_a_kept_node_keeps_its_address(backend):
    """With a subnet, each node gets its instance's private address, and keeps it when the nodes stop and start in
    another order (Docker would otherwise hand out addresses anew); a restarted node has a writable /proc/sys with
    nobody's help. A new instance whose address a kept (unaccounted-for) container holds is refused before it starts."""
    cluster = f"pin{os.getpid() % 1000}"
    tag = os.getpid()
    instances = [{"instance_id": f"i-0pin{tag}{n}", "private_ip_address": f"10.79.1.{n + 4}", "tags": {"Name": f"pin-{n}"},
                  "placement": {"availability_zone": f"us-east-1{'ab'[n]}"}} for n in (0, 1)]
    names = [i["instance_id"] for i in instances]
    cloud = {"local_cloud_cluster": cluster, "local_cloud_subnet": "10.79.0.0/16"}
    try:
        up = backend(**cloud, local_cloud_instances=instances)
        assert up.rc == 0, up.failures or up.output[-3000:]
        assert [address(name) for name in names] == ["10.79.1.4", "10.79.1.5"]
        # Each node carries its instance's zone, so that a test can take a zone down.
        assert [zone_label(name) for name in names] == ["us-east-1a", "us-east-1b"]

        subprocess.run(["docker", "stop", *names], check=True, capture_output=True)
        subprocess.run(["docker", "start", *reversed(names)], check=True, capture_output=True)
        assert [address(name) for name in names] == ["10.79.1.4", "10.79.1.5"]
        for name in names:
            # A boot takes seconds; beside a scenario's apt runs on two cores it may take minutes.
            wait_for(lambda n=name: sh(n, "systemctl is-system-running", check=False).stdout.strip() in ("running", "degraded"),
                     timeout=300)
            assert " /proc/sys proc rw," in sh(name, "cat /proc/mounts").stdout
        again = backend(**cloud, local_cloud_instances=instances)
        assert again.rc == 0 and again.total("changed") == 0, again.changed_tasks()

        # The emulator forgot the first instance (its state was reset) and gave its address to a new one.
        newcomer = {"instance_id": f"i-0pin{tag}9", "private_ip_address": "10.79.1.4", "tags": {"Name": "pin-9"}}
        refused = backend(**cloud, local_cloud_instances=[instances[1], newcomer])
        assert refused.rc != 0
        assert (f"instance {newcomer['instance_id']} has 10.79.1.4, held by {names[0]}" in refused.output
                and f"docker rm -f -v {names[0]}" in refused.output), refused.output[-3000:]
        assert not container_exists(newcomer["instance_id"]) and container_exists(names[0])
    finally:
        backend(**cloud, local_cloud_instances=[], local_cloud_teardown=True)
        subprocess.run(["docker", "rm", "-f", "-v", *names], capture_output=True, check=False)


def container_exists(name: str) -> bool:
    return subprocess.run(["docker", "inspect", name], capture_output=True, check=False).returncode == 0


def image_exists(name: str) -> bool:
    return subprocess.run(["docker", "image", "inspect", name], capture_output=True, check=False).returncode == 0


def zone_label(name: str) -> str:
    return subprocess.run(["docker", "inspect", "-f", '{{ index .Config.Labels "geostack.zone" }}', name],
                          capture_output=True, text=True, check=True).stdout.strip()
