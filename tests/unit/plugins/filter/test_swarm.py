"""The swarm role's decision filters: removal safety, live managers, address pools."""

import pytest
from ansible.errors import AnsibleFilterError
from ansible_collections.geostack.cluster.plugins.filter.swarm import (
    cidrs_containing,
    swarm_removal_blocker,
    swarm_state,
)


def node(node_id, manager=None):
    record = {"ID": node_id, "Status": {"State": "ready"}}
    if manager:
        record["ManagerStatus"] = {"Reachability": manager}
    return record


def test_a_worker_can_always_go():
    nodes = [node("m1", "reachable"), node("w1")]
    assert swarm_removal_blocker(nodes, "w1") == ""


def test_an_unknown_node_is_not_blocked():
    assert swarm_removal_blocker([node("m1", "reachable")], "gone") == ""


def test_the_last_manager_never_goes():
    assert "last manager" in swarm_removal_blocker([node("m1", "reachable"), node("w1")], "m1")


@pytest.mark.parametrize(
    ("managers", "remove", "blocked"),
    [
        # 3 reachable -> 2 remain, both reachable: quorum 2 kept.
        (["reachable", "reachable", "reachable"], 0, False),
        # 3 with one lost -> removing a healthy one leaves 1 of 2 reachable.
        (["reachable", "reachable", "unreachable"], 0, True),
        # ...but removing the lost one leaves 2 of 2.
        (["reachable", "reachable", "unreachable"], 2, False),
        # 5 with two lost: removing a healthy one leaves 2 of 4 (needs 3).
        (["reachable"] * 3 + ["unreachable"] * 2, 0, True),
        # 2 -> 1 reachable: fine (quorum of 1 is 1).
        (["reachable", "reachable"], 1, False),
    ],
)
def test_demoting_a_manager_must_keep_quorum(managers, remove, blocked):
    nodes = [node(f"m{i}", r) for i, r in enumerate(managers)] + [node("w1")]
    reason = swarm_removal_blocker(nodes, f"m{remove}")
    assert bool(reason) is blocked
    if blocked:
        assert "quorum" in reason


def test_removal_blocker_wants_a_list():
    with pytest.raises(AnsibleFilterError):
        swarm_removal_blocker({"m1": {}}, "m1")


def info(state="active", manager=False, cluster="c1", node_id="n"):
    swarm = {"LocalNodeState": state, "NodeID": node_id, "ControlAvailable": manager, "NodeAddr": "10.0.0.1"}
    if manager:
        swarm["Cluster"] = {"ID": cluster}
    return {"host_info": {"Swarm": swarm}}


def test_swarm_state_orders_live_managers_and_skips_the_lost():
    state = swarm_state(
        {
            "m1": {"unreachable": True, "msg": "gone"},
            "m2": info(manager=True, node_id="n2"),
            "m3": info(manager=True, node_id="n3"),
            "w1": info(node_id="n4"),
            "new": info(state="inactive", node_id=""),
            "skipped": {"skipped": True},
        },
        ["m1", "m3", "m2"],
    )
    assert state["live_managers"] == ["m3", "m2"]
    assert state["cluster_ids"] == ["c1"]
    assert state["hosts"]["m1"]["reachable"] is False
    assert state["hosts"]["skipped"]["reachable"] is False
    assert state["hosts"]["new"] == {
        "reachable": True, "state": "inactive", "node_id": "", "manager": False, "cluster_id": "", "addr": "10.0.0.1",
    }


def test_swarm_state_reports_two_swarms():
    state = swarm_state({"a": info(manager=True, cluster="c1"), "b": info(manager=True, cluster="c2")})
    assert state["cluster_ids"] == ["c1", "c2"]


def test_a_failed_read_is_not_a_live_manager():
    state = swarm_state({"a": {"failed": True, "host_info": {"Swarm": {"ControlAvailable": True}}}})
    assert state["live_managers"] == []


def test_cidrs_containing():
    assert cidrs_containing(["10.0.0.0/8", "10.200.0.0/16"], ["10.42.1.7"]) == ["10.0.0.0/8"]
    assert cidrs_containing(["10.200.0.0/16"], ["10.42.1.7", ""]) == []
    with pytest.raises(AnsibleFilterError):
        cidrs_containing(["not-a-cidr"], ["10.0.0.1"])
