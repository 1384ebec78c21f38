"""scripts/setup.sh refuses clearly when there is no Python >= 3.12."""

import os
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_no_suitable_python_is_a_clear_error(tmp_path):
    # A PATH with only the tools setup.sh needs before it looks for Python, and
    # one interpreter that is too old: whatever Pythons this machine has, none
    # is found (the probe runs the same on any host, a Debian 13 CI host too).
    tools = tmp_path / "bin"
    tools.mkdir()
    for tool in ("bash", "dirname", "cat", "sha256sum", "cut"):
        (tools / tool).symlink_to(shutil.which(tool))
    (tools / "python3").write_text("#!/bin/sh\nexit 1\n")
    (tools / "python3").chmod(0o755)
    env = {
        "PATH": str(tools),
        "HOME": str(tmp_path),
        "PYENV_ROOT": str(tmp_path / "no-pyenv"),
        "GEOSTACK_VENV": str(tmp_path / "venv"),
    }
    out = subprocess.run([str(ROOT / "scripts" / "setup.sh"), "venv"], env=env, capture_output=True, text=True, timeout=60, check=False)
    assert out.returncode != 0, out.stdout + out.stderr
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
