"""The provision role's planning filters."""

import pytest
from ansible.errors import AnsibleFilterError
from ansible_collections.geostack.cluster.plugins.filter.provision import (
    layout_groups,
    layout_members,
    provision_plan,
    provision_renames,
    security_group_rules,
)


def inst(iid, roles, name=None, launch="2026-01-01T00:00:00+00:00"):
    tags = {"geostack:roles": roles}
    if name:
        tags["Name"] = name
    return {"instance_id": iid, "launch_time": launch, "tags": tags}


LAYOUT = {"manager": {"count": 3}, "broker": {"count": 1, "roles": ["rabbitmq", "zookeeper"], "instance_type": "m5.large"}}


def test_layout_groups_and_counts():
    groups = layout_groups(LAYOUT, "t3.medium", 30)
    assert groups[0] == {"name": "manager", "count": 3, "roles": ["manager"], "roles_tag": "manager", "instance_type": "t3.medium", "volume_size": 30}
    assert groups[1]["roles_tag"] == "rabbitmq,zookeeper"
    assert groups[1]["instance_type"] == "m5.large"
    members = layout_members(groups)
    assert members["manager"] == ["manager-1", "manager-2", "manager-3"]
    assert members["zookeeper"] == ["broker-1"] and members["worker"] == []


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
