"""Fixtures for the inventory plugin: moto in-process and an Ansible InventoryManager."""

from __future__ import annotations

import itertools

import boto3
import pytest
import yaml
from ansible.inventory.data import InventoryData
from ansible.parsing.dataloader import DataLoader
from ansible.plugins.loader import inventory_loader
from moto import mock_aws

REGION = "us-east-1"


@pytest.fixture(autouse=True)
def aws_env(monkeypatch):
    for name in ("AWS_PROFILE", "AWS_DEFAULT_PROFILE", "AWS_URL", "EC2_URL", "AWS_SESSION_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", REGION)


class Cloud:
    """One moto EC2 account, shared by the tests; each test has its own cluster in it.

    Starting moto costs about two seconds, so it starts once. Sharing it also
    tests that the plugin sees only its own cluster among many.
    """

    _seq = itertools.count()
    ami = "ami-12c6146b"  # one of moto's built-in images

    def __init__(self):
        self.ec2 = boto3.client("ec2", region_name=REGION)
        self.cluster = f"geo{next(self._seq)}"

    def launch(self, roles, name=None, cluster=None, count=1, region=REGION, **tags):
        client = self.ec2 if region == REGION else boto3.client("ec2", region_name=region)
        ami = self.ami
        cluster = cluster or self.cluster
        all_tags = {"geostack:cluster": cluster, "geostack:roles": roles, **{k.replace("__", ":"): v for k, v in tags.items()}}
        if name is not None:
            all_tags["Name"] = name
        result = client.run_instances(
            ImageId=ami,
            MinCount=count,
            MaxCount=count,
            TagSpecifications=[{"ResourceType": "instance", "Tags": [{"Key": k, "Value": str(v)} for k, v in all_tags.items()]}],
        )
        return [i["InstanceId"] for i in result["Instances"]]

    def tag(self, instance_id, key, value):
        self.ec2.create_tags(Resources=[instance_id], Tags=[{"Key": key, "Value": value}])

    def terminate(self, *ids):
        self.ec2.terminate_instances(InstanceIds=list(ids))


@pytest.fixture(scope="session")
def _moto():
    with mock_aws():
        yield


@pytest.fixture
def cloud(_moto):
    return Cloud()


@pytest.fixture
def inventory(tmp_path, cloud):
    """Build an inventory of the test's cluster from a geostack_ec2.yml with the given options."""

    def build(use_cache=False, plugin=None, **options):
        config = {"plugin": "geostack.cluster.ec2", "cluster": cloud.cluster, "regions": [REGION], **options}
        path = tmp_path / "test.geostack_ec2.yml"
        path.write_text(yaml.safe_dump(config))
        plugin = plugin or inventory_loader.get("geostack.cluster.ec2")
        assert plugin.verify_file(str(path))
        data = InventoryData()
        plugin.parse(data, DataLoader(), str(path), cache=use_cache)
        if options.get("cache"):
            plugin.update_cache_if_changed()  # as InventoryManager does after a parse
        data.reconcile_inventory()
        return data

    return build


def groups_of(inv):
    return {name: sorted(h.name for h in group.get_hosts()) for name, group in inv.groups.items() if name not in ("all", "ungrouped")}


def hostvars(inv, name):
    return inv.get_host(name).get_vars()
