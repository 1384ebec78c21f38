"""Every role's meta/argument_specs.yml documents exactly its public defaults.

The check prometheus-community runs in CI: a variable added to defaults/main.yml
without a spec entry (or the other way round) fails here, and so does a spec
default that disagrees with the real one.
"""

from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[3]
ROLES = sorted(p.name for p in (ROOT / "roles").iterdir() if (p / "tasks" / "main.yml").exists())


def load(path: Path):
    return yaml.safe_load(path.read_text()) or {}


@pytest.mark.parametrize("role", ROLES)
def test_role_has_argument_specs(role):
    assert (ROOT / "roles" / role / "meta" / "argument_specs.yml").is_file()


@pytest.mark.parametrize("role", ROLES)
def test_argument_specs_match_defaults(role):
    defaults = load(ROOT / "roles" / role / "defaults" / "main.yml")
    spec = load(ROOT / "roles" / role / "meta" / "argument_specs.yml")["argument_specs"]["main"]["options"]
    # A required input has no default (the caller gives it, as upstream_binary's callers do).
    required = {name for name, option in spec.items() if option.get("required")}
    assert not required & set(defaults), f"required, yet with a default: {sorted(required & set(defaults))}"
    optional = {name: option for name, option in spec.items() if name not in required}
    assert sorted(defaults) == sorted(optional), "defaults/main.yml and argument_specs.yml list different variables"
    for name, value in defaults.items():
        assert "description" in spec[name], f"{name} has no description"
        assert spec[name].get("default") == value, f"{name}: spec default {spec[name].get('default')!r} != {value!r}"
    for name in required:
        assert "description" in spec[name] and "default" not in spec[name], name


@pytest.mark.parametrize("role", ROLES)
def test_public_variables_are_role_prefixed(role):
    defaults = load(ROOT / "roles" / role / "defaults" / "main.yml")
    assert all(name.startswith(f"{role}_") for name in defaults), sorted(defaults)


@pytest.mark.parametrize("role", ROLES)
def test_private_variables_are_underscore_prefixed(role):
    private = ROOT / "roles" / role / "vars" / "main.yml"
    if private.exists():
        assert all(name.startswith(f"_{role}_") for name in load(private))


def specs(role: str) -> dict:
    return load(ROOT / "roles" / role / "meta" / "argument_specs.yml")["argument_specs"]


@pytest.mark.parametrize("role", [r for r in ROLES if "preflight" in specs(r)])
def test_the_preflight_entry_point_checks_what_main_checks(role):
    """site.yml validates each layer's input once, against the preflight entry point, before any node changes; its
    layer plays then import the roles with rolespec_validate: false. That is safe only while the two specs agree."""
    assert specs(role)["preflight"]["options"] == specs(role)["main"]["options"]


def test_site_skips_the_role_argument_specs_only_where_preflight_checked_them():
    """Every role site.yml imports without validating its spec has a preflight entry point that preflight.yml runs."""
    site = load(ROOT / "playbooks" / "site.yml")
    preflight = (ROOT / "playbooks" / "preflight.yml").read_text()
    unchecked = [task["ansible.builtin.import_role"]["name"] for play in site for task in play.get("tasks") or []
                 if task.get("ansible.builtin.import_role", {}).get("rolespec_validate") is False]
    assert len(unchecked) == 10, unchecked
    for name in unchecked:
        assert f"name: {name}\n        tasks_from: preflight" in preflight, f"{name} is not checked in preflight.yml"
        assert "preflight" in specs(name.split(".")[-1]), f"{name} has no preflight entry point to validate"
