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
  - Skips C(.git), C(.venv), C(__pycache__) and C(*.pyc), which do not belong to a deployed release, and what O(exclude)
    names.
  - Relative paths are searched like C(ansible.builtin.copy)'s src (the role's and the playbook's C(files/) folders).
options:
  _terms:
    description: Directories (or files) on the controller.
    required: true
    type: list
    elements: path
  exclude:
    description:
      - More glob patterns to skip. A pattern matches a file's or directory's path relative to the tree, or its end
        after a C(/) (so C(node_modules) skips every directory of that name, and C(docs/*.pdf) the PDFs of any
        C(docs) directory); a skipped directory is skipped whole.
      - The web role's C(web_apps[].exclude); the archive it copies skips the same (see web_copy_exclusions).
    type: list
    elements: str
    default: []
"""

EXAMPLES = r"""
release: "{{ lookup('geostack.cluster.tree_checksum', 'apps/users') }}"
without_docs: "{{ lookup('geostack.cluster.tree_checksum', 'apps/users', exclude=['docs', '*.md']) }}"
"""

RETURN = r"""
_raw:
  description: One sha256 hex digest per directory.
  type: list
  elements: str
"""

import fnmatch
import hashlib
import os

from ansible.errors import AnsibleLookupError
from ansible.plugins.lookup import LookupBase

# What never belongs to a release (the web role's copy skips the same: web_copy_exclusions).
ALWAYS_EXCLUDED = (".git", ".venv", "__pycache__", "*.pyc")


def excluded(rel, patterns):
    """Whether a path relative to the tree (with /) is one the patterns name: the whole path, or its end after a /."""
    return any(fnmatch.fnmatchcase(rel, pattern) or fnmatch.fnmatchcase(rel, "*/" + pattern) for pattern in patterns)


def tree_checksum(root: str, exclude=()) -> str:
    patterns = ALWAYS_EXCLUDED + tuple(exclude)
    digest = hashlib.sha256()
    for base, dirs, files in os.walk(root):
        rel_base = os.path.relpath(base, root)
        prefix = "" if rel_base == "." else rel_base.replace(os.sep, "/") + "/"
        dirs[:] = sorted(d for d in dirs if not excluded(prefix + d, patterns))
        for name in sorted(f for f in files if not excluded(prefix + f, patterns)):
            path = os.path.join(base, name)
            rel = prefix + name
            digest.update(rel.encode() + b"\0" + (b"x" if os.access(path, os.X_OK) else b"-") + b"\0")
            with open(path, "rb") as handle:
                for chunk in iter(lambda: handle.read(1 << 16), b""):
                    digest.update(chunk)
            digest.update(b"\0")
    return digest.hexdigest()


class LookupModule(LookupBase):
    def run(self, terms, variables=None, **kwargs):
        self.set_options(var_options=variables, direct=kwargs)
        exclude = self.get_option("exclude") or []
        results = []
        for term in terms:
            path = self.find_file_in_search_path(variables, "files", term, ignore_missing=True)
            if path and os.path.isfile(path):
                with open(path, "rb") as handle:
                    results.append(hashlib.file_digest(handle, "sha256").hexdigest())
                continue
            if not path or not os.path.isdir(path):
                raise AnsibleLookupError(f"tree_checksum: {term} is not a directory or a file on the controller")
            results.append(tree_checksum(path, exclude))
        return results
