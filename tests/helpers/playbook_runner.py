"""Run ansible-playbook from a test and read its results as data.

Used by the Molecule scenarios' verify tests (a converge again in --check
mode, or with bad input that must fail before changing anything) and by the
integration tests (provision, scale, teardown against the EC2 emulator).
"""

from __future__ import annotations

import json
import os
import re
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

import yaml

PROJECT = Path(__file__).resolve().parents[2]


@dataclass
class PlaybookRun:
    rc: int
    stats: dict[str, dict[str, int]]
    failures: dict[str, list[str]] = field(default_factory=dict)
    tasks: list[str] = field(default_factory=list)
    output: str = ""
    # (task name, {host: result}) in the order they ran.
    results: list[tuple[str, dict]] = field(default_factory=list)

    def total(self, key: str) -> int:
        return sum(host.get(key, 0) for host in self.stats.values())

    def changed_tasks(self) -> dict[str, list[str]]:
        """Per host, the tasks that reported a change."""
        changed: dict[str, list[str]] = {}
        for name, hosts in self.results:
            for host, result in hosts.items():
                if result.get("changed"):
                    changed.setdefault(host, []).append(name)
        return changed

    def failed_tasks(self) -> set[str]:
        """The tasks that failed (or were unreachable) on some host, without their role prefix."""
        return {
            name.split(" : ", 1)[-1]
            for name, hosts in self.results
            if any(r.get("failed") or r.get("unreachable") for r in hosts.values())
        }

    def ran(self, name_pattern: str) -> dict[str, list[str]]:
        """Per task whose name matches the pattern, the hosts it was not skipped on."""
        return {
            name: [h for h, r in hosts.items() if not r.get("skipped")]
            for name, hosts in self.results
            if re.search(name_pattern, name)
        }


def _failures(report: dict) -> dict[str, list[str]]:
    failed: dict[str, list[str]] = {}
    for play in report.get("plays", []):
        for task in play.get("tasks", []):
            for host, result in task.get("hosts", {}).items():
                if result.get("failed") or result.get("unreachable"):
                    # A failed loop says "One or more items failed"; the reasons are per item.
                    # (The json callback drops the items' own "failed" flag.)
                    msgs = [
                        r.get("msg", "")
                        for r in result.get("results", [])
                        if r.get("failed") or "exception" in r or r.get("evaluated_to") is False
                    ] or [result.get("msg", "")]
                    failed.setdefault(host, []).extend(f"{task['task']['name']}: {msg}" for msg in msgs)
    return failed


def run_playbook(
    playbook: str | Path,
    *args: str,
    inventory: str | Path | None = None,
    extra_vars: dict | None = None,
    env: dict | None = None,
    timeout: int = 1800,
    container: str | None = None,
) -> PlaybookRun:
    """Run a playbook and return its stats, failures and task names.

    Inside a Molecule verify step, a relative playbook is one of the scenario's
    and the inventory defaults to Molecule's. With container, ansible-playbook
    runs in that container (`docker exec`, in this directory, with this
    environment's PATH, HOME and ANSIBLE_/AWS_ variables): the paths it needs
    must be mounted there at the same places.
    """
    if "MOLECULE_SCENARIO_DIRECTORY" in os.environ and not Path(playbook).is_absolute():
        playbook = Path(os.environ["MOLECULE_SCENARIO_DIRECTORY"]) / playbook
    inventory = inventory or os.environ.get("MOLECULE_INVENTORY_FILE")
    full_env = dict(os.environ)
    full_env.update(env or {})
    full_env.update(
        ANSIBLE_STDOUT_CALLBACK="ansible.posix.json",
        # profile_tasks would write into the JSON; timer writes only after it, and preload writes nothing.
        ANSIBLE_CALLBACKS_ENABLED="ansible.posix.timer,geostack.cluster.preload",
        ANSIBLE_NOCOLOR="1",
    )
    cmd = ["ansible-playbook", *(["-i", str(inventory)] if inventory else []), *args]
    if extra_vars is not None:
        cmd += ["--extra-vars", json.dumps(extra_vars)]
    cmd.append(str(playbook))
    if container:
        passed = {k: v for k, v in full_env.items() if k in ("PATH", "HOME") or k.startswith(("ANSIBLE_", "AWS_"))}
        cwd = os.getcwd()
        cmd = ["docker", "exec", "-w", cwd, "-e", f"PWD={cwd}", *(f"-e{k}={v}" for k, v in passed.items()), container, *cmd]
    proc = subprocess.run(cmd, env=full_env, capture_output=True, text=True, timeout=timeout, check=False)
    start = proc.stdout.find("{")
    if start < 0:
        raise AssertionError(f"no JSON from {' '.join(cmd)}:\n{proc.stdout}\n{proc.stderr}")
    report, _end = json.JSONDecoder().raw_decode(proc.stdout[start:])
    return PlaybookRun(
        rc=proc.returncode,
        stats=report.get("stats", {}),
        failures=_failures(report),
        tasks=[t["task"]["name"] for p in report.get("plays", []) for t in p.get("tasks", [])],
        output=proc.stdout + proc.stderr,
        results=[(t["task"]["name"], t.get("hosts", {})) for p in report.get("plays", []) for t in p.get("tasks", [])],
    )


def _task_names(path: Path) -> set[str]:
    """The names of a task file's tasks, its blocks' tasks, and the tasks of the files of the same role it imports."""
    names = set()
    for task in yaml.safe_load(path.read_text()) or []:
        if "name" in task:
            names.add(task["name"])
        for key in ("block", "rescue", "always"):
            for inner in task.get(key) or []:
                names.add(inner.get("name", ""))
        for key in ("ansible.builtin.import_tasks", "ansible.builtin.include_tasks"):
            included = task.get(key)
            if isinstance(included, dict):
                included = included.get("file")
            if isinstance(included, str) and (path.parent / included).is_file():
                names |= _task_names(path.parent / included)
    return names


def preflight_tasks(*sources: str) -> set[str]:
    """The tasks a run with bad input may fail in, before it changes anything: each role's preflight tasks (a role name)
    or the first play of a playbook (a path under the project: the checks and planning a playbook makes itself before
    it changes anything), the include of each role's preflight, and the argument_specs checks."""
    names = set()
    for source in sources:
        if "/" in source:
            names |= {task.get("name", "") for task in yaml.safe_load((PROJECT / source).read_text())[0].get("tasks") or []}
            continue
        role = PROJECT / "roles" / source / "tasks"
        names |= _task_names(role / "preflight.yml")
        names |= {t["name"] for t in yaml.safe_load((role / "main.yml").read_text()) if "preflight.yml" in json.dumps(t)}
    return names


def assert_refused_before_any_change(run: PlaybookRun, named: str, *sources: str) -> None:
    """The run failed, with a message naming `named`, in preflight or argument_specs tasks only, and changed nothing."""
    assert run.rc != 0, f"accepted:\n{run.output[-3000:]}"
    messages = " ".join(m for msgs in run.failures.values() for m in msgs)
    assert named in messages, messages
    assert run.total("changed") == 0, run.changed_tasks()
    allowed = preflight_tasks(*sources)
    late = {t for t in run.failed_tasks() if t not in allowed and not re.match(r"Validating arguments against arg spec", t)}
    assert not late, f"failed past the input checks, in {late}: {messages}"
