#!/usr/bin/env python
"""Where the test suite's CPU goes: the controller (Ansible, pytest, Molecule, moto, linters) or the nodes.

Runs a command (by default `make test`) and, every INTERVAL seconds while it
runs, reads:
  - the machine's CPU time (/proc/stat);
  - the CPU time of the Docker containers (their cpuacct cgroups): the nodes,
    with their services, their package installs and the module runs on them;
    each container is counted under its `geostack.cluster` label (or its
    name), and a lane job's nodes are its scenario's cluster's: the
    `cluster` of molecule/<scenario>/inventory/geostack_ec2.yml, else
    `molecule-<scenario>`, with the containers named `geostack-<cluster>-*`
    (a scenario's own helpers); the lint lane's are all the others (the
    integration tests');
  - for each job of scripts/molecule_lanes.sh (a scenario, or the lint lane's
    make targets), the CPU time of its process tree on the controller.
The command's own process tree (every controller process it ran, reaped or
not) is measured exactly at its end (wait4); the jobs' trees are sampled, so
each may miss up to one interval of work. "Other" is what neither counts:
the Docker engine, the kernel, anything else running on the machine.

Prints a table per job and, as its last line, one JSON object with every
figure. Linux only (cgroup v1 cpuacct or v2). The command's exit status is
in the JSON (`rc`); the script exits with it.
  python benchmarks/suite_cpu.py                      # make test
  python benchmarks/suite_cpu.py -- make test SCENARIOS=docker
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
HZ = os.sysconf("SC_CLK_TCK")
DOCKER_ROOT = Path("/var/lib/docker/containers")
CGROUP_V1 = Path("/sys/fs/cgroup/cpuacct/docker")
CGROUP_V2 = Path("/sys/fs/cgroup/system.slice")


def machine_cpu() -> float:
    """Busy CPU seconds of the whole machine since boot: user, nice, system, irq and softirq of /proc/stat's cpu line
    (not idle, iowait, or the time the hypervisor stole)."""
    user, nice, system, _idle, _iowait, irq, softirq = (int(x) for x in Path("/proc/stat").read_text().split()[1:8])
    return (user + nice + system + irq + softirq) / HZ


def containers_cpu() -> dict[str, float]:
    """CPU seconds of each running container, by container id."""
    found: dict[str, float] = {}
    if CGROUP_V1.is_dir():
        for cg in CGROUP_V1.iterdir():
            if len(cg.name) == 64 and (usage := cg / "cpuacct.usage").exists():
                try:
                    found[cg.name] = int(usage.read_text()) / 1e9
                except (OSError, ValueError):
                    pass
    elif CGROUP_V2.is_dir():
        for cg in CGROUP_V2.glob("docker-*.scope"):
            try:
                stat = dict(line.split() for line in (cg / "cpu.stat").read_text().splitlines())
                found[cg.name[len("docker-"):-len(".scope")]] = int(stat["usage_usec"]) / 1e6
            except (OSError, KeyError, ValueError):
                pass
    return found


def container_cluster(cid: str) -> str:
    """The geostack.cluster label of a container (its name when it has none)."""
    try:
        config = json.loads((DOCKER_ROOT / cid / "config.v2.json").read_text())
    except (OSError, ValueError):
        return "?"
    labels = config.get("Config", {}).get("Labels") or {}
    return labels.get("geostack.cluster") or config.get("Name", "?").lstrip("/")


def processes() -> dict[int, tuple[int, float, float, list[str]]]:
    """Each process: its parent, its own CPU seconds, its reaped children's CPU seconds and its argv."""
    found = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            argv = (entry / "cmdline").read_bytes().decode(errors="replace").split("\0")[:-1]
        except (OSError, IndexError):
            continue
        found[int(entry.name)] = (int(stat[1]), (int(stat[11]) + int(stat[12])) / HZ,
                                  (int(stat[13]) + int(stat[14])) / HZ, argv)
    return found


def scenario_cluster(job: str) -> str:
    """The cluster a scenario's nodes are labelled with: its inventory's, or molecule-<scenario> (Molecule's create)."""
    inventory = ROOT / "molecule" / job / "inventory" / "geostack_ec2.yml"
    if inventory.exists():
        return yaml.safe_load(inventory.read_text()).get("cluster", f"molecule-{job}")
    return f"molecule-{job}"


def job_trees(procs: dict, root: int) -> dict[str, float]:
    """The CPU seconds of each lane job under root, its process tree so far: what it and every descendant used, reaped
    or not."""
    children: dict[int, list[int]] = {}
    for pid, (ppid, *_rest) in procs.items():
        children.setdefault(ppid, []).append(pid)

    def tree(pid: int) -> float:
        _ppid, own, reaped, _argv = procs[pid]
        return own + reaped + sum(tree(child) for child in children.get(pid, []))

    def under_root(pid: int) -> bool:
        while pid > 1 and pid in procs:
            if pid == root:
                return True
            pid = procs[pid][0]
        return False

    jobs = {}
    for pid, (_ppid, _own, _reaped, argv) in procs.items():
        # scripts/molecule_lanes.sh runs each job as `bash -c run_scenario "$1" _ <job>`.
        if len(argv) >= 3 and argv[0].endswith("bash") and argv[1] == "-c" and argv[2].startswith("run_scenario") \
                and under_root(pid):
            job = argv[-1].removeprefix("make:").replace(",", "+")
            jobs[job] = tree(pid)
    return jobs


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--interval", type=float, default=2.0, help="seconds between samples (default 2)")
    parser.add_argument("command", nargs="*", default=["make", "test"], help="the command to run (default: make test)")
    args = parser.parse_args()

    start, machine_start = time.time(), machine_cpu()
    before = containers_cpu()  # containers already running count only what they use from now on
    seen: dict[str, float] = {}
    labels: dict[str, str] = {}  # read while the container exists
    jobs: dict[str, float] = {}
    child = subprocess.Popen(args.command)
    while True:
        pid, status, usage = os.wait4(child.pid, os.WNOHANG)
        for cid, cpu in containers_cpu().items():
            seen[cid] = max(seen.get(cid, 0.0), cpu - before.get(cid, 0.0))
            if labels.get(cid, "?") == "?":
                labels[cid] = container_cluster(cid)
        for job, cpu in job_trees(processes(), child.pid).items():
            jobs[job] = max(jobs.get(job, 0.0), cpu)
        if pid:
            break
        time.sleep(args.interval)
    wall, machine = time.time() - start, machine_cpu() - machine_start
    controller = usage.ru_utime + usage.ru_stime
    clusters: dict[str, float] = {}
    for cid, cpu in seen.items():
        if cpu <= 0:
            continue
        name = labels.get(cid, "?")
        clusters[name] = clusters.get(name, 0.0) + cpu
    nodes = sum(clusters.values())

    scenarios = [job for job in jobs if (ROOT / "molecule" / job / "molecule.yml").exists()]
    owners = {scenario_cluster(job): job for job in scenarios}

    def owner(name: str) -> str | None:
        """The scenario whose cluster a container belongs to: labelled with it, or named geostack-<cluster>-*."""
        return next((job for cluster, job in owners.items() if name == cluster or name.startswith(f"geostack-{cluster}-")),
                    None)

    def node_cpu(job: str) -> float:
        """A scenario's nodes; for a job of make targets (the lint lane), every container no scenario owns."""
        mine = job if job in scenarios else None
        return sum(cpu for name, cpu in clusters.items() if owner(name) == mine)

    results = {}
    logs = Path(os.environ.get("MOLECULE_LOG_DIR", Path.cwd() / ".logs" / "molecule"))
    print(f"{'job':<32} {'wall s':>7} {'controller s':>13} {'nodes s':>8}")
    for job in sorted(jobs, key=lambda j: -(jobs[j] + node_cpu(j))):
        took = None
        if (result := logs / f"{job}.result").exists():
            took = int(result.read_text().split()[2])
        results[job] = {"wall_s": took, "controller_cpu_s": round(jobs[job], 1), "nodes_cpu_s": round(node_cpu(job), 1)}
        print(f"{job:<32} {took if took is not None else '-':>7} {jobs[job]:>13.1f} {node_cpu(job):>8.1f}")
    other = max(0.0, machine - controller - nodes)
    print(f"wall {wall:.0f} s; machine CPU {machine:.0f} s ({machine / wall:.2f} cores busy on average of {os.cpu_count()}):"
          f" controller {controller:.0f} s ({controller / machine:.0%}), nodes {nodes:.0f} s ({nodes / machine:.0%}),"
          f" other {other:.0f} s ({other / machine:.0%})")
    rc = os.waitstatus_to_exitcode(status)
    print(json.dumps({
        "command": " ".join(args.command), "rc": rc, "wall_s": round(wall, 1), "cores": os.cpu_count(),
        "machine_cpu_s": round(machine, 1), "controller_cpu_s": round(controller, 1), "nodes_cpu_s": round(nodes, 1),
        "other_cpu_s": round(other, 1), "controller_share": round(controller / machine, 3) if machine else None,
        "jobs": results,
        "clusters_cpu_s": {name: round(cpu, 1) for name, cpu in sorted(clusters.items(), key=lambda kv: -kv[1])},
    }))
    return rc


if __name__ == "__main__":
    sys.exit(main())
