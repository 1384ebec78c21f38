# Copyright (c) 2026, geostack.cluster maintainers
# Apache License 2.0 (see galaxy.yml)
"""Lookup: a content checksum of a directory tree on the controller."""

from __future__ import annotations

DOCUMENTATION = r"""
name: tree_checksum
version_added: 0.1.0
short_description: sha256 of a directory tree's (or a file's) content on the controller
description:
  - Hashes every file's relative path, executable bit and content, in sorted order, so the same tree always gives the same
    value and any change to a file, a name or a mode gives another.
  - For a file (an archive), the sha256 of its content.
  - Skips C(.git), C(__pycache__), C(*.pyc) and C(.venv), which do not belong to a deployed release.
  - Relative paths are searched like C(ansible.builtin.copy)'s src (the role's and the playbook's C(files/) folders).
options:
  _terms:
    description: Directories (or files) on the controller.
    required: true
    type: list
    elements: path
"""

EXAMPLES = r"""
release: "{{ lookup('geostack.cluster.tree_checksum', 'apps/users') }}"
"""

RETURN = r"""
_raw:
  description: One sha256 hex digest per directory.
  type: list
  elements: str
"""

import hashlib
import os

from ansible.errors import AnsibleLookupError
from ansible.plugins.lookup import LookupBase

_SKIP_DIRS = {".git", "__pycache__", ".venv"}


def tree_checksum(root: str) -> str:
    digest = hashlib.sha256()
    for base, dirs, files in os.walk(root):
        dirs[:] = sorted(d for d in dirs if d not in _SKIP_DIRS)
        for name in sorted(f for f in files if not f.endswith(".pyc")):
            path = os.path.join(base, name)
            rel = os.path.relpath(path, root)
            digest.update(rel.encode() + b"\0" + (b"x" if os.access(path, os.X_OK) else b"-") + b"\0")
            with open(path, "rb") as handle:
                for chunk in iter(lambda: handle.read(1 << 16), b""):
                    digest.update(chunk)
            digest.update(b"\0")
    return digest.hexdigest()


class LookupModule(LookupBase):
    def run(self, terms, variables=None, **kwargs):
        results = []
        for term in terms:
            path = self.find_file_in_search_path(variables, "files", term, ignore_missing=True)
            if path and os.path.isfile(path):
                with open(path, "rb") as handle:
                    results.append(hashlib.file_digest(handle, "sha256").hexdigest())
                continue
            if not path or not os.path.isdir(path):
                raise AnsibleLookupError(f"tree_checksum: {term} is not a directory or a file on the controller")
            results.append(tree_checksum(path))
        return results
