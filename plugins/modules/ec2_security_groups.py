#!/usr/bin/python
# Copyright (c) 2026, geostack.cluster maintainers
# Apache License 2.0 (see galaxy.yml)
"""Create a cluster's security groups and set their ingress rules, all in one call."""

from __future__ import annotations

DOCUMENTATION = r"""
module: ec2_security_groups
short_description: Manage a set of security groups that refer to each other, in one call
description:
  - Reads the named security groups of a VPC once, creates the missing ones (tagged), and makes each group's
    ingress rules exactly the ones given (with O(purge_rules)), adding and revoking only what differs.
    A rule whose description alone differs is updated in place, never revoked and re-added.
  - A rule may refer to another group of the set by name, so groups that refer to each other are created first
    and given their rules afterwards, in the same call.
  - One call for the whole set; a run that changes nothing costs one describe.
  - Egress rules are left as they are.
  - With O(state=absent), deletes every group that carries all of O(tags) (in O(vpc_id) when given). First each
    group's ingress rules go, since groups refer to each other, then the groups. A deletion that EC2 refuses while
    something still uses the group (the network interfaces of instances just terminated) is retried for up to
    O(dependency_timeout) seconds.
version_added: 0.2.0
author:
  - geostack.cluster maintainers (@geostack)
options:
  state:
    description: Whether the groups should exist.
    type: str
    choices: [present, absent]
    default: present
    version_added: 0.3.0
  vpc_id:
    description: The VPC of the groups. Required with O(state=present).
    type: str
  groups:
    description: The groups. Required with O(state=present).
    type: list
    elements: dict
    suboptions:
      name:
        description: The group's name (unique in the VPC).
        type: str
        required: true
      description:
        description: The group's description (EC2 cannot change it once the group exists).
        type: str
        required: true
      rules:
        description:
          - Ingress rules, each with C(proto) (tcp, udp, icmp or -1), C(ports) (ports or C(low-high) ranges),
            one source (C(cidr_ip) or C(group_name), a group of this set or of the VPC) and an optional C(rule_desc).
        type: list
        elements: dict
        default: []
  tags:
    description:
      - Tags every group gets (added when missing; other tags are left).
      - With O(state=absent), the tags that select the groups to delete; at least one is required.
    type: dict
    default: {}
  purge_rules:
    description: Revoke the ingress rules that are not given.
    type: bool
    default: true
  dependency_timeout:
    description: With O(state=absent), seconds to retry a deletion that EC2 refuses while the group is in use.
    type: int
    default: 300
    version_added: 0.3.0
extends_documentation_fragment:
  - amazon.aws.common.modules
  - amazon.aws.region.modules
  - amazon.aws.boto3
"""

EXAMPLES = r"""
- name: The cluster's security groups
  geostack.cluster.ec2_security_groups:
    vpc_id: vpc-0123
    tags: {"geostack:cluster": geo}
    groups:
      - name: geo-base
        description: every node
        rules:
          - {proto: tcp, ports: [22], cidr_ip: 192.0.2.0/24, rule_desc: SSH}
          - {proto: tcp, ports: [9100], group_name: geo-monitoring, rule_desc: node_exporter}
      - name: geo-monitoring
        description: Prometheus
        rules: []

- name: Delete the cluster's security groups
  geostack.cluster.ec2_security_groups:
    tags: {"geostack:cluster": geo}
    state: absent
"""

RETURN = r"""
groups:
  description: Group id per name (with O(state=absent), of the groups deleted).
  returned: always
  type: dict
created:
  description: The groups created by this run (none with O(state=absent)).
  returned: always
  type: list
  elements: str
rules:
  description: Per group that changed, the rules added (C(authorized)), revoked (C(revoked)) and re-described (C(described)).
  returned: always
  type: dict
"""

try:
    from botocore.exceptions import BotoCoreError, ClientError
except ImportError:
    pass  # AnsibleAWSModule reports a missing botocore

from ansible_collections.amazon.aws.plugins.module_utils.modules import AnsibleAWSModule
from ansible_collections.geostack.cluster.plugins.module_utils.ec2_records import delete_patiently
from ansible_collections.geostack.cluster.plugins.module_utils.ec2_rules import (
    RuleError,
    current_permissions,
    describe,
    rule_changes,
    to_ip_permissions,
    wanted_permissions,
)


def _described(ec2, vpc_id, names):
    found = {}
    paginator = ec2.get_paginator("describe_security_groups")
    for page in paginator.paginate(Filters=[{"Name": "vpc-id", "Values": [vpc_id]}, {"Name": "group-name", "Values": names}]):
        for group in page["SecurityGroups"]:
            found[group["GroupName"]] = group
    return found


def _vpc_group_ids(ec2, vpc_id, names):
    """Ids of other groups of the VPC that rules name (not in the set)."""
    if not names:
        return {}
    return {name: group["GroupId"] for name, group in _described(ec2, vpc_id, sorted(names)).items()}


def _absent(module, ec2):
    """Delete the groups that carry all of the tags: their ingress rules first, then the groups."""
    filters = [{"Name": f"tag:{k}", "Values": [str(v)]} for k, v in module.params["tags"].items()]
    if module.params["vpc_id"]:
        filters.append({"Name": "vpc-id", "Values": [module.params["vpc_id"]]})
    found = []
    for page in ec2.get_paginator("describe_security_groups").paginate(Filters=filters):
        found += page["SecurityGroups"]
    groups = {g["GroupName"]: g["GroupId"] for g in found}
    if module.check_mode or not found:
        return groups
    for group in found:
        if group.get("IpPermissions"):
            ec2.revoke_security_group_ingress(GroupId=group["GroupId"],
                                              IpPermissions=to_ip_permissions(current_permissions(group["IpPermissions"])))
    for group in found:
        delete_patiently(ec2.delete_security_group, module.params["dependency_timeout"], GroupId=group["GroupId"])
    return groups


def main():
    module = AnsibleAWSModule(
        argument_spec={
            "state": {"type": "str", "choices": ["present", "absent"], "default": "present"},
            "vpc_id": {"type": "str"},
            "groups": {
                "type": "list", "elements": "dict",
                "options": {
                    "name": {"type": "str", "required": True},
                    "description": {"type": "str", "required": True},
                    "rules": {"type": "list", "elements": "dict", "default": []},
                },
            },
            "tags": {"type": "dict", "default": {}},
            "purge_rules": {"type": "bool", "default": True},
            "dependency_timeout": {"type": "int", "default": 300},
        },
        required_if=[("state", "present", ("vpc_id", "groups"))],
        supports_check_mode=True,
    )
    if module.params["state"] == "absent":
        if not module.params["tags"]:
            module.fail_json(msg="tags: state=absent needs at least one tag to select the groups to delete")
        try:
            deleted = _absent(module, module.client("ec2"))
        except (BotoCoreError, ClientError) as error:
            module.fail_json_aws(error, msg="could not delete the security groups")
        module.exit_json(changed=bool(deleted), groups=deleted, created=[], rules={})
    vpc_id, groups, tags = module.params["vpc_id"], module.params["groups"], module.params["tags"]
    names = [group["name"] for group in groups]
    if len(set(names)) != len(names):
        module.fail_json(msg=f"groups: names must be unique, got {names}")
    ec2 = module.client("ec2")
    changed, created, report = False, [], {}
    try:
        existing = _described(ec2, vpc_id, names)
        for group in groups:
            if group["name"] in existing:
                have = existing[group["name"]]
                if have.get("Description") != group["description"]:
                    module.warn(f"{group['name']}: its description is '{have.get('Description')}'; EC2 cannot change it")
                missing_tags = {k: str(v) for k, v in tags.items() if {"Key": k, "Value": str(v)} not in have.get("Tags", [])}
                if missing_tags:
                    changed = True
                    if not module.check_mode:
                        ec2.create_tags(Resources=[have["GroupId"]], Tags=[{"Key": k, "Value": v} for k, v in missing_tags.items()])
                continue
            changed = True
            created.append(group["name"])
            if module.check_mode:
                existing[group["name"]] = {"GroupId": f"(new {group['name']})", "IpPermissions": []}
                continue
            spec = [{"ResourceType": "security-group", "Tags": [{"Key": k, "Value": str(v)} for k, v in tags.items()]}] if tags else []
            new = ec2.create_security_group(GroupName=group["name"], Description=group["description"], VpcId=vpc_id, TagSpecifications=spec)
            existing[group["name"]] = {"GroupId": new["GroupId"], "IpPermissions": []}

        group_ids = {name: existing[name]["GroupId"] for name in names}
        others = {r.get("group_name") for g in groups for r in g["rules"] if r.get("group_name")} - set(names)
        group_ids.update(_vpc_group_ids(ec2, vpc_id, others))
        names_by_id = {gid: name for name, gid in group_ids.items()}
        for group in groups:
            gid = group_ids[group["name"]]
            try:
                wanted = wanted_permissions(group["rules"], group_ids)
            except RuleError as error:
                module.fail_json(msg=f"{group['name']}: {error}")
            authorize, revoke, redescribe = rule_changes(wanted, current_permissions(existing[group["name"]].get("IpPermissions")))
            if not module.params["purge_rules"]:
                revoke = set()
            if not (authorize or revoke or redescribe):
                continue
            changed = True
            report[group["name"]] = {
                key: sorted(describe(p, names_by_id) for p in perms)
                for key, perms in (("authorized", authorize), ("revoked", revoke), ("described", redescribe)) if perms
            }
            if module.check_mode:
                continue
            if revoke:
                ec2.revoke_security_group_ingress(GroupId=gid, IpPermissions=to_ip_permissions(revoke))
            if authorize:
                ec2.authorize_security_group_ingress(GroupId=gid, IpPermissions=to_ip_permissions(authorize))
            if redescribe:
                ec2.update_security_group_rule_descriptions_ingress(GroupId=gid, IpPermissions=to_ip_permissions(redescribe))
    except (BotoCoreError, ClientError) as error:
        module.fail_json_aws(error, msg="could not manage the security groups")
    module.exit_json(changed=changed, groups={n: group_ids[n] for n in names}, created=created, rules=report)


if __name__ == "__main__":
    main()
