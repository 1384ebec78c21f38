"""The local cloud end to end: emulated EC2 + one systemd container per instance + site.yml."""

from __future__ import annotations

import ipaddress
import json
import subprocess
import time
import urllib.request

from .conftest import ROOT, live

SITE = ROOT / "site.yml"


def docker(*args: str) -> str:
    return subprocess.run(["docker", *args], capture_output=True, text=True, check=True).stdout.strip()


def wait_until_unhealthy(cluster, timeout: float = 90):
    """verify.yml runs until it fails (Prometheus needs a scrape or two to see a target down)."""
    deadline = time.monotonic() + timeout
    while True:
        run = cluster.play("verify.yml")
        if run.rc != 0 or time.monotonic() > deadline:
            return run
        time.sleep(5)


def test_site_on_the_local_cloud(make_cluster, ec2):
    cluster = make_cluster(
        connect_via="docker",
        provision_local_backend=True,
        provision_layout={"manager": {"count": 1, "roles": ["manager", "monitoring"]}, "worker": {"count": 1}, "web": {"count": 1}},
    )
    try:
        first = cluster.run_site()
        assert first.rc == 0, first.failures or first.output[-3000:]

        inv = cluster.inventory()
        hosts = sorted(inv["_meta"]["hostvars"])
        assert hosts == [f"{cluster.name}-{g}-1" for g in ("manager", "web", "worker")]
        subnet = ipaddress.ip_network(
            json.loads(docker("network", "inspect", f"geostack-{cluster.name}"))[0]["IPAM"]["Config"][0]["Subnet"]
        )
        for host in hosts:
            hv = inv["_meta"]["hostvars"][host]
            # Reached through its container, at its container address, never the emulator's 10.x one.
            assert hv["ansible_connection"] == "community.docker.docker"
            assert hv["ansible_host"] == hv["ec2_instance_id"]
            assert ipaddress.ip_address(hv["geostack_private_address"]) in subnet
            assert hv["geostack_private_address"] != hv["ec2_private_ip_address"]
            # The docker layer converged inside each node.
            assert docker("exec", hv["ansible_host"], "systemctl", "is-active", "docker") == "active"
            assert docker("exec", hv["ansible_host"], "hostname") == host
            # ...and so did the swarm layer: each node is in it, advertising its private address.
            swarm = json.loads(docker("exec", hv["ansible_host"], "docker", "info", "--format", "{{json .Swarm}}"))
            assert swarm["LocalNodeState"] == "active"
            assert swarm["NodeAddr"] == hv["geostack_private_address"]
            assert swarm["ControlAvailable"] is (host.endswith("-manager-1"))

        manager = inv["_meta"]["hostvars"][f"{cluster.name}-manager-1"]["ansible_host"]
        labels = dict(
            line.split(" ", 1)
            for line in docker(
                "exec", manager, "sh", "-c",
                "docker node inspect $(docker node ls -q) --format '{{.Description.Hostname}} {{.Spec.Labels.typeNode}}'",
            ).splitlines()
        )
        assert labels == {
            f"{cluster.name}-manager-1": "master", f"{cluster.name}-worker-1": "worker", f"{cluster.name}-web-1": "master-web",
        }

        # The web layer: the reference tiles app answers through nginx on the web node.
        web = inv["_meta"]["hostvars"][f"{cluster.name}-web-1"]["geostack_private_address"]
        with urllib.request.urlopen(f"http://{web}/health", timeout=10) as response:
            assert json.load(response)["status"] == "ok"

        # The summary names the URLs.
        assert f"http://{web}/" in first.output
        manager_address = inv["_meta"]["hostvars"][f"{cluster.name}-manager-1"]["geostack_private_address"]
        assert f"http://{manager_address}:9090/" in first.output

        # verify.yml: every layer present is healthy, in one table; under --check too.
        for args in ((), ("--check",)):
            verify = cluster.play("verify.yml", *args)
            assert verify.rc == 0, verify.output[-3000:]
            assert verify.total("changed") == 0
            table = verify.output
            for row in (f"{cluster.name}-worker-1", "ready, active, worker, labels typeNode=worker", "1 routes answer (/)",
                        "job node", "3/3 targets up", "All 7 checks are healthy."):
                assert row in table, table[-3000:]

        # ...and it fails, naming the part that is down.
        worker = inv["_meta"]["hostvars"][f"{cluster.name}-worker-1"]["ansible_host"]
        docker("exec", worker, "systemctl", "stop", "prometheus-node-exporter")
        try:
            down = wait_until_unhealthy(cluster)
            assert f"Not healthy: prometheus {cluster.name}-manager-1 job node" in down.output
            assert f"down: {cluster.name}-worker-1" in down.output
        finally:
            docker("exec", worker, "systemctl", "start", "prometheus-node-exporter")

        again = cluster.run_site()
        assert again.rc == 0, again.failures
        assert again.total("changed") == 0, again.output[-3000:]
        check = cluster.run_site("--check")
        assert check.rc == 0 and check.total("changed") == 0 and check.total("failures") == 0, check.output[-3000:]
    finally:
        down = cluster.play("teardown.yml", geostack_teardown_confirm=cluster.name)
    assert down.rc == 0, down.failures
    assert live(ec2, cluster.name) == []
    assert docker("ps", "-aq", "--filter", f"label=geostack.cluster={cluster.name}") == ""
