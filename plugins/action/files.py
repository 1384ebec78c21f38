# Copyright (c) 2026, geostack.cluster maintainers
# Apache License 2.0 (see galaxy.yml)
"""files: write a role's files, directories and links in one task.

The node is read once (node_state); only the entries that differ are written,
each by Ansible's own copy action (temporary file, validate, atomic move,
check and diff mode) or file module. A run that changes nothing costs one
round trip, whatever the number of files.
"""

from __future__ import annotations

import os
import shutil
import tempfile

from ansible import constants as C
from ansible.errors import AnsibleActionFail
from ansible.module_utils.common.text.converters import to_bytes
from ansible_collections.geostack.cluster.plugins.module_utils.manifest import file_drift
from ansible_collections.geostack.cluster.plugins.plugin_utils.node_action import NodeAction

_ARGS = ("files",)


class ActionModule(NodeAction):
    TRANSFERS_FILES = True
    _supports_check_mode = True

    def run(self, tmp=None, task_vars=None):
        result = super().run(tmp, task_vars)
        del tmp
        unknown = sorted(set(self._task.args) - set(_ARGS))
        if unknown:
            raise AnsibleActionFail(f"unknown options: {', '.join(unknown)} (known: {', '.join(_ARGS)})")
        files = self.resolve_files(self._task.args.get("files"))
        current = self.read_node(task_vars, files=[self.remote_entry(item) for item in files])["files"]

        changed_files, diffs, reports = [], [], []
        local_tmp = tempfile.mkdtemp(dir=C.DEFAULT_LOCAL_TMP)
        try:
            for item in files:
                reasons = file_drift(item, current.get(item["dest"]))
                if not reasons or item.get("exists_only"):
                    continue
                outcome = self._apply(item, task_vars, local_tmp)
                if outcome.get("failed"):
                    detail = outcome.get("msg") or outcome.get("stderr") or outcome
                    raise AnsibleActionFail(f"{item['dest']}: {detail}")
                if outcome.get("changed"):
                    changed_files.append(item["dest"])
                    reports.append({"dest": item["dest"], "reasons": reasons})
                    if outcome.get("diff") and not item.get("no_log"):
                        for diff in outcome["diff"] if isinstance(outcome["diff"], list) else [outcome["diff"]]:
                            if "after_header" in diff:
                                diff["after_header"] = item["dest"]
                            diffs.append(diff)
        finally:
            shutil.rmtree(local_tmp, ignore_errors=True)
            self._remove_tmp_path(self._connection._shell.tmpdir)
        result.update(changed=bool(changed_files), changed_files=changed_files, results=reports)
        if diffs:
            result["diff"] = diffs
        return result

    def _apply(self, item, task_vars, local_tmp):
        attrs = {key: item[key] for key in ("owner", "group", "mode") if item.get(key) is not None}
        if item["state"] != "file":
            args = dict(path=item["dest"], state=item["state"], **attrs)
            if item["state"] == "link":
                args.update(src=item["src"], force=True)
            return self._execute_module(module_name="ansible.legacy.file", module_args=args, task_vars=task_vars)
        # A file goes through Ansible's copy action, as the template action does.
        source = os.path.join(local_tmp, f"{len(os.listdir(local_tmp))}-{os.path.basename(item['dest'])}")
        with open(to_bytes(source), "wb") as handle:
            handle.write(item["content_bytes"])
        task = self._task.copy()
        task.args = dict(src=source, dest=item["dest"], **attrs)
        if item.get("validate"):
            task.args["validate"] = item["validate"]
        if item.get("no_log"):
            task.no_log = True
        copy = self._shared_loader_obj.action_loader.get(
            "ansible.legacy.copy", task=task, connection=self._connection, play_context=self._play_context,
            loader=self._loader, templar=self._templar, shared_loader_obj=self._shared_loader_obj,
        )
        return copy.run(task_vars=task_vars)
