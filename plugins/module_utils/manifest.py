# Copyright (c) 2026, geostack.cluster maintainers
# Apache License 2.0 (see galaxy.yml)
"""What a role wants on a node, compared with what the node has.

The node_state action reads a node once (the node_state module) and lists the
differences (drift) with these functions; the files action uses the same
comparison to decide which files to write. One comparison for both, so a role
never skips a file its converge would have changed.

A file entry (a "manifest" entry) is a dict:
  dest     absolute path (required)
  state    file (default), directory, link or absent
  content  the wanted text of a file (or `src`, a file on the controller); the
           actions turn either into `checksum` (SHA-1) before the node is asked
  exists_only  for a file written by something else (a generated key): only
           its existence, owner, group and mode count
  read_only  read the path (for the caller to compare), never a difference
  owner, group, mode   ("0644"; octal only)
  src      for a link: its target
  validate for a file: a command run on the new file before it replaces the old (%s)
  no_log   never show this file's content or diff
"""

from __future__ import annotations

import hashlib

FILE_STATES = ("file", "directory", "link", "absent")
SERVICE_STATES = ("started", "stopped")


class ManifestError(ValueError):
    """A manifest entry that cannot be compared (names the entry)."""


def sha1(data: bytes) -> str:
    return hashlib.sha1(data).hexdigest()


def normalize_file(entry, index: int = 0) -> dict:
    """A checked copy of one file entry, with its state filled in and its mode as 4 octal digits."""
    if not isinstance(entry, dict):
        raise ManifestError(f"files[{index}] must be a dict, got {type(entry).__name__}")
    item = dict(entry)
    dest = item.get("dest")
    if not isinstance(dest, str) or not dest.startswith("/"):
        raise ManifestError(f"files[{index}]: dest must be an absolute path, got {dest!r}")
    state = item.setdefault("state", "file")
    if state not in FILE_STATES:
        raise ManifestError(f"files[{index}] ({dest}): state must be one of {', '.join(FILE_STATES)}, got {state!r}")
    if state == "link" and not item.get("src"):
        raise ManifestError(f"files[{index}] ({dest}): a link needs src (its target)")
    mode = item.get("mode")
    if mode is not None:
        text = str(mode)
        if isinstance(mode, int) and not isinstance(mode, bool):
            # YAML read 0644 as the integer 420; Ansible's file modules take it as octal.
            text = f"{mode:o}"
        if not text.isdigit() or any(c not in "01234567" for c in text) or len(text) > 4:
            raise ManifestError(f"files[{index}] ({dest}): mode must be octal digits such as '0644', got {mode!r}")
        item["mode"] = text.zfill(4)
    return item


def file_drift(item: dict, current: dict | None) -> list[str]:
    """Why the node's file differs from the entry; [] when it matches."""
    dest, state = item["dest"], item["state"]
    if item.get("read_only"):
        return []
    current = current or {"exists": False}
    if state == "absent":
        return [f"{dest} exists (want absent)"] if current.get("exists") else []
    if not current.get("exists"):
        return [f"{dest} is missing"]
    want_type = "file" if state == "file" else state
    if current.get("type") != want_type:
        return [f"{dest} is a {current.get('type')} (want a {want_type})"]
    reasons = []
    if state == "link":
        if current.get("target") != item["src"]:
            reasons.append(f"{dest} points to {current.get('target')} (want {item['src']})")
        return reasons
    if state == "file" and "checksum" in item and current.get("checksum") != item["checksum"]:
        reasons.append(f"{dest} has other content")
    for key in ("owner", "group", "mode"):
        want = item.get(key)
        if want is not None and str(current.get(key)) != str(want):
            reasons.append(f"{dest} {key} is {current.get(key)} (want {want})")
    return reasons


def package_name(spec: str) -> str:
    return spec.split("=", 1)[0]


def package_drift(wanted, absent, current: dict) -> list[str]:
    """Packages not installed (or at another pinned version), and packages installed that must not be."""
    reasons = []
    for spec in wanted or []:
        name, _eq, version = spec.partition("=")
        have = current.get(name)
        if have is None:
            reasons.append(f"package {name} is not installed")
        elif version and not (have == version or (version.endswith("*") and have.startswith(version[:-1]))):
            reasons.append(f"package {name} is {have} (want {version})")
    reasons += [f"package {package_name(spec)} is installed (want absent)" for spec in absent or [] if current.get(package_name(spec))]
    return reasons


def normalize_service(entry, index: int = 0) -> dict:
    if isinstance(entry, str):
        entry = {"name": entry}
    if not isinstance(entry, dict) or not entry.get("name"):
        raise ManifestError(f"services[{index}] must be a unit name or a dict with a name, got {entry!r}")
    item = dict(entry)
    item.setdefault("state", "started")
    if item["state"] not in SERVICE_STATES:
        raise ManifestError(f"services[{index}] ({item['name']}): state must be started or stopped, got {item['state']!r}")
    return item


def service_drift(item: dict, current: dict | None) -> list[str]:
    """Why a unit is not in the wanted state; [] when it is."""
    name = item["name"]
    current = current or {}
    reasons = []
    active = current.get("active", "unknown")
    if current.get("load") == "not-found":
        return [f"service {name} does not exist"] if item["state"] == "started" or item.get("enabled") else []
    if item["state"] == "started" and active not in ("active", "reloading", "activating"):
        reasons.append(f"service {name} is {active} (want started)")
    if item["state"] == "stopped" and active in ("active", "reloading", "activating"):
        reasons.append(f"service {name} is {active} (want stopped)")
    enabled = item.get("enabled")
    if enabled is not None:
        is_enabled = current.get("enabled") in ("enabled", "enabled-runtime", "static", "alias", "indirect", "generated")
        if bool(enabled) and not is_enabled:
            reasons.append(f"service {name} is {current.get('enabled')} (want enabled)")
        if not bool(enabled) and current.get("enabled") in ("enabled", "enabled-runtime"):
            reasons.append(f"service {name} is enabled (want disabled)")
    return reasons


def group_drift(wanted: dict, current: dict) -> list[str]:
    """Users that must be members of a group and are not (or a group that is missing)."""
    reasons = []
    for group, members in (wanted or {}).items():
        have = current.get(group)
        if have is None:
            reasons.append(f"group {group} is missing")
            continue
        reasons += [f"user {user} is not in group {group}" for user in members or [] if user not in have]
    return reasons


def user_drift(wanted, current: dict) -> list[str]:
    return [f"user {name} is missing" for name in wanted or [] if current.get(name) is None]
