#!/usr/bin/python
# Copyright (c) 2026, geostack.cluster maintainers
# Apache License 2.0 (see galaxy.yml)
"""Build or remove a cluster's VPC, public subnets, internet gateway and route table, all in one call."""

from __future__ import annotations

DOCUMENTATION = r"""
module: ec2_cluster_network
short_description: A cluster's VPC with one public, routed subnet per zone, built or removed in one call
description:
  - With O(state=present), makes sure a VPC has the given public subnets, an attached internet gateway, and a route
    table that sends each subnet's default route (V(0.0.0.0/0)) through that gateway. What exists is kept and what is
    missing is created, each in turn. The VPC (when O(vpc_id) is empty and no VPC is named O(name) with
    O(cidr_block)), each subnet (by CIDR, with public addresses on launch), the gateway, the route table (found by
    its tags), the default route and each subnet's association. Tags are added where missing. Other tags, routes and
    associations are left as they are.
  - With O(state=absent), removes the VPC O(vpc_id) with its route tables tagged O(tags) (their subnet associations
    first), its internet gateways (detached first), and all of its subnets. Dependencies that EC2 releases late, such
    as the network interfaces of instances just terminated, are retried for up to O(dependency_timeout) seconds.
  - One module run instead of one per resource, and no fixed pause after a change.
version_added: 0.3.0
author:
  - geostack.cluster maintainers (@geostack)
options:
  state:
    description: Whether the network should exist.
    type: str
    choices: [present, absent]
    default: present
  vpc_id:
    description:
      - The VPC. With O(state=present) and no value, a VPC named O(name) with O(cidr_block) is used, or created.
      - Required with O(state=absent); an empty value then changes nothing.
    type: str
    default: ""
  name:
    description: The Name tag of a VPC, gateway and route table this module creates, and the start of each subnet's.
    type: str
  cidr_block:
    description: The VPC's CIDR block. Required with O(state=present).
    type: str
  subnets:
    description:
      - The public subnets, each with C(cidr) and an optional C(zone) (an availability zone of the region). A subnet
        with a zone is named C(<name>-<zone>), one without is named O(name).
    type: list
    elements: dict
    default: []
  tags:
    description: Tags every resource gets. With O(state=absent), the tags that mark the route tables to delete.
    type: dict
    default: {}
  dependency_timeout:
    description: Seconds to retry a deletion that EC2 refuses while something still depends on the resource.
    type: int
    default: 300
extends_documentation_fragment:
  - amazon.aws.common.modules
  - amazon.aws.region.modules
  - amazon.aws.boto3
"""

EXAMPLES = r"""
- name: A VPC with a public subnet in each of two zones
  geostack.cluster.ec2_cluster_network:
    name: geo
    cidr_block: 10.42.0.0/16
    subnets:
      - {cidr: 10.42.1.0/24, zone: us-east-1a}
      - {cidr: 10.42.2.0/24, zone: us-east-1b}
    tags: {"geostack:cluster": geo}
  register: network

- name: Remove it
  geostack.cluster.ec2_cluster_network:
    vpc_id: "{{ network.vpc.id }}"
    tags: {"geostack:cluster": geo}
    state: absent
"""

RETURN = r"""
vpc:
  description: The VPC's id and CIDR block (with O(state=present)).
  returned: always
  type: dict
  sample: {id: vpc-0123, cidr_block: 10.42.0.0/16}
subnets:
  description: The subnets in the order given, each with C(cidr), C(zone) and C(subnet_id).
  returned: always
  type: list
  elements: dict
internet_gateway_id:
  description: The attached internet gateway.
  returned: when O(state=present)
  type: str
route_table_id:
  description: The route table that routes the subnets.
  returned: when O(state=present)
  type: str
actions:
  description: What this run did (or, in check mode, would do), one line each.
  returned: always
  type: list
  elements: str
"""

try:
    from botocore.exceptions import BotoCoreError, ClientError
except ImportError:
    pass  # AnsibleAWSModule reports a missing botocore

from ansible_collections.amazon.aws.plugins.module_utils.modules import AnsibleAWSModule
from ansible_collections.amazon.aws.plugins.module_utils.retries import AWSRetry
from ansible_collections.geostack.cluster.plugins.module_utils.ec2_records import delete_patiently


def _tag_list(tags):
    return [{"Key": k, "Value": str(v)} for k, v in tags.items()]


def _spec(kind, tags):
    return [{"ResourceType": kind, "Tags": _tag_list(tags)}] if tags else []


def _missing_tags(resource, tags):
    have = {t["Key"]: t["Value"] for t in resource.get("Tags", [])}
    return {k: str(v) for k, v in tags.items() if have.get(k) != str(v)}


class Network:
    def __init__(self, module):
        self.module = module
        self.check = module.check_mode
        self.actions = []
        self.ec2 = module.client("ec2", retry_decorator=AWSRetry.jittered_backoff(
            catch_extra_error_codes=["InvalidVpcID.NotFound", "InvalidSubnetID.NotFound",
                                     "InvalidInternetGatewayID.NotFound", "InvalidRouteTableID.NotFound"]))

    def did(self, line):
        self.actions.append(line)
        return not self.check

    def describe(self, operation, key, filters):
        out = []
        for page in self.ec2.get_paginator(operation).paginate(Filters=filters):
            out += page[key]
        return out

    def tag(self, resource_id, resource, tags, what):
        missing = _missing_tags(resource, tags)
        if missing and self.did(f"tag {what} {resource_id} with {', '.join(sorted(missing))}"):
            self.ec2.create_tags(aws_retry=True, Resources=[resource_id], Tags=_tag_list(missing))

    # state=present

    def vpc(self, vpc_id, name, cidr, tags):
        if vpc_id:
            found = self.describe("describe_vpcs", "Vpcs", [{"Name": "vpc-id", "Values": [vpc_id]}])
            if not found:
                self.module.fail_json(msg=f"vpc_id: no VPC {vpc_id}")
        else:
            found = self.describe("describe_vpcs", "Vpcs", [{"Name": "tag:Name", "Values": [name]},
                                                            {"Name": "cidr-block", "Values": [cidr]}])
            if len(found) > 1:
                self.module.fail_json(msg=f"{len(found)} VPCs are named {name} with CIDR {cidr} "
                                          f"({', '.join(v['VpcId'] for v in found)}); give one as vpc_id")
        if found:
            vpc = found[0]
            self.tag(vpc["VpcId"], vpc, {**tags, "Name": name} if not vpc_id else tags, "VPC")
            return vpc["VpcId"], vpc["CidrBlock"], False
        if not self.did(f"create VPC {cidr}"):
            return "(new VPC)", cidr, True
        vpc = self.ec2.create_vpc(aws_retry=True, CidrBlock=cidr,
                                  TagSpecifications=_spec("vpc", {**tags, "Name": name}))["Vpc"]
        self.ec2.get_waiter("vpc_available").wait(VpcIds=[vpc["VpcId"]])
        # Public DNS names for instances, as EC2's default VPC has them.
        for attribute in ("EnableDnsSupport", "EnableDnsHostnames"):
            self.ec2.modify_vpc_attribute(aws_retry=True, VpcId=vpc["VpcId"], **{attribute: {"Value": True}})
        return vpc["VpcId"], cidr, True

    def subnet(self, vpc_id, existing, wanted, name, tags):
        cidr, zone = wanted["cidr"], wanted.get("zone") or ""
        subnet_name = f"{name}-{zone}" if zone else name
        have = next((s for s in existing if s["CidrBlock"] == cidr), None)
        if have:
            if zone and have["AvailabilityZone"] != zone:
                self.module.fail_json(msg=f"subnet {have['SubnetId']} ({cidr}) sits in {have['AvailabilityZone']}, not {zone}")
            subnet_id = have["SubnetId"]
            self.tag(subnet_id, have, {**tags, "Name": subnet_name}, "subnet")
            public = have.get("MapPublicIpOnLaunch")
        else:
            where = f" in {zone}" if zone else ""
            if not self.did(f"create subnet {cidr}{where}"):
                return {"cidr": cidr, "zone": zone, "subnet_id": f"(new subnet {cidr})"}
            extra = {"AvailabilityZone": zone} if zone else {}
            subnet_id = self.ec2.create_subnet(aws_retry=True, VpcId=vpc_id, CidrBlock=cidr,
                                               TagSpecifications=_spec("subnet", {**tags, "Name": subnet_name}),
                                               **extra)["Subnet"]["SubnetId"]
            self.ec2.get_waiter("subnet_available").wait(SubnetIds=[subnet_id])
            public = False
        if not public and self.did(f"give subnet {cidr} public addresses on launch"):
            self.ec2.modify_subnet_attribute(aws_retry=True, SubnetId=subnet_id, MapPublicIpOnLaunch={"Value": True})
        return {"cidr": cidr, "zone": zone, "subnet_id": subnet_id}

    def gateway(self, vpc_id, name, tags):
        attached = self.describe("describe_internet_gateways", "InternetGateways",
                                 [{"Name": "attachment.vpc-id", "Values": [vpc_id]}])
        if attached:
            gateway = attached[0]
            self.tag(gateway["InternetGatewayId"], gateway, tags, "internet gateway")
            return gateway["InternetGatewayId"]
        if not self.did("create and attach an internet gateway"):
            return "(new internet gateway)"
        gateway_id = self.ec2.create_internet_gateway(
            aws_retry=True, TagSpecifications=_spec("internet-gateway", {**tags, "Name": name}))["InternetGateway"]["InternetGatewayId"]
        self.ec2.attach_internet_gateway(aws_retry=True, InternetGatewayId=gateway_id, VpcId=vpc_id)
        return gateway_id

    def routes(self, vpc_id, gateway_id, subnets, name, tags):
        mine = {**tags, "Name": name}
        tables = self.describe("describe_route_tables", "RouteTables",
                               [{"Name": "vpc-id", "Values": [vpc_id]}]
                               + [{"Name": f"tag:{k}", "Values": [str(v)]} for k, v in mine.items()])
        if tables:
            table = tables[0]
        elif self.did("create the route table"):
            table = self.ec2.create_route_table(aws_retry=True, VpcId=vpc_id,
                                                TagSpecifications=_spec("route-table", mine))["RouteTable"]
        else:
            table = {"RouteTableId": "(new route table)", "Routes": [], "Associations": []}
        table_id = table["RouteTableId"]
        default = next((r for r in table.get("Routes", []) if r.get("DestinationCidrBlock") == "0.0.0.0/0"), None)
        if default is None:
            if self.did(f"route 0.0.0.0/0 through {gateway_id}"):
                self.ec2.create_route(aws_retry=True, RouteTableId=table_id, DestinationCidrBlock="0.0.0.0/0", GatewayId=gateway_id)
        elif default.get("GatewayId") != gateway_id or default.get("State") == "blackhole":
            if self.did(f"route 0.0.0.0/0 through {gateway_id} instead of {default.get('GatewayId') or 'its old target'}"):
                self.ec2.replace_route(aws_retry=True, RouteTableId=table_id, DestinationCidrBlock="0.0.0.0/0", GatewayId=gateway_id)
        associated = {a.get("SubnetId") for a in table.get("Associations", [])}
        for subnet in subnets:
            if subnet["subnet_id"] in associated:
                continue
            if not self.did(f"route subnet {subnet['cidr']} through the route table"):
                continue
            other = self.describe("describe_route_tables", "RouteTables",
                                  [{"Name": "association.subnet-id", "Values": [subnet["subnet_id"]]}])
            link = next((a for t in other for a in t.get("Associations", []) if a.get("SubnetId") == subnet["subnet_id"]), None)
            if link:
                self.ec2.replace_route_table_association(aws_retry=True, AssociationId=link["RouteTableAssociationId"],
                                                         RouteTableId=table_id)
            else:
                self.ec2.associate_route_table(aws_retry=True, RouteTableId=table_id, SubnetId=subnet["subnet_id"])
        return table_id

    def present(self, params):
        name, tags = params["name"], params["tags"]
        vpc_id, cidr, new = self.vpc(params["vpc_id"], name, params["cidr_block"], tags)
        existing = [] if new else self.describe("describe_subnets", "Subnets", [{"Name": "vpc-id", "Values": [vpc_id]}])
        subnets = [self.subnet(vpc_id, existing, wanted, name, tags) for wanted in params["subnets"]]
        gateway_id = self.gateway(vpc_id, name, tags) if not new or not self.check else "(new internet gateway)"
        table_id = self.routes(vpc_id, gateway_id, subnets, name, tags) if not new or not self.check else "(new route table)"
        if new and self.check:
            self.actions += ["create and attach an internet gateway", "create the route table",
                             f"route 0.0.0.0/0 through {gateway_id}"]
        return {"vpc": {"id": vpc_id, "cidr_block": cidr}, "subnets": subnets,
                "internet_gateway_id": gateway_id, "route_table_id": table_id}

    # state=absent

    def patiently(self, call, **kwargs):
        return delete_patiently(call, self.module.params["dependency_timeout"], aws_retry=True, **kwargs)

    def absent(self, params):
        vpc_id, tags = params["vpc_id"], params["tags"]
        if not vpc_id or not self.describe("describe_vpcs", "Vpcs", [{"Name": "vpc-id", "Values": [vpc_id]}]):
            return {"vpc": {}, "subnets": []}
        in_vpc = [{"Name": "vpc-id", "Values": [vpc_id]}]
        tables = self.describe("describe_route_tables", "RouteTables",
                               in_vpc + [{"Name": f"tag:{k}", "Values": [str(v)]} for k, v in tags.items()])
        for table in tables:
            if any(a.get("Main") for a in table.get("Associations", [])):
                continue  # the VPC's main table goes with the VPC
            if not self.did(f"delete route table {table['RouteTableId']}"):
                continue
            for link in table.get("Associations", []):
                self.ec2.disassociate_route_table(aws_retry=True, AssociationId=link["RouteTableAssociationId"])
            self.ec2.delete_route_table(aws_retry=True, RouteTableId=table["RouteTableId"])
        for gateway in self.describe("describe_internet_gateways", "InternetGateways",
                                     [{"Name": "attachment.vpc-id", "Values": [vpc_id]}]):
            gateway_id = gateway["InternetGatewayId"]
            if self.did(f"detach and delete internet gateway {gateway_id}"):
                self.patiently(self.ec2.detach_internet_gateway, InternetGatewayId=gateway_id, VpcId=vpc_id)
                self.ec2.delete_internet_gateway(aws_retry=True, InternetGatewayId=gateway_id)
        subnets = self.describe("describe_subnets", "Subnets", in_vpc)
        for subnet in subnets:
            if self.did(f"delete subnet {subnet['CidrBlock']} ({subnet['SubnetId']})"):
                self.patiently(self.ec2.delete_subnet, SubnetId=subnet["SubnetId"])
        if self.did(f"delete VPC {vpc_id}"):
            self.patiently(self.ec2.delete_vpc, VpcId=vpc_id)
        return {"vpc": {"id": vpc_id}, "subnets": [{"cidr": s["CidrBlock"], "zone": s["AvailabilityZone"],
                                                    "subnet_id": s["SubnetId"]} for s in subnets]}


def main():
    module = AnsibleAWSModule(
        argument_spec={
            "state": {"type": "str", "choices": ["present", "absent"], "default": "present"},
            "vpc_id": {"type": "str", "default": ""},
            "name": {"type": "str"},
            "cidr_block": {"type": "str"},
            "subnets": {"type": "list", "elements": "dict", "default": []},
            "tags": {"type": "dict", "default": {}},
            "dependency_timeout": {"type": "int", "default": 300},
        },
        required_if=[("state", "present", ("name", "cidr_block"))],
        supports_check_mode=True,
    )
    params = module.params
    for index, subnet in enumerate(params["subnets"]):
        if not isinstance(subnet.get("cidr"), str) or not subnet["cidr"]:
            module.fail_json(msg=f"subnets[{index}]: a cidr is required, got {subnet!r}")
    network = Network(module)
    try:
        result = network.present(params) if params["state"] == "present" else network.absent(params)
    except (BotoCoreError, ClientError) as error:
        module.fail_json_aws(error, msg=f"could not {'build' if params['state'] == 'present' else 'remove'} the network "
                                        f"(done so far: {'; '.join(network.actions) or 'nothing'})")
    module.exit_json(changed=bool(network.actions), actions=network.actions, **result)


if __name__ == "__main__":
    main()
