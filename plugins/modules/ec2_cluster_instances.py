#!/usr/bin/python
# Copyright (c) 2026, geostack.cluster maintainers
# Apache License 2.0 (see galaxy.yml)
"""Launch, retire and name a cluster's instances, all in one call."""

from __future__ import annotations

DOCUMENTATION = r"""
module: ec2_cluster_instances
short_description: Launch, retire and name a geostack cluster's instances in one call
description:
  - Brings each node group (in each zone) up to the number of live instances its entry of O(launches) asks for
    (C(exact_count)), launching only the difference. Then it terminates the instances listed in O(retire), then gives every instance of O(groups) that has no
    C(<cluster>-<group>-<n>) name yet the lowest free one, oldest first. Returns the cluster's live instances
    afterwards, as M(geostack.cluster.ec2_cluster_info) reads them.
  - Never terminates an instance that O(retire) does not list. A group with more live instances than its
    C(exact_count) is left as it is.
  - One module run instead of one per launch, one per name and two reads.
version_added: 0.3.0
author:
  - geostack.cluster maintainers (@geostack)
options:
  cluster:
    description: The cluster (its instances carry C(geostack:cluster) with this value).
    type: str
    required: true
  groups:
    description:
      - The node groups whose instances get names, each with C(name) and C(roles_tag) (for instances launched before
        the C(geostack:group) tag existed), in layout order.
    type: list
    elements: dict
    default: []
  launches:
    description:
      - Per node group and zone, the live instances it should have (C(exact_count)), counted by the C(geostack:group)
        tag (and the zone), and what to launch them with (C(subnet_id), C(image_id), C(instance_type),
        C(volume_size) in GiB, C(security_groups) by name, C(tags)), as P(geostack.cluster.provision_launches#filter)
        gives them.
    type: list
    elements: dict
    default: []
  retire:
    description: Instances to terminate. Only the cluster's live instances are; other ids are left alone.
    type: list
    elements: str
    default: []
  tags:
    description: Tags every launched instance gets, besides its launch's.
    type: dict
    default: {}
  key_name:
    description: The key pair launched instances get.
    type: str
  instance_states:
    description: The states of a live instance.
    type: list
    elements: str
    default: [pending, running, stopping, stopped]
  wait:
    description: Wait until launched instances run and retired ones are terminated.
    type: bool
    default: true
  wait_timeout:
    description: Seconds to wait.
    type: int
    default: 600
extends_documentation_fragment:
  - amazon.aws.common.modules
  - amazon.aws.region.modules
  - amazon.aws.boto3
"""

EXAMPLES = r"""
- name: Two workers in each of two zones
  geostack.cluster.ec2_cluster_instances:
    cluster: geo
    groups: [{name: worker, roles_tag: worker}]
    launches:
      - {group: worker, zone: us-east-1a, subnet_id: subnet-0a, exact_count: 2, image_id: ami-0123,
         instance_type: t3.large, volume_size: 30, security_groups: [geo-base, geo-swarm],
         tags: {"geostack:roles": worker, "geostack:group": worker}}
      - {group: worker, zone: us-east-1b, subnet_id: subnet-0b, exact_count: 2, image_id: ami-0123,
         instance_type: t3.large, volume_size: 30, security_groups: [geo-base, geo-swarm],
         tags: {"geostack:roles": worker, "geostack:group": worker}}
    tags: {"geostack:cluster": geo}
  register: cluster
"""

RETURN = r"""
instances:
  description: The cluster's live instances afterwards (snake_case, tags as a dict), oldest first.
  returned: always
  type: list
  elements: dict
launched:
  description: The instances this run launched.
  returned: always
  type: list
  elements: str
retired:
  description: The instances this run terminated.
  returned: always
  type: list
  elements: str
renamed:
  description: The Name each unnamed instance got, by instance id.
  returned: always
  type: dict
"""

try:
    from botocore.exceptions import BotoCoreError, ClientError, WaiterError
except ImportError:
    pass  # AnsibleAWSModule reports a missing botocore

from ansible_collections.amazon.aws.plugins.module_utils.modules import AnsibleAWSModule
from ansible_collections.amazon.aws.plugins.module_utils.retries import AWSRetry
from ansible_collections.geostack.cluster.plugins.module_utils.ec2_records import snake
from ansible_collections.geostack.cluster.plugins.module_utils.naming import age_key, renames

LAUNCH_KEYS = ("group", "subnet_id", "exact_count", "image_id", "instance_type", "volume_size", "security_groups")


class Instances:
    def __init__(self, module):
        self.module = module
        self.params = module.params
        # A new instance may not be visible to every API call at once.
        self.ec2 = module.client("ec2", retry_decorator=AWSRetry.jittered_backoff(
            catch_extra_error_codes=["InvalidInstanceID.NotFound"]))
        self.launched, self.retired, self.renamed = [], [], {}
        self.group_ids = {}

    def live(self, filters):
        states = [{"Name": "instance-state-name", "Values": self.params["instance_states"]}]
        found = []
        for page in self.ec2.get_paginator("describe_instances").paginate(
                Filters=[{"Name": "tag:geostack:cluster", "Values": [self.params["cluster"]]}, *filters, *states]):
            for reservation in page["Reservations"]:
                found += [snake(i) for i in reservation["Instances"]]
        return found

    def wait(self, waiter, ids):
        if not ids or not self.params["wait"]:
            return
        delay = 5
        try:
            self.ec2.get_waiter(waiter).wait(InstanceIds=ids, WaiterConfig={
                "Delay": delay, "MaxAttempts": max(1, self.params["wait_timeout"] // delay)})
        except WaiterError as error:
            self.module.fail_json(msg=f"{', '.join(ids)}: timed out after {self.params['wait_timeout']} s waiting for "
                                      f"{waiter.replace('instance_', '')} ({error})",
                                  launched=self.launched, retired=self.retired)

    def security_group_ids(self, subnet_id, names):
        key = (subnet_id, tuple(names))
        if key not in self.group_ids:
            self.group_ids[key] = self.find_security_groups(subnet_id, names)
        return self.group_ids[key]

    def find_security_groups(self, subnet_id, names):
        vpc_id = self.ec2.describe_subnets(aws_retry=True, SubnetIds=[subnet_id])["Subnets"][0]["VpcId"]
        found = {}
        for page in self.ec2.get_paginator("describe_security_groups").paginate(
                Filters=[{"Name": "vpc-id", "Values": [vpc_id]}, {"Name": "group-name", "Values": names}]):
            found.update({g["GroupName"]: g["GroupId"] for g in page["SecurityGroups"]})
        missing = [name for name in names if name not in found]
        if missing:
            self.module.fail_json(msg=f"security groups {', '.join(missing)} do not exist in {vpc_id}")
        return [found[name] for name in names]

    def launch(self, spec):
        where = [{"Name": "tag:geostack:group", "Values": [spec["group"]]}]
        if spec.get("zone"):
            where.append({"Name": "availability-zone", "Values": [spec["zone"]]})
        add = int(spec["exact_count"]) - len(self.live(where))
        if add <= 0:
            return
        if self.module.check_mode:
            self.launched += [f"(new {spec['group']} instance {n})" for n in range(1, add + 1)]
            return
        tags = [{"Key": k, "Value": str(v)} for k, v in {**self.params["tags"], **(spec.get("tags") or {})}.items()]
        extra = {"KeyName": self.params["key_name"]} if self.params["key_name"] else {}
        reservation = self.ec2.run_instances(
            aws_retry=True,
            ImageId=spec["image_id"],
            InstanceType=spec["instance_type"],
            MinCount=add,
            MaxCount=add,
            SubnetId=spec["subnet_id"],
            SecurityGroupIds=self.security_group_ids(spec["subnet_id"], spec["security_groups"]),
            BlockDeviceMappings=[{"DeviceName": "/dev/xvda", "Ebs": {
                "VolumeSize": int(spec["volume_size"]), "VolumeType": "gp3", "DeleteOnTermination": True}}],
            MetadataOptions={"HttpTokens": "required", "HttpEndpoint": "enabled"},
            TagSpecifications=[{"ResourceType": "instance", "Tags": tags}],
            **extra,
        )
        self.launched += [i["InstanceId"] for i in reservation["Instances"]]

    def run(self):
        for index, spec in enumerate(self.params["launches"]):
            missing = [key for key in LAUNCH_KEYS if spec.get(key) in (None, "", [])]
            if missing:
                self.module.fail_json(msg=f"launches[{index}] ({spec.get('group', '?')}): {', '.join(missing)} required")
        for spec in self.params["launches"]:
            self.launch(spec)
        if not self.module.check_mode:
            self.wait("instance_running", self.launched)
        if self.params["retire"]:
            # Only the cluster's own live instances: an id of another cluster, or one already gone, is left alone.
            ours = {i["instance_id"] for i in self.live([])}
            self.retired = [i for i in self.params["retire"] if i in ours]
        if self.retired:
            if not self.module.check_mode:
                self.ec2.terminate_instances(aws_retry=True, InstanceIds=self.retired)
                self.wait("instance_terminated", self.retired)
        instances = self.live([])
        instances.sort(key=age_key)
        # In check mode, the names of instances that exist; those it would launch are not there to name.
        for instance_id, name in renames(self.params["groups"], instances, self.params["cluster"]):
            self.renamed[instance_id] = name
            if self.module.check_mode:
                continue
            self.ec2.create_tags(aws_retry=True, Resources=[instance_id], Tags=[{"Key": "Name", "Value": name}])
            next(i for i in instances if i["instance_id"] == instance_id)["tags"]["Name"] = name
        return instances


def main():
    module = AnsibleAWSModule(
        argument_spec={
            "cluster": {"type": "str", "required": True},
            "groups": {"type": "list", "elements": "dict", "default": []},
            "launches": {"type": "list", "elements": "dict", "default": []},
            "retire": {"type": "list", "elements": "str", "default": []},
            "tags": {"type": "dict", "default": {}},
            "key_name": {"type": "str", "no_log": False},
            "instance_states": {"type": "list", "elements": "str", "default": ["pending", "running", "stopping", "stopped"]},
            "wait": {"type": "bool", "default": True},
            "wait_timeout": {"type": "int", "default": 600},
        },
        supports_check_mode=True,
    )
    instances = Instances(module)
    try:
        live = instances.run()
    except (BotoCoreError, ClientError) as error:
        module.fail_json_aws(error, msg=f"could not launch, retire or name the instances of {module.params['cluster']}",
                             launched=instances.launched, retired=instances.retired)
    module.exit_json(changed=bool(instances.launched or instances.retired or instances.renamed), instances=live,
                     launched=instances.launched, retired=instances.retired, renamed=instances.renamed)


if __name__ == "__main__":
    main()
