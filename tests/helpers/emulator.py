"""Read the EC2 emulator (moto) as the collection's modules reach it: a boto3 client for its URL, and a cluster's
images and instances, found by the geostack:cluster tag that provision.yml and bake.yml put on everything they make."""

from __future__ import annotations

import boto3

REGION = "us-east-1"
RUNNING = ("pending", "running")
# Every state in which an instance still exists (teardown and scale-in leave none of these behind).
EXISTING = (*RUNNING, "stopping", "stopped")


def client(url: str, service: str = "ec2"):
    """A boto3 client of the emulator at url, with the test credentials it accepts."""
    return boto3.client(service, region_name=REGION, endpoint_url=url, aws_access_key_id="testing",
                        aws_secret_access_key="testing")


def _of(cluster: str) -> dict:
    return {"Name": "tag:geostack:cluster", "Values": [cluster]}


def images(ec2, cluster: str) -> list[dict]:
    """The images baked for a cluster."""
    return ec2.describe_images(Owners=["self"], Filters=[_of(cluster)])["Images"]


def instances(ec2, cluster: str, states: tuple[str, ...] = EXISTING) -> list[dict]:
    """A cluster's instances in one of states."""
    found = ec2.describe_instances(Filters=[_of(cluster), {"Name": "instance-state-name", "Values": list(states)}])
    return [i for r in found["Reservations"] for i in r["Instances"]]


def instance_ids(ec2, cluster: str, states: tuple[str, ...] = RUNNING) -> list[str]:
    """The ids of a cluster's instances in one of states (pending or running unless said), sorted."""
    return sorted(i["InstanceId"] for i in instances(ec2, cluster, states))
