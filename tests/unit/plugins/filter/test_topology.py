"""The topology_errors filter (site.yml's inventory preflight)."""

from __future__ import annotations

import pytest
from ansible_collections.geostack.cluster.plugins.filter.topology import FilterModule, removal_errors, topology_errors


def hostvars(*hosts, **addresses):
    return {h: {"geostack_private_address": addresses.get(h, f"10.0.0.{i + 1}")} for i, h in enumerate(hosts)}


REFERENCE = {
    "managers": ["m1", "m2", "m3"], "workers": ["w1", "w2"], "web": ["web1"], "citus_coordinator": ["m1"],
    "citus_workers": ["w1", "w2"], "rabbitmq": ["m1", "m2", "m3"], "zookeeper": ["m1", "m2", "m3"], "monitoring": ["m1"],
    "ungrouped": [],
}


def test_the_reference_layout_is_sound():
    assert topology_errors(REFERENCE, hostvars("m1", "m2", "m3", "w1", "w2", "web1")) == []


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"managers": ["m1", "m2"]}, "managers: 2 (m1, m2); the swarm needs an odd number of managers"),
        ({"managers": []}, "managers: none among the cluster's nodes (m1, m2, m3, w1, w2, web1)"),
        ({"citus_coordinator": []}, "citus_coordinator: 0 (none); Citus needs exactly one coordinator for its workers"),
        ({"citus_coordinator": ["m1", "m2"]}, "citus_coordinator: 2 (m1, m2)"),
        ({"citus_coordinator": ["w1"]}, "w1: in both citus_coordinator and citus_workers"),
        ({"zookeeper": ["m1", "m2"]}, "zookeeper: 2 (m1, m2); a ZooKeeper ensemble needs an odd number of members"),
    ],
)
def test_each_problem_is_named(change, message):
    errors = topology_errors({**REFERENCE, **change}, hostvars("m1", "m2", "m3", "w1", "w2", "web1"))
    assert message in " | ".join(errors), errors


def test_addresses_must_exist_and_differ():
    hv = hostvars("m1", "m2", "m3", "w1", "w2", "web1", w2="10.0.0.1")
    del hv["web1"]["geostack_private_address"]
    assert topology_errors(REFERENCE, hv) == [
        "w2: geostack_private_address 10.0.0.1 is also m1's",
        "web1: no geostack_private_address (the inventory plugin sets it; a static inventory must)",
    ]


def test_an_empty_inventory_has_nothing_to_check():
    assert topology_errors({"all": [], "ungrouped": []}, {}) == []


def test_removing_a_worker_is_safe():
    assert removal_errors(REFERENCE, hostvars("m1", "m2", "m3", "w1", "w2", "web1"), ["w2"]) == []


@pytest.mark.parametrize(
    ("leaving", "message"),
    [
        (["nope"], "nope: not an inventory host"),
        (["m1"], "m1: the Citus coordinator holds the cluster's metadata and is never removed"),
        (["m2", "m3"], "rabbitmq: removing m2, m3 leaves 1 of 3 RabbitMQ members, not a majority"),
        (["m2", "m3"], "zookeeper: removing m2, m3 leaves 1 of 3 ZooKeeper members, not a majority"),
        (["m3"], "zookeeper: removing m3 leaves 2 members; an ensemble needs an odd number"),
    ],
)
def test_each_unsafe_removal_is_named(leaving, message):
    errors = removal_errors(REFERENCE, hostvars("m1", "m2", "m3", "w1", "w2", "web1"), leaving)
    assert any(e.startswith(message) for e in errors), errors


def test_a_five_member_ensemble_may_lose_two():
    groups = {**REFERENCE, "zookeeper": ["m1", "m2", "m3", "w1", "w2"], "rabbitmq": ["m1", "m2", "m3", "w1", "w2"]}
    assert removal_errors(groups, hostvars("m1", "m2", "m3", "w1", "w2", "web1"), ["w1", "w2"]) == []


@pytest.mark.parametrize(("members", "message"), [
    ([], ""),
    (["z1"], ""),
    (["z1", "z2", "z3"], ""),
    (["z1", "z2"], "zookeeper: 2 (z1, z2); a ZooKeeper ensemble needs an odd number of members (1, 3, 5)"),
])
def test_the_ensemble_rule_alone(members, message):
    assert FilterModule().filters()["ensemble_error"](members) == message
