"""One zone of three lost, on the local cloud: three managers that are also the RabbitMQ and ZooKeeper members, one in
each zone (provision_zone_quorum_required holds), built by site.yml. With the one node of a zone stopped, the swarm's
managers that are left still lead and take a change, the ZooKeeper ensemble takes a write, a quorum queue with a
replica on the lost node takes a confirmed message, and verify.yml fails, naming the lost node unreachable in the
zones row and in the swarm's, RabbitMQ's and ZooKeeper's, with a ZooKeeper leader among the members left. Started
again, the node rejoins, and one site.yml brings the cluster back to green, every write of the outage readable from
the node that was lost."""

from __future__ import annotations

import re
import secrets
import subprocess
from collections.abc import Iterator
from contextlib import closing, contextmanager

import pika
import pytest
from kazoo.client import KazooClient
from nodes import sh, wait_for

ZONES = ["us-east-1a", "us-east-1b", "us-east-1c"]
LAYOUT = {"manager": {"count": 3, "roles": ["manager", "rabbitmq", "zookeeper"]}}
PASSWORD = secrets.token_hex(12)


@pytest.fixture
def cluster(make_cluster):
    made = make_cluster(
        "docker", provision_layout=LAYOUT, provision_local_backend=True, provision_availability_zones=ZONES,
        provision_zone_quorum_required=True,
        # A node network of its own: the other local clusters of the suite may run beside this one.
        provision_vpc_cidr="10.77.0.0/16", provision_subnet_cidr="10.77.1.0/24",
        rabbitmq_erlang_cookie=secrets.token_hex(16), rabbitmq_admin_password=PASSWORD,
        zookeeper_heap_mb=128,
    )
    yield made
    gone = made.play("teardown.yml", geostack_teardown_confirm=made.name)
    assert gone.rc == 0, gone.failures


def amqp(address: str) -> pika.BlockingConnection:
    credentials = pika.PlainCredentials("admin", PASSWORD)
    return pika.BlockingConnection(pika.ConnectionParameters(address, 5672, "rideshare", credentials,
                                                             connection_attempts=3, retry_delay=2))


def publish(address: str, body: bytes) -> None:
    with closing(amqp(address)) as conn:
        channel = conn.channel()
        channel.confirm_delivery()  # confirmed only once a majority of the queue's replicas has it
        channel.basic_publish("", "readQ", body, pika.BasicProperties(delivery_mode=pika.DeliveryMode.Persistent),
                              mandatory=True)


def drain(address: str) -> list[bytes]:
    with closing(amqp(address)) as conn:
        channel, got = conn.channel(), []
        while (message := channel.basic_get("readQ", auto_ack=True))[0] is not None:
            got.append(message[2])
        return got


@contextmanager
def zookeeper(addresses: list[str]) -> Iterator[KazooClient]:
    """A session with the ensemble, through any of these members."""
    client = KazooClient(hosts=",".join(f"{a}:2181" for a in addresses), timeout=10)
    client.start(timeout=30)
    try:
        yield client
    finally:
        client.stop()
        client.close()


def test_one_zone_of_three_down_keeps_every_quorum_and_a_converge_brings_it_back(cluster):
    built = cluster.play("site.yml")
    assert built.rc == 0, built.failures or built.output[-3000:]
    assert "checks are healthy." in built.output
    hostvars = cluster.inventory()["_meta"]["hostvars"]
    zone_of = {host: hv["geostack_zone"] for host, hv in hostvars.items()}
    assert sorted(zone_of.values()) == ZONES, zone_of  # one manager in each zone
    node = {host: hv["ec2_instance_id"] for host, hv in hostvars.items()}
    ip = {host: hv["geostack_private_address"] for host, hv in hostvars.items()}
    [lost] = [host for host, zone in zone_of.items() if zone == ZONES[1]]
    kept = sorted(host for host in node if host != lost)

    publish(ip[kept[0]], b"before")
    with zookeeper(list(ip.values())) as client:
        client.create("/zone-probe/before", b"before", makepath=True)

    # The zone goes: every node the backend labelled with it (here the one manager there).
    stopped = subprocess.run(["docker", "ps", "--filter", f"label=geostack.cluster={cluster.name}", "--filter",
                              f"label=geostack.zone={ZONES[1]}", "--format", "{{.Names}}"],
                             capture_output=True, text=True, check=True).stdout.split()
    assert stopped == [node[lost]], stopped
    subprocess.run(["docker", "stop", *stopped], capture_output=True, timeout=300, check=True)
    try:
        # Swarm: the two managers left elect a leader, and the swarm takes a change (a Raft write needs a majority).
        def led():
            """A manager left leads the swarm."""
            out = sh(node[kept[0]], "docker node ls --format '{{.Hostname}} {{.ManagerStatus}}'", check=False).stdout
            return "Leader" in out and not re.search(rf"^{re.escape(lost)} Leader$", out, re.M) and out
        listed = wait_for(led, timeout=120, step=2)
        assert re.search(rf"^{re.escape(lost)} Unreachable$", listed, re.M), listed
        sh(node[kept[1]], "echo during | docker config create zone-probe -")
        # ZooKeeper: the ensemble takes a write.
        with zookeeper([ip[h] for h in kept]) as client:
            client.create("/zone-probe/during", b"during", makepath=True)
        # RabbitMQ: the quorum queue, a replica of it on the lost node, takes a confirmed message.
        publish(ip[kept[1]], b"during")

        run = cluster.play("verify.yml")
        assert run.rc != 0 and run.total("changed") == 0, run.changed_tasks()
        for layer in ("swarm", "rabbitmq", "zookeeper"):
            assert re.search(rf"{layer}\s+{re.escape(lost)}\s+FAIL\s+unreachable", run.output), run.output[-3000:]
        assert re.search(r"rabbitmq\s+cluster size\s+FAIL\s+2 of 3 nodes running", run.output), run.output[-3000:]
        assert re.search(rf"zookeeper\s+leader\s+ok\s+({'|'.join(map(re.escape, kept))})(?![\w-])", run.output), \
            run.output[-3000:]
        # The zones row of the managers, within its line (the report is one escaped string in the JSON output).
        assert re.search(rf"zones\s+managers\s+ok\s+{ZONES[0]}: [^;\\]+; {ZONES[1]}: {re.escape(lost)} \(unreachable\);",
                         run.output), run.output[-3000:]
    finally:
        subprocess.run(["docker", "start", *stopped], capture_output=True, timeout=300, check=True)

    # The zone is back: one site.yml, and the cluster is green with every write of the outage in it.
    def back():
        """The lost manager is a Ready swarm manager again."""
        out = sh(node[kept[0]], "docker node ls --format '{{.Hostname}} {{.Status}} {{.ManagerStatus}}'", check=False)
        return re.search(rf"^{re.escape(lost)} Ready (Reachable|Leader)$", out.stdout, re.M)
    wait_for(back, timeout=180, step=3)
    again = cluster.play("site.yml")
    assert again.rc == 0, again.failures or again.output[-3000:]
    assert "checks are healthy." in again.output
    assert sh(node[lost], "docker config inspect zone-probe --format '{{.Spec.Name}}'").stdout.strip() == "zone-probe"
    with zookeeper([ip[lost]]) as client:
        assert client.get("/zone-probe/during")[0] == b"during"
    assert drain(ip[lost]) == [b"before", b"during"]
