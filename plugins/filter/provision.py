# Copyright (c) 2026, geostack.cluster maintainers
# Apache License 2.0 (see galaxy.yml)
"""Planning filters for the provision role: what to launch, retire and name.

The rules live here rather than in Jinja loops so that they are plain
Python, unit-tested, and shared by provision.yml and scale.yml.
"""

from __future__ import annotations

import re

from ansible.errors import AnsibleFilterError

ROLES = ("manager", "worker", "web", "citus_coordinator", "citus_worker", "rabbitmq", "zookeeper", "monitoring")


def layout_groups(layout, instance_type, volume_size):
    """Normalise provision_layout into a list of node groups.

    Each group: name, count, roles (list), roles_tag (the geostack:roles value),
    instance_type, volume_size.
    """
    if not isinstance(layout, dict):
        raise AnsibleFilterError(f"provision_layout must be a dict, got {type(layout).__name__}")
    groups = []
    for name, spec in layout.items():
        spec = spec or {}
        roles = list(spec.get("roles") or [name])
        groups.append(
            {
                "name": name,
                "count": int(spec.get("count", 0)),
                "roles": roles,
                "roles_tag": ",".join(roles),
                "instance_type": spec.get("instance_type") or instance_type,
                "volume_size": int(spec.get("volume_size") or volume_size),
            }
        )
    return groups


def layout_members(groups):
    """The nodes each role gets from the node groups, by the names they will have (<group>-<n>), for the shape rules
    (module_utils/topology.py)."""
    members = {role: [] for role in ROLES}
    for group in groups:
        names = [f"{group['name']}-{n}" for n in range(1, int(group["count"]) + 1)]
        for role in group["roles"]:
            members.setdefault(role, []).extend(names)
    return members


def _roles_tag(instance):
    return (instance.get("tags") or {}).get("geostack:roles")


def _age_key(instance):
    return (str(instance.get("launch_time", "")), instance["instance_id"])


def provision_plan(groups, instances, protected=()):
    """For each node group: how many instances are live, to launch, and which to retire.

    Retirement takes the newest instances first and never one in `protected`
    (the bootstrap manager).
    """
    protected = set(protected or ())
    plan = []
    for group in groups:
        live = [i for i in instances if _roles_tag(i) == group["roles_tag"]]
        excess = max(len(live) - group["count"], 0)
        retirable = sorted((i for i in live if i["instance_id"] not in protected), key=_age_key, reverse=True)
        plan.append(
            {
                **group,
                "live": len(live),
                "launch": max(group["count"] - len(live), 0),
                "retire": [i["instance_id"] for i in retirable[:excess]],
            }
        )
    return plan


def provision_renames(groups, instances, cluster):
    """[instance_id, Name] pairs giving every unnamed instance a unique <cluster>-<group>-<n>.

    Instances that already carry such a name keep it; the others, oldest
    first, take the lowest free numbers.
    """
    renames = []
    for group in groups:
        prefix = f"{cluster}-{group['name']}-"
        pattern = re.compile(re.escape(prefix) + r"([0-9]+)$")
        live = sorted((i for i in instances if _roles_tag(i) == group["roles_tag"]), key=_age_key)
        used = set()
        unnamed = []
        for inst in live:
            match = pattern.match((inst.get("tags") or {}).get("Name", ""))
            if match and int(match.group(1)) not in used:
                used.add(int(match.group(1)))
            else:
                unnamed.append(inst)
        free = (n for n in range(1, len(live) + len(used) + 2) if n not in used)
        renames.extend([inst["instance_id"], f"{prefix}{next(free)}"] for inst in unnamed)
    return renames


def security_group_rules(rules, cluster, admin_cidr):
    """Turn the role's rule table into amazon.aws.ec2_security_group rules."""
    out = []
    for rule in rules:
        entry = {"proto": rule["proto"], "ports": rule["ports"], "rule_desc": rule.get("desc", "")}
        if "group" in rule:
            entry["group_name"] = f"{cluster}-{rule['group']}"
        elif rule.get("admin"):
            entry["cidr_ip"] = admin_cidr
        elif rule.get("world"):
            entry["cidr_ip"] = "0.0.0.0/0"
        else:
            raise AnsibleFilterError(f"security group rule {rule} has no source (group, admin or world)")
        out.append(entry)
    return out


def security_group_specs(groups, cluster, admin_cidr, web_extra_ports=()):
    """The role's security group table as geostack.cluster.ec2_security_groups' groups (the web group gets the extra ports)."""
    specs = []
    for group in groups:
        rules = list(group["rules"])
        if group["suffix"] == "web" and web_extra_ports:
            rules.append({"proto": "tcp", "ports": list(web_extra_ports), "world": True, "desc": "extra web ports"})
        specs.append(
            {
                "name": f"{cluster}-{group['suffix']}",
                "description": f"geostack {cluster}: {group['description']}",
                "rules": security_group_rules(rules, cluster, admin_cidr),
            }
        )
    return specs


def provision_network(cluster_info, vpc_cidr, subnet_cidr):
    """Whether ec2_cluster_info's read shows the cluster's network complete: the VPC, its public subnet, an attached
    internet gateway, and a route table that sends the subnet's default route through it. Also vpc_id, subnet_id and
    what is missing."""
    info = cluster_info or {}
    vpc = info.get("vpc") or {}
    missing = []
    if vpc.get("cidr_block") != vpc_cidr:
        missing.append(f"VPC {vpc_cidr}")
    subnet = next((s for s in info.get("subnets") or [] if s.get("cidr_block") == subnet_cidr), {})
    if not subnet.get("map_public_ip_on_launch"):
        missing.append(f"public subnet {subnet_cidr}")
    gateways = [
        g["internet_gateway_id"] for g in info.get("internet_gateways") or []
        if any(a.get("vpc_id") == vpc.get("vpc_id") for a in g.get("attachments") or [])
    ]
    if not gateways:
        missing.append("internet gateway")
    routed = any(
        any(a.get("subnet_id") == subnet.get("subnet_id") for a in table.get("associations") or [])
        and any(r.get("destination_cidr_block") == "0.0.0.0/0" and r.get("gateway_id") in gateways for r in table.get("routes") or [])
        for table in info.get("route_tables") or []
    )
    if not routed:
        missing.append("default route of the subnet through the gateway")
    return {"complete": not missing, "vpc_id": vpc.get("vpc_id", ""), "subnet_id": subnet.get("subnet_id", ""), "missing": missing}


class FilterModule:
    def filters(self):
        return {
            "layout_groups": layout_groups,
            "layout_members": layout_members,
            "provision_plan": provision_plan,
            "provision_renames": provision_renames,
            "security_group_rules": security_group_rules,
            "security_group_specs": security_group_specs,
            "provision_network": provision_network,
        }
