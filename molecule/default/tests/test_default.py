"""The whole cluster on the local cloud, as site.yml built it (Molecule's converge).

In order (the tests share one cluster): verify.yml is green; site.yml in
--check at -vvv changes nothing and prints no secret; the EC2 emulator
stopped and every node stopped and started again keep the instances and
the nodes' addresses, and site.yml then is green, changing only the
/etc/hosts entries Docker rewrote, with a row, a message, a tile and a
znode intact; bad scale input is
refused before anything changes; `site.yml --tags scale -e workers=3` is
killed while the new node installs Docker, and scale.yml run again finishes
it without touching the other nodes (no secret in its -vvv log); bake.yml
--check launches nothing, bake.yml bakes the worker image (tagged; the
group's packages, no secret, no node identity in it) and reuses it when run
again, and scale.yml adds a fourth worker from it, with an identity of its
own, Ready in the swarm and Citus; then scale.yml
shrinks the workers back to 2, draining the newest workers first: their
swarm tasks move and no row is lost; a bad autoscaling rule is refused;
under a request loop on the web node, autoscale.yml (--check first, which
changes nothing) adds a second web node that serves and is scraped, does
nothing inside its cooldown, and drains and removes the node once the load
has ended, the first web node serving every request meanwhile; on a
controller with systemd, autoscale_timer.yml's timer runs autoscale.yml; upgrade.yml drains the one worker with
a pending package upgrade (from a local apt repository) and touches no other
node; a worker's container is removed, verify.yml names it, and site.yml,
killed while the re-created node installs Docker and then run again, brings
the cluster back to green.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from functools import cache
from pathlib import Path

import emulator
import pika
import pytest
from kazoo.client import KazooClient
from load import RequestLoop
from nodes import address, sh, start_systemd_container, wait_for
from playbook_runner import PlaybookRun, assert_refused_before_any_change, run_playbook

SCENARIO = Path(os.environ["MOLECULE_SCENARIO_DIRECTORY"])
PROJECT = SCENARIO.parents[1]
INVENTORY = Path(os.environ["MOLECULE_INVENTORY_FILE"]).parent
CLUSTER = "molecule-default"
SECRETS = Path.home() / ".cache" / "geostack" / CLUSTER
MANAGER, WEB = f"{CLUSTER}-manager-1", f"{CLUSTER}-web-1"
WORKERS = [f"{CLUSTER}-worker-{i}" for i in (1, 2)]
NEW_WORKER = f"{CLUSTER}-worker-3"
BAKED_WORKER = f"{CLUSTER}-worker-4"
ZONES = ["us-east-1a", "us-east-1b"]
RECAP = re.compile(r"^(\S+)\s+:\s+ok=(\d+)\s+changed=(\d+)\s+unreachable=(\d+)\s+failed=(\d+)", re.M)


def _unwrap_unsafe(obj):
    """ansible-inventory writes every untrusted string as {"__ansible_unsafe": value}."""
    return obj["__ansible_unsafe"] if obj.keys() == {"__ansible_unsafe"} else obj


def hostvars() -> dict:
    out = subprocess.run(["ansible-inventory", "-i", str(INVENTORY), "--list"], capture_output=True, text=True, check=True).stdout
    return json.loads(out, object_hook=_unwrap_unsafe)["_meta"]["hostvars"]


@cache
def container(host: str) -> str:
    """The container of an inventory host (its instance id)."""
    return hostvars()[host]["ansible_host"]


@cache
def private_address(host: str) -> str:
    """An inventory host's private address: its instance's, which it keeps (the tests that poll Prometheus or a web
    node read it once, not through ansible-inventory at every poll)."""
    return hostvars()[host]["geostack_private_address"]


def play_text(playbook: str, *args: str) -> tuple[int, str, dict[str, dict[str, int]]]:
    """Run a playbook with the default callback (as a user would, e.g. at -vvv): rc, output, recap per host."""
    env = dict(os.environ, ANSIBLE_NOCOLOR="1", ANSIBLE_FORCE_COLOR="0", ANSIBLE_STDOUT_CALLBACK="ansible.builtin.default")
    proc = subprocess.run(
        ["ansible-playbook", "-i", str(INVENTORY), *args, str(PROJECT / playbook)],
        capture_output=True, text=True, env=env, timeout=2400, check=False,
    )
    output = re.sub(r"\x1b\[[0-9;]*m", "", proc.stdout + proc.stderr)
    recap = {m[0]: dict(zip(("ok", "changed", "unreachable", "failed"), map(int, m[1:]), strict=True)) for m in RECAP.findall(output)}
    return proc.returncode, output, recap


def psql(sql: str) -> str:
    return sh(container(MANAGER), f"su postgres -c \"psql -d geostack -Atc \\\"{sql}\\\"\"").stdout.strip()


def citus() -> bool:
    return psql("SELECT count(*) FROM pg_extension WHERE extname = 'citus'") == "1"


def secrets() -> dict[str, str]:
    """Every secret of this cluster: the generated passwords and cookie, and the swarm's join tokens."""
    found = {path.name: path.read_text().split()[0] for path in SECRETS.iterdir() if path.is_file()}
    for kind in ("worker", "manager"):
        found[f"swarm {kind} token"] = sh(container(MANAGER), f"docker swarm join-token -q {kind}").stdout.strip()
    assert {"citus_app", "citus_postgres", "erlang_cookie", "rabbitmq_admin"} <= found.keys(), found.keys()
    return found


def assert_no_secret(output: str):
    leaked = [name for name, value in secrets().items() if value in output]
    assert leaked == [], f"secrets in the output: {leaked}"


def swarm_nodes() -> dict[str, dict]:
    ids = sh(container(MANAGER), "docker node ls -q").stdout.split()
    records = json.loads(sh(container(MANAGER), f"docker node inspect {' '.join(ids)}").stdout)
    return {n["Description"]["Hostname"]: n for n in records}


def swarm_states() -> dict[str, str]:
    """Each swarm node's state ('ready', 'down', ...), by hostname."""
    return {host: node["Status"]["State"] for host, node in swarm_nodes().items()}


def probe_tasks(service: str = "probe") -> list[str]:
    """'<node> <state>' of a probe service's tasks meant to run."""
    out = sh(container(MANAGER), f"docker service ps {service} --filter desired-state=running --format '{{{{.Node}}}} {{{{.CurrentState}}}}'")
    return out.stdout.splitlines()


def busybox_image_on(hosts: list[str]) -> None:
    """An image for probe services, made on each node from its own busybox (no registry here)."""
    for host in hosts:
        sh(container(host), "docker image inspect geostack/busybox:test >/dev/null 2>&1 || tar -C /usr/bin -c busybox"
           " | docker import -c 'ENTRYPOINT [\"/busybox\"]' - geostack/busybox:test >/dev/null")


def descendants(pid: int) -> list[int]:
    """Every process below pid, from /proc."""
    children: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            ppid = int(stat.read_text().rsplit(")", 1)[1].split()[1])
        except (OSError, IndexError, ValueError):
            continue
        children.setdefault(ppid, []).append(int(stat.parent.name))
    found, todo = [], [pid]
    while todo:
        found += (new := children.get(todo.pop(), []))
        todo += new
    return found


def run_until_killed(args: list[str], marker: str, log: Path) -> str:
    """Start ansible-playbook, SIGKILL it and every process below it once `marker` is in its output; the output.

    Ansible's workers run in sessions of their own, so killing the process
    group alone would leave them running: the whole tree goes, as with a
    controller that died."""
    with log.open("w") as out:
        proc = subprocess.Popen(
            ["ansible-playbook", "-i", str(INVENTORY), *args], stdout=out, stderr=subprocess.STDOUT,
            start_new_session=True, env=dict(os.environ, ANSIBLE_NOCOLOR="1"),
        )
        try:
            wait_for(lambda: marker in log.read_text() or proc.poll() is not None, timeout=900)
        finally:
            tree = descendants(proc.pid)
            os.killpg(proc.pid, signal.SIGKILL)
            for pid in tree:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
            proc.wait()
    output = log.read_text()
    assert marker in output, output[-3000:]
    return output


def test_verify_is_green():
    run = run_playbook(PROJECT / "playbooks" / "verify.yml", inventory=INVENTORY)
    assert run.rc == 0, run.output[-3000:]
    assert run.total("changed") == 0
    zone = {host: hostvars()[host]["geostack_zone"] for host in WORKERS}
    for row in (f"{WORKERS[1]}", f"ready, active, worker, labels typeNode=worker zone={zone[WORKERS[1]]}", "routes answer",
                "job node", "4/4 targets up", "leader", "checks are healthy."):
        assert row in run.output, run.output[-3000:]
    # The workers were spread one per zone, and verify shows it.
    assert sorted(zone.values()) == ZONES
    by_zone = {z: h for h, z in zone.items()}
    assert re.search(rf"zones\s+workers\s+ok\s+{ZONES[0]}: {by_zone[ZONES[0]]}; {ZONES[1]}: {by_zone[ZONES[1]]}", run.output), run.output
    # Citus: each worker registered and active when Citus is installed; said to be off otherwise.
    if citus():
        for worker in WORKERS:
            address = hostvars()[worker]["geostack_private_address"]
            assert re.search(rf"citus\s+worker {worker}\s+ok\s+active, primary, takes shards \({re.escape(address)}:5432\)", run.output), run.output
    else:
        assert "Citus absent (citus_install_method auto" in run.output, run.output[-3000:]


def test_the_zone_labels_spread_a_service_over_the_zones():
    # As the example stack asks (placement preference spread=node.labels.zone; the stack scenario checks its spec): a
    # service that may run on the workers (one per zone) and the web node (in the first zone). Spread by node alone,
    # the scheduler may put both replicas in the first zone.
    busybox_image_on([*WORKERS, WEB])
    sh(container(MANAGER), "docker service create -d --quiet --name spread --replicas 2 --no-resolve-image"
       " --constraint node.labels.typeNode!=master --placement-pref spread=node.labels.zone geostack/busybox:test sleep 3600")
    try:
        wait_for(lambda: len([t for t in probe_tasks("spread") if "Running" in t]) == 2, timeout=90)
        nodes = [t.split()[0] for t in probe_tasks("spread")]
        assert sorted(hostvars()[node]["geostack_zone"] for node in nodes) == ZONES, nodes
    finally:
        sh(container(MANAGER), "docker service rm spread")


def test_check_mode_at_vvv_changes_nothing_and_prints_no_secret():
    rc, output, recap = play_text("site.yml", "--check", "-vvv")
    assert rc == 0, output[-3000:]
    assert set(recap) >= {MANAGER, WEB, *WORKERS, "localhost"}, recap
    assert all(r["changed"] == 0 and r["failed"] == 0 for r in recap.values()), recap
    assert "ESTABLISH DOCKER CONNECTION" in output  # really at -vvv
    assert_no_secret(output)
    # The summary says when the local cloud's Citus nodes run without Citus, and how to get it.
    if not citus():
        assert "absent: plain PostgreSQL + PostGIS + MobilityDB (citus_install_method auto: no citus_package_file" in output


def amqp() -> pika.BlockingConnection:
    """The manager's broker, as the administrator, on the vhost the layout declares its queues in."""
    credentials = pika.PlainCredentials("admin", secrets()["rabbitmq_admin"])
    params = pika.ConnectionParameters(private_address(MANAGER), 5672, "rideshare", credentials,
                                       connection_attempts=10, retry_delay=3)
    return pika.BlockingConnection(params)


@contextlib.contextmanager
def zookeeper():
    client = KazooClient(hosts=f"{private_address(MANAGER)}:2181")
    client.start(timeout=30)
    try:
        yield client
    finally:
        client.stop()


def test_the_emulator_and_every_node_restarted_keep_the_cluster_and_its_data():
    """The EC2 emulator stopped (as after `make cloud-down` or a reboot) and every node container stopped and started
    again in the reverse order (as when Docker or the machine restarts), then the emulator started: the same instances
    come back, each node keeps its instance's address, and one site.yml is green, changing only what Docker rewrote,
    with a row, a persistent message, a tile and a znode intact."""
    emulator = dict(os.environ, GEOSTACK_MOTO_PORT="4571")
    instances = {host: vars_["ec2_instance_id"] for host, vars_ in hostvars().items()}
    nodes = {host: container(host) for host in hostvars()}
    before = {host: address(node) for host, node in nodes.items()}
    assert before == {host: vars_["ec2_private_ip_address"] for host, vars_ in hostvars().items()}
    tile = "/srv/geostack/tiles/restart-probe/0/0/0.png"
    psql("CREATE TABLE IF NOT EXISTS restart_probe (v text)")
    psql("INSERT INTO restart_probe VALUES ('kept')")
    sh(container(MANAGER), f"mkdir -p {Path(tile).parent} && echo kept > {tile}")
    with amqp() as conn:
        channel = conn.channel()
        channel.confirm_delivery()
        channel.basic_publish("", "readQ", b"kept", pika.BasicProperties(delivery_mode=pika.DeliveryMode.Persistent), mandatory=True)
    with zookeeper() as client:
        client.create("/restart-probe", b"kept", makepath=True)

    stopped = subprocess.run([str(PROJECT / "scripts" / "local_cloud.sh"), "stop"], env=emulator, capture_output=True,
                             text=True, check=True).stdout
    assert "EC2 emulator stopped" in stopped and "the cluster stays" in stopped, stopped
    subprocess.run(["docker", "stop", *nodes.values()], capture_output=True, timeout=600, check=True)
    subprocess.run(["docker", "start", *reversed(sorted(nodes.values()))], capture_output=True, timeout=600, check=True)
    subprocess.run([str(PROJECT / "scripts" / "local_cloud.sh"), "start"], env=emulator, capture_output=True, check=True)
    assert {host: vars_["ec2_instance_id"] for host, vars_ in hostvars().items()} == instances
    assert {host: address(node) for host, node in nodes.items()} == before

    run = run_playbook(PROJECT / "site.yml", inventory=INVENTORY)
    assert run.rc == 0, run.failures or run.output[-3000:]
    # Docker writes a container's /etc/hosts anew when it starts it (a VM keeps its own): the RabbitMQ members' names
    # there are the one thing put back.
    assert run.changed_tasks() == {MANAGER: ["geostack.cluster.rabbitmq : List the cluster's members in /etc/hosts"]}, \
        run.changed_tasks()
    assert "checks are healthy." in run.output
    assert psql("SELECT string_agg(v, ',') FROM restart_probe") == "kept"
    assert sh(container(MANAGER), f"cat {tile}").stdout.strip() == "kept"
    with amqp() as conn:
        method, _props, body = conn.channel().basic_get("readQ", auto_ack=True)
        assert method is not None and body == b"kept"
    with zookeeper() as client:
        assert client.get("/restart-probe")[0] == b"kept"
        client.delete("/restart-probe")
    psql("DROP TABLE restart_probe")
    sh(container(MANAGER), f"rm -r {Path(tile).parents[2]}")


def test_a_zone_down_is_named_by_verify_and_its_nodes_come_back_by_themselves():
    """Every node of the second zone stopped, found by the backend's geostack.zone label (as a zone outage): verify.yml
    fails, naming each of them unreachable in its zone's row and the swarm's, while the swarm's manager in the first
    zone still answers. Started again, they rejoin with no run in between, and verify.yml is green."""
    zone_of = {host: vars_["geostack_zone"] for host, vars_ in hostvars().items()}
    lost = sorted(host for host, zone in zone_of.items() if zone == ZONES[1])
    kept = sorted(host for host, zone in zone_of.items() if zone == ZONES[0] and host in WORKERS)
    assert lost and zone_of[MANAGER] == ZONES[0], zone_of
    nodes = subprocess.run(["docker", "ps", "--filter", f"label=geostack.cluster={CLUSTER}", "--filter",
                            f"label=geostack.zone={ZONES[1]}", "--format", "{{.Names}}"],
                           capture_output=True, text=True, check=True).stdout.split()
    assert sorted(nodes) == sorted(container(host) for host in lost)
    subprocess.run(["docker", "stop", *nodes], capture_output=True, timeout=600, check=True)
    try:
        run = run_playbook(PROJECT / "playbooks" / "verify.yml", inventory=INVENTORY)
        assert run.rc != 0 and run.total("changed") == 0
        for host in lost:
            assert re.search(rf"swarm\s+{host}\s+FAIL\s+unreachable", run.output), run.output[-3000:]
        workers = [w for w in WORKERS if w in lost]
        assert re.search(rf"zones\s+workers\s+ok\s+{ZONES[0]}: {', '.join(kept)}; {ZONES[1]}: "
                         + re.escape(", ".join(f"{w} (unreachable)" for w in workers)), run.output), run.output[-3000:]
        assert sh(container(MANAGER), "docker node inspect self --format '{{.ManagerStatus.Leader}}'").stdout.strip() == "true"
    finally:
        subprocess.run(["docker", "start", *nodes], capture_output=True, timeout=600, check=True)

    def back():
        """The zone's nodes are Ready in the swarm and every Prometheus target of theirs is up: two of verify.yml's
        rows, read cheaply, so that verify.yml runs once they can be green rather than every few seconds."""
        states = swarm_states()
        return all(states.get(host) == "ready" for host in lost) and not prometheus(f'up{{instance=~"{"|".join(lost)}"}} == 0')

    def green():
        again = run_playbook(PROJECT / "playbooks" / "verify.yml", inventory=INVENTORY)
        return again.rc == 0 and "checks are healthy." in again.output

    wait_for(back, timeout=300, step=3)
    wait_for(green, timeout=300, step=15)


# The include that runs a layer's install and configure steps, skipped when
# its one read of the node finds nothing to change.
CONVERGE_GATE = r" where .* differs?$"


def test_a_rerun_puts_back_what_was_changed_by_hand_and_changes_nothing_else():
    """A managed config file edited, a service stopped, a package removed, a swarm label removed, a Prometheus target
    file deleted: the next site.yml restores each one, and only those nodes report a change. Every other layer on
    every node reads the node, finds nothing to change and skips its converge (the fast path of a re-run)."""
    exporter_args = "/etc/default/prometheus-node-exporter"
    targets = "/etc/prometheus/file_sd/node.yml"
    args_before = sh(container(WORKERS[0]), f"cat {exporter_args}").stdout
    targets_before = sh(container(MANAGER), f"cat {targets}").stdout
    sh(container(WORKERS[0]), f"echo 'ARGS=\"--web.listen-address=0.0.0.0:9100\"' > {exporter_args}")
    sh(container(WEB), "systemctl stop nginx")
    sh(container(WORKERS[1]), "DEBIAN_FRONTEND=noninteractive apt-get remove -y -qq prometheus-node-exporter >/dev/null")
    sh(container(MANAGER), f"docker node update --label-rm typeNode {WORKERS[0]} >/dev/null")
    sh(container(MANAGER), f"rm {targets}")

    run = run_playbook(PROJECT / "site.yml", inventory=INVENTORY)
    assert run.rc == 0, run.failures or run.output[-3000:]
    changed = run.changed_tasks()
    assert set(changed) == {WORKERS[0], WORKERS[1], WEB, MANAGER}, changed
    # Only what differed changed, and only on those nodes: the package came
    # back in the one apt transaction of packages.yml, the rest in the layers.
    assert {name: hosts for name, hosts in run.ran(r"Install the missing packages").items() if hosts} == {
        "Install the missing packages in one transaction": [WORKERS[1]]}
    gates = run.ran(CONVERGE_GATE)
    assert len(gates) >= 8, sorted(gates)  # docker, tiles, citus, zookeeper, rabbitmq, web, node_exporter, prometheus
    gates = {name: hosts for name, hosts in gates.items() if hosts}
    assert gates == {
        "geostack.cluster.node_exporter : Install and configure the exporter where the node differs": [WORKERS[0]],
        "geostack.cluster.web : Deploy the apps and configure nginx where the node differs": [WEB],
        "geostack.cluster.prometheus : Install and configure Prometheus where the node differs": [MANAGER],
    }, gates
    assert sh(container(WORKERS[0]), f"cat {exporter_args}").stdout == args_before
    assert sh(container(WEB), "systemctl is-active nginx").stdout.strip() == "active"
    assert sh(container(WORKERS[1]), "dpkg-query -W -f '${Status}' prometheus-node-exporter").stdout == "install ok installed"
    assert sh(container(WORKERS[1]), "systemctl is-active prometheus-node-exporter").stdout.strip() == "active"
    assert swarm_nodes()[WORKERS[0]]["Spec"]["Labels"]["typeNode"] == "worker"
    assert sh(container(MANAGER), f"cat {targets}").stdout == targets_before
    # The swarm's roles and labels were set only where the label was missing.
    swarm = {name: hosts for name, hosts in run.ran(r"^geostack\.cluster\.swarm : (Promote|Demote)").items() if hosts}
    assert list(swarm.values()) == [[WORKERS[0]]], swarm


@pytest.mark.parametrize(
    ("extra", "named"),
    [
        ({"workers": "three"}, "-e workers=<count>"),
        ({"geostack_layout_override": {"nope": {"count": 1}}}, "must be a dict of node groups of provision_layout"),
        ({"geostack_layout_override": {"manager": {"count": 2}}}, "odd number of managers"),
    ],
)
def test_bad_scale_input_is_refused_before_anything_changes(extra, named):
    run = run_playbook(PROJECT / "playbooks" / "scale.yml", inventory=INVENTORY, extra_vars=extra)
    assert_refused_before_any_change(run, named, "playbooks/scale.yml", "provision")
    assert sorted(h for h in hostvars() if "-worker-" in h) == WORKERS


def test_an_interrupted_scale_out_leaves_a_node_to_finish(tmp_path):
    """site.yml --tags scale, killed (SIGKILL, the whole process group) while the new node's Docker Engine installs."""
    run_until_killed(["--tags", "scale", "-e", "workers=3", str(PROJECT / "site.yml")], "Install Docker Engine packages",
                     tmp_path / "interrupted.log")
    # The instance exists, but the node never reached the swarm.
    assert NEW_WORKER in hostvars()
    assert NEW_WORKER not in swarm_nodes()


def test_running_scale_again_finishes_the_node_and_touches_no_other():
    before = set(hostvars())
    rc, output, recap = play_text("playbooks/scale.yml", "-e", "workers=3", "-vvv")
    assert rc == 0, output[-5000:]
    assert set(hostvars()) == before
    # Only the new node (and, for its registration and scrape targets, the
    # coordinator + Prometheus node) changed; the others were not touched.
    assert recap[NEW_WORKER]["changed"] > 0
    for host in (*WORKERS, WEB):
        assert recap.get(host, {"changed": 0})["changed"] == 0, (host, recap)
    node = swarm_nodes()[NEW_WORKER]
    assert node["Status"]["State"] == "ready" and node["Spec"]["Availability"] == "active"
    assert node["Spec"]["Role"] == "worker" and node["Spec"]["Labels"]["typeNode"] == "worker"
    if citus():
        address = hostvars()[NEW_WORKER]["geostack_private_address"]
        assert psql(f"SELECT isactive FROM pg_dist_node WHERE nodename = '{address}'") == "t"
    # The join tokens, passwords and cookie stay out of a -vvv log.
    assert_no_secret(output)


def ec2():
    """The scenario's EC2 emulator (molecule.yml's port 4571), as the collection's modules reach it."""
    return emulator.client("http://127.0.0.1:4571")


def cluster_images() -> list[dict]:
    return emulator.images(ec2(), CLUSTER)


def live_instances() -> list[str]:
    return emulator.instance_ids(ec2(), CLUSTER)


def cluster_containers() -> list[str]:
    return sorted(subprocess.run(["docker", "ps", "-a", "--filter", f"label=geostack.cluster={CLUSTER}", "--filter",
                                  "label=geostack.instance", "--format", "{{.Names}}"],
                                 capture_output=True, text=True, check=True).stdout.split())


def bake(*args: str):
    return run_playbook(PROJECT / "playbooks" / "bake.yml", *args, inventory=INVENTORY, extra_vars={"bake_group": "worker"})


def test_a_worker_from_the_baked_image_joins_as_a_plain_one_and_the_image_holds_no_secret():
    """bake.yml --check says what a run would do and launches nothing. bake.yml bakes the worker group's image on a
    builder: one image tagged with the group, its roles, the version and a digest of its inputs, whose node image holds
    the group's packages, the first-boot unit, none of the cluster's secrets and no node identity; the builder is gone.
    Baked again with the same inputs, the image is reused with 0 changed. scale.yml to 4 workers from it: the new node
    starts from the node image, installs no package in the bulk step, ran its first boot (an identity of its own), and
    is a Ready swarm worker and an active Citus worker; scale.yml's verify is green."""
    live, nodes = live_instances(), cluster_containers()
    checked = bake("--check")
    assert checked.rc == 0, checked.failures
    assert checked.changed_tasks() == {"localhost": ["geostack.cluster.provision : Launch the builder of node group worker"]}, \
        checked.changed_tasks()
    assert "Node group worker: no image has these inputs; a run without --check bakes one." in checked.output
    assert live_instances() == live and cluster_images() == []

    run = bake()
    assert run.rc == 0, run.failures
    [ami] = re.findall(r"launches from image (ami-[0-9a-f]+) where it says image: baked", run.output)
    [image] = cluster_images()
    tags = {t["Key"]: t["Value"] for t in image["Tags"]}
    assert image["ImageId"] == ami and tags["geostack:group"] == "worker", tags
    assert tags["geostack:roles"] == "worker,citus_worker" and re.fullmatch(r"[0-9a-f]{64}", tags["geostack:digest"]), tags
    assert tags["geostack:version"], tags
    node_image = f"geostack/ami:{ami}"
    labels = json.loads(subprocess.run(["docker", "image", "inspect", "-f", "{{json .Config.Labels}}", node_image],
                                       capture_output=True, text=True, check=True).stdout)
    assert labels["geostack.cluster"] == CLUSTER and labels["geostack.ami"] == ami, labels
    # The builder is gone, from the emulator and from Docker.
    assert live_instances() == live and cluster_containers() == nodes
    # The image's files as baked (a container that does not boot): the group's packages and the first-boot unit;
    # an empty machine-id; no SSH host key, snakeoil key, policy-rc.d, Erlang cookie, Docker state or apt list; no
    # file that holds one of the cluster's secrets.
    found = subprocess.run(["docker", "run", "--rm", "-i", "--entrypoint", "sh", node_image, "-c",
                            "dpkg-query -W -f '${Status}\\n' docker.io prometheus-node-exporter postgresql-17; "
                            "echo machine-id=$(cat /etc/machine-id); echo lists=$(ls /var/lib/apt/lists | grep -c _); "
                            "echo first-boot=$(readlink /etc/systemd/system/multi-user.target.wants/geostack-first-boot.service); "
                            "ls /etc/ssh/ssh_host_* /etc/ssl/private/ssl-cert-snakeoil.key /usr/sbin/policy-rc.d "
                            "/var/lib/rabbitmq/.erlang.cookie /var/lib/docker/swarm /var/lib/docker/engine-id 2>/dev/null; "
                            "grep -rlF -f /dev/stdin /etc /var/lib /root /home /opt /srv /usr/local 2>/dev/null; true"],
                           input="\n".join(secrets().values()) + "\n", capture_output=True, text=True, check=True)
    assert found.stdout.splitlines() == ["install ok installed"] * 3 + [
        "machine-id=", "lists=0", "first-boot=/etc/systemd/system/geostack-first-boot.service"], found.stdout

    # The same inputs: the image is reused, nothing launched or made.
    again = bake()
    assert again.rc == 0 and again.total("changed") == 0, again.changed_tasks()
    assert f"image {ami} has these inputs already (reused)" in again.output
    assert [i["ImageId"] for i in cluster_images()] == [ami] and live_instances() == live

    run = run_playbook(PROJECT / "playbooks" / "scale.yml", inventory=INVENTORY,
                       extra_vars={"geostack_layout_override": {"worker": {"count": 4, "image": "baked"}}})
    assert run.rc == 0, run.failures or run.output[-3000:]
    assert "checks are healthy." in run.output
    assert subprocess.run(["docker", "inspect", "-f", "{{.Config.Image}}", container(BAKED_WORKER)],
                          capture_output=True, text=True, check=True).stdout.strip() == node_image
    launched = ec2().describe_instances(InstanceIds=[hostvars()[BAKED_WORKER]["ec2_instance_id"]])["Reservations"]
    assert launched[0]["Instances"][0]["ImageId"] == ami
    installed = run.ran(r"Install the missing packages in one transaction")
    assert installed and not any(BAKED_WORKER in hosts for hosts in installed.values()), installed
    # Its first boot ran the unit that makes the node's own identity.
    assert sorted(sh(container(BAKED_WORKER), "systemctl show -P ActiveState,Result geostack-first-boot.service").stdout.split()) \
        == ["active", "success"]
    assert "first-boot" in sh(container(BAKED_WORKER), "ls /var/lib/geostack").stdout.split()
    machine_ids = {host: sh(container(host), "cat /etc/machine-id").stdout.strip() for host in (BAKED_WORKER, NEW_WORKER, *WORKERS)}
    others = {machine_ids[host] for host in (NEW_WORKER, *WORKERS)}
    assert machine_ids[BAKED_WORKER] and machine_ids[BAKED_WORKER] not in others, machine_ids
    node = swarm_nodes()[BAKED_WORKER]
    assert node["Status"]["State"] == "ready" and node["Spec"]["Role"] == "worker", node["Status"]
    if citus():
        address = hostvars()[BAKED_WORKER]["geostack_private_address"]
        assert psql(f"SELECT isactive FROM pg_dist_node WHERE nodename = '{address}'") == "t"


def test_scale_in_drains_the_newest_worker_and_loses_nothing():
    # Data: a table on the coordinator (distributed when Citus is present, so
    # that the drain must move the new worker's shards).
    psql("CREATE TABLE IF NOT EXISTS scale_probe (id bigint PRIMARY KEY, v text)")
    if citus() and psql("SELECT count(*) FROM pg_dist_partition WHERE logicalrelid = 'scale_probe'::regclass") == "0":
        psql("SELECT create_distributed_table('scale_probe', 'id')")
    psql("INSERT INTO scale_probe SELECT g, md5(g::text) FROM generate_series(1, 5000) g ON CONFLICT DO NOTHING")
    rows = psql("SELECT count(*), md5(string_agg(v, ',' ORDER BY id)) FROM scale_probe")
    # Work: one probe task on each worker, the new one included.
    workers = [*WORKERS, NEW_WORKER, BAKED_WORKER]
    busybox_image_on(workers)
    sh(container(MANAGER), "docker service create -d --quiet --name probe --replicas 3 --replicas-max-per-node 2"
       " --no-resolve-image --constraint node.labels.typeNode==worker geostack/busybox:test sleep 3600")
    wait_for(lambda: len([t for t in probe_tasks() if "Running" in t]) == 3, timeout=90)

    run = run_playbook(PROJECT / "playbooks" / "scale.yml", inventory=INVENTORY, extra_vars={"workers": 2})
    assert run.rc == 0, run.failures or run.output[-3000:]
    # Citus drain (when Citus is installed), then swarm drain and removal, then termination.
    steps = (["geostack.cluster.citus : Wait for the rebalance or drain job to finish"] if citus() else []) + [
        "geostack.cluster.swarm : Drain the node",
        "geostack.cluster.swarm : Remove the node on a manager",
        "geostack.cluster.provision : Terminate the instances",
    ]
    seen = [t for t in run.tasks if t in steps]
    assert list(dict.fromkeys(seen)) == steps and seen.count(steps[-1]) == 1, run.tasks

    for gone in (NEW_WORKER, BAKED_WORKER):
        assert gone not in hostvars()
        assert gone not in swarm_nodes()
        assert subprocess.run(["docker", "ps", "-aq", "--filter", f"label=geostack.instance={container(gone)}"],
                              capture_output=True, text=True, check=True).stdout.strip() == ""
    tasks = probe_tasks()
    assert len(tasks) == 3 and all(t.split()[0] in WORKERS and "Running" in t for t in tasks), tasks
    assert psql("SELECT count(*), md5(string_agg(v, ',' ORDER BY id)) FROM scale_probe") == rows
    sh(container(MANAGER), "docker service rm probe")
    # Its shards would be lost with the worker the last test replaces (site.yml then stops, naming them).
    psql("DROP TABLE scale_probe")


NEW_WEB = f"{CLUSTER}-web-2"
AUTOSCALE = PROJECT / "playbooks" / "autoscale.yml"
AUTOSCALE_STATE = Path.home() / ".local" / "state" / "geostack" / CLUSTER


def prometheus(query: str) -> list[dict]:
    """An instant query to the cluster's own Prometheus, on the manager: its result's series."""
    url = f"http://{private_address(MANAGER)}:9090/api/v1/query?" + urllib.parse.urlencode({"query": query})
    with urllib.request.urlopen(url, timeout=10) as answer:
        return json.loads(answer.read())["data"]["result"]


def web_request_rate() -> float:
    """What the web rule of the scenario's geostack_autoscale reads: requests per second per web node."""
    found = prometheus('sum(rate(nginx_http_requests_total{group="web"}[1m])) / count(up{job="nginx",group="web"} == 1)')
    return float(found[0]["value"][1]) if found else 0.0


def dashboard_series(title: str) -> list[dict]:
    """The series of a panel of the Grafana dashboard, its variables at 'All', from the cluster's Prometheus."""
    dashboard = json.loads((PROJECT / "roles" / "grafana" / "files" / "geostack-nodes.json").read_text())
    expr = next(p for p in dashboard["panels"] if p["title"] == title)["targets"][0]["expr"]
    return prometheus(expr.replace("${role:pipe}", "[^,]+").replace("$az", ".*").replace("$__rate_interval", "1m"))


def health_url(host: str) -> str:
    """A web node's /health, from its nginx (plain HTTP here)."""
    return f"http://{private_address(host)}/health"


def get_health(host: str) -> int:
    """GET /health from a web node: the status."""
    with urllib.request.urlopen(health_url(host), timeout=5) as answer:
        return answer.status


def web_load(host: str, seconds: float, start_when=None) -> RequestLoop:
    """A bounded request loop against one web node (GET /health), from when start_when returns true if given."""
    url = health_url(host)
    return RequestLoop(lambda _n: url, seconds, start_when=start_when)


def cooldown_ends() -> float:
    """When the web group's cooldown ends: the last change in the state file autoscale.yml writes, plus the scenario's
    cooldown, plus 2 s (the decision rounds its clock to the second)."""
    cooldown = hostvars()[WEB]["geostack_autoscale"]["web"]["cooldown"]
    return json.loads((AUTOSCALE_STATE / "web.json").read_text())["last_action"] + cooldown + 2


def autoscale(*args: str, rule: dict | None = None):
    extra = {"autoscale_group": "web"} | ({"geostack_autoscale": {"web": rule}} if rule else {})
    return run_playbook(AUTOSCALE, *args, inventory=INVENTORY, extra_vars=extra)


def decision(run) -> str:
    found = re.findall(r"autoscale web: (\w+ \d+ -> \d+ \([^)]*\))", run.output)
    assert len(found) == 1, run.output[-3000:]
    return found[0]


@pytest.mark.parametrize(("rule", "named"), [
    ({"min": 3, "max": 2}, "geostack_autoscale.web.min (3) is above geostack_autoscale.web.max (2)"),
    ({"min": 1, "max": 2, "scale_out_above": 2, "scale_in_below": 2},
     "geostack_autoscale.web.scale_in_below (2) must be below geostack_autoscale.web.scale_out_above (2)"),
    ({"min": 1, "max": 2, "query": 'nginx_http_requests_total{group="no-such-group"}'},
     "geostack_autoscale.web.query returned 0 series, not one (no data"),
])
def test_a_bad_autoscaling_rule_is_refused_before_anything_changes(rule, named):
    run = autoscale(rule=rule)
    assert run.rc != 0 and run.total("changed") == 0, run.changed_tasks()
    messages = " ".join(m for found in run.failures.values() for m in found)
    assert named in messages, messages
    assert NEW_WEB not in hostvars()


def test_autoscale_adds_a_web_node_under_load_and_removes_it_when_the_load_ends():
    shutil.rmtree(AUTOSCALE_STATE, ignore_errors=True)
    started = time.monotonic()
    with web_load(WEB, seconds=600) as load:
        wait_for(lambda: web_request_rate() > 2, timeout=150)
        # The dashboard shows the web group's request rate in its zone.
        rates = dashboard_series("Requests per second by node group and zone")
        assert any(r["metric"].get("group") == "web" and r["metric"].get("az") in ZONES and float(r["value"][1]) > 2
                   for r in rates), rates
        # --check decides the same and changes nothing.
        check = autoscale("--check")
        assert check.rc == 0 and check.total("changed") == 0, check.failures or check.changed_tasks()
        assert decision(check).startswith("out 1 -> 2 (") and "check mode: nothing changes" in check.output
        assert NEW_WEB not in hostvars()
        run = autoscale()
    assert run.rc == 0, run.failures or run.output[-3000:]
    assert decision(run).startswith("out 1 -> 2 (") and load.failed() == []
    # The new web node serves requests and is a Prometheus target of the web tier.
    assert NEW_WEB in hostvars() and get_health(NEW_WEB) == 200
    wait_for(lambda: prometheus(f'up{{job="nginx",instance="{NEW_WEB}",group="web"}} == 1'), timeout=60)
    print(f"autoscale: from load start to a second web node serving, {time.monotonic() - started:.0f} s")
    # Every decision is logged with its inputs.
    logged = [json.loads(line) for line in (AUTOSCALE_STATE / "autoscale.log").read_text().splitlines()]
    assert [(d["action"], d["current"], d["desired"]) for d in logged] == [("out", 1, 2)], logged
    assert logged[0]["value"] > 2 and (logged[0]["scale_out_above"], logged[0]["scale_in_below"]) == (2, 0.5)

    # Inside the cooldown (60 s from the end of the change), a second run does nothing.
    again = autoscale()
    assert again.rc == 0 and again.total("changed") == 0, again.changed_tasks()
    assert decision(again).startswith("none 2 -> 2 (cooldown:"), decision(again)
    # Provisioning (as site.yml runs it) keeps the autoscaled group's live count (within 1..2), rather than refusing to
    # shrink it to the layout's 1.
    provision = run_playbook(PROJECT / "playbooks" / "provision.yml", "--check", inventory=INVENTORY)
    assert provision.rc == 0 and provision.total("changed") == 0, provision.failures or provision.changed_tasks()

    # The load has ended: once the rate is below 0.5 and the cooldown has passed, the new node is drained and removed,
    # and the node that stays serves every request meanwhile. That loop starts once the decision is logged: started
    # before, a scrape of its first seconds would raise the rate the decision reads.
    wait_for(lambda: web_request_rate() < 0.5, timeout=150, step=5)
    time.sleep(max(0.0, cooldown_ends() - time.time()))
    log = AUTOSCALE_STATE / "autoscale.log"
    decided = len(log.read_text().splitlines())
    with web_load(WEB, seconds=600, start_when=lambda: len(log.read_text().splitlines()) > decided) as load:
        run = autoscale()
    assert run.rc == 0, run.failures or run.output[-3000:]
    assert decision(run).startswith("in 2 -> 1 (")
    steps = ["geostack.cluster.swarm : Drain the node", "geostack.cluster.provision : Terminate the instances"]
    assert [t for t in dict.fromkeys(run.tasks) if t in steps] == steps, run.tasks
    assert len(load.results) > 100 and load.failed() == [], load.failed()[:5]
    assert NEW_WEB not in hostvars() and NEW_WEB not in swarm_nodes()
    wait_for(lambda: not prometheus(f'up{{instance="{NEW_WEB}"}}'), timeout=60)


def controller_with_systemd() -> str:
    """A controller that runs systemd: a systemd container of the test image on the host's network (the emulator and
    the nodes answer there as here), with this checkout, the venv and its Python, Molecule's inventory and the Docker
    socket mounted at the same paths."""
    name = f"geostack-{CLUSTER}-controller"
    subprocess.run(["docker", "rm", "-f", "-v", name], capture_output=True, check=False)
    paths = {PROJECT, Path(sys.prefix), Path(sys.base_prefix).resolve(), INVENTORY.parent, Path("/var/run/docker.sock")}
    paths = {p for p in paths if not any(p != q and p.is_relative_to(q) for q in paths)}
    # systemd would mount a tmpfs over /tmp at boot, hiding a checkout under /tmp: its tmp.mount is masked.
    start_systemd_container(name, "--network", "host", "--label", "geostack.test=controller",
                            "-v", "/dev/null:/etc/systemd/system/tmp.mount",
                            *(arg for path in sorted(paths) for arg in ("-v", f"{path}:{path}")))
    wait_for(lambda: sh(name, "systemctl is-system-running --wait", check=False).stdout.strip() in ("running", "degraded"),
             timeout=60)
    return name


def test_the_autoscale_timer_runs_autoscale_for_its_group_under_systemd():
    """On a controller with systemd, autoscale_timer.yml installs the service and the timer and starts the timer;
    systemd starts the service, which decides for the web group and succeeds, and the timer stays armed for the next
    run. A second run and --check change nothing; an edited unit is put back and the timer restarted; state=absent
    stops the timer and removes both units, which systemd then no longer knows."""
    # The timer's run must find the web tier idle: its controller keeps no autoscale state (no cooldown) of the test
    # before, whose last request loop may still be in the rate, and would scale out.
    wait_for(lambda: web_request_rate() < 0.5, timeout=150, step=5)
    controller = controller_with_systemd()
    unit = f"geostack-autoscale-{CLUSTER}-web"
    timer = f"/etc/systemd/system/{unit}.timer"

    def timer_run(*args: str, **extra) -> PlaybookRun:
        return run_playbook(PROJECT / "playbooks" / "autoscale_timer.yml", *args, inventory=INVENTORY,
                            extra_vars={"autoscale_group": "web", "autoscale_timer_interval": "20s", **extra},
                            container=controller)

    def show(name: str) -> dict[str, str]:
        out = sh(controller, f"systemctl show {name} -p ActiveState -p Result -p ExecMainStatus -p "
                             "ExecMainExitTimestampMonotonic -p LastTriggerUSecMonotonic -p LoadState").stdout
        return dict(line.split("=", 1) for line in out.splitlines())

    try:
        first = timer_run()
        assert first.rc == 0, first.failures or first.output[-3000:]
        assert first.changed_tasks() == {"localhost": ["Write the service and the timer", "Start the timer and run it at boot"]}, \
            first.changed_tasks()
        assert sh(controller, f"systemctl is-enabled {unit}.timer").stdout.strip() == "enabled"
        # systemd runs the service 20 s after boot, then 20 s after each run starts.
        ran = wait_for(lambda: (s := show(f"{unit}.service"))["ExecMainExitTimestampMonotonic"] != "0"
                       and s["ActiveState"] != "activating" and s, timeout=240, step=3)
        journal = sh(controller, f"journalctl -u {unit}.service --no-pager").stdout
        assert ran["Result"] == "success" and ran["ExecMainStatus"] == "0", (ran, journal[-3000:])
        assert re.search(r"autoscale web: none 1 -> 1 \(", journal), journal[-3000:]
        armed = show(f"{unit}.timer")
        assert armed["ActiveState"] == "active" and armed["LastTriggerUSecMonotonic"] != "0", armed
        # The service's environment is this run's, but never an AWS secret.
        service = sh(controller, f"systemctl cat {unit}.service").stdout
        assert "ANSIBLE_CONFIG=" in service and "AWS_SECRET_ACCESS_KEY" not in service, service

        again = timer_run()
        assert again.rc == 0 and again.total("changed") == 0, again.changed_tasks()
        checked = timer_run("--check")
        assert checked.rc == 0 and checked.total("changed") == 0, checked.changed_tasks()
        # Drift: an edited timer is written back, and the timer restarted on the schedule asked for.
        sh(controller, f"sed -i 's/=20s/=7min/' {timer} && systemctl daemon-reload")
        mended = timer_run()
        assert mended.rc == 0 and mended.changed_tasks() == first.changed_tasks(), mended.changed_tasks()
        assert "OnUnitActiveSec=20s" in sh(controller, f"systemctl cat {unit}.timer").stdout

        removed = timer_run(autoscale_timer_state="absent")
        assert removed.rc == 0, removed.failures
        assert sh(controller, f"ls /etc/systemd/system/{unit}.* 2>/dev/null", check=False).stdout == ""
        assert show(f"{unit}.timer")["LoadState"] == "not-found" and show(f"{unit}.service")["LoadState"] == "not-found"
        gone = timer_run(autoscale_timer_state="absent")
        assert gone.rc == 0 and gone.total("changed") == 0, gone.changed_tasks()
    finally:
        subprocess.run(["docker", "rm", "-f", "-v", controller], capture_output=True, check=False)


def test_the_cpu_preset_reads_the_workers_mean_cpu_from_prometheus():
    """The `cpu` preset (AirAware's rule, the default for a group without the role web) against this cluster's
    Prometheus: its query returns one series, the workers' mean CPU busy percentage. Thresholds no reading can cross
    keep the decision the same on a busy machine and a quiet one."""
    rule = {"min": 1, "max": 3, "scale_out_above": 100, "scale_in_below": 0}
    run = run_playbook(AUTOSCALE, "--check", inventory=INVENTORY,
                       extra_vars={"autoscale_group": "worker", "geostack_autoscale": {"worker": rule}})
    assert run.rc == 0 and run.total("changed") == 0, run.failures or run.changed_tasks()
    found = re.findall(r"autoscale worker:\s+none\s+2\s+->\s+2\s+\(([0-9.e+-]+)\s+is\s+within\s+0\.\.100\)", run.output)
    assert len(found) == 1, run.output[-3000:]
    assert 0 <= float(found[0]) <= 100, found


PROBE = "geostack-upgrade-probe"


# Version 1.1's postinst restarts the node's PostgreSQL the way a PostgreSQL package's own does (deb-systemd-invoke,
# which asks policy-rc.d): upgrade.yml must hold that restart and leave it to the citus role's rolling_restart.
PROBE_POSTINST = ('#!/bin/sh\nset -e\nif [ "$1" = configure ]; then\n'
                  '  deb-systemd-invoke restart postgresql@17-main.service\nfi\n')


def probe_repo(root: Path) -> Path:
    """A flat apt repository holding PROBE 1.1 (whose postinst restarts PostgreSQL); PROBE 1.0's package is left in
    root."""
    repo = root / "repo"
    repo.mkdir()
    for version, into in (("1.0", root), ("1.1", repo)):
        tree = root / f"tree-{version}"
        (tree / "DEBIAN").mkdir(parents=True)
        control = (f"Package: {PROBE}\nVersion: {version}\nArchitecture: all\n"
                   "Maintainer: geostack.cluster tests <tests@geostack.invalid>\nDescription: what the upgrade test upgrades\n")
        (tree / "DEBIAN" / "control").write_text(control)
        if version == "1.1":
            (tree / "DEBIAN" / "postinst").write_text(PROBE_POSTINST)
            (tree / "DEBIAN" / "postinst").chmod(0o755)
        deb = into / f"{PROBE}_{version}_all.deb"
        subprocess.run(["dpkg-deb", "--build", "--root-owner-group", str(tree), str(deb)], check=True, capture_output=True)
    data = deb.read_bytes()
    (repo / "Packages").write_text(f"{control}Filename: ./{deb.name}\nSize: {len(data)}\nSHA256: {hashlib.sha256(data).hexdigest()}\n\n")
    return repo


def postgres_started(node: str) -> str:
    return sh(container(node), "systemctl show -p ExecMainStartTimestampMonotonic --value postgresql@17-main").stdout.strip()


def test_upgrade_drains_the_node_with_a_pending_upgrade_and_touches_no_other(tmp_path):
    """The worker with a pending upgrade is drained; apt's own restart of its PostgreSQL is held, and the citus role's
    rolling_restart restarts it once and waits until the coordinator reaches it; no other node changes."""
    # One worker gets a package with a newer version in an apt repository.
    target = container(WORKERS[0])
    repo = probe_repo(tmp_path)
    # (Into /srv: docker cp cannot write into the node's /tmp, a tmpfs.)
    for source, dest in ((tmp_path / f"{PROBE}_1.0_all.deb", "/srv/"), (repo, "/srv/geostack-probe-repo")):
        subprocess.run(["docker", "cp", str(source), f"{target}:{dest}"], check=True, capture_output=True)
    sh(target, f"dpkg -i /srv/{PROBE}_1.0_all.deb >/dev/null"
       " && echo 'deb [trusted=yes] file:/srv/geostack-probe-repo ./' > /etc/apt/sources.list.d/geostack-probe.list"
       " && apt-get update -qq")
    # Work: one task on each worker.
    busybox_image_on(WORKERS)
    sh(container(MANAGER), "docker service create -d --quiet --name upgrade-probe --replicas 2 --replicas-max-per-node 2"
       " --no-resolve-image --constraint node.labels.typeNode==worker geostack/busybox:test sleep 3600")
    wait_for(lambda: sorted(t.split()[0] for t in probe_tasks("upgrade-probe") if "Running" in t) == WORKERS, timeout=90)

    started = {node: postgres_started(node) for node in (MANAGER, *WORKERS)}
    since = sh(target, "date +%s").stdout.strip()

    rc, output, recap = play_text("playbooks/upgrade.yml")
    assert rc == 0, output[-5000:]
    assert recap[WORKERS[0]]["changed"] > 0
    # PostgreSQL on the upgraded worker started once (the role's restart, not the postinst's as well), the hold is
    # lifted, and the coordinator reached the worker before the play went on; no other PostgreSQL restarted.
    starts = sh(target, f"journalctl -q -o cat -u postgresql@17-main.service --since @{since} | grep -c '^Started '",
                check=False).stdout.strip()
    assert starts == "1", sh(target, f"journalctl -q -o cat -u postgresql@17-main.service --since @{since}").stdout
    assert sh(target, "test -e /usr/sbin/policy-rc.d", check=False).returncode == 1
    assert "Wait until the coordinator reaches the worker again" in output
    assert postgres_started(WORKERS[0]) != started[WORKERS[0]]
    assert {node: postgres_started(node) for node in (MANAGER, WORKERS[1])} == {n: started[n] for n in (MANAGER, WORKERS[1])}
    for host in (MANAGER, WORKERS[1], WEB):
        assert recap[host]["changed"] == 0, (host, recap)
    assert sh(target, f"dpkg-query -W -f '${{Version}}' {PROBE}").stdout == "1.1"
    # The node was drained before its packages changed: its task moved to the
    # other worker (and stays there), and the node is active again.
    tasks = probe_tasks("upgrade-probe")
    assert len(tasks) == 2 and all(t.split()[0] == WORKERS[1] and "Running" in t for t in tasks), tasks
    assert swarm_nodes()[WORKERS[0]]["Spec"]["Availability"] == "active"
    assert "checks are healthy." in output  # upgrade.yml ends with verify.yml
    sh(container(MANAGER), "docker service rm upgrade-probe")
    sh(target, f"rm -r /etc/apt/sources.list.d/geostack-probe.list /srv/geostack-probe-repo /srv/{PROBE}_1.0_all.deb")


def test_a_lost_worker_is_reported_and_an_interrupted_site_run_brings_the_cluster_back(tmp_path):
    lost = WORKERS[1]
    gone = hostvars()[lost]["ansible_host"]
    subprocess.run(["docker", "rm", "-f", "-v", gone], check=True, capture_output=True)
    # The instance still runs in EC2, but its node is gone: the inventory no
    # longer lists it, and verify names it in the swarm and in Prometheus.
    assert lost not in hostvars()

    def unhealthy():
        """verify.yml fails naming the lost node, in the swarm and in Prometheus (each takes a few seconds, the swarm
        to see the node down, Prometheus to fail a scrape of it)."""
        run = run_playbook(PROJECT / "playbooks" / "verify.yml", inventory=INVENTORY)
        named = (f"Not healthy: swarm node {lost} (no inventory host)" in run.output
                 and f"prometheus {MANAGER} job node" in run.output and f"down: {lost}" in run.output)
        return run if run.rc != 0 and named else None

    # The swarm sees the node down and Prometheus fails a scrape of it (read cheaply), then verify.yml names both.
    wait_for(lambda: swarm_states().get(lost) == "down"
             and prometheus(f'up{{job="node",instance="{lost}"}} == 0'), timeout=180, step=2)
    wait_for(unhealthy, timeout=120, step=5)

    # site.yml re-provisions the instance's node and converges it; killed
    # while that node installs Docker, run again (with no option) it
    # finishes the node and prunes the swarm node it replaced.
    run_until_killed([str(PROJECT / "site.yml")], "Install Docker Engine packages", tmp_path / "killed.log")
    assert lost in hostvars()
    rc, output, _recap = play_text("site.yml", "-vvv")
    assert rc == 0, output[-5000:]
    # A full converge at -vvv (the new node's swarm join, its database and
    # RabbitMQ settings) prints no secret.
    assert_no_secret(output)
    assert hostvars()[lost]["ansible_host"] == gone  # the same instance, on a new node
    records = json.loads(sh(container(MANAGER), "docker node inspect $(docker node ls -q)").stdout)
    assert [n["Status"]["State"] for n in records if n["Description"]["Hostname"] == lost] == ["ready"]
    # site.yml ends with verify.yml: green, the lost node's swarm and Prometheus rows with it.
    assert "checks are healthy." in output, output[-5000:]
