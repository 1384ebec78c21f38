"""The RideShare seed behind the load balancer, on the local cloud (Molecule's converge: provision.yml, then the web
role on each web node group with its own app).

In order (the tests share one cluster): the emulator holds the load balancer the provision role set, and the local
proxy serves exactly its rules and targets; requests through it reach the right app by path, spread over the nodes of
each group; `--check` changes nothing; with every node of one zone stopped under a steady request loop, requests
succeed again once the health checks have taken the zone out, and a converge after the zone is started puts its nodes
back in rotation; a users node registered under load before it serves costs no request, and a rides node retired
under load (deregistered, drained, terminated) costs no request.
"""

from __future__ import annotations

import json
import os
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from emulator import client
from load import RequestLoop
from nodes import wait_for
from playbook_runner import run_playbook

SCENARIO = Path(os.environ["MOLECULE_SCENARIO_DIRECTORY"])
PROJECT = SCENARIO.parents[1]
INVENTORY = Path(os.environ["MOLECULE_INVENTORY_FILE"]).parent
CLUSTER = "molecule-lb"
PROXY = f"geostack-{CLUSTER}-lb"
EMULATOR = "http://127.0.0.1:4573"
USERS = [f"{CLUSTER}-web_users-{i}" for i in (1, 2)]
RIDES = [f"{CLUSTER}-web_rides-{i}" for i in (1, 2)]
# Health checks every 5 s with a 4 s timeout, out after 2 failures: a stopped node leaves rotation within
# 2 x (5 + 4) s at worst, as on an ALB with these settings.
OUT_OF_ROTATION_S = 20


def aws(service: str):
    return client(EMULATOR, service)


def inventory() -> dict:
    out = subprocess.run(["ansible-inventory", "-i", str(INVENTORY), "--list"], capture_output=True, text=True, check=True)
    return json.loads(out.stdout, object_hook=lambda o: o["__ansible_unsafe"] if o.keys() == {"__ansible_unsafe"} else o)


def hostnames(group: str) -> dict[str, str]:
    """Each node of a node group: its hostname in the container (what the apps answer with) -> its instance id."""
    inv = inventory()
    found = {}
    for host in inv.get(f"node_group_{group}", {}).get("hosts", []):
        instance = inv["_meta"]["hostvars"][host]["ec2_instance_id"]
        found[subprocess.run(["docker", "exec", instance, "hostname"], capture_output=True, text=True, check=True).stdout.strip()] = instance
    return found


def base_url() -> str:
    out = subprocess.run(["docker", "port", PROXY, "80/tcp"], capture_output=True, text=True, check=True).stdout.split()[0]
    assert out.startswith("127.0.0.1:"), out
    return f"http://{out}"


def call(method: str, path: str, body: dict | None = None) -> tuple[int, dict]:
    """One request through the load balancer, on its own connection: status and the app's JSON answer."""
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(base_url() + path, data=data, method=method, headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=5) as answer:
            return answer.status, json.loads(answer.read())
    except urllib.error.HTTPError as error:
        return error.code, {}


class Load(RequestLoop):
    """A bounded request loop through the load balancer (users and rides paths in turn) for `seconds`, whatever the
    block does meanwhile."""

    def __init__(self, seconds: float, until_stopped: bool = False):
        url = base_url()
        super().__init__(lambda n: url + ("/api/v1/users" if n % 2 == 0 else f"/api/v1/rides/{n}"), seconds, pause=0.05,
                         until_stopped=until_stopped)

    def served_by(self, since: float = 0) -> set[str]:
        """The nodes that answered, by the app's own answer."""
        return {json.loads(r[2])["node"] for r in self.results if r[0] >= since and r[1] == 200}


def proxy_servers() -> dict[str, list[str]]:
    """The backends of the proxy's configuration and their servers (instance ids)."""
    config = subprocess.run(["docker", "exec", PROXY, "cat", "/etc/haproxy/haproxy.cfg"], capture_output=True, text=True, check=True).stdout
    backends, current = {}, None
    for line in config.splitlines():
        words = line.split()
        if words[:1] == ["backend"]:
            current = backends.setdefault(words[1], [])
        elif words[:1] == ["server"] and current is not None:
            current.append(words[1])
    return {name: sorted(servers) for name, servers in backends.items()}


def proxy_status() -> dict[str, str]:
    """Each server of the running proxy (instance id) and its status ('UP', 'DOWN', 'DOWN 1/2', ...), from haproxy's
    admin socket."""
    ask = ("import socket; s = socket.socket(socket.AF_UNIX); s.connect('/run/haproxy/admin.sock');"
           " s.sendall(b'show stat\\n'); print(b''.join(iter(lambda: s.recv(65536), b'')).decode())")
    out = subprocess.run(["docker", "exec", PROXY, "python3", "-c", ask], capture_output=True, text=True, check=True).stdout
    rows = [line.split(",") for line in out.splitlines() if line and not line.startswith("#")]
    return {row[1]: row[17] for row in rows if len(row) > 17 and row[1] not in ("FRONTEND", "BACKEND")}


def emulated_targets() -> dict[str, list[str]]:
    elb = aws("elbv2")
    return {g["TargetGroupName"]: sorted(t["Target"]["Id"] for t in elb.describe_target_health(
        TargetGroupArn=g["TargetGroupArn"])["TargetHealthDescriptions"]) for g in elb.describe_target_groups()["TargetGroups"]}


def test_the_proxy_serves_the_emulated_load_balancer():
    users, rides = hostnames("web_users"), hostnames("web_rides")
    assert len(users) == len(rides) == 2
    # The emulator holds one target group per web node group with that group's instances; the proxy serves them.
    targets = emulated_targets()
    assert targets == {f"{CLUSTER}-web-users": sorted(users.values()), f"{CLUSTER}-web-rides": sorted(rides.values())}
    assert proxy_servers() == targets
    rules = aws("elbv2").describe_rules(ListenerArn=aws("elbv2").describe_listeners(
        LoadBalancerArn=aws("elbv2").describe_load_balancers(Names=[CLUSTER])["LoadBalancers"][0]["LoadBalancerArn"])["Listeners"][0]["ListenerArn"])
    assert [r["Conditions"][0]["Values"] for r in rules["Rules"] if not r["IsDefault"]] == [["/api/v1/users*"]]


def test_requests_reach_the_app_their_path_is_routed_to_on_every_node_of_its_group():
    users, rides = hostnames("web_users"), hostnames("web_rides")
    status, answer = call("PUT", "/api/v1/users", {"username": "ada"})
    assert (status, answer["service"], answer["method"]) == (201, "users", "PUT") and answer["node"] in users
    status, answer = call("GET", "/api/v1/rides/7")
    assert (status, answer["service"], answer["path"]) == (200, "rides", "/api/v1/rides/7") and answer["node"] in rides
    # The seed's rule is a prefix: /api/v1/users/<name> is the users service's too.
    assert call("GET", "/api/v1/users/ada")[1]["service"] == "users"
    # Round robin over each group's nodes.
    assert {call("GET", "/api/v1/users")[1]["node"] for _n in range(6)} == set(users)
    assert {call("GET", "/")[1]["node"] for _n in range(6)} == set(rides)


def test_check_mode_changes_nothing():
    run = run_playbook(SCENARIO / "converge.yml", "--check", inventory=INVENTORY)
    assert run.rc == 0, run.failures
    assert run.total("changed") == 0, run.changed_tasks()


WEB_ONLY = """
- name: Converge the web tier only
  hosts: web
  gather_facts: true
  roles:
    - role: geostack.cluster.web
"""


def test_a_load_balancer_route_a_group_does_not_serve_is_refused_before_any_change(tmp_path):
    playbook = tmp_path / "web.yml"
    playbook.write_text(WEB_ONLY)
    routes = [{"path": "/api/v1/users", "group": "web_users", "health": "/api/v1/users/health"},
              {"path": "/api/v2/rides", "group": "web_users"}, {"path": "/", "group": "web_rides", "health": "/health"}]
    run = run_playbook(playbook, inventory=INVENTORY, extra_vars={"provision_load_balancer_routes": routes})
    assert run.rc != 0 and run.total("changed") == 0, run.changed_tasks()
    messages = " ".join(m for msgs in run.failures.values() for m in msgs)
    assert ("provision_load_balancer_routes[1] sends path /api/v2/rides to node group web_users, but its web_routes"
            " (/api/v1/users) serve no prefix of it") in messages, messages
    # Only the users nodes failed, and every node stopped there, the rides nodes too (one node's bad input stops them all).
    assert run.failed_tasks() == {"Assert the apps, routes and upstreams"}
    assert run.results[-1][0].endswith("Assert the apps, routes and upstreams"), run.results[-1][0]
    assert sorted(run.failures) == sorted(inventory()["node_group_web_users"]["hosts"])


def zone_of(instance: str) -> str:
    return subprocess.run(["docker", "inspect", "-f", '{{ index .Config.Labels "geostack.zone" }}', instance],
                          capture_output=True, text=True, check=True).stdout.strip()


def test_a_zone_down_under_load_leaves_the_other_zone_serving_and_a_converge_brings_it_back():
    users, rides = hostnames("web_users"), hostnames("web_rides")
    nodes = {**users, **rides}
    lost = {name for name, instance in nodes.items() if zone_of(instance) == "us-east-1a"}
    assert len(lost & set(users)) == 1 and len(lost & set(rides)) == 1, lost
    stopped = subprocess.run(["docker", "ps", "-q", "-f", f"label=geostack.cluster={CLUSTER}", "-f", "label=geostack.zone=us-east-1a"],
                             capture_output=True, text=True, check=True).stdout.split()
    try:
        with Load(seconds=OUT_OF_ROTATION_S + 20) as load:
            time.sleep(3)
            down = time.monotonic()
            subprocess.run(["docker", "stop", "-t", "1", *stopped], capture_output=True, check=True)
        settled = down + OUT_OF_ROTATION_S
        after = [r for r in load.results if r[0] >= settled]
        # Once the health checks have taken the zone out, every request succeeds, answered by the other zone only.
        assert len(after) > 50, len(after)
        assert load.failed(settled) == [], load.failed(settled)[:5]
        assert load.served_by(settled) == set(nodes) - lost
        # Before the loss, both zones served.
        assert load.served_by() >= lost
        print(f"zone down: {len(load.failed())} of {len(load.results)} requests failed before the health checks took it out")
    finally:
        subprocess.run(["docker", "start", *stopped], capture_output=True, check=True)
    run = run_playbook(SCENARIO / "converge.yml", inventory=INVENTORY)
    assert run.rc == 0, run.failures
    # The summary leads with the load balancer: the emulated one's DNS name and the local proxy's URL.
    dns = aws("elbv2").describe_load_balancers(Names=[CLUSTER])["LoadBalancers"][0]["DNSName"]
    assert f"http://{dns}/" in run.output and base_url() in run.output
    # The health checks put the zone's nodes back in rotation.
    wait_for(lambda: {call("GET", "/api/v1/users")[1].get("node") for _n in range(6)} == set(users), timeout=60)
    wait_for(lambda: {call("GET", "/")[1].get("node") for _n in range(6)} == set(rides), timeout=60)


def test_a_node_registered_under_load_before_it_serves_costs_no_request():
    """A third users node provisioned under load is registered, and the proxy reloaded, before any web tier runs on
    it: it starts out of rotation (an ALB target's `initial` state) and stays out while its checks fail, so it costs
    no request. (Once a node serves, its checks put it in rotation: the zone test shows that path.)"""
    users, rides = hostnames("web_users"), hostnames("web_rides")
    with Load(seconds=600, until_stopped=True) as load:
        time.sleep(3)
        run = run_playbook(PROJECT / "playbooks" / "provision.yml", inventory=INVENTORY,
                           extra_vars={"geostack_layout_override": {"web_users": {"count": 3}}})
        assert run.rc == 0, run.failures
        (instance,) = set(hostnames("web_users").values()) - set(users.values())
        assert instance in proxy_servers()[f"{CLUSTER}-web-users"]
        # Its first check runs within one interval (5 s) of the reload; a new target that started in rotation would
        # take requests until then, and fail them: nothing listens on it.
        time.sleep(10)
        assert proxy_status()[instance].startswith("DOWN"), proxy_status()
    assert len(load.results) > 100 and load.failed() == [], load.failed()[:5]
    assert load.served_by() == set(users) | set(rides)


RETIRE = """
- name: Retire one node (as remove_node.yml and scale.yml do once it is drained)
  hosts: localhost
  connection: local
  gather_facts: false
  tasks:
    - name: Deregister, drain and terminate it
      ansible.builtin.include_role:
        name: geostack.cluster.provision
        tasks_from: terminate
      vars:
        provision_terminate_ids: [{instance}]
"""


def test_a_node_retired_under_load_costs_no_request(tmp_path):
    rides = hostnames("web_rides")
    node, instance = sorted(rides.items())[-1]
    playbook = tmp_path / "retire.yml"
    playbook.write_text(RETIRE.format(instance=instance))
    with Load(seconds=25) as load:
        time.sleep(5)
        run = run_playbook(playbook, inventory=INVENTORY)
    assert run.rc == 0, run.failures
    assert load.failed() == [], load.failed()[:5]
    assert len(load.results) > 100 and node in load.served_by()
    # Gone from the emulator's target group, the proxy and the cloud; the other rides node serves alone.
    assert instance not in emulated_targets()[f"{CLUSTER}-web-rides"]
    assert instance not in proxy_servers()[f"{CLUSTER}-web-rides"]
    assert subprocess.run(["docker", "inspect", instance], capture_output=True, check=False).returncode != 0
    assert {call("GET", "/")[1]["node"] for _n in range(4)} == set(rides) - {node}


@pytest.fixture(autouse=True)
def _proxy_runs():
    assert subprocess.run(["docker", "inspect", PROXY], capture_output=True, check=False).returncode == 0
