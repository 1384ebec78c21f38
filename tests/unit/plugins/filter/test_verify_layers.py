"""verify.yml's rows for the swarm, ZooKeeper, the web routes, Prometheus and the zones (plugins/filter/verify.py)."""

from ansible_collections.geostack.cluster.plugins.filter.verify import (
    verify_prometheus_rows,
    verify_swarm_rows,
    verify_web_rows,
    verify_zone_rows,
    verify_zookeeper_rows,
)

UP = {"ping": "pong"}
DOWN = {"unreachable": True, "msg": "Failed to connect"}


def swarm_node(node_id, hostname, state="ready", availability="active", role="worker", labels=None, leader=False):
    node = {"ID": node_id, "Description": {"Hostname": hostname}, "Status": {"State": state},
            "Spec": {"Availability": availability, "Role": role, "Labels": labels or {}}}
    if leader:
        node["ManagerStatus"] = {"Leader": True}
    return node


def engine(node_id):
    return {"_verify_ping": UP, "_verify_engine": {"host_info": {"Swarm": {"NodeID": node_id}}}}


def test_swarm_rows_want_ready_active_labelled_nodes_and_name_strays():
    nodes = [swarm_node("a", "m-1", role="manager", labels={"typeNode": "manager"}, leader=True),
             swarm_node("b", "w-1", availability="drain", labels={"typeNode": "worker", "zone": "a"}),
             swarm_node("c", "w-2", state="down", labels={"typeNode": "worker"}),
             swarm_node("d", "gone", state="down")]
    hostvars = {"m-1": engine("a"), "w-1": engine("b"), "w-2": {"_verify_ping": DOWN}, "web-1": engine("")}
    rows = verify_swarm_rows(list(hostvars), hostvars, nodes)
    assert rows == [
        {"layer": "swarm", "check": "m-1", "ok": True, "detail": "ready, active, manager (leader), labels typeNode=manager"},
        {"layer": "swarm", "check": "w-1", "ok": False, "detail": "ready, drain, worker, labels typeNode=worker zone=a"},
        {"layer": "swarm", "check": "w-2", "ok": False, "detail": "unreachable, swarm node down"},
        {"layer": "swarm", "check": "web-1", "ok": False, "detail": "not in the swarm, -, -, labels none"},
        {"layer": "swarm", "check": "node w-2 (no inventory host)", "ok": False, "detail": "down, active"},
        {"layer": "swarm", "check": "node gone (no inventory host)", "ok": False, "detail": "down, active"},
    ]


def test_swarm_rows_without_a_manager_to_ask():
    [row] = verify_swarm_rows(["m-1"], {"m-1": engine("a")}, [])
    assert row == {"layer": "swarm", "check": "m-1", "ok": False, "detail": "no reachable manager to ask"}


def zk(state=None, error=None, **result):
    return {"_verify_ping": UP, "_verify_zookeeper": result or {"json": {"error": error, "server_state": state}}}


def test_zookeeper_rows_want_one_leader_and_every_member_serving():
    hostvars = {"z-1": zk("leader"), "z-2": zk("follower"),
                "z-3": zk(error="This ZooKeeper instance is not currently serving requests")}
    leader, *members = verify_zookeeper_rows(list(hostvars), hostvars)
    assert leader == {"layer": "zookeeper", "check": "leader", "ok": True, "detail": "z-1"}
    assert [(m["check"], m["ok"], m["detail"]) for m in members] == [
        ("z-1", True, "leader"), ("z-2", True, "follower"),
        ("z-3", False, "not serving (This ZooKeeper instance is not currently serving requests)")]


def test_zookeeper_without_a_leader_and_with_members_that_do_not_answer():
    hostvars = {"z-1": zk("follower"), "z-2": {"_verify_ping": DOWN}, "z-3": zk(msg="Connection refused")}
    leader, *members = verify_zookeeper_rows(list(hostvars), hostvars)
    assert leader == {"layer": "zookeeper", "check": "leader", "ok": False, "detail": "no leader: the ensemble has no quorum"}
    assert [m["detail"] for m in members] == ["follower", "unreachable", "not serving (no answer)"]


def test_a_standalone_member_is_the_leader_of_one():
    [leader, member] = verify_zookeeper_rows(["z-1"], {"z-1": zk("standalone")})
    assert leader["ok"] and member["ok"] and leader["detail"] == "z-1"


def probe(route, status, msg=None):
    result = {"item": {"route": route, "path": f"/{route}/", "status": [200]}, "status": status}
    if msg:
        result["msg"] = msg
    return result


def test_web_rows_want_every_route_to_answer():
    hostvars = {"w-1": {"_verify_ping": UP, "web_probe": {"results": [probe("users", 200), probe("rides", 200)]}},
                "w-2": {"_verify_ping": UP, "web_probe": {"results": [probe("users", 502), probe("rides", -1, "refused")]}},
                "w-3": {"_verify_ping": DOWN},
                "w-4": {"_verify_ping": UP, "web_probe": {"results": []}}}
    assert [(r["ok"], r["detail"]) for r in verify_web_rows(list(hostvars), hostvars)] == [
        (True, "2 routes answer (users, rides)"),
        (False, "route users (GET /users/) answered 502, expected 200; route rides (GET /rides/) did not answer (refused),"
                " expected 200"),
        (False, "unreachable"),
        (False, "no route was requested"),
    ]


def target(job, instance, health, error=""):
    return {"labels": {"job": job, "instance": instance}, "health": health, "lastError": error}


def test_prometheus_rows_one_per_job_naming_the_targets_down():
    targets = [target("node", "m-1", "up"), target("node", "w-1", "down", "connection refused"),
               target("node", "w-2", "unknown"), target("nginx", "web-1", "up")]
    hostvars = {"p-1": {"_verify_ping": UP, "_verify_prometheus": {"json": {"data": {"activeTargets": targets}}}},
                "p-2": {"_verify_ping": DOWN},
                "p-3": {"_verify_ping": UP, "_verify_prometheus": {"msg": "Status code was -1"}}}
    assert verify_prometheus_rows(list(hostvars), hostvars) == [
        {"layer": "prometheus", "check": "p-1 job nginx", "ok": True, "detail": "1/1 targets up"},
        {"layer": "prometheus", "check": "p-1 job node", "ok": False,
         "detail": "1/3 targets up, down: w-1 (connection refused), w-2 ()"},
        {"layer": "prometheus", "check": "p-2", "ok": False, "detail": "unreachable"},
        {"layer": "prometheus", "check": "p-3", "ok": False, "detail": "the API does not answer: Status code was -1"},
    ]


def test_the_zone_rows_show_each_groups_spread_and_fail_when_it_is_lopsided():
    zones = ["az-a", "az-b"]
    hostvars = {"m1": {"geostack_zone": "az-a", "_verify_ping": UP}, "w1": {"geostack_zone": "az-a", "_verify_ping": UP},
                "w2": {"geostack_zone": "az-b", "_verify_ping": DOWN}, "w3": {"geostack_zone": "az-a", "_verify_ping": UP}}
    groups = {"managers": ["m1"], "workers": ["w1", "w2"], "all": list(hostvars), "swarm": list(hostvars)}
    assert verify_zone_rows(groups, hostvars, []) == []
    assert [(r["layer"], r["check"], r["ok"], r["detail"]) for r in verify_zone_rows(groups, hostvars, zones)] == [
        ("zones", "managers", True, "az-a: m1; az-b: none"),
        ("zones", "workers", True, "az-a: w1; az-b: w2 (unreachable)")]
    # Two more in one zone than in the other, or a node outside the zones: not balanced.
    lopsided = verify_zone_rows({"workers": ["w1", "w3"]}, hostvars, zones)
    assert [(r["ok"], r["detail"]) for r in lopsided] == [(False, "az-a: w1, w3; az-b: none")]
    outside = verify_zone_rows({"workers": ["w1", "w2"]}, hostvars, ["az-a", "az-c"])
    assert [(r["ok"], r["detail"]) for r in outside] == [(False, "az-a: w1; az-c: none; outside the zones: w2 (unreachable)")]
