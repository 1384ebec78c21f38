"""The node agent of geostack.cluster.docker_api, run for real on a Unix socket of the test's own: it runs each
command as a Docker exec would (stdin in; stdout, stderr and the exit code back), one at a time or side by side, and
one agent listens per socket."""

import os
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from ansible_collections.geostack.cluster.plugins.plugin_utils import node_agent

SOURCE = Path(node_agent.__file__).read_text(encoding="utf-8")


def start(path: Path) -> subprocess.Popen:
    """An agent as the connection starts one: its source as `python3 -c`, the socket's path as its argument."""
    proc = subprocess.Popen([sys.executable, "-c", SOURCE, str(path)], env=dict(os.environ, GEOSTACK_AGENT_TEST="from-the-agent"))
    deadline = time.monotonic() + 10
    while True:
        try:
            node_agent.request(str(path), ["/bin/true"], None)
            return proc
        except OSError:
            assert proc.poll() is None and time.monotonic() < deadline, "the agent did not listen"
            time.sleep(0.02)


@pytest.fixture
def agent(tmp_path):
    path = tmp_path / "run" / "agent.sock"
    proc = start(path)
    yield str(path)
    proc.terminate()
    proc.wait(10)


def test_a_command_gets_its_stdin_and_returns_its_output_and_exit_code(agent):
    data = os.urandom(300_000)  # as large as a module's payload, and not text
    rc, stdout, stderr = node_agent.request(agent, ["/bin/sh", "-c", "cat; echo done >&2; exit 3"], data)
    assert (rc, stdout, stderr) == (3, data, b"done\n")
    assert node_agent.request(agent, ["/bin/sh", "-c", "echo $0"], None) == (0, b"/bin/sh\n", b"")


def test_a_command_runs_with_the_agents_umask_and_environment_and_no_stdin(agent):
    """What a Docker exec gives a command: the umask and environment of the container's exec (the agent's, which a
    Docker exec started), and no stdin when none is sent."""
    umask = os.umask(0)
    os.umask(umask)
    rc, stdout, _stderr = node_agent.request(agent, ["/bin/sh", "-c", "umask; echo $GEOSTACK_AGENT_TEST; cat"], None)
    assert (rc, stdout.decode().split()) == (0, [f"{umask:04o}", "from-the-agent"])


def test_a_command_killed_by_a_signal_reports_128_plus_the_signal(agent):
    assert node_agent.request(agent, ["/bin/sh", "-c", "kill -9 $$"], None)[0] == 137


def test_a_command_that_cannot_start_reports_126(agent):
    rc, _stdout, stderr = node_agent.request(agent, ["/no/such/command"], None)
    assert rc == 126 and b"/no/such/command" in stderr


def test_commands_run_side_by_side(agent):
    results, started = [], time.monotonic()

    def run():
        results.append(node_agent.request(agent, ["/bin/sh", "-c", "sleep 1; echo ok"], None))

    threads = [threading.Thread(target=run) for _number in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert results == [(0, b"ok\n", b"")] * 4
    assert time.monotonic() - started < 3.5  # not one after another (4 s)


def test_the_socket_and_its_directory_are_the_owners_alone(agent):
    assert Path(agent).stat().st_mode & 0o777 == 0o700
    assert Path(agent).parent.stat().st_mode & 0o777 == 0o700


def test_a_second_agent_on_a_live_socket_leaves_and_a_stale_socket_is_replaced(agent, tmp_path):
    second = subprocess.run([sys.executable, "-c", SOURCE, agent], timeout=30, check=False)
    assert second.returncode == 0
    assert node_agent.request(agent, ["/bin/true"], None) == (0, b"", b"")

    stale = tmp_path / "stale" / "agent.sock"
    stale.parent.mkdir()
    with socket.socket(socket.AF_UNIX) as sock:
        sock.bind(str(stale))  # a socket no agent listens on any more (a crashed one's)
    with pytest.raises(ConnectionRefusedError):
        node_agent.request(str(stale), ["/bin/true"], None)
    proc = start(stale)
    try:
        assert node_agent.request(str(stale), ["/bin/sh", "-c", "echo again"], None) == (0, b"again\n", b"")
    finally:
        proc.terminate()
        proc.wait(10)


def test_no_agent_is_a_connection_error_before_anything_runs(tmp_path):
    with pytest.raises(FileNotFoundError):
        node_agent.request(str(tmp_path / "none.sock"), ["/bin/true"], None)
