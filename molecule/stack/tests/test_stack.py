"""Verify the stack role: the example stack, from an image archive loaded on
every node, reaches its replica counts with its placement honoured."""

import json
import subprocess

from nodes import scenario_hosts
from playbook_runner import run_playbook

testinfra_hosts = scenario_hosts()

MANAGER = "geostack-stack-1"
LABEL = {"geostack-stack-1": "master", "geostack-stack-2": "worker", "geostack-stack-3": "master-web"}
REPLICAS = {"broker": 1, "worker": 2, "tiles": 1, "web": 1}
# Which typeNode labels each service may run on.
PLACEMENT = {"broker": {"master"}, "worker": {"worker", "master-web"}, "tiles": {"master"}, "web": {"master-web"}}


def sh(node: str, command: str, check: bool = True) -> str:
    proc = subprocess.run(["docker", "exec", node, "sh", "-c", command], capture_output=True, text=True, check=False)
    if check and proc.returncode != 0:
        raise AssertionError(f"{node}: {command}: {proc.stderr}")
    return proc.stdout.strip()


def running(service: str) -> list[str]:
    """Nodes where the service's tasks are running, waiting up to a minute for them to settle."""
    cmd = f"docker service ps geostack_{service} --filter desired-state=running --format '{{{{.Node}}}} {{{{.CurrentState}}}}'"
    sh(
        MANAGER,
        f"for i in $(seq 60); do {cmd} | grep -qv ' Running' || [ -z \"$({cmd})\" ] || exit 0; sleep 1; done; exit 1",
        check=False,
    )
    return [line.split()[0] for line in sh(MANAGER, cmd).splitlines() if " Running" in line]


def specs() -> dict[str, tuple[str, list[str]]]:
    """Service -> (its spec, the IDs of its running tasks)."""
    services = json.loads(sh(MANAGER, "docker service inspect $(docker service ls -q --filter label=com.docker.stack.namespace=geostack)"))
    return {
        s["Spec"]["Name"].removeprefix("geostack_"): (
            json.dumps(s["Spec"], sort_keys=True),
            sorted(sh(MANAGER, f"docker service ps -q --filter desired-state=running {s['ID']}").split()),
        )
        for s in services
    }


def test_images_were_loaded_from_the_archive(host):
    assert host.run("docker image inspect geostack/busybox:stack-test").rc == 0
    assert host.file("/var/cache/geostack/images").listdir() == []


def test_services_reach_their_replicas_where_placed():
    for service, replicas in REPLICAS.items():
        nodes = running(service)
        assert len(nodes) == replicas, (service, nodes)
        assert {LABEL[n] for n in nodes} <= PLACEMENT[service], (service, nodes)
    # Each spreads its replicas over the availability zones (the default scenario checks the effect).
    for service, (spec, _tasks) in specs().items():
        assert json.loads(spec)["TaskTemplate"]["Placement"].get("Preferences") == [
            {"Spread": {"SpreadDescriptor": "node.labels.zone"}}], service


def test_tiles_service_serves_the_volume_read_only():
    container = sh(MANAGER, "docker ps -q --filter label=com.docker.swarm.service.name=geostack_tiles")
    assert container
    tile = sh(MANAGER, f"docker exec {container} /busybox wget -qO- http://127.0.0.1:8080/0/0/0.png")
    assert tile == "not really a png, but served as one"
    mounts = json.loads(sh(MANAGER, f"docker inspect -f '{{{{json .Mounts}}}}' {container}"))
    assert [(m["Name"], m["RW"]) for m in mounts] == [("tiles-data", False)]


def test_web_is_published_on_the_web_node():
    # Asked from the worker, over the nodes' network: host-mode publishing on
    # the web node (the routing mesh needs IPVS, which this kernel lacks).
    page = sh("geostack-stack-2", "busybox wget -qO- -T 5 http://geostack-stack-3:8080/hostname")
    # /etc/hostname of the web task's container: its short container id.
    web = sh("geostack-stack-3", "docker ps -q --no-trunc --filter label=com.docker.swarm.service.name=geostack_web")
    assert len(page) == 12 and web.startswith(page)


# Once per scenario from here on.


def test_check_mode_changes_nothing():
    run = run_playbook("converge.yml", "--check", "--diff")
    assert run.rc == 0, run.failures
    assert run.total("changed") == 0, run.output


def test_bad_input_fails_before_anything_changes():
    for extra, named in (
        ({"stack_stacks": [{"name": "Bad Name", "compose": [{}]}]}, "stack_stacks"),
        ({"stack_image_archives": [{"path": "/nonexistent.tar", "images": ["x:1"]}]}, "/nonexistent.tar"),
        ({"stack_image_archives": [{"path": "/nonexistent.tar"}]}, "images"),
    ):
        run = run_playbook("converge.yml", "--tags", "stack", extra_vars=extra)
        assert run.rc != 0, extra
        assert run.total("changed") == 0, run.output
        assert any(named in m for msgs in run.failures.values() for m in msgs), run.failures


def test_changing_replicas_changes_only_that_service():
    before = specs()
    run = run_playbook("converge.yml", extra_vars={"stack_example_replicas": {**REPLICAS, "worker": 3}})
    assert run.rc == 0, run.failures
    assert run.total("changed") >= 1
    after = specs()
    assert after["worker"][0] != before["worker"][0]
    # Every other service keeps its spec and its running tasks.
    assert {s: v for s, v in after.items() if s != "worker"} == {s: v for s, v in before.items() if s != "worker"}
    assert len(running("worker")) == 3
    again = run_playbook("converge.yml", extra_vars={"stack_example_replicas": {**REPLICAS, "worker": 3}})
    assert again.rc == 0 and again.total("changed") == 0, again.output
