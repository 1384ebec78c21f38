"""Verify the swarm role on six real Docker-in-Docker nodes.

The per-host tests run on every node; the rest run once, in file order:
the fault case (bootstrap manager lost and replaced) and the removal case
build on each other, as an operator's day would.
"""

import ipaddress
import json
import subprocess
from pathlib import Path

import pytest
import yaml
from nodes import scenario_hosts
from playbook_runner import assert_refused_before_any_change, run_playbook

testinfra_hosts = scenario_hosts()

SCENARIO = Path(__file__).parents[1]
MANAGERS = {"geostack-swarm-1", "geostack-swarm-2", "geostack-swarm-3"}
WORKERS = {"geostack-swarm-4", "geostack-swarm-5"}
WEB = {"geostack-swarm-6"}
EXPECTED_TYPE = {**dict.fromkeys(MANAGERS, "master"), **dict.fromkeys(WORKERS, "worker"), **dict.fromkeys(WEB, "master-web")}
REMOVE_NODE = str(SCENARIO.parents[1] / "playbooks" / "remove_node.yml")


def sh(node: str, command: str, check: bool = True) -> str:
    proc = subprocess.run(["docker", "exec", node, "sh", "-c", command], capture_output=True, text=True, check=False)
    if check and proc.returncode != 0:
        raise AssertionError(f"{node}: {command}: {proc.stderr}")
    return proc.stdout.strip()


def engine(node: str) -> dict:
    return json.loads(sh(node, "docker info --format '{{json .Swarm}}'"))


def nodes(manager: str) -> dict[str, dict]:
    """Hostname -> docker node inspect record, as a manager sees the swarm."""
    records = json.loads(sh(manager, "docker node inspect $(docker node ls -q)"))
    return {n["Description"]["Hostname"]: n for n in records}


def write_inventory(path: Path, managers, workers, web, bootstrap) -> Path:
    hostvars = {"ansible_connection": "geostack.cluster.docker_api"}
    groups = {"managers": managers, "workers": workers, "web": web, "swarm_bootstrap": [bootstrap]}
    inventory = {
        "all": {"children": {"swarm": {"children": {g: {"hosts": {h: dict(hostvars) for h in hs}} for g, hs in groups.items()}}}},
    }
    inventory["all"]["children"]["swarm"]["children"]["workers"]["hosts"]["geostack-swarm-5"]["swarm_node_labels"] = {"disk": "ssd"}
    path.write_text(yaml.safe_dump(inventory))
    return path


@pytest.fixture(scope="module")
def fault_inventory(tmp_path_factory) -> Path:
    return write_inventory(
        tmp_path_factory.mktemp("fault") / "hosts.yml",
        managers=["geostack-swarm-7", "geostack-swarm-2", "geostack-swarm-3"],
        workers=sorted(WORKERS),
        web=sorted(WEB),
        # The inventory plugin makes the lowest-index manager the bootstrap node:
        # after a replacement that is the new, empty node.
        bootstrap="geostack-swarm-7",
    )


def test_node_is_in_the_swarm_with_its_inventory_role(host):
    name = host.check_output("hostname")
    swarm = json.loads(host.check_output("docker info --format '{{json .Swarm}}'"))
    assert swarm["LocalNodeState"] == "active"
    assert swarm["ControlAvailable"] is (name in MANAGERS)
    assert swarm["NodeAddr"] == host.check_output("ip -4 -o addr show eth0").split()[3].split("/")[0]


# Once per scenario from here on.


def test_six_ready_nodes_with_roles_and_labels():
    seen = nodes("geostack-swarm-2")
    assert set(seen) == MANAGERS | WORKERS | WEB
    assert {h for h, n in seen.items() if n["Spec"]["Role"] == "manager"} == MANAGERS
    assert all(n["Status"]["State"] == "ready" for n in seen.values())
    assert {h: n["Spec"]["Labels"].get("typeNode") for h, n in seen.items()} == EXPECTED_TYPE
    assert seen["geostack-swarm-5"]["Spec"]["Labels"]["disk"] == "ssd"
    assert "disk" not in seen["geostack-swarm-4"]["Spec"]["Labels"]


def test_one_swarm_only():
    clusters = {engine(m)["Cluster"]["ID"] for m in MANAGERS}
    assert len(clusters) == 1
    ids = {n["ID"] for n in nodes("geostack-swarm-3").values()}
    assert {engine(w)["NodeID"] for w in WORKERS | WEB} <= ids


def test_overlay_networks_come_from_the_configured_pool():
    pool = json.loads(sh("geostack-swarm-1", "docker info --format '{{json .Swarm.Cluster.DefaultAddrPool}}'"))
    assert pool == ["10.201.0.0/16"]
    subnet = sh("geostack-swarm-1", "docker network inspect ingress --format '{{(index .IPAM.Config 0).Subnet}}'")
    assert subnet.startswith("10.201.")
    sh("geostack-swarm-1", "docker network create -d overlay geostack-probe-net >/dev/null")
    try:
        subnet = sh("geostack-swarm-1", "docker network inspect geostack-probe-net --format '{{(index .IPAM.Config 0).Subnet}}'")
        assert subnet.startswith("10.201.") and subnet.endswith("/26")
    finally:
        sh("geostack-swarm-1", "docker network rm geostack-probe-net >/dev/null")


def test_check_mode_on_the_converged_swarm_changes_nothing():
    run = run_playbook("converge.yml", "--check", "--diff")
    assert run.rc == 0, run.failures
    assert run.total("changed") == 0, run.output


def node_network() -> str:
    """The /16 around the nodes' own address (Docker picks the subnet of their network)."""
    address = sh("geostack-swarm-2", "ip -4 -o addr show eth0").split()[3].split("/")[0]
    return str(ipaddress.ip_network(f"{address}/16", strict=False))


@pytest.mark.parametrize(
    ("extra", "named"),
    [
        ({"swarm_web_node_role": "manager"}, "odd number of managers"),
        ({"swarm_default_addr_pool": ["NODE_NETWORK"]}, "swarm_default_addr_pool"),
        ({"swarm_labels_state": "wipe"}, "swarm_labels_state"),
        ({"swarm_labels": "typeNode=master"}, "swarm_labels"),
    ],
)
def test_bad_input_fails_before_anything_changes(extra, named):
    # An overlay pool that contains the nodes' own network.
    extra = {k: [node_network()] if v == ["NODE_NETWORK"] else v for k, v in extra.items()}
    run = run_playbook("converge.yml", "--tags", "swarm", extra_vars=extra)
    assert_refused_before_any_change(run, named, "swarm")


def test_lost_bootstrap_manager_is_replaced_without_a_new_swarm(fault_inventory):
    cluster = engine("geostack-swarm-2")["Cluster"]["ID"]
    subprocess.run(["docker", "rm", "-f", "-v", "geostack-swarm-1"], check=False, capture_output=True)
    added = run_playbook(SCENARIO / "add_node.yml", inventory=fault_inventory)
    assert added.rc == 0, added.failures

    run = run_playbook("converge.yml", inventory=fault_inventory, extra_vars={"swarm_prune_down_nodes": True})
    assert run.rc == 0, run.failures
    # The new bootstrap node joined the surviving managers' swarm.
    assert run.stats["geostack-swarm-7"]["changed"] > 0
    replacement = engine("geostack-swarm-7")
    assert replacement["ControlAvailable"] is True
    assert replacement["Cluster"]["ID"] == cluster == engine("geostack-swarm-3")["Cluster"]["ID"]
    seen = nodes("geostack-swarm-7")
    # The lost manager was demoted and removed; three managers keep quorum.
    assert "geostack-swarm-1" not in seen
    assert {h for h, n in seen.items() if n["Spec"]["Role"] == "manager"} == {"geostack-swarm-2", "geostack-swarm-3", "geostack-swarm-7"}
    assert seen["geostack-swarm-7"]["Spec"]["Labels"]["typeNode"] == "master"
    # The join tokens never reach the output.
    tokens = {sh("geostack-swarm-2", f"docker swarm join-token -q {kind}") for kind in ("worker", "manager")}
    assert not any(token in run.output for token in tokens)
    assert "SWMTKN-" not in run.output

    again = run_playbook("converge.yml", inventory=fault_inventory)
    assert again.rc == 0, again.failures
    assert again.total("changed") == 0, again.output


def test_removal_needs_confirmation(fault_inventory):
    run = run_playbook(REMOVE_NODE, inventory=fault_inventory, extra_vars={"node": "geostack-swarm-4"})
    assert run.rc != 0
    assert run.total("changed") == 0
    assert any("not confirmed" in m for msgs in run.failures.values() for m in msgs), run.failures
    assert "geostack-swarm-4" in nodes("geostack-swarm-2")


def remove(inventory: Path, node: str):
    return run_playbook(REMOVE_NODE, inventory=inventory, extra_vars={"node": node, "remove_node_confirm": node})


def test_removing_a_worker_moves_its_tasks(fault_inventory):
    for worker in WORKERS:
        sh(worker, "tar -C /usr/bin -c busybox | docker import -c 'ENTRYPOINT [\"/busybox\"]' - geostack/busybox:test >/dev/null")
    sh(
        "geostack-swarm-2",
        "docker service create -d --quiet --name probe --replicas 2 --no-resolve-image"
        " --constraint node.labels.typeNode==worker geostack/busybox:test sleep 3600",
    )
    running = "docker service ps probe --filter desired-state=running --format '{{.Node}} {{.CurrentState}}'"
    sh("geostack-swarm-2", f"for i in $(seq 60); do [ $({running} | grep -c Running) = 2 ] && exit 0; sleep 1; done; exit 1")

    run = remove(fault_inventory, "geostack-swarm-4")
    assert run.rc == 0, run.failures
    assert "geostack-swarm-4" not in nodes("geostack-swarm-2")
    assert engine("geostack-swarm-4")["LocalNodeState"] == "inactive"
    tasks = sh("geostack-swarm-2", running).splitlines()
    assert len(tasks) == 2 and all(t.startswith("geostack-swarm-5 Running") for t in tasks), tasks

    again = remove(fault_inventory, "geostack-swarm-4")
    assert again.rc == 0, again.failures
    assert again.total("changed") == 0, again.output


def test_removing_managers_keeps_quorum_and_never_the_last(fault_inventory):
    run = remove(fault_inventory, "geostack-swarm-2")
    assert run.rc == 0, run.failures
    seen = nodes("geostack-swarm-3")
    assert set(seen) == {"geostack-swarm-3", "geostack-swarm-5", "geostack-swarm-6", "geostack-swarm-7"}
    assert {h for h, n in seen.items() if n["Spec"]["Role"] == "manager"} == {"geostack-swarm-3", "geostack-swarm-7"}

    assert remove(fault_inventory, "geostack-swarm-3").rc == 0
    last = remove(fault_inventory, "geostack-swarm-7")
    assert last.rc != 0
    assert last.total("changed") == 0
    assert any("last manager" in m for msgs in last.failures.values() for m in msgs), last.failures
    assert engine("geostack-swarm-7")["ControlAvailable"] is True
    assert set(nodes("geostack-swarm-7")) == {"geostack-swarm-5", "geostack-swarm-6", "geostack-swarm-7"}
