# Copyright (c) 2026, geostack.cluster maintainers
# Apache License 2.0 (see galaxy.yml)
"""Filters for the tiles role: name and check the archive parts."""

from __future__ import annotations

import posixpath
import re
from urllib.parse import urlparse

from ansible.errors import AnsibleFilterError
from ansible_collections.geostack.cluster.plugins.module_utils.inputs import dict_entries

_SHA256 = re.compile(r"^[0-9a-fA-F]{64}$")
_SCHEMES = ("http", "https", "ftp", "file")


def tiles_part_name(part):
    """The file name a part is stored under: the last path element of its url or S3 key."""
    if not isinstance(part, dict):
        raise AnsibleFilterError(f"a tiles archive part must be a dict, got {type(part).__name__}")
    source = part.get("url") or part.get("s3_object") or ""
    return posixpath.basename(urlparse(source).path if part.get("url") else source)


def tiles_parts_errors(parts):
    """Everything wrong with tiles_archive_parts, one message per problem ([] when sound)."""
    if not isinstance(parts, list):
        return [f"tiles_archive_parts must be a list, got {type(parts).__name__}"]
    errors = []
    names = []
    for _index, where, part in dict_entries(parts, "tiles_archive_parts", "a dict with url or s3_bucket/s3_object, and sha256",
                                            errors):
        url, bucket, key = part.get("url"), part.get("s3_bucket"), part.get("s3_object")
        if bool(url) == bool(bucket or key):
            errors.append(f"{where} needs either url or s3_bucket + s3_object")
        elif url and urlparse(str(url)).scheme not in _SCHEMES:
            errors.append(f"{where}.url '{url}' is not an {', '.join(_SCHEMES)} URL")
        elif not url and not (bucket and key):
            errors.append(f"{where} needs both s3_bucket and s3_object")
        if not _SHA256.match(str(part.get("sha256", ""))):
            errors.append(f"{where}.sha256 must be 64 hex digits, got '{part.get('sha256', '')}'")
        name = tiles_part_name(part)
        if not name:
            errors.append(f"{where} has no file name")
        names.append(name)
    duplicates = sorted({n for n in names if n and names.count(n) > 1})
    if duplicates:
        errors.append(f"tiles_archive_parts name the same file twice: {', '.join(duplicates)}")
    if len(parts) > 1 and not any(n.lower().endswith(".zip") for n in names):
        errors.append("a split archive (several tiles_archive_parts) needs its .zip part (the last segment)")
    return errors


class FilterModule:
    def filters(self):
        return {"tiles_part_name": tiles_part_name, "tiles_parts_errors": tiles_parts_errors}
