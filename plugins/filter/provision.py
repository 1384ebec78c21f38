# Copyright (c) 2026, geostack.cluster maintainers
# Apache License 2.0 (see galaxy.yml)
"""Planning filters for the provision role: what to launch, retire and name.

The rules live here rather than in Jinja loops so that they are plain
Python, unit-tested, and shared by provision.yml and scale.yml.
"""

from __future__ import annotations

import ipaddress

from ansible.errors import AnsibleFilterError
from ansible_collections.geostack.cluster.plugins.module_utils.ec2_rules import (
    RuleError,
    current_permissions,
    rule_changes,
    wanted_permissions,
)
from ansible_collections.geostack.cluster.plugins.module_utils.naming import age_key, group_of, renames, roles_tag
from ansible_collections.geostack.cluster.plugins.module_utils.topology import inventory_groups

QUORUM_ROLES = {"manager": "swarm managers", "zookeeper": "ZooKeeper members", "rabbitmq": "RabbitMQ members"}
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
                "image": str(spec.get("image") or ""),
            }
        )
    return groups


def group_images(groups, baked):
    """The image each node group launches from: {name: image id}, '' for the region's base image.

    A group's ``image`` is '' (the base image), an AMI id, or 'baked': the newest available image in ``baked``
    (ec2_ami_info records) tagged with that group by playbooks/bake.yml, '' when there is none yet.
    """
    newest = {}
    for image in sorted(baked or [], key=lambda i: i.get("creation_date") or ""):
        group = (image.get("tags") or {}).get("geostack:group")
        if group and image.get("state", "available") == "available":
            newest[group] = image["image_id"]
    return {g["name"]: newest.get(g["name"], "") if g.get("image") == "baked" else g.get("image", "") for g in groups}


def layout_members(groups):
    """The nodes each role gets from the node groups, by the names they will have (<group>-<n>), for the shape rules
    (module_utils/topology.py)."""
    members = {role: [] for role in ROLES}
    for group in groups:
        names = [f"{group['name']}-{n}" for n in range(1, int(group["count"]) + 1)]
        for role in group["roles"]:
            members.setdefault(role, []).extend(names)
    return members


def _zone(instance):
    return (instance.get("placement") or {}).get("availability_zone") or ""


def provision_plan(groups, instances, protected=(), zones=(), autoscaled=None, kept=()):
    """For each node group: how many instances are live, to launch (and where), and which to retire.

    An instance belongs to the group its geostack:group tag names; one launched before that tag, to the first group
    with its geostack:roles tag, and it is listed in the group's `adopt` so that provision tags it.

    zones: the subnets to spread over, [{zone, subnet_id}] in provision_availability_zones' order; empty for one
    subnet. Launches go round-robin to the zone with the fewest of the group's instances; on a tie, to the zone with
    the fewest members of the quorum groups (swarm managers, ZooKeeper, RabbitMQ) the group belongs to, counting every
    node group's, then to the first. So a growing group stays balanced, and groups that share a quorum role fill
    different zones. `launches` lists, per zone that gets some, the group's count there afterwards (`exact_count`).
    Retirement takes the newest instance of the zone with the most of the group's instances (on a tie, the most quorum
    members, then the last zone), one at a time, and never one in `protected` (the bootstrap manager).

    autoscaled: {group: {min, max}} for the groups playbooks/autoscale.yml owns: their count is the live count kept
    within min..max, not the layout's, so that a converge neither undoes nor refuses what autoscaling did.

    kept: the groups a scale run does not name (provision_layout_override names the others): they lose no instance
    (their count is at least their live count), and still get the ones they lack.
    """
    protected = set(protected or ())
    zones = list(zones or [])
    names = [z["zone"] for z in zones]
    # Per quorum role, how many of its members each zone holds, as the plan goes.
    quorum = {role: {} for role in QUORUM_ROLES}
    for instance in instances:
        for role in set((roles_tag(instance) or "").split(",")) & set(QUORUM_ROLES):
            quorum[role][_zone(instance)] = quorum[role].get(_zone(instance), 0) + 1

    def members(group, zone):
        return sum(quorum[role].get(zone, 0) for role in set(group["roles"]) & set(QUORUM_ROLES))

    def count(group, zone, step):
        for role in set(group["roles"]) & set(QUORUM_ROLES):
            quorum[role][zone] = quorum[role].get(zone, 0) + step

    plan = []
    for group in groups:
        live = [i for i in instances if group_of(i, groups) == group["name"]]
        bounds = (autoscaled or {}).get(group["name"])
        if bounds and "min" in bounds and "max" in bounds:
            group = {**group, "count": min(max(len(live), int(bounds["min"])), int(bounds["max"]))}
        elif group["name"] in kept:
            group = {**group, "count": max(int(group["count"]), len(live))}
        by_zone = {name: [] for name in names}
        for instance in live:
            by_zone.setdefault(_zone(instance) if zones else "", []).append(instance)
        launch = max(group["count"] - len(live), 0)
        if zones:
            counts = {name: len(by_zone[name]) for name in names}
            added = dict.fromkeys(names, 0)
            while sum(added.values()) < launch:
                name = min(names, key=lambda n: (counts[n] + added[n], members(group, n), names.index(n)))
                added[name] += 1
                count(group, name, 1)
            launches = [{"zone": z["zone"], "subnet_id": z.get("subnet_id", ""), "add": added[z["zone"]],
                         "exact_count": counts[z["zone"]] + added[z["zone"]]} for z in zones if added[z["zone"]]]
        else:
            launches = [{"zone": "", "subnet_id": "", "add": launch, "exact_count": group["count"]}] if launch else []
        retire = []
        order = {name: index for index, name in enumerate(by_zone)}
        while len(retire) < len(live) - group["count"]:
            left = {name: [i for i in found if i["instance_id"] not in retire] for name, found in by_zone.items()}
            candidates = [name for name, found in left.items() if any(i["instance_id"] not in protected for i in found)]
            if not candidates:
                break
            fullest = max(candidates, key=lambda n: (len(left[n]), members(group, n), order[n]))
            newest = max((i for i in left[fullest] if i["instance_id"] not in protected), key=age_key)
            retire.append(newest["instance_id"])
            count(group, fullest if zones else _zone(newest), -1)
        plan.append(
            {
                **group,
                "live": len(live),
                "launch": launch,
                "launches": launches,
                "retire": retire,
                # Live instances without a geostack:group tag (launched before it existed), to tag before counting.
                "adopt": [i["instance_id"] for i in live if not (i.get("tags") or {}).get("geostack:group")],
                "zones": {name: len(found) for name, found in by_zone.items() if name},
            }
        )
    return plan


def provision_zone_subnets(zones, subnet_cidr, vpc_cidr):
    """The subnet of each zone of provision_availability_zones: [{zone, cidr}], zone i taking the i-th block of
    subnet_cidr's size from subnet_cidr on (so the first zone keeps the single-subnet layout's subnet). Without zones,
    the one subnet, with no zone."""
    if not zones:
        return [{"zone": "", "cidr": subnet_cidr}]
    try:
        first = ipaddress.ip_network(subnet_cidr)
        vpc = ipaddress.ip_network(vpc_cidr)
    except ValueError as error:
        raise AnsibleFilterError(f"provision_zone_subnets: {error}") from error
    subnets = []
    for index, zone in enumerate(zones):
        start = int(first.network_address) + index * first.num_addresses
        cidr = ipaddress.ip_network((start, first.prefixlen))
        if not cidr.subnet_of(vpc):
            raise AnsibleFilterError(
                f"provision_availability_zones: zone {zone} would get subnet {cidr}, outside provision_vpc_cidr {vpc_cidr};"
                " use a smaller provision_subnet_cidr or fewer zones")
        subnets.append({"zone": zone, "cidr": str(cidr)})
    return subnets


def zone_quorum_risks(groups, zones):
    """One sentence per quorum role (swarm managers, ZooKeeper, RabbitMQ) whose members, placed as provision_plan
    places a new layout over the zones, would lose their majority with one zone down."""
    zones = list(zones or [])
    spread = {}
    for group in provision_plan(groups, [], zones=[{"zone": zone} for zone in zones]):
        for role in group["roles"]:
            if role in QUORUM_ROLES:
                counts = spread.setdefault(role, dict.fromkeys(zones or ["one zone"], 0))
                for launch in group["launches"]:
                    counts[launch["zone"] or "one zone"] += launch["add"]
    sentences = []
    for role, counts in spread.items():
        total = sum(counts.values())
        if not total:
            continue
        zone, most = max(counts.items(), key=lambda item: item[1])
        if total - most < total // 2 + 1:
            where = ", ".join(f"{n} in {z}" for z, n in counts.items())
            sentences.append(
                f"{QUORUM_ROLES[role]}: {total} over {len(zones) or 1} zone(s) ({where}); with {zone} down {total - most} of"
                f" {total} are left, and a majority needs {total // 2 + 1}")
    return sentences


def provision_renames(groups, instances, cluster):
    """[instance_id, Name] pairs giving every unnamed instance a unique <cluster>-<group>-<n> (module_utils/naming.py)."""
    return renames(groups, instances, cluster)


def provision_launches(plan, cluster, images, default_image, role_security_groups, default_subnet=""):
    """The launches of provision_plan as ec2_cluster_instances takes them: one per node group and zone that gets
    instances, with the group's image (its baked one, else the region's), type, disk, security groups (base and its
    roles', named <cluster>-<suffix>), subnet (the zone's, else default_subnet) and group tags."""
    out = []
    for group in plan:
        suffixes = ["base"]
        for role in group["roles"]:
            suffixes += [s for s in role_security_groups.get(role, []) if s not in suffixes]
        for launch in group["launches"]:
            out.append({
                "group": group["name"],
                "zone": launch["zone"],
                "subnet_id": launch["subnet_id"] or default_subnet,
                "exact_count": launch["exact_count"],
                "image_id": (images or {}).get(group["name"]) or default_image,
                "instance_type": group["instance_type"],
                "volume_size": group["volume_size"],
                "security_groups": [f"{cluster}-{suffix}" for suffix in suffixes],
                "tags": {"geostack:roles": group["roles_tag"], "geostack:group": group["name"]},
            })
    return out


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


LB_GROUP = {"suffix": "lb", "description": "application load balancer",
            "rules": [{"proto": "tcp", "ports": [80, 443], "world": True, "desc": "HTTP(S) to the load balancer"}]}


def security_group_specs(groups, cluster, admin_cidr, web_extra_ports=(), load_balancer=False):
    """The role's security group table as geostack.cluster.ec2_security_groups' groups (the web group gets the extra
    ports). With a load balancer, it gets its own group (80 and 443 from the world), and the web group's 80 and 443
    come only from it."""
    specs = []
    for group in [*groups, LB_GROUP] if load_balancer else groups:
        rules = list(group["rules"])
        if group["suffix"] == "web" and load_balancer:
            rules = [{**rule, "group": "lb", "world": False} if rule.get("world") else rule for rule in rules]
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


def _described_permissions(permissions):
    """ec2_cluster_info's snake_case ip_permissions in EC2's own shape, for current_permissions. Not
    snake_dict_to_camel_dict: it rebuilds each container with its own type, which Ansible's lazy template dicts
    (what a filter receives) refuse."""
    pairs = (("ip_ranges", "IpRanges", "cidr_ip", "CidrIp"), ("ipv6_ranges", "Ipv6Ranges", "cidr_ipv6", "CidrIpv6"),
             ("user_id_group_pairs", "UserIdGroupPairs", "group_id", "GroupId"))
    out = []
    for perm in permissions or []:
        described = {"IpProtocol": perm.get("ip_protocol", "-1")}
        if "from_port" in perm:
            described.update(FromPort=perm["from_port"], ToPort=perm.get("to_port"))
        for snake_key, key, snake_source, source in pairs:
            described[key] = [{source: entry.get(snake_source), "Description": entry.get("description", "")}
                              for entry in perm.get(snake_key) or []]
        out.append(described)
    return out


def security_groups_drift(read_groups, specs, tags):
    """What geostack.cluster.ec2_security_groups (purge_rules) would change, from ec2_cluster_info's read of the
    cluster's security groups: one sentence per missing group, tag, description or rule difference ([] when the run
    would change nothing, so that provisioning's no-op path makes no module run for them). A rule that names a group
    outside specs counts as a difference: only the module looks that group up."""
    have = {group.get("group_name"): group for group in read_groups or []}
    names = [spec["name"] for spec in specs or []]
    drift = [f"group {name} is missing" for name in names if name not in have]
    if drift:
        return drift
    group_ids = {name: have[name].get("group_id") for name in names}
    for spec in specs:
        group = have[spec["name"]]
        found_tags = group.get("tags") or {}
        drift += [f"group {spec['name']} lacks tag {key}={value}" for key, value in (tags or {}).items()
                  if str(found_tags.get(key)) != str(value)]
        if group.get("description") != spec["description"]:
            drift.append(f"group {spec['name']} has description {group.get('description')!r}")
        try:
            wanted = wanted_permissions(spec.get("rules"), group_ids)
        except RuleError as error:
            drift.append(f"group {spec['name']}: {error}")
            continue
        authorize, revoke, describe = rule_changes(wanted, current_permissions(_described_permissions(group.get("ip_permissions"))))
        if authorize or revoke or describe:
            drift.append(f"group {spec['name']}: {len(authorize)} rules to add, {len(revoke)} to revoke, "
                         f"{len(describe)} to describe again")
    return drift


def provision_network(cluster_info, vpc_cidr, subnet_cidr, zones=()):
    """Whether ec2_cluster_info's read shows the cluster's network complete: the VPC, its public subnet (one per zone
    of provision_availability_zones, in that zone, as provision_zone_subnets lays them out), an attached internet
    gateway, and a route table that sends each subnet's default route through it. Also vpc_id, subnet_id (the first
    subnet), subnets ([{zone, cidr, subnet_id}]), what is missing, and misplaced: one sentence per subnet of the VPC
    that has a zone's CIDR but sits in another zone (a cluster built before zones were listed, whose subnet EC2 put in
    a zone that is not listed first), which network_create could not create beside it."""
    info = cluster_info or {}
    vpc = info.get("vpc") or {}
    missing = []
    if vpc.get("cidr_block") != vpc_cidr:
        missing.append(f"VPC {vpc_cidr}")
    gateways = [
        g["internet_gateway_id"] for g in info.get("internet_gateways") or []
        if any(a.get("vpc_id") == vpc.get("vpc_id") for a in g.get("attachments") or [])
    ]
    subnets = []
    unrouted = []
    misplaced = []
    for place, wanted in enumerate(provision_zone_subnets(list(zones or []), subnet_cidr, vpc_cidr), 1):
        where = f" in {wanted['zone']}" if wanted["zone"] else ""
        misplaced += [
            f"subnet {s.get('subnet_id')} ({wanted['cidr']}) sits in {s['availability_zone']}, but zone {place} of "
            f"provision_availability_zones ({wanted['zone']}) gets that CIDR, and a subnet cannot move between zones: "
            f"list {s['availability_zone']} as zone {place}"
            for s in info.get("subnets") or []
            if wanted["zone"] and s.get("cidr_block") == wanted["cidr"] and s.get("availability_zone") not in (None, wanted["zone"])
        ]
        subnet = next((s for s in info.get("subnets") or [] if s.get("cidr_block") == wanted["cidr"]
                       and (not wanted["zone"] or s.get("availability_zone") == wanted["zone"])), {})
        subnets.append({**wanted, "subnet_id": subnet.get("subnet_id", "")})
        if not subnet.get("map_public_ip_on_launch"):
            missing.append(f"public subnet {wanted['cidr']}{where}")
        routed = any(
            any(a.get("subnet_id") == subnet.get("subnet_id") for a in table.get("associations") or [])
            and any(r.get("destination_cidr_block") == "0.0.0.0/0" and r.get("gateway_id") in gateways
                    for r in table.get("routes") or [])
            for table in info.get("route_tables") or []
        )
        if not routed:
            unrouted.append(f"default route of subnet {wanted['cidr']} through the gateway")
    missing += ([] if gateways else ["internet gateway"]) + unrouted
    return {"complete": not missing, "vpc_id": vpc.get("vpc_id", ""), "subnet_id": subnets[0]["subnet_id"],
            "subnets": subnets, "missing": missing, "misplaced": misplaced}


def provision_subnets(network, zones, given=None, created=None):
    """The subnets node groups are spread over, [{zone, subnet_id}] in provision_availability_zones' order (one entry
    with no zone without zones): the given ones (a dict zone -> subnet id, or {"": id} without zones) when a VPC is
    given, else those ec2_cluster_network just built (its subnets), else those the network read found
    (provision_network's subnets)."""
    zones = list(zones or [])
    if given:
        return [{"zone": zone, "subnet_id": given[zone]} for zone in (zones or [""])]
    if created:
        return [{"zone": s["zone"], "subnet_id": s["subnet_id"]} for s in created]
    return [{"zone": s["zone"], "subnet_id": s["subnet_id"]} for s in (network or {}).get("subnets") or []]


class FilterModule:
    def filters(self):
        return {
            "layout_groups": layout_groups,
            "security_groups_drift": security_groups_drift,
            "layout_members": layout_members,
            "group_images": group_images,
            "inventory_groups": inventory_groups,
            "provision_plan": provision_plan,
            "provision_renames": provision_renames,
            "provision_launches": provision_launches,
            "security_group_rules": security_group_rules,
            "security_group_specs": security_group_specs,
            "provision_network": provision_network,
            "provision_zone_subnets": provision_zone_subnets,
            "provision_subnets": provision_subnets,
            "zone_quorum_risks": zone_quorum_risks,
        }
