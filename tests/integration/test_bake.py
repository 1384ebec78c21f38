"""playbooks/bake.yml on the local cloud: under --check, nothing launched; a worker image baked on a builder from the
base image, with the group's packages and no node identity; baked again with the same inputs, reused; a worker
launched from it starts from the committed node image with its packages there and an identity of its own; teardown
deregisters the image and removes its node image."""

from __future__ import annotations

import subprocess

import pytest
from nodes import sh

LAYOUT = {"manager": {"count": 1, "roles": ["manager"]}, "worker": {"count": 0, "roles": ["worker"]}}


def docker(*args: str, check: bool = True) -> subprocess.CompletedProcess:
    return subprocess.run(["docker", *args], capture_output=True, text=True, check=check)


def in_image(image: str, script: str) -> str:
    """A shell script run in a throwaway container of the image (not booted: the image's files as they were baked)."""
    return docker("run", "--rm", "--entrypoint", "sh", image, "-c", script).stdout


def images(ec2, cluster: str) -> list[dict]:
    return ec2.describe_images(Owners=["self"], Filters=[{"Name": "tag:geostack:cluster", "Values": [cluster]}])["Images"]


def live_ids(ec2, cluster: str) -> list[str]:
    found = ec2.describe_instances(Filters=[{"Name": "tag:geostack:cluster", "Values": [cluster]},
                                            {"Name": "instance-state-name", "Values": ["pending", "running"]}])
    return sorted(i["InstanceId"] for r in found["Reservations"] for i in r["Instances"])


@pytest.fixture
def cluster(make_cluster, ec2):
    made = make_cluster("docker", provision_layout=LAYOUT, provision_local_backend=True)
    yield made
    if not getattr(made, "torn_down", False):
        gone = made.play("teardown.yml", geostack_teardown_confirm=made.name)
        assert gone.rc == 0, gone.failures


def test_a_baked_worker_image_is_reused_and_launches_workers_with_their_packages_and_their_own_identity(cluster, ec2):
    first = cluster.play("provision.yml")
    assert first.rc == 0, first.failures
    manager = cluster.ids("managers")
    assert len(manager) == 1

    # --check says what a run would do and launches nothing.
    checked = cluster.play("bake.yml", "--check", bake_group="worker")
    assert checked.rc == 0, checked.failures
    assert "Node group worker: no image has these inputs; a run without --check bakes one." in checked.output
    assert live_ids(ec2, cluster.name) == sorted(manager.values()) and not images(ec2, cluster.name)

    baked = cluster.play("bake.yml", bake_group="worker")
    assert baked.rc == 0, baked.failures
    [image] = images(ec2, cluster.name)
    tags = {t["Key"]: t["Value"] for t in image["Tags"]}
    assert tags["geostack:group"] == "worker" and tags["geostack:roles"] == "worker", tags
    assert len(tags["geostack:digest"]) == 64 and tags["geostack:version"], tags
    node_image = f"geostack/ami:{image['ImageId']}"
    labels = docker("image", "inspect", "-f", "{{json .Config.Labels}}", node_image).stdout
    assert f'"geostack.cluster":"{cluster.name}"' in labels and f'"geostack.ami":"{image["ImageId"]}"' in labels, labels
    # The builder is gone, from the emulator and from Docker; only the manager is live.
    assert live_ids(ec2, cluster.name) == sorted(manager.values())
    nodes = docker("ps", "-a", "--filter", f"label=geostack.cluster={cluster.name}", "--format", "{{.Names}}").stdout.split()
    assert nodes == list(manager.values()), nodes

    # The worker's packages are in the image, no service ran, and nothing of the builder's identity is left.
    report = in_image(node_image, "dpkg-query -W -f '${Status}\\n' docker.io prometheus-node-exporter; "
                                  "echo machine-id=$(cat /etc/machine-id); ls /etc/ssh/ssh_host_* /etc/ssl/private/ssl-cert-snakeoil.key "
                                  "/usr/sbin/policy-rc.d /var/lib/docker/swarm /var/lib/docker/engine-id 2>/dev/null; "
                                  "echo lists=$(ls /var/lib/apt/lists | grep -c _); "
                                  "echo first-boot=$(systemctl is-enabled geostack-first-boot.service 2>/dev/null || "
                                  "readlink /etc/systemd/system/multi-user.target.wants/geostack-first-boot.service)")
    lines = report.splitlines()
    assert lines[:2] == ["install ok installed", "install ok installed"], report
    assert "machine-id=" in lines and "lists=0" in lines, report
    assert not [line for line in lines if line.startswith("/")], report  # no host key, snakeoil key, policy or Docker state
    assert lines[-1] in ("first-boot=enabled", "first-boot=/etc/systemd/system/geostack-first-boot.service"), report

    # Same inputs: the image is reused, nothing launched or made.
    again = cluster.play("bake.yml", bake_group="worker")
    assert again.rc == 0 and again.total("changed") == 0, again.output
    assert f"image {image['ImageId']} has these inputs already (reused)" in again.output
    assert [i["ImageId"] for i in images(ec2, cluster.name)] == [image["ImageId"]]
    assert live_ids(ec2, cluster.name) == sorted(manager.values())

    # A worker launched from it starts from the node image, with the packages installed and an identity of its own.
    grown = cluster.play("provision.yml", provision_layout_override={"worker": {"count": 1, "image": "baked"}})
    assert grown.rc == 0, grown.failures
    [worker_id] = cluster.ids("workers").values()
    found = ec2.describe_instances(InstanceIds=[worker_id])["Reservations"][0]["Instances"][0]
    assert found["ImageId"] == image["ImageId"]
    assert docker("inspect", "-f", "{{.Config.Image}}", worker_id).stdout.strip() == node_image
    assert sh(worker_id, "dpkg-query -W -f '${Status}' docker.io").stdout == "install ok installed"
    # Its first boot ran the unit that makes the node's own keys (a worker has no ssl-cert, so no snakeoil key).
    assert sorted(sh(worker_id, "systemctl show -P ActiveState,Result geostack-first-boot.service").stdout.split()) == ["active", "success"]
    assert sh(worker_id, "ls /var/lib/geostack").stdout.split() == ["first-boot"]
    machine_ids = {sh(node, "cat /etc/machine-id").stdout.strip() for node in (worker_id, *manager.values())}
    assert len(machine_ids) == 2 and "" not in machine_ids, machine_ids
    assert sh(worker_id, "systemctl is-active docker").stdout.strip() == "active"  # enabled by its package, started at boot

    # Teardown deregisters the image and removes its node image with the nodes.
    gone = cluster.play("teardown.yml", geostack_teardown_confirm=cluster.name)
    assert gone.rc == 0, gone.failures
    cluster.torn_down = True
    assert not images(ec2, cluster.name) and live_ids(ec2, cluster.name) == []
    assert docker("image", "inspect", node_image, check=False).returncode != 0


def test_bake_refuses_a_group_not_in_the_layout_and_a_baked_group_without_an_image(cluster, ec2):
    refused = cluster.play("bake.yml", bake_group="nope")
    assert refused.rc != 0 and refused.total("changed") == 0
    assert "one of provision_layout's groups (manager, worker); got nope" in refused.output, refused.output
    unbaked = cluster.play("provision.yml", provision_layout_override={"worker": {"count": 1, "image": "baked"}})
    assert unbaked.rc != 0 and unbaked.total("changed") == 0
    assert "provision_layout.worker.image is 'baked', but cluster" in unbaked.output, unbaked.output
    assert live_ids(ec2, cluster.name) == [] and not images(ec2, cluster.name)
