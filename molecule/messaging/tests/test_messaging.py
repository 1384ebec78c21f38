"""Verify the messaging layer: a 3-node RabbitMQ cluster and a 3-node ZooKeeper
ensemble on the same nodes, with real clients (pika, kazoo, HTTP, WebSocket)
from the controller to the nodes' addresses, and the fault cases, among them a
member leaving through the remove entry points. The config change runs last:
it leaves the cluster on a changed config."""

from __future__ import annotations

import base64
import json
import os
import re
import socket
import tempfile
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

import pika
import pytest
import yaml
from kazoo.client import KazooClient
from kazoo.exceptions import ConnectionClosedError
from nodes import address, sh, wait_for
from playbook_runner import assert_refused_before_any_change, run_playbook

# Inventories the tests write; removed when the test session ends.
_SCRATCH = tempfile.TemporaryDirectory(prefix="geostack-test-")

SCENARIO = Path(os.environ.get("MOLECULE_SCENARIO_DIRECTORY", Path(__file__).resolve().parents[1]))
NODES = [f"geostack-msg-{n}" for n in (1, 2, 3)]
VARS = yaml.safe_load((SCENARIO / "vars" / "converge.yml").read_text())
ADMIN = ("admin", VARS["rabbitmq_admin_password"])
APP = ("rideshare", VARS["rabbitmq_users"][0]["password"])
QUEUES = ["readQ", "writeQ", "syncQ", "responseQ"]
SECRETS = [VARS["rabbitmq_erlang_cookie"], ADMIN[1], APP[1]]

testinfra_hosts = [f"docker://{NODES[0]}"]


def api(node: str, path: str, auth: tuple[str, str] = ADMIN) -> tuple[int, object]:
    request = urllib.request.Request(f"http://{address(node)}:15672/api/{path}")
    request.add_header("Authorization", "Basic " + base64.b64encode(":".join(auth).encode()).decode())
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, json.load(response)
    except urllib.error.HTTPError as error:
        return error.code, None


def four_letter(node: str, word: str) -> str:
    with socket.create_connection((address(node), 2181), timeout=5) as conn:
        conn.sendall(word.encode())
        data = b""
        while chunk := conn.recv(4096):
            data += chunk
    return data.decode()


def zk_mode(node: str) -> str:
    try:
        return next(line.split(": ")[1] for line in four_letter(node, "srvr").splitlines() if line.startswith("Mode: "))
    except (OSError, StopIteration):
        return "down"


def contend(election, name: str, elected: list, done: threading.Event) -> None:
    """Run for master; while master, record it and hold until told to stop."""
    try:
        election.run(lambda: (elected.append(name), done.wait(30)))
    except ConnectionClosedError:
        pass  # this contender's session was closed: the master "died"


def running_nodes(node: str) -> list[str]:
    """The running members as `node` sees them; [] while it cannot say (a member just stopped, or itself)."""
    proc = sh(node, "rabbitmqctl -q cluster_status --formatter json", check=False)
    return sorted(json.loads(proc.stdout)["running_nodes"]) if proc.returncode == 0 else []


def members(node: str, queue: str, vhost: str = "rideshare") -> list[str]:
    """A quorum queue's replicas, from RabbitMQ itself (the management API's view lags by a stats interval)."""
    queues = json.loads(sh(node, f"rabbitmqctl -q list_queues --vhost {vhost} name members --formatter json").stdout)
    return sorted(next(q["members"] for q in queues if q["name"] == queue))


def queue_length(node: str, queue: str, vhost: str = "rideshare") -> int:
    """A queue's message count, from RabbitMQ itself: right after a membership change the management API's queue
    record can lack its counts until the next stats interval."""
    queues = json.loads(sh(node, f"rabbitmqctl -q list_queues --vhost {vhost} name messages --formatter json").stdout)
    return next(q["messages"] for q in queues if q["name"] == queue)


def amqp(node: str) -> pika.BlockingConnection:
    params = pika.ConnectionParameters(address(node), 5672, "rideshare", pika.PlainCredentials(*APP), connection_attempts=5, retry_delay=2)
    return pika.BlockingConnection(params)


def publish(node: str, queue: str, bodies: set[str]) -> None:
    """Publish each body to the queue as a persistent message, each confirmed by the broker."""
    with amqp(node) as conn:
        channel = conn.channel()
        channel.confirm_delivery()
        for body in sorted(bodies):
            channel.basic_publish("", queue, body.encode(), pika.BasicProperties(delivery_mode=pika.DeliveryMode.Persistent), mandatory=True)


def consume(node: str, queue: str, most: int) -> set[str]:
    """Take up to `most` messages off the queue through `node` (one more try shows the queue is empty)."""
    received = set()
    with amqp(node) as conn:
        channel = conn.channel()
        for _try in range(most + 1):
            method, _props, body = channel.basic_get(queue, auto_ack=True)
            if method is None:
                break
            received.add(body.decode())
    return received


# RabbitMQ


@pytest.mark.parametrize("node", NODES)
def test_rabbitmq_cluster_has_three_running_nodes_and_one_name(node):
    status = json.loads(sh(node, "rabbitmqctl -q cluster_status --formatter json").stdout)
    assert sorted(status["running_nodes"]) == [f"rabbit@{n}" for n in NODES]
    assert status["cluster_name"] == "geostack"


def test_management_answers_the_managed_user_and_refuses_guest():
    status, overview = api(NODES[1], "overview")
    assert status == 200 and overview["cluster_name"] == "geostack"
    assert api(NODES[1], "overview", auth=("guest", "guest"))[0] == 401
    status, users = api(NODES[0], "users")
    assert sorted(u["name"] for u in users) == ["admin", "rideshare"]


@pytest.mark.parametrize("node", NODES)
def test_web_stomp_answers_a_websocket_upgrade(node):
    key = base64.b64encode(os.urandom(16)).decode()
    request = (
        f"GET /ws HTTP/1.1\r\nHost: {address(node)}:15674\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Protocol: v12.stomp\r\n\r\n"
    )
    with socket.create_connection((address(node), 15674), timeout=10) as conn:
        conn.sendall(request.encode())
        answer = conn.recv(4096).decode(errors="replace")
    assert answer.startswith("HTTP/1.1 101"), answer


def test_the_dbaas_queues_are_durable_quorum_queues():
    status, queues = api(NODES[2], "queues/rideshare")
    assert status == 200
    found = {q["name"]: (q["type"], q["durable"]) for q in queues}
    assert found == {name: ("quorum", True) for name in QUEUES}


def test_plugins_listen_only_on_the_private_address():
    listening = sh(NODES[0], "ss -ltnH").stdout
    for port in (5672, 15672, 15674, 15692):
        assert f"{address(NODES[0])}:{port} " in listening
        assert f"0.0.0.0:{port} " not in listening and f"*:{port} " not in listening


# ZooKeeper


def test_zookeeper_has_one_leader_and_two_followers():
    modes = sorted(zk_mode(node) for node in NODES)
    assert modes == ["follower", "follower", "leader"]
    assert all(four_letter(node, "ruok") == "imok" for node in NODES)
    # Only whitelisted four-letter words answer.
    assert "is not executed because it is not in the whitelist" in four_letter(NODES[0], "envi")


def test_admin_server_is_off_8080_and_on_loopback_only():
    listening = sh(NODES[0], "ss -ltnH").stdout
    assert ":8080 " not in listening
    assert "127.0.0.1:8181 " in listening


def zk_metrics(node: str) -> dict[str, str]:
    """The samples the metrics timer wrote for node_exporter's textfile collector."""
    text = sh(node, "cat /var/lib/prometheus/node-exporter/zookeeper.prom", check=False).stdout
    return dict(line.rsplit(" ", 1) for line in text.splitlines() if line and not line.startswith("#"))


def test_zookeeper_state_is_written_for_node_exporter():
    metrics = {node: wait_for(lambda node=node: zk_metrics(node), timeout=30) for node in NODES}
    assert sorted(m["zookeeper_leader"] for m in metrics.values()) == ["0", "0", "1"]
    for node, sample in metrics.items():
        mode = zk_mode(node)
        assert sample["zookeeper_up"] == sample["zookeeper_serving"] == "1"
        assert sample[f'zookeeper_server_state{{state="{mode}"}}'] == "1"
        assert sample["zookeeper_leader"] == ("1" if mode == "leader" else "0")
        assert int(sample["zookeeper_znode_count"]) >= 1
        assert time.time() - float(sample["zookeeper_metrics_timestamp_seconds"]) < 60


def test_a_znode_is_seen_from_every_member():
    writer = KazooClient(hosts=f"{address(NODES[0])}:2181")
    writer.start(timeout=15)
    try:
        writer.ensure_path("/geostack/test")
        writer.set("/geostack/test", b"written on member 1")
    finally:
        writer.stop()
    for node in NODES:
        reader = KazooClient(hosts=f"{address(node)}:2181")
        reader.start(timeout=15)
        try:
            reader.sync("/geostack/test")
            assert reader.get("/geostack/test")[0] == b"written on member 1"
        finally:
            reader.stop()


def test_check_mode_on_the_converged_layer_changes_nothing():
    run = run_playbook("converge.yml", "--check")
    assert run.rc == 0, run.failures
    assert run.total("changed") == 0, run.output


def test_no_secret_reaches_the_converge_output():
    run = run_playbook("converge.yml", "-v")
    assert run.rc == 0 and run.total("changed") == 0, run.failures
    assert not [secret for secret in SECRETS if secret in run.output]


# Faults


def test_a_stopped_rabbitmq_node_loses_no_message_and_rejoins_on_converge():
    messages = {f"trip-{n}" for n in range(200)}
    publish(NODES[0], "readQ", messages)
    sh(NODES[2], "systemctl stop rabbitmq-server")
    try:
        assert running_nodes(NODES[1]) == [f"rabbit@{n}" for n in NODES[:2]]
        assert consume(NODES[1], "readQ", len(messages)) == messages
    finally:
        run = run_playbook("converge.yml")
    assert run.rc == 0, run.failures
    assert wait_for(lambda: running_nodes(NODES[0]) == [f"rabbit@{n}" for n in NODES], timeout=60)


def test_a_stopped_zookeeper_leader_is_replaced_and_an_election_recipe_moves_the_master():
    leader = next(node for node in NODES if zk_mode(node) == "leader")
    survivors = [node for node in NODES if node != leader]
    hosts = ",".join(f"{address(node)}:2181" for node in survivors)
    sh(leader, "systemctl stop zookeeper")
    try:
        started = time.monotonic()
        new_leader = wait_for(lambda: next((n for n in survivors if zk_mode(n) == "leader"), None), timeout=60)
        print(f"new leader {new_leader} after {time.monotonic() - started:.1f} s")
        assert sorted(zk_mode(n) for n in survivors) == ["follower", "leader"]
        # The stopped member's metrics say so, for the ZooKeeper alerts.
        wait_for(lambda: zk_metrics(leader).get("zookeeper_up") == "0", timeout=40)
        assert zk_metrics(leader)["zookeeper_serving"] == "0"

        # The RideShare master election: two workers contend, the first wins;
        # when its session ends, the other takes over.
        clients, elected, done = [], [], threading.Event()
        for name in ("worker-a", "worker-b"):
            client = KazooClient(hosts=hosts)
            client.start(timeout=15)
            clients.append(client)
            election = client.Election("/geostack/master", name)
            threading.Thread(target=contend, args=(election, name, elected, done), daemon=True).start()
            if name == "worker-a":
                wait_for(lambda: elected == ["worker-a"], timeout=20)
        clients[1].set("/geostack/test", b"written after the failover")
        clients[0].stop()  # the master dies
        wait_for(lambda: elected == ["worker-a", "worker-b"], timeout=30)
        done.set()
        clients[1].stop()
    finally:
        run = run_playbook("converge.yml")
    assert run.rc == 0, run.failures
    assert wait_for(lambda: zk_mode(leader) == "follower", timeout=60)
    assert sorted(zk_mode(n) for n in NODES) == ["follower", "follower", "leader"]


def reasons_of(run) -> str:
    return " ".join(m for msgs in run.failures.values() for m in msgs)


def test_a_member_leaves_only_with_a_quorum_left_and_a_fresh_node_rejoins():
    """What retire_nodes.yml does to the messaging layer (remove.yml: the rabbitmq
    and zookeeper entry points `remove`), then the node comes back with an empty disk."""
    leaving = NODES[2]
    with amqp(NODES[0]) as conn:
        channel = conn.channel()
        channel.confirm_delivery()
        for n in range(50):
            channel.basic_publish("", "responseQ", f"resp-{n}".encode(), pika.BasicProperties(delivery_mode=pika.DeliveryMode.Persistent))
    # With another member down, the members that stay would have no majority: refused, nothing changed.
    sh(NODES[1], "systemctl stop rabbitmq-server zookeeper")
    try:
        assert wait_for(lambda: running_nodes(NODES[0]) == [f"rabbit@{n}" for n in (NODES[0], leaving)], timeout=60)
        # Refused for the quorum's reason alone (the cluster is read through the
        # management API, which answers with a member down).
        for tag, message in (("rabbitmq", "quorum queues need more than 1"), ("zookeeper", "it needs more than 1")):
            run = run_playbook("remove.yml", "--tags", tag, extra_vars={"leaving": leaving})
            assert run.rc != 0 and run.total("changed") == 0, run.output
            reasons = reasons_of(run)
            assert message in reasons and "Nothing was changed" in reasons, reasons
        assert running_nodes(NODES[0]) == [f"rabbit@{n}" for n in (NODES[0], leaving)]  # still a member
        assert zk_mode(leaving) in ("leader", "follower")
    finally:
        sh(NODES[1], "systemctl start zookeeper rabbitmq-server")
    assert wait_for(lambda: running_nodes(NODES[0]) == [f"rabbit@{n}" for n in NODES], timeout=60)
    assert wait_for(lambda: zk_mode(NODES[1]) in ("leader", "follower"), timeout=60)

    run = run_playbook("remove.yml", extra_vars={"leaving": leaving})
    assert run.rc == 0, run.failures
    status = json.loads(sh(NODES[0], "rabbitmqctl -q cluster_status --formatter json").stdout)
    assert sorted(status["disk_nodes"]) == sorted(status["running_nodes"]) == [f"rabbit@{n}" for n in NODES[:2]]
    assert sh(leaving, "systemctl is-enabled rabbitmq-server zookeeper", check=False).stdout.split() == ["disabled", "disabled"]
    assert zk_mode(leaving) == "down"
    assert sorted(zk_mode(n) for n in NODES[:2]) == ["follower", "leader"]
    assert queue_length(NODES[1], "responseQ") == 50
    assert members(NODES[1], "responseQ") == [f"rabbit@{n}" for n in NODES[:2]]

    # The node comes back as a replacement with an empty disk that booted
    # before its peers, with no peers listed: converge joins it to the seed.
    sh(leaving, "rm -rf /var/lib/rabbitmq/mnesia && sed -i '/^cluster_formation/d' /etc/rabbitmq/rabbitmq.conf")
    sh(leaving, "systemctl start rabbitmq-server && rabbitmq-diagnostics -q check_running")
    assert running_nodes(leaving) == [f"rabbit@{leaving}"]
    run = run_playbook("converge.yml")
    assert run.rc == 0, run.failures
    assert f"rabbitmqctl join_cluster rabbit@{NODES[0]}" in run.output  # the fallback, not discovery, joined it
    assert running_nodes(NODES[0]) == running_nodes(leaving) == [f"rabbit@{n}" for n in NODES]
    assert sorted(zk_mode(node) for node in NODES) == ["follower", "follower", "leader"]
    assert api(leaving, "queues/rideshare")[0] == 200
    # The queue grew back onto the returned member (else a rolling restart would wait forever for quorum + 1).
    assert queue_length(NODES[0], "responseQ") == 50 and members(NODES[0], "responseQ") == [f"rabbit@{n}" for n in NODES]
    again = run_playbook("converge.yml")
    assert again.rc == 0 and again.total("changed") == 0, again.output


def test_a_member_whose_machine_is_replaced_by_an_empty_one_heals_with_one_converge():
    """The seed's machine dies without `remove` (an instance retired, a lost disk) and an empty one takes its name,
    while 100 persistent messages sit in a quorum queue. The members left still list it; one converge makes the
    new machine a member of both again: RabbitMQ forgets the old identity on a member that stays, resets and joins
    the new node to the others' cluster and grows the queue back onto it; ZooKeeper's member keeps its myid and
    syncs from the leader. No message and no znode is lost."""
    replaced, survivors = NODES[0], NODES[1:]
    messages = {f"ride-{n}" for n in range(100)}
    publish(survivors[0], "readQ", messages)
    zk = KazooClient(hosts=f"{address(survivors[0])}:2181")
    zk.start(timeout=15)
    zk.ensure_path("/geostack")
    zk.create("/geostack/before-the-replacement", b"kept", makepath=True)
    zk.stop()

    run = run_playbook(SCENARIO.parent / "resources" / "playbooks" / "replace.yml", extra_vars={"replaced": replaced})
    assert run.rc == 0, run.failures
    assert sh(replaced, "test -e /var/lib/rabbitmq || test -e /var/lib/zookeeper", check=False).returncode == 1  # empty
    listed = json.loads(sh(survivors[0], "rabbitmqctl -q cluster_status --formatter json").stdout)
    assert f"rabbit@{replaced}" in listed["disk_nodes"] and f"rabbit@{replaced}" not in listed["running_nodes"]

    run = run_playbook("converge.yml")
    assert run.rc == 0, run.failures
    # The old identity was forgotten on a member that stays, and the new node joined the others.
    forgot = [hosts for name, hosts in run.ran(r"rabbitmq : Forget the old identity of the node").items() if hosts]
    assert forgot == [[replaced]], run.ran(r"rabbitmq : ")
    assert f"rabbitmqctl join_cluster rabbit@{survivors[0]}" in run.output
    everyone = [f"rabbit@{n}" for n in NODES]
    assert running_nodes(replaced) == running_nodes(survivors[0]) == everyone
    assert members(survivors[0], "readQ") == everyone
    assert consume(replaced, "readQ", len(messages)) == messages
    assert sh(replaced, "cat /var/lib/zookeeper/data/myid").stdout.strip() == "1"
    assert wait_for(lambda: zk_mode(replaced) in ("leader", "follower"), timeout=60)
    assert sorted(zk_mode(n) for n in NODES) == ["follower", "follower", "leader"]
    zk = KazooClient(hosts=f"{address(replaced)}:2181")
    zk.start(timeout=15)
    try:
        zk.sync("/geostack/before-the-replacement")
        assert zk.get("/geostack/before-the-replacement")[0] == b"kept"
    finally:
        zk.stop()
    again = run_playbook("converge.yml")
    assert again.rc == 0 and again.total("changed") == 0, again.output


# Bad input


def inventory(zookeeper: list[str], host_vars: dict | None = None) -> Path:
    hosts = {node: {"ansible_connection": "geostack.cluster.docker_api", **(host_vars or {}).get(node, {})} for node in NODES}
    data = {
        "all": {
            "hosts": hosts,
            "vars": {"geostack_private_address": "{{ ansible_facts['default_ipv4']['address'] }}"},
            "children": {"zookeeper": {"hosts": {n: {} for n in zookeeper}}, "rabbitmq": {"hosts": {n: {} for n in NODES}}},
        }
    }
    path = Path(tempfile.mkdtemp(prefix="msg-bad-", dir=_SCRATCH.name)) / "hosts.yml"
    path.write_text(yaml.safe_dump(data))
    return path


ID = {node: {"geostack_index": {"zookeeper": n, "rabbitmq": n}} for n, node in enumerate(NODES)}
BAD_INPUT = {
    "even ensemble": (inventory(NODES[:2], ID), {}, "a ZooKeeper ensemble needs an odd number of members (1, 3, 5), in group zookeeper"),
    "duplicate myid": (inventory(NODES, {**ID, NODES[2]: {"zookeeper_myid": 1}}), {}, "zookeeper_myid must be unique"),
    "myid out of range": (inventory(NODES, {**ID, NODES[2]: {"zookeeper_myid": 300}}), {}, "between 1 and 255"),
    "empty admin password": (None, {"rabbitmq_admin_password": ""}, "rabbitmq_admin_password is empty"),
    "default user password": (
        None,
        {"rabbitmq_users": [{"name": "rideshare", "password": "guest", "vhost": "rideshare"}]},
        "rabbitmq_users[rideshare].password is a well-known default",
    ),
    "regenerated cookie form": (None, {"rabbitmq_erlang_cookie": "ABCDEFGHIJKLMNOPQRST"}, "not 20 capital letters"),
    "guest user": (None, {"rabbitmq_users": [{"name": "guest", "password": "a-long-guest-secret"}]}, "may not name guest"),
}


@pytest.mark.parametrize("case", BAD_INPUT, ids=list(BAD_INPUT))
def test_bad_input_is_refused_before_anything_changes(case):
    inv, extra_vars, message = BAD_INPUT[case]
    # RabbitMQ cases run only the rabbitmq play (a whole role run, failing in its preflight).
    tags = () if inv is not None else ("--tags", "rabbitmq")
    run = run_playbook("converge.yml", *tags, inventory=inv, extra_vars=extra_vars)
    assert_refused_before_any_change(run, message, "zookeeper", "rabbitmq")
    assert not [secret for secret in SECRETS if secret in run.output]


def test_a_conflicting_queue_is_refused_and_kept():
    with amqp(NODES[0]) as conn:
        conn.channel().basic_publish("", "writeQ", b"keep me", pika.BasicProperties(delivery_mode=pika.DeliveryMode.Persistent))
    queues = [{"name": "writeQ", "vhost": "rideshare", "type": "classic"}]
    run = run_playbook("converge.yml", extra_vars={"rabbitmq_queues": queues})
    assert run.rc != 0
    reasons = " ".join(m for msgs in run.failures.values() for m in msgs)
    assert "Queue writeQ in vhost rideshare already exists as a durable quorum queue" in reasons, reasons
    status, queue = api(NODES[0], "queues/rideshare/writeQ")
    assert status == 200 and queue["type"] == "quorum" and queue["messages"] == 1


ROLLING_RESTART = SCENARIO.parents[1] / "playbooks" / "rolling_restart.yml"


def test_a_rolling_restart_refuses_while_a_member_is_down_and_restarts_nothing():
    before = {node: started_at(node, "rabbitmq-server") for node in NODES[:2]}
    sh(NODES[2], "systemctl stop rabbitmq-server")
    try:
        run = run_playbook(ROLLING_RESTART, "--tags", "rabbitmq", "-e", f"@{SCENARIO / 'vars' / 'converge.yml'}")
        assert run.rc != 0
        assert "RabbitMQ members not running: rabbit@geostack-msg-3" in " ".join(m for ms in run.failures.values() for m in ms), run.failures
        assert run.total("changed") == 0, run.changed_tasks()
        assert {node: started_at(node, "rabbitmq-server") for node in NODES[:2]} == before
    finally:
        sh(NODES[2], "systemctl start rabbitmq-server")
    assert wait_for(lambda: running_nodes(NODES[0]) == [f"rabbit@{n}" for n in NODES], timeout=90)


def test_a_rolling_restart_restarts_each_member_in_turn_and_loses_no_message():
    """playbooks/rolling_restart.yml: ZooKeeper's members, then RabbitMQ's, each restarted once and only after the one
    before it was back; the quorum queue's messages and a znode survive, and nothing else changes."""
    messages = {f"rolling-{n}" for n in range(50)}
    publish(NODES[0], "syncQ", messages)
    writer = KazooClient(hosts=f"{address(NODES[0])}:2181")
    writer.start(timeout=30)
    try:
        writer.create("/geostack-rolling", b"kept", makepath=True)
    finally:
        writer.stop()
    before = {(node, unit): started_at(node, unit) for node in NODES for unit in ("zookeeper", "rabbitmq-server")}
    since = sh(NODES[0], "date +%s").stdout.strip()
    run = run_playbook(ROLLING_RESTART, "-e", f"@{SCENARIO / 'vars' / 'converge.yml'}")
    assert run.rc == 0, run.failures
    after = {key: started_at(*key) for key in before}
    assert all(after[key] != before[key] for key in before), (before, after)
    # Once each: serial: 1 hands each batch one member, and the entry points restart only their batch's.
    starts = {(node, unit): sh(node, f"journalctl -q -o cat -u {unit}.service --since @{since} | grep -c '^Started '",
                               check=False).stdout.strip() for node, unit in before}
    assert set(starts.values()) == {"1"}, starts
    times = {unit: [int(after[(node, unit)]) for node in NODES] for unit in ("zookeeper", "rabbitmq-server")}
    assert all(times[unit] == sorted(times[unit]) for unit in times), times
    assert max(times["zookeeper"]) < min(times["rabbitmq-server"]), times
    changed = {name for names in run.changed_tasks().values() for name in names}
    assert changed and all(re.search(r"Restart (ZooKeeper|RabbitMQ) on geostack-msg-\d$", name) for name in changed), changed
    assert sorted(zk_mode(node) for node in NODES) == ["follower", "follower", "leader"]
    assert running_nodes(NODES[2]) == [f"rabbit@{n}" for n in NODES]
    assert consume(NODES[1], "syncQ", len(messages)) == messages
    reader = KazooClient(hosts=f"{address(NODES[2])}:2181")
    reader.start(timeout=30)
    try:
        assert reader.get("/geostack-rolling")[0] == b"kept"
        reader.delete("/geostack-rolling")
    finally:
        reader.stop()


# Last: it leaves the cluster on a changed config (the scenario is destroyed next).


def started_at(node: str, unit: str) -> str:
    return sh(node, f"systemctl show -p ExecMainStartTimestampMonotonic --value {unit}").stdout.strip()


def test_a_config_change_restarts_the_members_one_at_a_time_and_keeps_the_data():
    with amqp(NODES[0]) as conn:
        channel = conn.channel()
        channel.confirm_delivery()
        for n in range(10):
            channel.basic_publish("", "syncQ", f"sync-{n}".encode(), pika.BasicProperties(delivery_mode=pika.DeliveryMode.Persistent))
    before = {(node, unit): started_at(node, unit) for node in NODES for unit in ("zookeeper", "rabbitmq-server")}
    # Also: metrics off, so the metrics writer and its units go.
    changed = {"zookeeper_max_client_connections": 61, "rabbitmq_config": {"heartbeat": 45}, "zookeeper_metrics_textfile_dir": ""}
    run = run_playbook("converge.yml", extra_vars=changed)
    assert run.rc == 0, run.failures
    after = {key: started_at(*key) for key in before}
    assert all(after[key] != before[key] for key in before)
    # In turn: each member restarted after the one before it was back.
    for unit in ("zookeeper", "rabbitmq-server"):
        times = [int(after[(node, unit)]) for node in NODES]
        assert times == sorted(times), (unit, times)
    assert sorted(zk_mode(node) for node in NODES) == ["follower", "follower", "leader"]
    assert running_nodes(NODES[2]) == [f"rabbit@{n}" for n in NODES]
    assert sh(NODES[0], "grep -c '^heartbeat = 45' /etc/rabbitmq/rabbitmq.conf", check=False).stdout.strip() == "1"
    assert sh(NODES[0], "grep -c '^maxClientCnxns=61' /etc/zookeeper/geostack/zoo.cfg", check=False).stdout.strip() == "1"
    for node in NODES:  # the metrics timer, its writer and its last metrics are gone
        assert sh(node, "systemctl show -p LoadState --value geostack-zookeeper-metrics.timer").stdout.strip() == "not-found"
        assert sh(node, "test -e /usr/local/sbin/geostack-zookeeper-metrics", check=False).returncode == 1
        assert sh(node, "test -e /var/lib/prometheus/node-exporter/zookeeper.prom", check=False).returncode == 1
    # The count from rabbitmqctl: right after a restart the management API's record of a queue can lack it.
    assert queue_length(NODES[1], "syncQ") == 10
