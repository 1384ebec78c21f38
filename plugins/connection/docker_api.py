# Copyright (c) 2026, geostack.cluster maintainers
# Apache License 2.0 (see galaxy.yml)

from __future__ import annotations

DOCUMENTATION = r"""
name: docker_api
short_description: Run tasks in Docker containers through the Docker API, retrying an exec whose output was lost
version_added: 0.2.0
description:
  - The connection the local cloud's nodes and the Molecule scenarios' nodes use. It is
    P(community.docker.docker_api#connection) with two differences.
  - A Docker exec costs about 30 ms of the Docker engine's CPU (dockerd, containerd, the shim and runc) besides the
    command. Where the controller runs as root beside the engine (the local cloud, the Molecule scenarios), the
    connection starts a small agent in each container it runs tasks in, with one Docker exec, and hands it each
    command over a Unix socket in the container's C(/run), reached through C(/proc/<the container's PID>/root). The
    command runs as a Docker exec would (C(/bin/sh -c), as root, with the exec's environment and umask, its stdin, and
    its stdout, stderr and exit code sent back). The
    agent leaves after 10 minutes without a command. Set O(node_agent) to false for plain Docker execs; it is not
    used with become, another user, O(extra_env), O(working_dir), O(privileged), a remote Docker host, or a controller
    that does not see the engine's processes (it then falls back to Docker execs by itself).
  - Under load, Docker Engine 20.10 can return an exec whose output is empty or cut short and whose exit code is not
    known yet; community.docker reports that as exit code 0 with what arrived (community.docker issue 644), and the task
    then fails with "failed to resolve remote temporary directory" or "Error while determining user and group ID".
  - This connection runs such an exec again, up to O(lost_output_retries) times, but only for the commands of Ansible's
    own that always print and change nothing when repeated (resolving the home directory, creating the temporary
    directory, reading the user's ids). A module's run is never repeated. The temporary directory's command is run
    again with C(mkdir -p), because the lost exec may have made the directory already.
author:
  - geostack.cluster maintainers (@geostack)
extends_documentation_fragment:
  - community.docker._docker.api_documentation
  - community.docker._docker.api_environment_documentation
  - community.docker._docker.var_names
options:
  remote_user:
    type: str
    description: The user that runs the commands in the container.
    vars:
      - name: ansible_user
      - name: ansible_docker_user
    ini:
      - section: defaults
        key: remote_user
    env:
      - name: ANSIBLE_REMOTE_USER
    cli:
      - name: user
    keyword:
      - name: remote_user
  remote_addr:
    type: str
    description: The name or id of the container.
    default: inventory_hostname
    vars:
      - name: inventory_hostname
      - name: ansible_host
      - name: ansible_docker_host
  container_timeout:
    type: integer
    default: 10
    description: Seconds to wait for output from the container once a command started.
    env:
      - name: ANSIBLE_TIMEOUT
      - name: ANSIBLE_DOCKER_TIMEOUT
    ini:
      - key: timeout
        section: defaults
      - key: timeout
        section: docker_connection
    vars:
      - name: ansible_docker_timeout
    cli:
      - name: timeout
  extra_env:
    type: dict
    description: Extra environment variables for the commands run in the container (as Ansible variables only).
    vars:
      - name: ansible_docker_extra_env
  working_dir:
    type: string
    description: The directory in the container that commands run in.
    env:
      - name: ANSIBLE_DOCKER_WORKING_DIR
    ini:
      - key: working_dir
        section: docker_connection
    vars:
      - name: ansible_docker_working_dir
  privileged:
    type: boolean
    default: false
    description: Run the commands with extended privileges.
    env:
      - name: ANSIBLE_DOCKER_PRIVILEGED
    ini:
      - key: privileged
        section: docker_connection
    vars:
      - name: ansible_docker_privileged
  lost_output_retries:
    type: integer
    default: 3
    description: How many times to run again one of Ansible's own read commands whose exec came back without its whole output.
    vars:
      - name: geostack_docker_lost_output_retries
  node_agent:
    type: boolean
    default: true
    description:
      - Run the commands through the node agent (see above) where it can be used, instead of a Docker exec each.
    env:
      - name: GEOSTACK_DOCKER_NODE_AGENT
    vars:
      - name: geostack_docker_node_agent
"""

import hashlib
import os
import re
import time
from pathlib import Path

from ansible.errors import AnsibleConnectionFailure
from ansible.utils.display import Display
from ansible_collections.community.docker.plugins.connection.docker_api import Connection as DockerApiConnection
from ansible_collections.geostack.cluster.plugins.plugin_utils import node_agent

display = Display()

# Ansible's own commands that always print and are safe to repeat, each with the shape of its whole output: `echo ~`
# (the remote home), `( umask 77 && mkdir -p ... && echo ansible-tmp-...=... )` (the temporary directory), and
# `id -u && id -g` (the ids community.docker's put_file asks for: two lines).
_MUST_PRINT = (
    (re.compile(r"echo ~"), re.compile(rb"\S")),
    (re.compile(r"echo ansible-tmp-"), re.compile(rb"ansible-tmp-[^=\s]*=\S")),
    (re.compile(r"id -u && id -g"), re.compile(rb"\A\s*\d+\s+\d+\s*\Z")),
)
# The second mkdir of Ansible's temporary-directory command, the one without -p.
_MAKE_TMP = re.compile(r"(&&\s*mkdir) (?!-p)")


def _output_lost(cmd, stdout):
    """True when cmd is one of Ansible's read commands and stdout is not the whole of what it prints."""
    return any(command.search(cmd) and not whole.search(stdout or b"") for command, whole in _MUST_PRINT)


_AGENT_SOURCE = Path(node_agent.__file__).read_text(encoding="utf-8")
# The socket's name changes with the agent's source: a collection with another agent starts its own.
_AGENT_SOCKET = f"/run/geostack-agent/{hashlib.sha256(_AGENT_SOURCE.encode()).hexdigest()[:16]}.sock"
# How long a new agent may take to listen (a node's python3 starts in about 30 ms).
_AGENT_START_SECONDS = 5


class Connection(DockerApiConnection):
    """community.docker.docker_api, with commands run through a node agent where it can be, and Ansible's read
    commands run again when their output was lost."""

    transport = "geostack.cluster.docker_api"

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        # The agent's socket as this controller reaches it; None until looked for, False when it cannot be used.
        self._agent = None

    def _agent_path(self):
        """The path of the container's agent socket from here, or False when the agent cannot be used."""
        if self._agent is not None:
            return self._agent
        self._agent = False
        if not self.get_option("node_agent"):
            return False
        self._connect()
        if (os.geteuid() != 0 or self.become is not None
                or self.get_option("remote_user") not in (None, "", "root") or self.get_option("extra_env")
                or self.get_option("working_dir") is not None or self.get_option("privileged")
                or not str(self.get_option("docker_host") or "unix://").startswith("unix://")):
            return False
        container = self._call_client(lambda client: client.get_json("/containers/{0}/json", self.get_option("remote_addr")))
        state, pid = container.get("State") or {}, (container.get("State") or {}).get("Pid") or 0
        if not state.get("Running") or state.get("Paused") or pid <= 0:
            return False
        root = f"/proc/{pid}/root"
        try:
            # The PID is the engine's; it is this container's only where the controller sees the engine's processes.
            if Path(root, "etc/hostname").read_text(encoding="utf-8").strip() != (container.get("Config") or {}).get("Hostname"):
                return False
        except OSError:
            return False
        self._agent = root + _AGENT_SOCKET
        return self._agent

    def _start_agent(self):
        """Start the container's agent with one detached Docker exec: the exec's id, or None when Docker cannot start
        it (no python3 in the container, for one)."""
        data = {"User": "", "Tty": False, "AttachStdin": False, "AttachStdout": False, "AttachStderr": False,
                "Cmd": ["python3", "-c", _AGENT_SOURCE, _AGENT_SOCKET]}
        try:
            exec_id = self.client.post_json_to_json("/containers/{0}/exec", self.get_option("remote_addr"), data=data)["Id"]
            self.client.post_json("/exec/{0}/start", exec_id, data={"Detach": True, "Tty": False})
        except Exception as error:  # whatever Docker said, the commands go through Docker execs instead
            display.vvv(f"no node agent ({error}); using Docker execs", host=self.get_option("remote_addr"))
            return None
        return exec_id

    def _agent_exec(self, cmd, in_data):
        """(rc, stdout, stderr) of cmd run by the container's agent, started first when none listens; None when no agent
        answers, before anything ran."""
        path = self._agent_path()
        if not path:
            return None
        argv = [self._play_context.executable, "-c", cmd]
        started = deadline = None
        while True:
            try:
                result = node_agent.request(path, argv, in_data)
            except (FileNotFoundError, ConnectionRefusedError):
                # No agent listens: start one, once, and wait for it to listen.
                if started is None:
                    started, deadline = self._start_agent(), time.monotonic() + _AGENT_START_SECONDS
                    if started is None:
                        self._agent = False
                        return None
                else:
                    agent = self._call_client(lambda client, exec_id=started: client.get_json("/exec/{0}/json", exec_id))
                    # An agent that failed or did not listen in time: Docker execs from here on.
                    if (not agent.get("Running") and agent.get("ExitCode") != 0) or time.monotonic() > deadline:
                        display.vvv(f"no node agent ({agent.get('ExitCode')}); using Docker execs", host=self.get_option("remote_addr"))
                        self._agent = False
                        return None
                time.sleep(0.02)
                continue
            except (OSError, EOFError) as error:
                # The command may have run: reported as Docker reports an exec that went away, not run again.
                raise AnsibleConnectionFailure(f"the node agent of {self.get_option('remote_addr')} went away: {error}") from error
            display.vvv(f"EXEC {argv!r} through the node agent{f', with stdin ({len(in_data)} bytes)' if in_data is not None else ''}",
                        host=self.get_option("remote_addr"))
            return result

    def exec_command(self, cmd, in_data=None, sudoable=False):
        if self._agent_path():
            # As the base class's exec_command does first (it sets up become, and the connection).
            super(DockerApiConnection, self).exec_command(cmd, in_data=in_data, sudoable=sudoable)
            result = self._agent_exec(cmd, in_data)
            if result is not None:
                return result
        retries = self.get_option("lost_output_retries")
        attempt = 0
        run = cmd
        while True:
            rc, stdout, stderr = super().exec_command(run, in_data=in_data, sudoable=sudoable)
            lost = rc == 0 and not stderr and in_data is None and _output_lost(cmd, stdout)
            if not lost or attempt >= retries:
                return rc, stdout, stderr
            attempt += 1
            display.warning(f"{self.get_option('remote_addr')}: the exec of {cmd!r} came back without its whole output "
                            f"({stdout!r}); running it again ({attempt} of {retries})")
            # The lost exec may have made the temporary directory already: the run again makes it with -p, so
            # that it answers instead of failing on "File exists" (the name is unique to this task).
            run = _MAKE_TMP.sub(r"\1 -p ", cmd)
            time.sleep(attempt)
