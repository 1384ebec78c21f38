"""Print the directory of each collection galaxy.yml depends on, among the PyPI `ansible` package's bundled ones.

One line each, in galaxy.yml's order. A dependency the package does not bundle is named on stderr, with exit 1.
Used by scripts/setup.sh (to byte-compile their plugins) and scripts/ansible_test.sh (to put them beside the
collection), with the venv's Python:

    .venv/bin/python scripts/dependencies.py
"""

from __future__ import annotations

import sys
from pathlib import Path

import ansible_collections
import yaml

ROOT = Path(__file__).resolve().parents[1]


def main() -> int:
    bundled = Path(next(iter(ansible_collections.__path__)))
    names = yaml.safe_load((ROOT / "galaxy.yml").read_text())["dependencies"]
    missing = [name for name in names if not (bundled / name.replace(".", "/")).is_dir()]
    if missing:
        print(f"{', '.join(missing)}: not among the ansible package's collections ({bundled})", file=sys.stderr)
        return 1
    for name in names:
        print(bundled / name.replace(".", "/"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
