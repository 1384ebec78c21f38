#!/usr/bin/python
# Copyright (c) 2026, geostack.cluster maintainers
# Apache License 2.0 (see galaxy.yml)
"""Write a role's files, directories and links in one task."""

from __future__ import annotations

DOCUMENTATION = r"""
module: files
short_description: Write a role's files, directories and links in one task, only where they differ
description:
  - The C(geostack.cluster.files) action renders nothing itself. Give each file's wanted C(content) (for example from
    C(lookup('ansible.builtin.template', ...))) or a C(src) file on the controller. It reads the node once (the checksums,
    owners and modes of every path, with M(geostack.cluster.node_state)) and sends to this module only the entries that
    differ, which it writes in one call.
  - All or nothing for files with C(validate). Every new file is written to a temporary file beside its destination and
    checked first; if one check fails, no file is replaced.
  - Supports check mode (reports what would change) and diff mode (for files whose old and new content is text and not
    C(no_log)).
version_added: 0.2.0
author:
  - geostack.cluster maintainers (@geostack)
options:
  files:
    description:
      - The entries to write, as the C(geostack.cluster.files) action sends them (only those that differ).
      - The action's own input is friendlier, per entry C(dest), C(state), C(owner), C(group), C(mode), and for a file
        C(content) (text) or C(src) (a file on the controller, found like M(ansible.builtin.copy)'s src), C(validate)
        and C(no_log) (never show its content or diff), for a link C(src) (its target), and C(exists_only) for a file
        written by something else (a generated key), whose attributes alone are compared and which is never written.
    type: list
    elements: dict
    required: true
    suboptions:
      dest:
        description: Absolute path.
        type: path
        required: true
      state:
        description: What the path must be.
        type: str
        default: file
        choices: [file, directory, link, absent]
      content_b64:
        description: A file's content, base64-encoded.
        type: str
      src:
        description: A link's target.
        type: str
      owner:
        description: Owner name.
        type: str
      group:
        description: Group name.
        type: str
      mode:
        description: Octal mode, such as C(0644).
        type: str
      validate:
        description: A command run on the new file (C(%s)) before it replaces the old one.
        type: str
attributes:
  check_mode:
    description: Can run in check mode and report what it would change without changing anything.
    support: full
  diff_mode:
    description: Returns details on what has changed (or would change, in check mode) with C(--diff).
    support: partial
    details: Text files only; never for C(no_log) entries.
"""

EXAMPLES = r"""
- name: Write Docker's configuration
  geostack.cluster.files:
    files:
      - {dest: /etc/docker, state: directory, owner: root, group: root, mode: "0755"}
      - dest: /etc/docker/daemon.json
        content: "{{ docker_daemon_options | to_nice_json(indent=2) }}\n"
        owner: root
        group: root
        mode: "0644"
        validate: dockerd --validate --config-file %s
  notify: docker daemon config changed
"""

RETURN = r"""
changed_files:
  description: The paths this run created, changed or removed (in check mode, would have).
  returned: always
  type: list
  elements: str
results:
  description: Per changed path, why it was changed.
  returned: always
  type: list
  elements: dict
"""

import base64
import grp
import os
import pwd
import shutil
import tempfile

from ansible.module_utils.basic import AnsibleModule


def _uid(owner):
    return pwd.getpwnam(owner).pw_uid if owner is not None else -1


def _gid(group):
    return grp.getgrnam(group).gr_gid if group is not None else -1


def _attrs(path, entry, follow=True):
    uid, gid = _uid(entry.get("owner")), _gid(entry.get("group"))
    if uid != -1 or gid != -1:
        os.chown(path, uid, gid) if follow else os.lchown(path, uid, gid)
    if entry.get("mode") is not None:
        os.chmod(path, int(str(entry["mode"]), 8))


def _validate(module, command, path):
    # A validate command is a shell command line (with %s for the file), as in ansible.builtin.copy.
    argv = command.replace("%s", path) if "%s" in command else f"{command} {path}"
    rc, out, err = module.run_command(argv, use_unsafe_shell=True)
    return rc, (err or out).strip()


def _remove(path):
    if os.path.isdir(path) and not os.path.islink(path):
        shutil.rmtree(path)
    elif os.path.lexists(path):
        os.unlink(path)


def main():
    module = AnsibleModule(
        argument_spec={
            "files": {
                "type": "list", "elements": "dict", "required": True,
                "options": {
                    "dest": {"type": "path", "required": True},
                    "state": {"type": "str", "default": "file", "choices": ["file", "directory", "link", "absent"]},
                    "content_b64": {"type": "str", "no_log": True},
                    "src": {"type": "str"},
                    "owner": {"type": "str"},
                    "group": {"type": "str"},
                    "mode": {"type": "str"},
                    "validate": {"type": "str"},
                },
            },
        },
        supports_check_mode=True,
    )
    entries = module.params["files"]
    for entry in entries:
        for key in ("owner", "group"):
            if entry.get(key) is not None:
                try:
                    (_uid if key == "owner" else _gid)(entry[key])
                except KeyError:
                    module.fail_json(msg=f"{entry['dest']}: {key} {entry[key]} does not exist on the node")
        if entry["state"] == "file" and entry.get("content_b64") is None:
            module.fail_json(msg=f"{entry['dest']}: a file needs its content")
        if entry["state"] == "link" and not entry.get("src"):
            module.fail_json(msg=f"{entry['dest']}: a link needs src")
    if module.check_mode:
        module.exit_json(changed=bool(entries), changed_files=[e["dest"] for e in entries])

    # Directories first (files go into them); then every file to a temporary
    # file beside it, all checked before any replaces its destination.
    for entry in entries:
        if entry["state"] == "directory":
            if os.path.lexists(entry["dest"]) and not os.path.isdir(entry["dest"]):
                _remove(entry["dest"])
            os.makedirs(entry["dest"], exist_ok=True)
            _attrs(entry["dest"], entry)
    staged = []
    try:
        for entry in entries:
            if entry["state"] != "file":
                continue
            directory = os.path.dirname(entry["dest"])
            if not os.path.isdir(directory):
                module.fail_json(msg=f"{entry['dest']}: its directory {directory} does not exist")
            fd, tmp = tempfile.mkstemp(dir=directory, prefix=f".{os.path.basename(entry['dest'])}.geostack-")
            staged.append((entry, tmp))
            with os.fdopen(fd, "wb") as handle:
                handle.write(base64.b64decode(entry["content_b64"]))
            _attrs(tmp, entry)
            if entry.get("validate"):
                rc, out = _validate(module, entry["validate"], tmp)
                if rc != 0:
                    module.fail_json(msg=f"{entry['dest']}: the new content fails '{entry['validate']}' (rc {rc}): {out[:2000]}; nothing was replaced")
        for entry in entries:
            dest = entry["dest"]
            if entry["state"] == "directory":
                continue
            if entry["state"] == "absent":
                _remove(dest)
            elif entry["state"] == "link":
                if os.path.isdir(dest) and not os.path.islink(dest):
                    module.fail_json(msg=f"{dest}: is a directory, not replaced by a link")
                tmp = f"{dest}.geostack-link"
                if os.path.lexists(tmp):
                    os.unlink(tmp)
                os.symlink(entry["src"], tmp)
                if entry.get("owner") is not None or entry.get("group") is not None:
                    os.lchown(tmp, _uid(entry.get("owner")), _gid(entry.get("group")))
                os.replace(tmp, dest)
            else:
                tmp = next(t for e, t in staged if e is entry)
                if os.path.isdir(dest) and not os.path.islink(dest):
                    module.fail_json(msg=f"{dest}: is a directory, not replaced by a file")
                os.replace(tmp, dest)
                staged.remove((entry, tmp))
    finally:
        for _entry, tmp in staged:
            if os.path.exists(tmp):
                os.unlink(tmp)
    module.exit_json(changed=bool(entries), changed_files=[e["dest"] for e in entries])


if __name__ == "__main__":
    main()
