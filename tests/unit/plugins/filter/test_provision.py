"""The provision role's planning filters."""

import re

import pytest
from ansible.errors import AnsibleFilterError
from ansible_collections.geostack.cluster.plugins.filter.provision import (
    group_images,
    inventory_groups,
    layout_groups,
    layout_members,
    provision_launches,
    provision_network,
    provision_plan,
    provision_renames,
    provision_zone_subnets,
    security_group_rules,
    security_groups_drift,
    zone_quorum_risks,
)


def inst(iid, roles, name=None, launch="2026-01-01T00:00:00+00:00", zone=None, group=None):
    tags = {"geostack:roles": roles}
    if group:
        tags["geostack:group"] = group
    if name:
        tags["Name"] = name
    found = {"instance_id": iid, "launch_time": launch, "tags": tags}
    if zone:
        found["placement"] = {"availability_zone": zone}
    return found


LAYOUT = {"manager": {"count": 3}, "broker": {"count": 1, "roles": ["rabbitmq", "zookeeper"], "instance_type": "m5.large"}}


def test_layout_groups_and_counts():
    groups = layout_groups(LAYOUT, "t3.medium", 30)
    assert groups[0] == {"name": "manager", "count": 3, "roles": ["manager"], "roles_tag": "manager", "instance_type": "t3.medium", "volume_size": 30,
                         "image": ""}
    assert groups[1]["roles_tag"] == "rabbitmq,zookeeper"
    assert groups[1]["instance_type"] == "m5.large"
    members = layout_members(groups)
    assert members["manager"] == ["manager-1", "manager-2", "manager-3"]
    assert members["zookeeper"] == ["broker-1"] and members["worker"] == []


def test_group_images_are_the_base_an_ami_or_the_newest_baked_image_of_the_group():
    groups = layout_groups({"manager": {"count": 1}, "worker": {"count": 2, "image": "baked"},
                            "web": {"count": 1, "image": "ami-0123456789abcdef0"}, "broker": {"count": 1, "image": "baked"}},
                           "t3.medium", 30)
    baked = [
        {"image_id": "ami-new", "state": "available", "creation_date": "2026-12-05T10:00:00Z", "tags": {"geostack:group": "worker"}},
        {"image_id": "ami-old", "state": "available", "creation_date": "2026-12-01T10:00:00Z", "tags": {"geostack:group": "worker"}},
        {"image_id": "ami-pending", "state": "pending", "creation_date": "2026-12-06T10:00:00Z", "tags": {"geostack:group": "worker"}},
        {"image_id": "ami-web", "state": "available", "creation_date": "2026-12-06T10:00:00Z", "tags": {"geostack:group": "web"}},
    ]
    # The web group names its AMI, so its baked image is not used; the broker has none baked yet.
    assert group_images(groups, baked) == {"manager": "", "worker": "ami-new", "web": "ami-0123456789abcdef0", "broker": ""}
    assert group_images(groups, []) == {"manager": "", "worker": "", "web": "ami-0123456789abcdef0", "broker": ""}


def test_inventory_groups_are_the_plugins_groups_for_the_roles():
    assert inventory_groups(["worker", "citus_worker"]) == ["workers", "citus_workers", "swarm", "citus"]
    assert inventory_groups(["rabbitmq", "zookeeper"]) == ["rabbitmq", "zookeeper"]
    assert inventory_groups(["manager", "monitoring", "nope"]) == ["managers", "monitoring", "swarm"]


def test_groups_with_the_same_roles_are_counted_by_their_group_tag():
    groups = layout_groups({"manager": {"count": 1}, "web_users": {"count": 2, "roles": ["web"]},
                            "web_rides": {"count": 1, "roles": ["web"]}}, "t", 8)
    instances = [inst("i-m", "manager", group="manager"), inst("i-u", "web", group="web_users"),
                 inst("i-r1", "web", group="web_rides", launch="2026-01-01"),
                 inst("i-r2", "web", group="web_rides", launch="2026-01-02")]
    plan = {p["name"]: p for p in provision_plan(groups, instances)}
    assert (plan["web_users"]["live"], plan["web_users"]["launch"], plan["web_users"]["retire"]) == (1, 1, [])
    assert (plan["web_rides"]["live"], plan["web_rides"]["launch"], plan["web_rides"]["retire"]) == (2, 0, ["i-r2"])
    assert all(p["adopt"] == [] for p in plan.values())
    # Instances launched before the group tag belong to the first group with their roles, which adopts them.
    legacy = [inst("i-m", "manager"), inst("i-w1", "web"), inst("i-w2", "web")]
    plan = {p["name"]: p for p in provision_plan(groups, legacy)}
    assert plan["manager"]["adopt"] == ["i-m"]
    assert plan["web_users"]["live"] == 2 and plan["web_users"]["adopt"] == ["i-w1", "i-w2"]
    assert plan["web_rides"]["live"] == 0 and plan["web_rides"]["launch"] == 1
    renames = provision_renames(groups, [*instances[:2], inst("i-r", "web", group="web_rides")], "c")
    assert renames == [["i-m", "c-manager-1"], ["i-u", "c-web_users-1"], ["i-r", "c-web_rides-1"]]


def test_layout_must_be_a_dict():
    with pytest.raises(AnsibleFilterError):
        layout_groups(["manager"], "t3.medium", 30)


def test_plan_launches_and_retires_newest_first_never_protected():
    groups = layout_groups({"worker": {"count": 1}, "manager": {"count": 3}}, "t", 8)
    instances = [
        inst("i-1", "worker", launch="2026-01-01T00:00:00"),
        inst("i-2", "worker", launch="2026-01-03T00:00:00"),
        inst("i-3", "worker", launch="2026-01-02T00:00:00"),
        inst("i-9", "manager"),
        inst("i-x", "rabbitmq"),
    ]
    plan = {p["name"]: p for p in provision_plan(groups, instances, protected=["i-2"])}
    # i-2 is newest but protected; then i-3 is the newest.
    assert plan["worker"]["retire"] == ["i-3", "i-1"]
    assert plan["worker"]["live"] == 3 and plan["worker"]["launch"] == 0
    assert plan["manager"]["launch"] == 2 and plan["manager"]["retire"] == []


def test_plan_same_launch_time_retires_highest_id():
    groups = layout_groups({"worker": {"count": 1}}, "t", 8)
    plan = provision_plan(groups, [inst("i-a", "worker"), inst("i-b", "worker")])
    assert plan[0]["retire"] == ["i-b"]


def test_an_autoscaled_group_keeps_its_live_count_within_its_bounds():
    groups = layout_groups({"manager": {"count": 1}, "web": {"count": 1}}, "t", 8)
    webs = [inst(f"i-{n}", "web", launch=f"2026-01-0{n}T00:00:00") for n in (1, 2, 3)]
    bounds = {"web": {"min": 1, "max": 2}}
    # Three live, at most 2: one retired (the newest); two live: kept, not shrunk back to the layout's 1.
    plan = {p["name"]: p for p in provision_plan(groups, [inst("i-9", "manager"), *webs], autoscaled=bounds)}
    assert (plan["web"]["count"], plan["web"]["retire"], plan["manager"]["retire"]) == (2, ["i-3"], [])
    plan = {p["name"]: p for p in provision_plan(groups, webs[:2], autoscaled=bounds)}
    assert (plan["web"]["count"], plan["web"]["retire"], plan["web"]["launch"]) == (2, [], 0)
    # Below min: launched up to it.
    plan = {p["name"]: p for p in provision_plan(groups, [], autoscaled={"web": {"min": 2, "max": 4}})}
    assert plan["web"]["launch"] == 2


def test_a_group_the_scale_run_does_not_name_loses_no_instance_and_gets_what_it_lacks():
    groups = layout_groups({"manager": {"count": 1}, "worker": {"count": 2}, "web": {"count": 2}}, "t", 8)
    workers = [inst(f"i-w{n}", "worker") for n in range(4)]
    # Four workers live against a layout of 2, one web node against 2, and the run names only web (kept: the rest).
    plan = {p["name"]: p for p in provision_plan(groups, [inst("i-m", "manager"), *workers, inst("i-b", "web")],
                                                 kept=["manager", "worker"])}
    assert (plan["worker"]["count"], plan["worker"]["retire"], plan["worker"]["launch"]) == (4, [], 0)
    assert (plan["web"]["retire"], plan["web"]["launch"]) == ([], 1)
    # A kept group below its layout count still gets the instances it lacks.
    plan = {p["name"]: p for p in provision_plan(groups, [inst("i-m", "manager"), workers[0]], kept=["manager", "worker"])}
    assert (plan["worker"]["count"], plan["worker"]["launch"]) == (2, 1)
    # Named (not kept), the same group shrinks to its count.
    plan = {p["name"]: p for p in provision_plan(groups, [inst("i-m", "manager"), *workers], kept=["manager", "web"])}
    assert len(plan["worker"]["retire"]) == 2


def test_renames_fill_the_lowest_free_numbers_oldest_first():
    groups = layout_groups({"worker": {"count": 4}}, "t", 8)
    instances = [
        inst("i-1", "worker", "geo-worker-2", "2026-01-01"),
        inst("i-2", "worker", None, "2026-01-03"),
        inst("i-3", "worker", "geo-worker-2", "2026-01-02"),  # a clash: renamed
        inst("i-4", "worker", "something-else", "2026-01-04"),
        inst("i-5", "manager", None),
    ]
    assert provision_renames(groups, instances, "geo") == [["i-3", "geo-worker-1"], ["i-2", "geo-worker-3"], ["i-4", "geo-worker-4"]]


def test_renames_nothing_when_all_named():
    groups = layout_groups({"web": {"count": 1}}, "t", 8)
    assert provision_renames(groups, [inst("i-1", "web", "geo-web-1")], "geo") == []


def test_security_group_rules():
    rules = [
        {"proto": "tcp", "ports": [2377], "group": "swarm", "desc": "mgmt"},
        {"proto": "tcp", "ports": [22], "admin": True, "desc": "ssh"},
        {"proto": "tcp", "ports": [80], "world": True, "desc": "http"},
    ]
    assert security_group_rules(rules, "geo", "10.0.0.0/8") == [
        {"proto": "tcp", "ports": [2377], "rule_desc": "mgmt", "group_name": "geo-swarm"},
        {"proto": "tcp", "ports": [22], "rule_desc": "ssh", "cidr_ip": "10.0.0.0/8"},
        {"proto": "tcp", "ports": [80], "rule_desc": "http", "cidr_ip": "0.0.0.0/0"},
    ]
    with pytest.raises(AnsibleFilterError, match="no source"):
        security_group_rules([{"proto": "tcp", "ports": [1]}], "geo", "10.0.0.0/8")


SPECS = [
    {"name": "geo-base", "description": "geostack geo: base", "rules": [
        {"proto": "tcp", "ports": [22], "cidr_ip": "10.0.0.0/8", "rule_desc": "ssh"},
        {"proto": "tcp", "ports": ["9100-9101"], "group_name": "geo-monitoring", "rule_desc": "metrics"}]},
    {"name": "geo-monitoring", "description": "geostack geo: monitoring", "rules": []},
]
TAGS = {"geostack:cluster": "geo"}


def read_groups(**changes):
    """ec2_cluster_info's snake_case read of the groups SPECS asks for, with changes to the base group."""
    base = {"group_name": "geo-base", "group_id": "sg-1", "description": "geostack geo: base", "tags": dict(TAGS),
            "ip_permissions": [
                {"ip_protocol": "tcp", "from_port": 22, "to_port": 22, "ip_ranges": [{"cidr_ip": "10.0.0.0/8", "description": "ssh"}],
                 "ipv6_ranges": [], "user_id_group_pairs": []},
                {"ip_protocol": "tcp", "from_port": 9100, "to_port": 9101, "ip_ranges": [],
                 "user_id_group_pairs": [{"group_id": "sg-2", "description": "metrics", "user_id": "123"}]}]}
    monitoring = {"group_name": "geo-monitoring", "group_id": "sg-2", "description": "geostack geo: monitoring",
                  "tags": dict(TAGS), "ip_permissions": []}
    return [{**base, **changes}, monitoring]


def test_security_groups_drift_is_empty_when_the_read_matches():
    assert security_groups_drift(read_groups(), SPECS, TAGS) == []


@pytest.mark.parametrize(("groups", "found"), [
    (read_groups()[1:], "group geo-base is missing"),
    (read_groups(tags={}), "group geo-base lacks tag geostack:cluster=geo"),
    (read_groups(description="old"), "group geo-base has description 'old'"),
    (read_groups(ip_permissions=read_groups()[0]["ip_permissions"][1:]), "group geo-base: 1 rules to add, 0 to revoke, 0"),
    (read_groups(ip_permissions=read_groups()[0]["ip_permissions"] + [
        {"ip_protocol": "tcp", "from_port": 6000, "to_port": 6000, "ip_ranges": [{"cidr_ip": "0.0.0.0/0"}]}]),
     "group geo-base: 0 rules to add, 1 to revoke, 0"),
    (read_groups(ip_permissions=[{**read_groups()[0]["ip_permissions"][0], "ip_ranges": [{"cidr_ip": "10.0.0.0/8"}]},
                                 read_groups()[0]["ip_permissions"][1]]),
     "group geo-base: 0 rules to add, 0 to revoke, 1 to describe again"),
])
def test_security_groups_drift_names_what_the_module_would_change(groups, found):
    assert [d for d in security_groups_drift(groups, SPECS, TAGS) if d.startswith(found)], \
        security_groups_drift(groups, SPECS, TAGS)


def test_a_rule_naming_a_group_outside_the_cluster_counts_as_drift():
    specs = [{**SPECS[0], "rules": [{"proto": "tcp", "ports": [80], "group_name": "elsewhere", "rule_desc": ""}]}, SPECS[1]]
    assert security_groups_drift(read_groups(), specs, TAGS) == [
        "group geo-base: rule 0 refers to group elsewhere, which is not one of the groups"]


ZONES = [{"zone": "az-a", "subnet_id": "subnet-a"}, {"zone": "az-b", "subnet_id": "subnet-b"}, {"zone": "az-c", "subnet_id": "subnet-c"}]


def test_a_new_group_is_spread_round_robin_over_the_zones():
    plan = provision_plan(layout_groups({"worker": {"count": 5}}, "t", 8), [], zones=ZONES)[0]
    assert plan["launch"] == 5
    assert plan["launches"] == [{"zone": "az-a", "subnet_id": "subnet-a", "add": 2, "exact_count": 2},
                                {"zone": "az-b", "subnet_id": "subnet-b", "add": 2, "exact_count": 2},
                                {"zone": "az-c", "subnet_id": "subnet-c", "add": 1, "exact_count": 1}]
    assert plan["zones"] == {"az-a": 0, "az-b": 0, "az-c": 0}


def test_growing_fills_the_emptiest_zones_and_shrinking_empties_the_fullest_first():
    live = [inst("i-1", "worker", zone="az-a", launch="2026-01-01"), inst("i-2", "worker", zone="az-a", launch="2026-01-02"),
            inst("i-3", "worker", zone="az-b", launch="2026-01-03")]
    grow = provision_plan(layout_groups({"worker": {"count": 5}}, "t", 8), live, zones=ZONES)[0]
    # az-c has none and az-b one: they get the two new ones (2 + 2 + 1 would need a move; nothing running is moved).
    assert [(z["zone"], z["add"], z["exact_count"]) for z in grow["launches"]] == [("az-b", 1, 2), ("az-c", 1, 1)]
    assert grow["zones"] == {"az-a": 2, "az-b": 1, "az-c": 0} and grow["retire"] == []
    live += [inst("i-4", "worker", zone="az-c", launch="2026-01-04"), inst("i-5", "worker", zone="az-b", launch="2026-01-05")]
    # 2 + 2 + 1 down to 2: the az-a/az-b tie goes to the later zone, then az-a is the fullest, then the three-way tie to az-c.
    shrink = provision_plan(layout_groups({"worker": {"count": 2}}, "t", 8), live, zones=ZONES)[0]
    assert shrink["retire"] == ["i-5", "i-2", "i-4"] and shrink["launches"] == []
    # The bootstrap manager is never retired, even from the fullest zone: az-b's other instance goes.
    assert provision_plan(layout_groups({"worker": {"count": 4}}, "t", 8), live, ["i-5"], ZONES)[0]["retire"] == ["i-3"]
    assert provision_plan(layout_groups({"worker": {"count": 4}}, "t", 8), live, ["i-5", "i-3"], ZONES)[0]["retire"] == ["i-2"]


def test_instances_in_a_zone_no_longer_listed_are_retired_first_when_fullest():
    live = [inst("i-1", "worker", zone="az-a"), inst("i-2", "worker", zone="az-old"), inst("i-3", "worker", zone="az-old")]
    plan = provision_plan(layout_groups({"worker": {"count": 2}}, "t", 8), live, zones=ZONES[:2])[0]
    assert plan["retire"] == ["i-3"] and plan["zones"] == {"az-a": 1, "az-b": 0, "az-old": 2}


def test_each_zone_gets_the_next_block_of_the_subnet_size():
    assert provision_zone_subnets([], "10.42.1.0/24", "10.42.0.0/16") == [{"zone": "", "cidr": "10.42.1.0/24"}]
    assert provision_zone_subnets(["az-a", "az-b"], "10.42.1.0/24", "10.42.0.0/16") == [
        {"zone": "az-a", "cidr": "10.42.1.0/24"}, {"zone": "az-b", "cidr": "10.42.2.0/24"}]
    with pytest.raises(AnsibleFilterError, match=re.escape("zone az-b would get subnet 10.43.0.0/24, outside provision_vpc_cidr")):
        provision_zone_subnets(["az-a", "az-b"], "10.42.255.0/24", "10.42.0.0/16")


def test_the_network_needs_a_public_routed_subnet_in_each_zone():
    def subnet(sid, cidr, zone):
        return {"subnet_id": sid, "cidr_block": cidr, "availability_zone": zone, "map_public_ip_on_launch": True}

    info = {
        "vpc": {"vpc_id": "vpc-1", "cidr_block": "10.42.0.0/16"},
        "subnets": [subnet("subnet-a", "10.42.1.0/24", "az-a"), subnet("subnet-b", "10.42.2.0/24", "az-x")],
        "internet_gateways": [{"internet_gateway_id": "igw-1", "attachments": [{"vpc_id": "vpc-1"}]}],
        "route_tables": [{"associations": [{"subnet_id": "subnet-a"}, {"subnet_id": "subnet-b"}],
                          "routes": [{"destination_cidr_block": "0.0.0.0/0", "gateway_id": "igw-1"}]}],
    }
    # The second subnet is in another zone than asked: missing, and so not routed.
    network = provision_network(info, "10.42.0.0/16", "10.42.1.0/24", ["az-a", "az-b"])
    assert network["missing"] == ["public subnet 10.42.2.0/24 in az-b", "default route of subnet 10.42.2.0/24 through the gateway"]
    # ... and named, with the fix, since a subnet of that CIDR cannot be created beside it.
    assert network["misplaced"] == [
        "subnet subnet-b (10.42.2.0/24) sits in az-x, but zone 2 of provision_availability_zones (az-b) gets that CIDR,"
        " and a subnet cannot move between zones: list az-x as zone 2"]
    # Without zones, the one subnet may sit anywhere.
    assert provision_network(info, "10.42.0.0/16", "10.42.2.0/24")["misplaced"] == []
    info["subnets"][1]["availability_zone"] = "az-b"
    network = provision_network(info, "10.42.0.0/16", "10.42.1.0/24", ["az-a", "az-b"])
    assert network["complete"] and network["subnet_id"] == "subnet-a" and network["misplaced"] == []
    assert [(s["zone"], s["subnet_id"]) for s in network["subnets"]] == [("az-a", "subnet-a"), ("az-b", "subnet-b")]


def test_quorum_risks_name_each_group_that_one_zone_down_would_cost_its_majority():
    groups = layout_groups({"manager": {"count": 3}, "broker": {"count": 3, "roles": ["rabbitmq", "zookeeper"]},
                            "worker": {"count": 2}}, "t", 8)
    assert zone_quorum_risks(groups, ["az-a", "az-b", "az-c"]) == []
    assert zone_quorum_risks(groups, ["az-a", "az-b"]) == [
        f"{who}: 3 over 2 zone(s) (2 in az-a, 1 in az-b); with az-a down 1 of 3 are left, and a majority needs 2"
        for who in ("swarm managers", "RabbitMQ members", "ZooKeeper members")]
    # One zone: every quorum group is named; a group of none is not.
    one = zone_quorum_risks(layout_groups({"manager": {"count": 1}}, "t", 8), ["az-a"])
    assert one == ["swarm managers: 1 over 1 zone(s) (1 in az-a); with az-a down 0 of 1 are left, and a majority needs 1"]
    assert zone_quorum_risks(layout_groups({"manager": {"count": 1}}, "t", 8), [])[0].startswith(
        "swarm managers: 1 over 1 zone(s) (1 in one zone)")


def test_groups_that_share_a_quorum_role_fill_different_zones():
    # The reference layout: two managers in one group, the third in the control group. Placed group by group with no
    # regard for each other, the control node would share the first zone with a manager, and that zone's loss would
    # cost the swarm, RabbitMQ and ZooKeeper their majority although three zones allow one member in each.
    quorum = ["manager", "rabbitmq", "zookeeper"]
    groups = layout_groups({"manager": {"count": 2, "roles": quorum}, "control": {"count": 1, "roles": [*quorum, "monitoring"]},
                            "worker": {"count": 2}}, "t", 8)
    plan = {p["name"]: p for p in provision_plan(groups, [], zones=ZONES)}
    assert [z["zone"] for z in plan["manager"]["launches"]] == ["az-a", "az-b"]
    assert [z["zone"] for z in plan["control"]["launches"]] == ["az-c"]
    # Workers share no quorum role with them: they start in the first zone again.
    assert [z["zone"] for z in plan["worker"]["launches"]] == ["az-a", "az-b"]
    assert zone_quorum_risks(groups, ["az-a", "az-b", "az-c"]) == []
    # The live control node counts too: a replaced manager goes where the quorum is thinnest.
    live = [inst("i-1", ",".join(quorum), zone="az-a"), inst("i-2", ",".join([*quorum, "monitoring"]), zone="az-c")]
    assert [z["zone"] for z in provision_plan(groups[:1], live, zones=ZONES)[0]["launches"]] == ["az-b"]
    # Scale-in of a group tied between zones leaves the zone with fewer quorum members alone.
    two = [inst("i-1", ",".join(quorum), zone="az-a", launch="2026-01-01"), inst("i-3", ",".join(quorum), zone="az-b", launch="2026-01-02"),
           inst("i-2", ",".join([*quorum, "monitoring"]), zone="az-a")]
    shrink = layout_groups({"manager": {"count": 1, "roles": quorum}}, "t", 8)
    assert provision_plan(shrink, two, zones=ZONES)[0]["retire"] == ["i-1"]


def test_launches_carry_each_groups_image_type_disk_subnet_and_security_groups():
    groups = layout_groups({"manager": {"count": 1}, "db": {"count": 2, "roles": ["citus_worker", "worker"], "volume_size": 80},
                            "web": {"count": 1, "image": "baked"}}, "t3.medium", 30)
    zones = [{"zone": "us-east-1a", "subnet_id": "subnet-a"}, {"zone": "us-east-1b", "subnet_id": "subnet-b"}]
    plan = provision_plan(groups, [inst("i-1", "manager", group="manager", zone="us-east-1a")], zones=zones)
    roles = {"manager": ["swarm", "manager"], "worker": ["swarm"], "citus_worker": ["citus"], "web": ["swarm", "web"]}
    launches = provision_launches(plan, "geo", {"web": "ami-baked"}, "ami-base", roles)
    assert [(la["group"], la["zone"], la["subnet_id"], la["exact_count"]) for la in launches] == [
        ("db", "us-east-1a", "subnet-a", 1), ("db", "us-east-1b", "subnet-b", 1), ("web", "us-east-1a", "subnet-a", 1)]
    db, web = launches[0], launches[2]
    assert db["security_groups"] == ["geo-base", "geo-citus", "geo-swarm"]
    assert (db["image_id"], db["volume_size"], db["instance_type"]) == ("ami-base", 80, "t3.medium")
    assert db["tags"] == {"geostack:roles": "citus_worker,worker", "geostack:group": "db"}
    assert (web["image_id"], web["security_groups"]) == ("ami-baked", ["geo-base", "geo-swarm", "geo-web"])
    # Without zones, a launch names no subnet and takes the cluster's one.
    flat = provision_launches(provision_plan(groups, []), "geo", {}, "ami-base", roles, "subnet-0")
    assert [(la["group"], la["zone"], la["subnet_id"], la["exact_count"]) for la in flat] == [
        ("manager", "", "subnet-0", 1), ("db", "", "subnet-0", 2), ("web", "", "subnet-0", 1)]
