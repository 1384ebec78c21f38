#!/usr/bin/python
# Copyright (c) 2026, geostack.cluster maintainers
# Apache License 2.0 (see galaxy.yml)
"""Read everything of one cluster in EC2 (network, security groups, live instances) in one call."""

from __future__ import annotations

DOCUMENTATION = r"""
module: ec2_cluster_info
short_description: Read a geostack cluster's VPC, subnet, gateway, route tables, security groups and instances in one call
description:
  - Everything tagged C(geostack:cluster=<cluster>) (and the instances of its VPC's subnet), read in one session so that
    the provision role can tell on the controller which of its changes are needed and skip the others.
  - Instances are those in the given states, in the shape of M(amazon.aws.ec2_instance_info) (snake_case keys, tags as a dict).
version_added: 0.2.0
author:
  - geostack.cluster maintainers (@geostack)
options:
  cluster:
    description: The cluster name (the C(geostack:cluster) tag).
    type: str
    required: true
  vpc_id:
    description: The cluster's VPC when it was given rather than created (then it is not looked up by tag).
    type: str
    default: ""
  instance_states:
    description: Instance states to list.
    type: list
    elements: str
    default: [pending, running, stopping, stopped]
extends_documentation_fragment:
  - amazon.aws.common.modules
  - amazon.aws.region.modules
  - amazon.aws.boto3
"""

EXAMPLES = r"""
- name: Read the cluster
  geostack.cluster.ec2_cluster_info:
    cluster: geo
  register: cluster
"""

RETURN = r"""
vpc:
  description: The cluster's VPC (C(vpc_id), C(cidr_block), C(tags)), or an empty dict.
  returned: always
  type: dict
subnets:
  description: The VPC's subnets tagged with the cluster.
  returned: always
  type: list
  elements: dict
internet_gateways:
  description: The cluster's internet gateways, with their attachments.
  returned: always
  type: list
  elements: dict
route_tables:
  description: The cluster's route tables, with routes and associations.
  returned: always
  type: list
  elements: dict
security_groups:
  description: The VPC's security groups tagged with the cluster, with their ingress rules.
  returned: always
  type: list
  elements: dict
instances:
  description: The cluster's instances in O(instance_states), as M(amazon.aws.ec2_instance_info) returns them.
  returned: always
  type: list
  elements: dict
"""

try:
    from botocore.exceptions import BotoCoreError, ClientError
except ImportError:
    pass  # AnsibleAWSModule reports a missing botocore

from ansible_collections.amazon.aws.plugins.module_utils.modules import AnsibleAWSModule
from ansible_collections.geostack.cluster.plugins.module_utils.ec2_records import snake


def _records(ec2, operation, key, filters):
    out = []
    for page in ec2.get_paginator(operation).paginate(Filters=filters):
        out += page[key]
    return out


def main():
    module = AnsibleAWSModule(
        argument_spec={
            "cluster": {"type": "str", "required": True},
            "vpc_id": {"type": "str", "default": ""},
            "instance_states": {"type": "list", "elements": "str", "default": ["pending", "running", "stopping", "stopped"]},
        },
        supports_check_mode=True,
    )
    cluster, vpc_id = module.params["cluster"], module.params["vpc_id"]
    tagged = [{"Name": "tag:geostack:cluster", "Values": [cluster]}]
    ec2 = module.client("ec2")
    result = {"vpc": {}, "subnets": [], "internet_gateways": [], "route_tables": [], "security_groups": [], "instances": []}
    try:
        vpcs = _records(ec2, "describe_vpcs", "Vpcs", [{"Name": "vpc-id", "Values": [vpc_id]}] if vpc_id else tagged)
        if vpcs:
            vpc = sorted(vpcs, key=lambda v: v["VpcId"])[0]
            in_vpc = [{"Name": "vpc-id", "Values": [vpc["VpcId"]]}]
            result["vpc"] = snake(vpc)
            result["subnets"] = [snake(r) for r in _records(ec2, "describe_subnets", "Subnets", in_vpc + tagged)]
            result["internet_gateways"] = [
                snake(r) for r in _records(ec2, "describe_internet_gateways", "InternetGateways",
                                           [{"Name": "attachment.vpc-id", "Values": [vpc["VpcId"]]}])
            ]
            result["route_tables"] = [snake(r) for r in _records(ec2, "describe_route_tables", "RouteTables", in_vpc + tagged)]
            result["security_groups"] = [snake(r) for r in _records(ec2, "describe_security_groups", "SecurityGroups", in_vpc + tagged)]
        states = [{"Name": "instance-state-name", "Values": module.params["instance_states"]}]
        for reservation in _records(ec2, "describe_instances", "Reservations", tagged + states):
            result["instances"] += [snake(i) for i in reservation["Instances"]]
    except (BotoCoreError, ClientError) as error:
        module.fail_json_aws(error, msg=f"could not read cluster {cluster}")
    result["instances"].sort(key=lambda i: (str(i.get("launch_time", "")), i["instance_id"]))
    module.exit_json(changed=False, **result)


if __name__ == "__main__":
    main()
