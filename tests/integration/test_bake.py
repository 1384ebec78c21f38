"""playbooks/bake.yml's bad input on the local cloud: a group not in the layout, and a group that asks for a baked
image when none is baked, are refused before anything changes.

Baking itself (--check, the image's tags and contents, reuse, a worker launched from it) is tested on the default
scenario's cluster, which has the worker group's roles converged already; teardown's removal of the images, in
test_provision.py (the EC2 image) and test_local_cloud.py (its node image)."""

from __future__ import annotations

import pytest
from emulator import images, instance_ids

LAYOUT = {"manager": {"count": 1, "roles": ["manager"]}, "worker": {"count": 0, "roles": ["worker"]}}


@pytest.fixture
def cluster(make_cluster, ec2):
    made = make_cluster("docker", provision_layout=LAYOUT, provision_local_backend=True)
    yield made
    gone = made.play("teardown.yml", geostack_teardown_confirm=made.name)
    assert gone.rc == 0, gone.failures


def test_bake_refuses_a_group_not_in_the_layout_and_a_baked_group_without_an_image(cluster, ec2):
    refused = cluster.play("bake.yml", bake_group="nope")
    assert refused.rc != 0 and refused.total("changed") == 0
    assert "one of provision_layout's groups (manager, worker); got nope" in refused.output, refused.output
    unbaked = cluster.play("provision.yml", provision_layout_override={"worker": {"count": 1, "image": "baked"}})
    assert unbaked.rc != 0 and unbaked.total("changed") == 0
    assert "provision_layout.worker.image is 'baked', but cluster" in unbaked.output, unbaked.output
    assert instance_ids(ec2, cluster.name) == [] and not images(ec2, cluster.name)
