"""Verify the docker role on real systemd nodes running a real dockerd."""

import json
from pathlib import Path

import pytest
import yaml
from nodes import scenario_hosts
from playbook_runner import run_playbook

testinfra_hosts = scenario_hosts()

SCENARIO_VARS = yaml.safe_load((Path(__file__).parents[1] / "vars" / "converge.yml").read_text())
ROLE = Path(__file__).parents[3] / "roles" / "docker"
# The only tasks a run with bad input may reach: fact gathering, the
# argument_specs check, the include of the role's preflight and its asserts.
PREFLIGHT_TASKS = {"Gathering Facts", yaml.safe_load((ROLE / "tasks" / "main.yml").read_text())[0]["name"]} | {
    task["name"] for task in yaml.safe_load((ROLE / "tasks" / "preflight.yml").read_text())
}


def test_daemon_is_active_and_enabled(host):
    service = host.service("docker")
    assert service.is_running
    assert service.is_enabled


def test_storage_driver_is_overlay2(host):
    driver = host.check_output("docker info --format '{{.Driver}}'")
    assert driver == "overlay2"


def test_daemon_json_holds_exactly_what_was_asked(host):
    daemon_json = host.file("/etc/docker/daemon.json")
    assert daemon_json.user == "root"
    assert daemon_json.mode == 0o644
    assert json.loads(daemon_json.content_string) == SCENARIO_VARS["docker_daemon_options"]


def test_daemon_runs_with_the_options(host):
    info = json.loads(host.check_output("docker info --format '{{json .}}'"))
    assert info["LoggingDriver"] == "json-file"
    assert info["Swarm"]["LocalNodeState"] == "inactive"


def test_user_is_in_docker_group_and_can_use_the_engine(host):
    assert "docker" in host.user("deploy").groups
    out = host.check_output("runuser -u deploy -- docker version --format '{{.Server.Os}}'")
    assert out == "linux"


def test_python_docker_sdk_and_compose_are_installed(host):
    assert host.package("python3-docker").is_installed
    assert host.run("python3 -c 'import docker'").rc == 0
    assert host.run("docker compose version").rc == 0


def test_a_container_runs_and_prints(host):
    # Nothing can be pulled, so make a one-binary image from Debian's
    # busybox-static, the way a user in an air-gapped VPC would.
    host.check_output(
        "set -e; d=$(mktemp -d); cd $d; apt-get download -qq busybox-static >/dev/null;"
        " dpkg-deb -x busybox-static_*.deb deb; mkdir root; cp \"$(find deb -path '*/bin/busybox' -type f)\" root/;"
        " tar -C root -c busybox | docker import -c 'ENTRYPOINT [\"/busybox\"]'"
        " - geostack/busybox:test >/dev/null; rm -rf $d"
    )
    out = host.check_output(
        "docker run --rm --network none geostack/busybox:test echo hello from $(hostname)"
    )
    assert out == f"hello from {host.check_output('hostname')}"


# The tests below run once per scenario, not once per host.


def test_check_mode_on_converged_nodes_changes_nothing():
    run = run_playbook("converge.yml", "--check", "--diff")
    assert run.rc == 0, run.output
    assert run.total("failures") == 0, run.failures
    assert run.total("unreachable") == 0
    assert run.total("changed") == 0, run.output


@pytest.mark.parametrize(
    ("bad_vars", "named"),
    [
        ({"docker_install_method": "foo"}, "docker_install_method"),
        ({"docker_daemon_options": "live-restore=true"}, "docker_daemon_options"),
        ({"docker_daemon_options": ["live-restore"]}, "docker_daemon_options"),
        ({"docker_users": ["deploy", {"name": "bob"}]}, "docker_users"),
        ({"docker_users": ["deploy", 42]}, "docker_users"),
        ({"docker_daemon_options": {"live-restore": True}}, "live-restore"),
        ({"docker_users": ["nobody-here"]}, "nobody-here"),
    ],
    ids=lambda v: json.dumps(v) if isinstance(v, dict) else v,
)
def test_bad_input_fails_before_any_change(bad_vars, named):
    run = run_playbook("converge.yml", extra_vars=bad_vars)
    assert run.rc != 0, f"{bad_vars} was accepted:\n{run.output}"
    assert run.total("changed") == 0, run.output
    reached = {t.split(" : ", 1)[-1] for t in run.tasks}
    reached = {t for t in reached if not t.startswith("Validating arguments against arg spec")}
    assert reached <= PREFLIGHT_TASKS, f"ran past preflight: {reached - PREFLIGHT_TASKS}"
    messages = " ".join(m for msgs in run.failures.values() for m in msgs)
    assert named in messages, messages
