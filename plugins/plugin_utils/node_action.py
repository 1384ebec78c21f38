# Copyright (c) 2026, geostack.cluster maintainers
# Apache License 2.0 (see galaxy.yml)
"""Controller-side helpers shared by the node_state and files actions."""

from __future__ import annotations

from ansible.errors import AnsibleActionFail, AnsibleError
from ansible.module_utils.common.text.converters import to_bytes
from ansible.plugins.action import ActionBase
from ansible_collections.geostack.cluster.plugins.module_utils.manifest import ManifestError, normalize_file, sha1

STATE_MODULE = "geostack.cluster.node_state"
# What the node_state module is told of a file: never its content.
_REMOTE_KEYS = ("dest", "state", "checksum", "src", "owner", "group", "mode", "read_only")


class NodeAction(ActionBase):
    """An action that reads a node with the node_state module and compares it with a file manifest."""

    # Content never travels as a file: it becomes a checksum here, and only what differs is sent.
    TRANSFERS_FILES = False
    _supports_check_mode = True

    def resolve_files(self, entries) -> list[dict]:
        """Each entry checked, with its wanted bytes and their SHA-1 (content rendered by the caller, or src read here)."""
        if entries is None:
            return []
        if not isinstance(entries, list):
            raise AnsibleActionFail(f"files must be a list of dicts, got {type(entries).__name__}")
        resolved = []
        for index, entry in enumerate(entries):
            try:
                item = normalize_file(entry, index)
            except ManifestError as error:
                raise AnsibleActionFail(str(error)) from error
            if item["state"] == "file" and not item.get("exists_only") and not item.get("read_only"):
                if "content" not in item and not item.get("src"):
                    raise AnsibleActionFail(f"files[{index}] ({item['dest']}): a file needs content or src (or exists_only, read_only)")
                if "content" in item:
                    data = to_bytes(item["content"] if item["content"] is not None else "", errors="surrogate_or_strict")
                else:
                    try:
                        source = self._find_needle("files", item["src"])
                    except AnsibleError as error:
                        raise AnsibleActionFail(f"files[{index}] ({item['dest']}): {error}") from error
                    with open(source, "rb") as handle:
                        data = handle.read()
                item["content_bytes"] = data
                item["checksum"] = sha1(data)
            resolved.append(item)
        seen = set()
        for item in resolved:
            if item["dest"] in seen:
                raise AnsibleActionFail(f"files: {item['dest']} is listed twice")
            seen.add(item["dest"])
        return resolved

    @staticmethod
    def remote_entry(item: dict) -> dict:
        entry = {key: item[key] for key in _REMOTE_KEYS if item.get(key) is not None}
        if item["state"] == "file":
            entry.pop("src", None)
        return entry

    def read_node(self, task_vars, **module_args) -> dict:
        """One node_state call; fails the task with the module's message when it fails."""
        result = self._execute_module(module_name=STATE_MODULE, module_args=module_args, task_vars=task_vars)
        if result.get("failed"):
            raise AnsibleActionFail(f"could not read the node's state: {result.get('msg', result)}")
        return result
