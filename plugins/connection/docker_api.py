# Copyright (c) 2026, geostack.cluster maintainers
# Apache License 2.0 (see galaxy.yml)

from __future__ import annotations

DOCUMENTATION = r"""
name: docker_api
short_description: Run tasks in Docker containers through the Docker API, retrying an exec whose output was lost
version_added: 0.2.0
description:
  - The connection the local cloud's nodes and the Molecule scenarios' nodes use. It is
    P(community.docker.docker_api#connection) with one difference.
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
"""

import re
import time

from ansible.utils.display import Display
from ansible_collections.community.docker.plugins.connection.docker_api import Connection as DockerApiConnection

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


class Connection(DockerApiConnection):
    """community.docker.docker_api, with Ansible's read commands run again when their output was lost."""

    transport = "geostack.cluster.docker_api"

    def exec_command(self, cmd, in_data=None, sudoable=False):
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
