# Copyright (c) 2026, geostack.cluster maintainers
# Apache License 2.0 (see galaxy.yml)
"""node_state: the wanted files' content (rendered or read here, on the controller) becomes a checksum, so
content never travels to the node; the node_state module reads the node once and lists the drift."""

from __future__ import annotations

from ansible_collections.geostack.cluster.plugins.plugin_utils.node_action import NodeAction


class ActionModule(NodeAction):
    def run(self, tmp=None, task_vars=None):
        result = super().run(tmp, task_vars)
        del tmp
        args = dict(self._task.args)
        args["files"] = [self.remote_entry(item) for item in self.resolve_files(args.get("files"))]
        result.update(self.read_node(task_vars, **args))
        return result
