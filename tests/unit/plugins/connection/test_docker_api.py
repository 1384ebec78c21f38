"""geostack.cluster.docker_api: an exec of one of Ansible's read commands whose output Docker lost is run again,
nothing else is."""

import pytest
from ansible_collections.community.docker.plugins.connection.docker_api import Connection as DockerApiConnection
from ansible_collections.geostack.cluster.plugins.connection import docker_api

MKTEMP = ("/bin/sh -c '( umask 77 && mkdir -p \"` echo ~/.ansible/tmp `\"&& mkdir \"` echo ~/.ansible/tmp/ansible-tmp-1 `\""
          " && echo ansible-tmp-1=\"` echo ~/.ansible/tmp/ansible-tmp-1 `\" ) && sleep 0'")


@pytest.fixture
def connection(monkeypatch):
    """A connection whose community.docker exec answers from a script of (rc, stdout, stderr), recording each call."""
    calls, answers = [], []

    def fake_exec(self, cmd, in_data=None, sudoable=False):
        calls.append((cmd, in_data))
        return answers.pop(0)

    monkeypatch.setattr(DockerApiConnection, "exec_command", fake_exec)
    monkeypatch.setattr(docker_api.time, "sleep", lambda seconds: None)
    conn = docker_api.Connection.__new__(docker_api.Connection)
    conn._agent = None
    options = {"lost_output_retries": 3, "remote_addr": "node-1", "node_agent": False}
    conn.get_option = options.__getitem__
    return conn, calls, answers


@pytest.mark.parametrize(("cmd", "whole"), [
    ("/bin/sh -c 'echo ~ && sleep 0'", b"/root\n"),
    (MKTEMP, b"ansible-tmp-1=/root/.ansible/tmp/ansible-tmp-1\n"),
    ("id -u && id -g", b"0\n0\n"),
])
def test_a_read_command_whose_output_was_lost_runs_again(connection, cmd, whole):
    conn, calls, answers = connection
    answers += [(0, b"", b""), (0, b"", b""), (0, whole, b"")]
    assert conn.exec_command(cmd) == (0, whole, b"")
    assert len(calls) == 3


@pytest.mark.parametrize(("cmd", "cut_short", "whole"), [
    ("id -u && id -g", b"0\n", b"0\n0\n"),
    (MKTEMP, b"ansible-tmp-1", b"ansible-tmp-1=/root/.ansible/tmp/ansible-tmp-1\n"),
])
def test_a_read_command_whose_output_was_cut_short_runs_again(connection, cmd, cut_short, whole):
    """Docker can hand back the first part of the output only (seen: `0\\n` for `id -u && id -g`)."""
    conn, calls, answers = connection
    answers += [(0, cut_short, b""), (0, whole, b"")]
    assert conn.exec_command(cmd) == (0, whole, b"")
    assert len(calls) == 2


def test_it_gives_up_after_the_retries_and_returns_what_docker_said(connection):
    conn, calls, answers = connection
    answers += [(0, b"", b"")] * 4
    assert conn.exec_command("id -u && id -g") == (0, b"", b"")
    assert len(calls) == 4


@pytest.mark.parametrize(("cmd", "in_data", "answer"), [
    ("/bin/sh -c 'rm -f -r /root/.ansible/tmp/ansible-tmp-1/ > /dev/null 2>&1 && sleep 0'", None, (0, b"", b"")),
    ("/bin/sh -c '/usr/bin/python3 && sleep 0'", b"module payload", (0, b"", b"")),
    ("id -u && id -g", None, (1, b"", b"")),
    ("id -u && id -g", None, (0, b"", b"id: not found")),
])
def test_anything_else_runs_once(connection, cmd, in_data, answer):
    conn, calls, answers = connection
    answers.append(answer)
    assert conn.exec_command(cmd, in_data=in_data) == answer
    assert calls == [(cmd, in_data)]


def test_the_temporary_directory_made_by_a_lost_exec_does_not_fail_the_run_again(connection):
    """Docker lost the first exec's output after it had made the directory: the run again makes it with -p."""
    conn, calls, answers = connection
    answers += [(0, b"", b""), (0, b"ansible-tmp-1=/root/.ansible/tmp/ansible-tmp-1\n", b"")]
    assert conn.exec_command(MKTEMP) == (0, b"ansible-tmp-1=/root/.ansible/tmp/ansible-tmp-1\n", b"")
    assert calls[0][0] == MKTEMP
    assert '&& mkdir -p "` echo ~/.ansible/tmp/ansible-tmp-1 `"' in calls[1][0]
    assert calls[1][0].count("mkdir -p") == 2
