#!/usr/bin/python
# Copyright (c) 2026, geostack.cluster maintainers
# Apache License 2.0 (see galaxy.yml)
"""Read a node's packages, services, files, users and local endpoints in one call."""

from __future__ import annotations

DOCUMENTATION = r"""
module: node_state
short_description: Read what a role manages on a node in one round trip
description:
  - Reads, in one call and without changing anything, the state a role manages on a node
    (installed packages, systemd units, files, users and groups) and the answers of local
    read-only endpoints (HTTP URLs on the node, read-only commands).
  - It compares what it read with what the role wants and returns the differences as C(drift),
    one sentence each, so that a role can skip its converge tasks when nothing differs
    (see the collection's docs/performance.md).
version_added: 0.2.0
author:
  - geostack.cluster maintainers (@geostack)
options:
  packages:
    description:
      - Debian packages that must be installed, each C(name) or C(name=version) (a trailing C(*) in the version matches a prefix).
    type: list
    elements: str
    default: []
  absent_packages:
    description:
      - Debian packages that must not be installed.
    type: list
    elements: str
    default: []
  services:
    description:
      - systemd units, each a name (must run) or a dict with C(name), C(state) (V(started) or V(stopped), default V(started))
        and optionally C(enabled) (a boolean). C(.service) is implied when the name has no suffix.
    type: list
    elements: raw
    default: []
  files:
    description:
      - Files, directories and links, each a dict with C(dest), C(state) (V(file), V(directory), V(link) or V(absent)),
        and optionally C(checksum) (the SHA-1 of the wanted content), C(src) (a link's target), C(owner), C(group)
        and C(mode) (octal). The C(geostack.cluster.node_state) action fills C(checksum) from C(content) or from a
        C(src) file on the controller, so content never travels to the node.
    type: list
    elements: dict
    default: []
  users:
    description:
      - Users that must exist.
    type: list
    elements: str
    default: []
  groups:
    description:
      - Groups that must exist, with the users that must be their members.
    type: dict
    default: {}
  http:
    description:
      - URLs to request on the node (loopback or its own addresses). A failure to connect is
        reported as status -1, not as a failure.
    type: list
    elements: dict
    default: []
    suboptions:
      name:
        description: The key of this answer in the result.
        type: str
        required: true
      url:
        description: The URL.
        type: str
        required: true
      user:
        description: Basic-auth user.
        type: str
      password:
        description: Basic-auth password.
        type: str
      timeout:
        description: Seconds to wait for the answer.
        type: float
        default: 5
      unix_socket:
        description: Connect through this Unix socket instead of the URL's host.
        type: path
  commands:
    description:
      - Read-only commands to run; their rc, stdout and stderr are reported.
    type: list
    elements: dict
    default: []
    suboptions:
      name:
        description: The key of this command's output in the result.
        type: str
        required: true
      argv:
        description: The command and its arguments.
        type: list
        elements: str
        required: true
      timeout:
        description: Seconds before the command is killed (reported as rc -1).
        type: float
        default: 30
attributes:
  check_mode:
    description: Runs in check mode as it does otherwise (it only reads).
    support: full
  diff_mode:
    description: Has no diff to show (it only reads).
    support: none
notes:
  - It never changes anything, so it also runs under C(--check).
"""

EXAMPLES = r"""
- name: Read Docker's state on the node
  geostack.cluster.node_state:
    packages: [docker.io, docker-cli]
    services: [{name: docker, state: started, enabled: true}]
    files:
      - {dest: /etc/docker/daemon.json, content: "{}\n", owner: root, group: root, mode: "0644"}
  register: docker_state

- name: Converge Docker only when something differs
  ansible.builtin.include_tasks: converge.yml
  when: docker_state.drift | length > 0
"""

RETURN = r"""
drift:
  description: How the node differs from what was asked, one sentence per difference; empty when it matches.
  returned: always
  type: list
  elements: str
  sample: ["/etc/docker/daemon.json has other content", "service docker is inactive (want started)"]
missing_packages:
  description: The entries of O(packages) that are not installed (or at another version).
  returned: always
  type: list
  elements: str
packages:
  description: Installed version per package, V(null) when not installed.
  returned: always
  type: dict
services:
  description:
    - Per unit, C(load) (loaded, not-found...), C(active) (active, inactive, failed...) and C(enabled)
      (enabled, disabled, static...).
  returned: always
  type: dict
files:
  description:
    - Per path, C(exists), C(type) (file, directory, link, other), C(owner), C(group), C(mode) (4 octal digits),
      C(checksum) (SHA-1 of a regular file) and C(target) (of a link).
  returned: always
  type: dict
users:
  description: Per user, C(uid), C(home) and C(shell), or V(null).
  returned: always
  type: dict
groups:
  description: Per group, its member list, or V(null).
  returned: always
  type: dict
http:
  description: Per name, C(status) (-1 when the connection failed), C(body), C(json) (when the body is JSON) and C(error).
  returned: always
  type: dict
commands:
  description: Per name, C(rc), C(stdout) and C(stderr).
  returned: always
  type: dict
"""

import grp
import hashlib
import os
import pwd
import stat

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.geostack.cluster.plugins.module_utils.http_probe import http_request
from ansible_collections.geostack.cluster.plugins.module_utils.manifest import (
    ManifestError,
    file_drift,
    group_drift,
    normalize_file,
    normalize_service,
    package_drift,
    package_name,
    service_drift,
    user_drift,
)


def _packages(module, names):
    wanted = sorted({package_name(name) for name in names})
    found = dict.fromkeys(wanted)
    if not wanted:
        return found
    # One dpkg-query for all of them; unknown names only print to stderr.
    _rc, out, _err = module.run_command(["dpkg-query", "-W", "-f", "${Package}\t${db:Status-Abbrev}\t${Version}\n", *wanted], expand_user_and_vars=False)
    for line in out.splitlines():
        name, status, version = ([*line.split("\t"), "", ""])[:3]
        if name in found and status.startswith("ii"):
            found[name] = version
    return found


def _services(module, names):
    units = [name if "." in name else f"{name}.service" for name in names]
    found = {}
    if not units:
        return found
    _rc, out, _err = module.run_command(["systemctl", "show", "--property=LoadState,ActiveState,UnitFileState", "--", *units], expand_user_and_vars=False)
    # One block per unit, in the order asked, separated by blank lines.
    blocks = [dict(line.split("=", 1) for line in block.splitlines() if "=" in line) for block in out.strip().split("\n\n")]
    for name, block in zip(names, blocks + [{}] * (len(names) - len(blocks)), strict=False):
        found[name] = {
            "load": block.get("LoadState", "unknown"),
            "active": block.get("ActiveState", "unknown"),
            "enabled": block.get("UnitFileState", "") or "unknown",
        }
    return found


def _sha1(path):
    digest = hashlib.sha1()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _name(lookup, ident):
    try:
        return lookup(ident)[0]
    except KeyError:
        return str(ident)


def _paths(paths):
    found = {}
    for path in paths:
        try:
            st = os.lstat(path)
        except FileNotFoundError:
            found[path] = {"exists": False}
            continue
        except OSError as error:
            found[path] = {"exists": False, "error": str(error)}
            continue
        kind = "file" if stat.S_ISREG(st.st_mode) else "directory" if stat.S_ISDIR(st.st_mode) else "link" if stat.S_ISLNK(st.st_mode) else "other"
        entry = {
            "exists": True,
            "type": kind,
            "owner": _name(pwd.getpwuid, st.st_uid),
            "group": _name(grp.getgrgid, st.st_gid),
            "mode": f"{stat.S_IMODE(st.st_mode):04o}",
        }
        if kind == "file":
            try:
                entry["checksum"] = _sha1(path)
            except OSError as error:
                entry["error"] = str(error)
        elif kind == "link":
            entry["target"] = os.readlink(path)
        found[path] = entry
    return found


def _users(names):
    found = {}
    for name in names:
        try:
            record = pwd.getpwnam(name)
        except KeyError:
            found[name] = None
        else:
            found[name] = {"uid": record.pw_uid, "home": record.pw_dir, "shell": record.pw_shell}
    return found


def _groups(names):
    found = {}
    for name in names:
        try:
            found[name] = sorted(grp.getgrnam(name).gr_mem)
        except KeyError:
            found[name] = None
    return found


def _command(module, spec):
    argv = [str(a) for a in spec["argv"]]
    # A command that is not installed yet (a first run) is an answer, rc -1, not a failure.
    if not argv or (not module.get_bin_path(argv[0]) and not (os.path.isabs(argv[0]) and os.access(argv[0], os.X_OK))):
        return {"rc": -1, "stdout": "", "stderr": f"{argv[0] if argv else 'an empty argv'}: command not found"}
    limit = f"{float(spec.get('timeout') or 30):g}"
    # timeout(1) ends a command that hangs (exit 124), and kills it 5 s later if it must.
    rc, out, err = module.run_command(["timeout", "--kill-after=5", limit, *argv], expand_user_and_vars=False)
    if rc in (124, 137):
        return {"rc": -1, "stdout": out, "stderr": f"timed out after {limit} s"}
    return {"rc": rc, "stdout": out, "stderr": err}


def main():
    module = AnsibleModule(
        argument_spec={
            "packages": {"type": "list", "elements": "str", "default": []},
            "absent_packages": {"type": "list", "elements": "str", "default": []},
            "services": {"type": "list", "elements": "raw", "default": []},
            "files": {"type": "list", "elements": "dict", "default": []},
            "users": {"type": "list", "elements": "str", "default": []},
            "groups": {"type": "dict", "default": {}},
            "http": {
                "type": "list", "elements": "dict", "default": [],
                "options": {
                    "name": {"type": "str", "required": True},
                    "url": {"type": "str", "required": True},
                    "user": {"type": "str"},
                    "password": {"type": "str", "no_log": True},
                    "timeout": {"type": "float", "default": 5},
                    "unix_socket": {"type": "path"},
                },
            },
            "commands": {
                "type": "list", "elements": "dict", "default": [],
                "options": {
                    "name": {"type": "str", "required": True},
                    "argv": {"type": "list", "elements": "str", "required": True},
                    "timeout": {"type": "float", "default": 30},
                },
            },
        },
        supports_check_mode=True,
    )
    params = module.params
    try:
        services = [normalize_service(entry, i) for i, entry in enumerate(params["services"])]
        files = [normalize_file(entry, i) for i, entry in enumerate(params["files"])]
    except ManifestError as error:
        module.fail_json(msg=str(error))
    for spec in params["commands"]:
        if not spec["argv"]:
            module.fail_json(msg=f"commands[{spec['name']}]: argv is empty")
    groups = {name: list(members or []) for name, members in params["groups"].items()}

    state = {
        "packages": _packages(module, params["packages"] + params["absent_packages"]),
        "services": _services(module, [s["name"] for s in services]),
        "files": _paths([f["dest"] for f in files]),
        "users": _users(params["users"]),
        "groups": _groups(list(groups)),
        "http": {spec["name"]: http_request(spec["url"], spec.get("user"), spec.get("password"), spec.get("timeout") or 5,
                                            spec.get("unix_socket")) for spec in params["http"]},
        "commands": {spec["name"]: _command(module, spec) for spec in params["commands"]},
    }
    drift = package_drift(params["packages"], params["absent_packages"], state["packages"])
    drift += user_drift(params["users"], state["users"])
    drift += group_drift(groups, state["groups"])
    for item in files:
        drift += file_drift(item, state["files"][item["dest"]])
    for item in services:
        drift += service_drift(item, state["services"][item["name"]])
    missing = [spec for spec in params["packages"] if package_drift([spec], [], state["packages"])]
    module.exit_json(changed=False, drift=drift, missing_packages=missing, **state)


if __name__ == "__main__":
    main()
