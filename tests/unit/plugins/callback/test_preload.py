"""geostack.cluster.preload: when the playbook starts, the collection's plugin modules and the configured connection
plugins are in the controller's sys.modules, where the plugin loader of every worker forked after finds them; a plugin
that cannot load is passed over."""

import sys
from pathlib import Path

import pytest
from ansible.plugins.loader import connection_loader
from ansible_collections.geostack.cluster.plugins.callback import preload

PLUGINS = Path(preload.__file__).resolve().parents[1]
CONNECTION = "ansible_collections.geostack.cluster.plugins.connection.docker_api"


def plugin_modules() -> list[str]:
    """What a worker would load: every Python module of the collection's plugin types that run in a task."""
    return sorted(f"ansible_collections.geostack.cluster.plugins.{kind}.{path.stem}"
                  for kind in ("action", "connection", "filter", "lookup", "test")
                  for path in (PLUGINS / kind).glob("*.py") if path.stem != "__init__")


def callback(options: dict) -> preload.CallbackModule:
    module = preload.CallbackModule.__new__(preload.CallbackModule)
    module.get_option = options.__getitem__
    return module


@pytest.fixture
def unloaded(monkeypatch):
    """None of the modules loaded yet, as in a controller that has not started a playbook (other tests import them)."""
    names = plugin_modules()
    for name in names:
        monkeypatch.delitem(sys.modules, name, raising=False)
    monkeypatch.setattr(connection_loader, "_module_cache", {})
    return names


def test_every_plugin_module_of_the_collection_is_loaded_when_the_playbook_starts(unloaded):
    assert len(unloaded) >= 8 and CONNECTION in unloaded, unloaded  # action, connection, filter and lookup plugins
    assert not [name for name in unloaded if name in sys.modules]
    callback({"connections": [], "collections": ["geostack.cluster"]}).v2_playbook_on_start(None)
    assert [name for name in unloaded if name not in sys.modules] == []


def test_a_connection_is_loaded_by_its_fqcn_through_the_plugin_loader(unloaded):
    callback({"connections": ["geostack.cluster.docker_api"], "collections": []}).v2_playbook_on_start(None)
    assert CONNECTION in sys.modules
    assert [name for name in unloaded if name in sys.modules] == [CONNECTION]


def test_a_plugin_that_cannot_load_is_passed_over(unloaded, monkeypatch):
    real = preload.importlib.import_module

    def failing(name, *args):
        if name.endswith(".lookup.tree_checksum"):
            raise ImportError("no such dependency")
        return real(name, *args)

    monkeypatch.setattr(preload.importlib, "import_module", failing)
    callback({"connections": ["nowhere.nothing.none"], "collections": ["geostack.cluster", "nowhere.nothing"]}) \
        .v2_playbook_on_start(None)
    missing = [name for name in unloaded if name not in sys.modules]
    assert missing == ["ansible_collections.geostack.cluster.plugins.lookup.tree_checksum"], missing
