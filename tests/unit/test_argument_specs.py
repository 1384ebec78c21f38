"""Every role's meta/argument_specs.yml documents exactly its public defaults.

The check prometheus-community runs in CI: a variable added to defaults/main.yml
without a spec entry (or the other way round) fails here, and so does a spec
default that disagrees with the real one.
"""

from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
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
    assert sorted(defaults) == sorted(spec), "defaults/main.yml and argument_specs.yml list different variables"
    for name, value in defaults.items():
        assert "description" in spec[name], f"{name} has no description"
        assert spec[name].get("default") == value, f"{name}: spec default {spec[name].get('default')!r} != {value!r}"


@pytest.mark.parametrize("role", ROLES)
def test_public_variables_are_role_prefixed(role):
    defaults = load(ROOT / "roles" / role / "defaults" / "main.yml")
    assert all(name.startswith(f"{role}_") for name in defaults), sorted(defaults)


@pytest.mark.parametrize("role", ROLES)
def test_private_variables_are_underscore_prefixed(role):
    private = ROOT / "roles" / role / "vars" / "main.yml"
    if private.exists():
        assert all(name.startswith(f"_{role}_") for name in load(private))


@pytest.mark.parametrize("role", ROLES)
def test_every_role_variable_is_in_the_readme(role):
    readme = (ROOT / "roles" / role / "README.md").read_text()
    missing = [name for name in load(ROOT / "roles" / role / "defaults" / "main.yml") if f"`{name}`" not in readme]
    assert not missing, f"not documented in roles/{role}/README.md: {missing}"
