"""Each role's README carries the variables and entry points tables that scripts/role_docs.py renders from its
meta/argument_specs.yml (and defaults), so the spec is the one place a variable is described."""

import importlib.util
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[3]
_spec = importlib.util.spec_from_file_location("role_docs", ROOT / "scripts" / "role_docs.py")
role_docs = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(role_docs)
ROLES = sorted(p.parents[1].name for p in ROOT.glob("roles/*/meta/argument_specs.yml"))


def test_every_role_readme_has_the_tables_its_spec_renders():
    assert role_docs.stale_roles(write=False) == [], "run: python scripts/role_docs.py"


@pytest.mark.parametrize("role", ROLES)
def test_the_table_names_every_option_of_the_main_entry_point(role):
    readme = (ROOT / "roles" / role / "README.md").read_text()
    block = readme.split(role_docs.BEGIN, 1)[1].split(role_docs.END, 1)[0]
    specs = role_docs.yaml.safe_load((ROOT / "roles" / role / "meta" / "argument_specs.yml").read_text())["argument_specs"]
    for name in specs["main"].get("options") or {}:
        assert f"| `{name}` |" in block, name


def test_a_changed_description_makes_the_readme_stale(tmp_path):
    role = tmp_path / "roles" / "demo"
    (role / "meta").mkdir(parents=True)
    (role / "meta" / "argument_specs.yml").write_text(
        "argument_specs:\n  main:\n    options:\n      demo_port:\n        description: The C(port).\n        type: int\n"
        "        default: 80\n  remove:\n    short_description: Take it out.\n")
    readme = role_docs.render("# demo\n\n| Variable | Default |\n|---|---|\n| `demo_port` | `80` |\n\nMore prose.\n",
                              role_docs.tables(role))
    assert "| `demo_port` | int | `80` | The `port`. |" in readme
    assert "| `remove` | Take it out. |" in readme
    assert readme.endswith("More prose.\n") and "| Variable | Default |" not in readme
    (role / "meta" / "argument_specs.yml").write_text(
        (role / "meta" / "argument_specs.yml").read_text().replace("The C(port).", "The listening port."))
    assert role_docs.render(readme, role_docs.tables(role)) != readme
