#!/usr/bin/python
# Copyright (c) 2026, geostack.cluster maintainers
# Apache License 2.0 (see galaxy.yml)
"""Install an apt repository's signing key only when it is the pinned one."""

from __future__ import annotations

DOCUMENTATION = r"""
module: apt_signing_key
short_description: Install an apt repository's signing key, checked against its pinned fingerprints
description:
  - Downloads the OpenPGP key file at O(url) on the node, reads the keys it holds, and writes it to O(dest) (for a
    C(Signed-By) field) only when every key in it is one of O(fingerprints) and, if given, the file's sha256 is
    O(checksum). A file that holds any other key, no key, a secret key, or is not a key file at all fails the task
    naming the keys it found, and nothing is written.
  - Every primary key must be pinned, by its own fingerprint or one of its subkeys', since apt accepts a signature by
    any key of the keyring.
  - A fingerprint outlives a vendor's re-export of the same key (new expiry, new signatures), which a checksum of the
    file does not; O(checksum) adds the stricter check where a vendor's file is stable.
  - When O(dest) already holds a file that passes the same checks, nothing is downloaded (O(force) downloads anyway,
    to take in a vendor's re-export).
  - With neither O(fingerprints) nor O(checksum) the first download is trusted as it is, with a warning that names
    the fingerprints to pin.
  - Parses the OpenPGP packets itself (RFC 9580, key versions 4 to 6); the node needs no GnuPG.
version_added: 0.3.0
author:
  - geostack.cluster maintainers (@geostack)
options:
  url:
    description: Where the key file (ASCII-armored or binary) is downloaded from, on the node.
    type: str
    required: true
  dest:
    description: The keyring file to write; its directory is created (0755) if missing.
    type: path
    required: true
  fingerprints:
    description: The fingerprints (40 or 64 hex digits; spaces and a leading C(0x) allowed) of the keys the file may hold.
    type: list
    elements: str
    default: []
  checksum:
    description: C(sha256:<64 hex digits>) of the file, or empty for no file checksum.
    type: str
    default: ""
  force:
    description: Download and check the file even when O(dest) already holds one that passes the checks.
    type: bool
    default: false
  mode:
    description: The file's mode (it is owned by root).
    type: str
    default: "0644"
  timeout:
    description: Seconds the download may take.
    type: int
    default: 30
  validate_certs:
    description: Whether to verify the server's certificate.
    type: bool
    default: true
  fingerprints_variable:
    description: The variable O(fingerprints) came from, named in the error messages.
    type: str
    default: fingerprints
  checksum_variable:
    description: The variable O(checksum) came from, named in the error messages.
    type: str
    default: checksum
attributes:
  check_mode:
    description: Downloads and checks the key, and reports whether it would be written.
    support: full
  diff_mode:
    description: No diff of the key's bytes; the result names the fingerprints.
    support: none
"""

EXAMPLES = r"""
- name: Install Grafana's signing key
  geostack.cluster.apt_signing_key:
    url: https://apt.grafana.com/gpg.key
    dest: /etc/apt/keyrings/grafana.asc
    fingerprints: [B53AE77BADB630A683046005963FA27710458545]
    fingerprints_variable: grafana_repo_key_fingerprints
"""

RETURN = r"""
fingerprints:
  description: The fingerprints of the primary keys in the file.
  returned: success
  type: list
  elements: str
  sample: [B53AE77BADB630A683046005963FA27710458545]
subkeys:
  description: The fingerprints of their subkeys.
  returned: success
  type: list
  elements: str
sha256:
  description: The file's sha256.
  returned: success
  type: str
pinned:
  description: Whether the file was checked against O(fingerprints) or O(checksum).
  returned: always
  type: bool
downloaded:
  description: Whether the file was downloaded in this run.
  returned: always
  type: bool
"""

import hashlib
import os
import tempfile

from ansible.module_utils.basic import AnsibleModule
from ansible.module_utils.urls import fetch_url
from ansible_collections.geostack.cluster.plugins.module_utils.openpgp import (
    KeyFileError,
    invalid_fingerprints,
    keys,
    unpinned_keys,
)


def check_key_file(content, fingerprints, checksum, fingerprints_variable="fingerprints", checksum_variable="checksum"):
    """(keys found, sha256, error or ''): whether content is a key file apt may trust under the pins."""
    digest = hashlib.sha256(content).hexdigest()
    if checksum and checksum.split(":", 1)[-1].lower() != digest:
        return [], digest, f"its sha256 is {digest}, not the {checksum_variable} {checksum}"
    try:
        found = keys(content)
    except KeyFileError as exc:
        return [], digest, str(exc)
    unpinned = unpinned_keys(found, fingerprints) if fingerprints else []
    if unpinned:
        return found, digest, (f"it holds the key(s) {', '.join(unpinned)}, which {fingerprints_variable} does not list "
                               f"({', '.join(fingerprints)}); if the vendor published a new key, check its "
                               f"fingerprint and add it to {fingerprints_variable}")
    return found, digest, ""


def main():
    module = AnsibleModule(
        argument_spec={
            "url": {"type": "str", "required": True},
            "dest": {"type": "path", "required": True},
            "fingerprints": {"type": "list", "elements": "str", "default": []},
            "checksum": {"type": "str", "default": ""},
            "force": {"type": "bool", "default": False},
            "mode": {"type": "str", "default": "0644"},
            "timeout": {"type": "int", "default": 30},
            "validate_certs": {"type": "bool", "default": True},
            "fingerprints_variable": {"type": "str", "default": "fingerprints"},
            "checksum_variable": {"type": "str", "default": "checksum"},
        },
        supports_check_mode=True,
    )
    p = module.params
    names = {"fingerprints_variable": p["fingerprints_variable"], "checksum_variable": p["checksum_variable"]}
    bad = invalid_fingerprints(p["fingerprints"])
    if bad:
        module.fail_json(msg=f"{p['fingerprints_variable']} must hold fingerprints of 40 or 64 hex digits, not "
                             f"{', '.join(bad)}", pinned=False, downloaded=False)
    if p["checksum"] and not (p["checksum"].startswith("sha256:") and len(p["checksum"]) == 71):
        module.fail_json(msg=f"{p['checksum_variable']} must be sha256:<64 hex digits>, got {p['checksum']}",
                         pinned=False, downloaded=False)
    pinned = bool(p["fingerprints"] or p["checksum"])
    dest = p["dest"]
    existing = None
    if os.path.exists(dest):
        with open(dest, "rb") as handle:
            existing = handle.read()

    result = {"changed": False, "pinned": pinned, "downloaded": False}
    found, digest, error = check_key_file(existing, p["fingerprints"], p["checksum"], **names) if existing else ([], "", "x")
    if error or p["force"]:
        response, info = fetch_url(module, p["url"], timeout=p["timeout"])
        if response is None or info.get("status") != 200:
            module.fail_json(msg=f"could not download {p['url']}: {info.get('msg', '')} (status {info.get('status')})",
                             **result)
        content = response.read()
        result["downloaded"] = True
        found, digest, error = check_key_file(content, p["fingerprints"], p["checksum"], **names)
        if error:
            module.fail_json(msg=f"the key file at {p['url']} is refused and {dest} is left as it was: {error}",
                             fingerprints=[k["fingerprint"] for k in found], sha256=digest, **result)
        if content != existing:
            result["changed"] = True
            if not module.check_mode:
                directory = os.path.dirname(dest)
                if not os.path.isdir(directory):
                    os.makedirs(directory, mode=0o755)
                handle, temp = tempfile.mkstemp(dir=directory, prefix=".apt_signing_key.")
                with os.fdopen(handle, "wb") as out:
                    out.write(content)
                module.atomic_move(temp, dest)
            if not pinned:
                module.warn(f"{dest}: the key at {p['url']} is trusted as downloaded, unchecked; pin it by setting "
                            f"{p['fingerprints_variable']} to [{', '.join(k['fingerprint'] for k in found)}] once you "
                            f"have checked these against the vendor's published fingerprint")
    if os.path.exists(dest):
        result["changed"] = module.set_owner_if_different(dest, "root", result["changed"])
        result["changed"] = module.set_group_if_different(dest, "root", result["changed"])
        result["changed"] = module.set_mode_if_different(dest, p["mode"], result["changed"])
    module.exit_json(fingerprints=[k["fingerprint"] for k in found], subkeys=[s for k in found for s in k["subkeys"]],
                     sha256=digest, **result)


if __name__ == "__main__":
    main()
