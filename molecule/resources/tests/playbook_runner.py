"""Run a scenario playbook again from a testinfra test and read its results.

Molecule's idempotence step proves a second converge changes nothing. These
helpers add what it cannot: a converge in --check mode on a converged node,
and a converge with bad input that must fail before changing anything.
"""

from __future__ import annotations

import json
import os
import subprocess
from dataclasses import dataclass, field
from pathlib import Path


@dataclass
class PlaybookRun:
    rc: int
    stats: dict[str, dict[str, int]]
    failures: dict[str, list[str]] = field(default_factory=dict)
    tasks: list[str] = field(default_factory=list)
    output: str = ""

    def total(self, key: str) -> int:
        return sum(host.get(key, 0) for host in self.stats.values())


def _failures(report: dict) -> dict[str, list[str]]:
    failed: dict[str, list[str]] = {}
    for play in report.get("plays", []):
        for task in play.get("tasks", []):
            for host, result in task.get("hosts", {}).items():
                if result.get("failed") or result.get("unreachable"):
                    failed.setdefault(host, []).append(
                        f"{task['task']['name']}: {result.get('msg', '')}"
                    )
    return failed


def run_playbook(playbook: str, *args: str, extra_vars: dict | None = None) -> PlaybookRun:
    """Run a playbook of the current scenario against Molecule's inventory."""
    scenario = Path(os.environ["MOLECULE_SCENARIO_DIRECTORY"])
    env = dict(os.environ)
    env.update(
        ANSIBLE_STDOUT_CALLBACK="ansible.posix.json",
        # profile_tasks would write into the JSON; timer writes only after it.
        ANSIBLE_CALLBACKS_ENABLED="ansible.posix.timer",
        ANSIBLE_NOCOLOR="1",
    )
    cmd = ["ansible-playbook", "-i", os.environ["MOLECULE_INVENTORY_FILE"], *args]
    if extra_vars is not None:
        cmd += ["--extra-vars", json.dumps(extra_vars)]
    cmd.append(str(scenario / playbook))
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=1800)
    start = proc.stdout.find("{")
    if start < 0:
        raise AssertionError(f"no JSON from {' '.join(cmd)}:\n{proc.stdout}\n{proc.stderr}")
    report, _ = json.JSONDecoder().raw_decode(proc.stdout[start:])
    return PlaybookRun(
        rc=proc.returncode,
        stats=report.get("stats", {}),
        failures=_failures(report),
        tasks=[t["task"]["name"] for p in report.get("plays", []) for t in p.get("tasks", [])],
        output=proc.stdout + proc.stderr,
    )
