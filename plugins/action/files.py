# Copyright (c) 2026, geostack.cluster maintainers
# Apache License 2.0 (see galaxy.yml)
"""files: a role's files, directories and links in one task.

The node is read once (node_state: checksums, owners, modes); only the entries
that differ go to the files module, which writes them all in one call (every
validated file checked before any is replaced). A run that changes nothing
costs one read, whatever the number of files; a first run, two calls.
"""

from __future__ import annotations

import base64

from ansible.errors import AnsibleActionFail
from ansible.module_utils.common.text.converters import to_text
from ansible_collections.geostack.cluster.plugins.module_utils.manifest import file_drift
from ansible_collections.geostack.cluster.plugins.plugin_utils.node_action import NodeAction

_ARGS = ("files",)
# What the files module is sent of an entry that differs.
_WRITE_KEYS = ("dest", "state", "src", "owner", "group", "mode", "validate")


class ActionModule(NodeAction):
    def run(self, tmp=None, task_vars=None):
        result = super().run(tmp, task_vars)
        del tmp
        unknown = sorted(set(self._task.args) - set(_ARGS))
        if unknown:
            raise AnsibleActionFail(f"unknown options: {', '.join(unknown)} (known: {', '.join(_ARGS)})")
        files = self.resolve_files(self._task.args.get("files"))
        current = self.read_node(task_vars, files=[self.remote_entry(item) for item in files])["files"]

        todo, reports, diffs = [], [], []
        for item in files:
            reasons = file_drift(item, current.get(item["dest"]))
            if not reasons or item.get("exists_only") or item.get("read_only"):
                continue
            entry = {key: item[key] for key in _WRITE_KEYS if item.get(key) is not None}
            if item["state"] == "file":
                entry.pop("src", None)
                entry["content_b64"] = base64.b64encode(item["content_bytes"]).decode()
            todo.append(entry)
            reports.append({"dest": item["dest"], "reasons": reasons})
            if self._task.diff and not item.get("no_log"):
                diffs.append(self._diff(item, current.get(item["dest"]) or {}, task_vars))

        if todo and not self._task.check_mode:
            written = self._execute_module(module_name="geostack.cluster.files", module_args={"files": todo}, task_vars=task_vars)
            if written.get("failed"):
                raise AnsibleActionFail(written.get("msg", "could not write the files"))
        result.update(changed=bool(todo), changed_files=[e["dest"] for e in todo], results=reports)
        if diffs:
            result["diff"] = diffs
        return result

    def _diff(self, item, have, task_vars):
        """Before and after of one entry, for --diff: the old text is read back only for a file whose content differs."""
        dest = item["dest"]
        if item["state"] != "file" or have.get("type") not in (None, "file"):
            return {"before_header": dest, "after_header": dest,
                    "before": f"{have.get('type', 'absent') if have.get('exists') else 'absent'}\n",
                    "after": f"{item['state']}{(' -> ' + item['src']) if item['state'] == 'link' else ''}\n"}
        before = ""
        if have.get("exists") and have.get("checksum") != item.get("checksum"):
            slurped = self._execute_module(module_name="ansible.legacy.slurp", module_args={"src": dest}, task_vars=task_vars)
            if not slurped.get("failed"):
                before = to_text(base64.b64decode(slurped["content"]), errors="surrogate_or_replace")
        after = to_text(item["content_bytes"], errors="surrogate_or_replace")
        if not have.get("exists") or have.get("checksum") == item.get("checksum"):
            before = after if have.get("exists") else ""
        attrs = [f"{k}: {have.get(k)} -> {item[k]}" for k in ("owner", "group", "mode") if item.get(k) is not None and have.get(k) not in (None, item[k])]
        return {"before_header": dest, "after_header": dest, "before": before, "after": after + "".join(f"# {a}\n" for a in attrs if before == after)}
