"""Conventions every role follows, checked here so that a newcomer's role follows them too (CONTRIBUTING.md)."""

import re
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[3]
ROLES = sorted(p.name for p in (ROOT / "roles").iterdir() if (p / "tasks").is_dir())
# Results an entry point hands to its caller, documented in the role's README.
PUBLIC_RESULTS = {"web": {"web_probe"}}


@pytest.mark.parametrize("role", ROLES)
def test_registered_results_are_private_and_prefixed_with_the_role(role):
    """A task's registered result is `__<role>_<what>`: private (two underscores, apart from the role's `_<role>_`
    internal vars) and never clashing with another role's in the same play."""
    wrong = []
    for path in sorted((ROOT / "roles" / role / "tasks").glob("*.yml")):
        for name in re.findall(r"^\s*register:\s*(\S+)", path.read_text(), re.MULTILINE):
            if not name.startswith(f"__{role}_") and name not in PUBLIC_RESULTS.get(role, set()):
                wrong.append(f"{path.name}: {name}")
    assert not wrong, wrong


@pytest.mark.parametrize("role", ROLES)
def test_handlers_listen_to_a_topic_of_the_role_and_tasks_notify_topics(role):
    """Every handler listens to `<role> ... changed`, and a task notifies that topic, never a handler's name: the
    names can change, and several handlers can answer one topic (prometheus restarts, then waits)."""
    handlers_file = ROOT / "roles" / role / "handlers" / "main.yml"
    handlers = yaml.safe_load(handlers_file.read_text()) if handlers_file.is_file() else []
    topics = {handler.get("listen") for handler in handlers or []}
    unheard = [h["name"] for h in handlers or [] if not re.fullmatch(rf"{role} [a-z0-9 _]+ changed", str(h.get("listen")))]
    assert not unheard, f"handlers without a `{role} ... changed` topic: {unheard}"
    notified = set()
    for path in sorted((ROOT / "roles" / role / "tasks").glob("*.yml")):
        notified |= set(re.findall(r"^\s*notify:\s*(.+?)\s*$", path.read_text(), re.MULTILINE))
    # A shared role notifies the topic its caller passes (upstream_binary_notify), not a handler of its own.
    notified = {topic for topic in notified if "{{" not in topic}
    assert notified <= topics, f"notified, but no handler listens: {sorted(notified - topics)}"


def test_values_passed_between_plays_are_geostack_facts_on_localhost():
    """One mechanism carries a value from one play to a later one: a fact on localhost named `geostack_<what>`, read as
    hostvars['localhost']['geostack_<what>'] (CONTRIBUTING.md)."""
    reads = {}
    for path in [*sorted((ROOT / "playbooks").rglob("*.yml")), ROOT / "site.yml"]:
        for name in re.findall(r"hostvars\[['\"]localhost['\"]\]\[['\"]([^'\"]+)['\"]\]", path.read_text()):
            reads.setdefault(name, path.name)
        assert "hostvars.localhost" not in path.read_text(), path.name
    assert reads, "no value read across plays: the pattern above no longer matches the playbooks"
    assert all(name.startswith("geostack_") for name in reads), reads


def _included_file(task):
    include = task.get("ansible.builtin.include_tasks") or task.get("ansible.builtin.import_tasks")
    return include.get("file") if isinstance(include, dict) else include


@pytest.mark.parametrize("role", [r for r in ROLES if (ROOT / "roles" / r / "tasks" / "preflight.yml").is_file()])
def test_the_preflight_include_carries_the_role_tag_and_preflight(role):
    """`--tags preflight` runs every role's checks, `--tags <role>` its own (CONTRIBUTING.md: tags)."""
    tasks = yaml.safe_load((ROOT / "roles" / role / "tasks" / "main.yml").read_text())
    includes = [task for task in tasks if _included_file(task) == "preflight.yml"]
    assert includes, f"{role}: tasks/main.yml does not include preflight.yml"
    for task in includes:
        tags = set(task.get("tags") or [])
        assert {role, "preflight"} <= tags or {"provision", "provision_preflight"} <= tags, (role, sorted(tags))


# Roles that converge a node's services (not the shared helpers, nor the roles that manage cloud resources).
NODE_ROLES = [r for r in ROLES if r not in {"apt_repository", "tls_certificate", "upstream_binary", "provision", "local_cloud"}]


def _role_text(role):
    return "\n".join(p.read_text() for p in sorted((ROOT / "roles" / role / "tasks").glob("*.yml")))


@pytest.mark.parametrize("role", NODE_ROLES)
def test_install_and_configure_steps_carry_their_tags(role):
    """`--tags <role>_configure` re-applies a role's configuration without its installs, and `--tags <role>_install`
    the reverse: every node role tags its configuring tasks `<role>_configure`, and a role with an install step (a
    tasks/install*.yml, a vendor's repository or an upstream release) tags that `<role>_install`. A tool a configure
    step needs (stack's python3-docker, tiles' unzip and rsync) is installed by that step (CONTRIBUTING.md: tags)."""
    text = _role_text(role)
    assert re.search(rf"\b{role}_configure\b", text), f"{role}: no task carries {role}_configure"
    installs = re.search(r"geostack\.cluster\.(upstream_binary|apt_repository)\b", text) or \
        any((ROOT / "roles" / role / "tasks").glob("install*.yml"))
    if installs:
        assert re.search(rf"\b{role}_install\b", text), f"{role}: installs packages but no task carries {role}_install"


@pytest.mark.parametrize("role", ROLES)
def test_task_files_are_snake_case_without_an_os_suffix(role):
    names = [p.name for p in (ROOT / "roles" / role / "tasks").glob("*.yml")]
    assert [n for n in names if not re.fullmatch(r"[a-z][a-z0-9_]*\.yml", n)] == []


@pytest.mark.parametrize("role", ROLES)
def test_inventory_groups_are_read_through_variables(role):
    """A role reads `groups[<role>_..._group]`, never `groups['name']`: an inventory with other group names sets the
    variable (CONTRIBUTING.md: inventory groups)."""
    wrong = []
    for path in sorted((ROOT / "roles" / role).glob("*/*.yml")):
        if path.parent.name in ("tasks", "vars", "defaults", "handlers"):
            wrong += [f"{path.parent.name}/{path.name}: {m}" for m in re.findall(r"groups\[\s*['\"][^'\"]+['\"]\s*\]", path.read_text())]
    assert not wrong, wrong
