"""The collection's release metadata matches what it uses: every collection named by FQCN in the roles,
playbooks and plugins is a declared dependency in galaxy.yml, the execution-environment requirements are ranges that cover the
controller's libraries, and the licence file is the one galaxy.yml names."""

from __future__ import annotations

import re
from pathlib import Path

import yaml

ROOT = Path(__file__).parents[2]
GALAXY = yaml.safe_load((ROOT / "galaxy.yml").read_text())
# A module (a task key), a filter or test (after | or `is`), or a plugin named in quotes (map('x.y.z'), lookup('x.y.z')):
# namespace.collection.name.
NAME = r"([a-z][a-z0-9_]*\.[a-z][a-z0-9_]*)\.[a-z][a-z0-9_]*"
FQCN = re.compile(rf"^\s*-?\s*{NAME}:|\|\s*{NAME}\b|\bis\s+(?:not\s+)?{NAME}\b|\b(?:map|select|reject|lookup|query|q)\(\s*['\"]{NAME}['\"]", re.M)
BUILT_IN = {"ansible.builtin", "ansible.legacy", f"{GALAXY['namespace']}.{GALAXY['name']}"}


# In the plugins: an import of another collection's code, or a plugin named in a string.
PYTHON = re.compile(rf"\bansible_collections\.([a-z][a-z0-9_]*\.[a-z][a-z0-9_]*)\.|['\"]{NAME}['\"]")


def used_collections() -> dict[str, str]:
    """Each collection named by FQCN in roles/, playbooks/, site.yml and plugins/, with one file that names it."""
    found: dict[str, str] = {}
    files = [*ROOT.glob("roles/**/*.yml"), *ROOT.glob("roles/**/*.j2"), *ROOT.glob("playbooks/**/*.yml"),
             *ROOT.glob("playbooks/**/*.j2"), ROOT / "site.yml"]
    for pattern, paths in ((FQCN, files), (PYTHON, list(ROOT.glob("plugins/**/*.py")))):
        for path in paths:
            for groups in pattern.findall(path.read_text()):
                found.setdefault(next(g for g in groups if g), str(path.relative_to(ROOT)))
    return {name: where for name, where in found.items() if name not in BUILT_IN}


def test_every_collection_the_roles_and_playbooks_use_is_a_dependency():
    used = used_collections()
    assert {"amazon.aws", "community.docker", "community.crypto", "community.general"} <= used.keys()  # the scan works
    missing = {name: where for name, where in used.items() if name not in GALAXY["dependencies"]}
    assert missing == {}, f"used but not in galaxy.yml dependencies: {missing}"


def test_the_execution_environment_takes_ranges_that_cover_the_controller_libraries():
    ee = yaml.safe_load((ROOT / "meta" / "execution-environment.yml").read_text())
    lines = [line.strip() for line in (ROOT / ee["dependencies"]["python"]).read_text().splitlines()]
    wanted = {re.split(r"[<>=!~ ]", line, maxsplit=1)[0].lower(): line for line in lines if line and not line.startswith("#")}
    assert all("==" not in spec for spec in wanted.values()), wanted
    pinned = {line.split("==")[0].lower() for line in (ROOT / "requirements.txt").read_text().splitlines() if "==" in line}
    assert pinned - {"ansible", "ansible-core"} == wanted.keys()
    assert (ROOT / ee["dependencies"]["system"]).is_file()


def test_the_licence_file_is_the_licence_galaxy_names():
    assert GALAXY["license"] == ["Apache-2.0"]
    assert "Apache License" in (ROOT / "LICENSE").read_text().splitlines()[1]
