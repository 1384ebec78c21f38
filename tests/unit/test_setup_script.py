"""scripts/setup.sh refuses clearly when there is no Python >= 3.12."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def test_no_suitable_python_is_a_clear_error(tmp_path):
    old = tmp_path / "bin"
    old.mkdir()
    # Only an interpreter that is too old is on PATH, and no pyenv.
    (old / "python3").write_text("#!/bin/sh\nexit 1\n")
    (old / "python3").chmod(0o755)
    env = {
        "PATH": f"{old}:/usr/bin:/bin",
        "HOME": str(tmp_path),
        "PYENV_ROOT": str(tmp_path / "no-pyenv"),
        "GEOSTACK_VENV": str(tmp_path / "venv"),
    }
    if Path("/usr/bin/python3").exists():
        probe = subprocess.run(["/usr/bin/python3", "-c", "import sys; print(sys.version_info >= (3, 12))"], capture_output=True, text=True, check=False)
        if probe.stdout.strip() == "True":
            pytest.skip("this machine's /usr/bin/python3 is new enough")
    out = subprocess.run([str(ROOT / "scripts" / "setup.sh"), "venv"], env=env, capture_output=True, text=True, timeout=60, check=False)
    assert out.returncode != 0
    assert "no Python >= 3.12" in out.stderr
    assert "GEOSTACK_PYTHON" in out.stderr
    assert not (tmp_path / "venv").exists()


def test_an_explicit_python_is_used(tmp_path):
    env = dict(os.environ, GEOSTACK_PYTHON=sys.executable, GEOSTACK_VENV=str(tmp_path / "venv"), PATH="/usr/bin:/bin")
    out = subprocess.run(
        ["bash", "-c", f"source <(sed -n '/^find_python()/,/^}}/p' {ROOT / 'scripts' / 'setup.sh'}); find_python"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == sys.executable
