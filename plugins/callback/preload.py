# Copyright (c) 2026, geostack.cluster maintainers
# Apache License 2.0 (see galaxy.yml)

from __future__ import annotations

DOCUMENTATION = r"""
name: preload
type: aggregate
short_description: Load plugins once in the controller's process, so that no task's worker loads them again
version_added: 0.3.0
description:
  - Ansible runs each task on each host in a worker process forked from the controller's process, and a worker loads
    the connection, action and filter plugins the task needs. A plugin from a collection is compiled from its source
    on every load, and nothing a worker loads outlives its task. With P(geostack.cluster.docker_api#connection), which
    imports community.docker's Docker API client, that load was about 60 % of the controller's CPU time per task.
  - This callback loads the plugins named in its options once, when the playbook starts. Every worker forked after
    that finds them loaded. It prints nothing (a plugin that fails to load is reported at C(-vvv) and left to load
    as before) and changes nothing a task does.
  - Enable it with C(callbacks_enabled = geostack.cluster.preload) in C(ansible.cfg), as this collection's own
    C(ansible.cfg) and Molecule scenarios do.
author:
  - geostack.cluster maintainers (@geostack)
requirements:
  - Enabled in C(callbacks_enabled).
options:
  connections:
    description:
      - Connection plugins to load, by FQCN.
    type: list
    elements: str
    default: [geostack.cluster.docker_api]
    ini:
      - section: callback_preload
        key: connections
    env:
      - name: GEOSTACK_PRELOAD_CONNECTIONS
  collections:
    description:
      - Collections whose action, connection, filter, lookup and test plugins to load, every one of them.
    type: list
    elements: str
    default: [geostack.cluster]
    ini:
      - section: callback_preload
        key: collections
    env:
      - name: GEOSTACK_PRELOAD_COLLECTIONS
"""

import importlib
import pkgutil

from ansible.plugins.callback import CallbackBase
from ansible.plugins.loader import connection_loader
from ansible.utils.display import Display

display = Display()

# The plugin types a worker loads while it runs a task.
_TYPES = ("action", "connection", "filter", "lookup", "test")


def _plugin_modules(collection: str):
    """The Python module names of the collection's plugins of _TYPES (the names the plugin loader gives them)."""
    for kind in _TYPES:
        package = f"ansible_collections.{collection}.plugins.{kind}"
        try:
            path = importlib.import_module(package).__path__
        except ImportError:
            continue
        for found in pkgutil.iter_modules(path):
            if not found.ispkg:
                yield f"{package}.{found.name}"


class CallbackModule(CallbackBase):
    """Loads the configured plugins in the controller's process before any worker is forked."""

    CALLBACK_VERSION = 2.0
    CALLBACK_TYPE = "aggregate"
    CALLBACK_NAME = "geostack.cluster.preload"
    CALLBACK_NEEDS_ENABLED = True

    def v2_playbook_on_start(self, playbook):
        for name in self.get_option("connections"):
            try:
                if connection_loader.get(name, class_only=True) is None:
                    display.vvv(f"geostack.cluster.preload: no connection plugin {name}")
            except Exception as error:  # a plugin that cannot load here loads in each task, as before
                display.vvv(f"geostack.cluster.preload: connection plugin {name} did not load: {error}")
        for collection in self.get_option("collections"):
            for module in _plugin_modules(collection):
                try:
                    importlib.import_module(module)
                except Exception as error:  # as above
                    display.vvv(f"geostack.cluster.preload: {module} did not load: {error}")
