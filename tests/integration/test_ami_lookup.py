"""provision.yml with no AMI given: it looks up the newest official Debian 13 image, against a moto EC2 server
that holds images of two owners and two architectures (moto loads them from MOTO_AMIS_PATH at start)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
from emulator import client
from playbook_runner import assert_refused_before_any_change

from .conftest import REGION, Cluster, free_port, live, security_groups

DEBIAN = "136693071363"
OTHER = "111122223333"
IMAGES = [
    # (id, name, owner, architecture, created)
    ("ami-0d0000000000000a1", "debian-13-amd64-20250610-2140", DEBIAN, "x86_64", "2025-06-10T21:40:00.000Z"),
    ("ami-0d0000000000000a2", "debian-13-amd64-20251120-2300", DEBIAN, "x86_64", "2025-11-20T23:00:00.000Z"),
    # Newer, but not Debian's, or not amd64, or not Debian 13: never picked.
    ("ami-0e0000000000000b1", "debian-13-amd64-20261001-0000", OTHER, "x86_64", "2026-10-01T00:00:00.000Z"),
    ("ami-0d0000000000000c1", "debian-13-arm64-20261101-0000", DEBIAN, "arm64", "2026-11-01T00:00:00.000Z"),
    ("ami-0d0000000000000d1", "debian-12-amd64-20261115-0000", DEBIAN, "x86_64", "2026-11-15T00:00:00.000Z"),
]


@pytest.fixture(scope="module")
def images_url(tmp_path_factory):
    """A moto server of its own (a subprocess), whose every region starts with IMAGES."""
    path = tmp_path_factory.mktemp("amis") / "amis.json"
    path.write_text(json.dumps([
        {"ami_id": ami, "name": name, "owner_id": owner, "architecture": arch, "creation_date": created,
         "public": True, "state": "available", "virtualization_type": "hvm", "root_device_type": "ebs",
         "root_device_name": "/dev/xvda", "description": name, "hypervisor": "xen", "image_type": "machine",
         "platform": None, "sriov": "simple", "region_name": REGION}
        for ami, name, owner, arch, created in IMAGES
    ]))
    port = free_port()
    server = subprocess.Popen([str(Path(sys.executable).parent / "moto_server"), "-H", "127.0.0.1", "-p", str(port)],
                              env={**os.environ, "MOTO_AMIS_PATH": str(path)},
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url + "/moto-api/", timeout=1):
                break
        except OSError:
            time.sleep(0.1)
    yield url
    server.terminate()
    server.wait(timeout=10)


@pytest.fixture
def images_ec2(images_url):
    return client(images_url)


def test_the_emulator_holds_the_images_of_both_owners(images_ec2):
    found = {i["ImageId"]: i["OwnerId"] for i in images_ec2.describe_images(Owners=[DEBIAN, OTHER])["Images"]}
    assert found == {ami: owner for ami, _name, owner, _arch, _created in IMAGES}


def test_without_an_ami_the_newest_official_debian_13_amd64_image_is_used(tmp_path, images_url, images_ec2):
    cluster = Cluster(tmp_path, images_url, "amis", provision_layout={"manager": {"count": 1}}, provision_ami_ids={})
    run = cluster.play("provision.yml")
    assert run.rc == 0, run.failures or run.output
    assert "launch from ami-0d0000000000000a2 (debian-13-amd64-20251120-2300" in run.output
    [instance] = live(images_ec2, cluster.name)
    assert instance["ImageId"] == "ami-0d0000000000000a2"
    # A given AMI wins over the look-up.
    again = cluster.play("provision.yml", provision_ami_ids={REGION: "ami-0d0000000000000a1"})
    assert again.rc == 0 and again.total("changed") == 0, again.failures
    assert "launch from ami-" not in again.output


@pytest.mark.parametrize(
    ("overrides", "named"),
    [
        ({"provision_ami_owners": ["444455556666"]}, "No image in us-east-1 is named debian-13-amd64-* for x86_64 (hvm, EBS) by 444455556666"),
        ({"provision_ami_name": "debian-14-*"}, "No image in us-east-1 is named debian-14-* for x86_64"),
        ({"provision_ami_ids": {REGION: "debian"}}, "provision_ami_ids.us-east-1 is not an AMI id ('debian')"),
    ],
    ids=["no image of the owner", "no image of the name", "not an AMI id"],
)
def test_no_image_found_is_refused_before_anything_is_created(tmp_path, images_url, images_ec2, overrides, named):
    cluster = Cluster(tmp_path, images_url, "noami", provision_layout={"manager": {"count": 1}}, provision_ami_ids={})
    run = cluster.play("provision.yml", **overrides)
    assert_refused_before_any_change(run, named, "provision")
    assert live(images_ec2, cluster.name) == [] and security_groups(images_ec2, cluster.name) == {}
