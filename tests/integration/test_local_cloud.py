"""The local cloud end to end: emulated EC2 + one systemd container per instance + site.yml."""

from __future__ import annotations

import ipaddress
import json
import subprocess
import urllib.request

from .conftest import ROOT, live

SITE = ROOT / "site.yml"


def docker(*args: str) -> str:
    return subprocess.run(["docker", *args], capture_output=True, text=True, check=True).stdout.strip()


def test_site_on_the_local_cloud(make_cluster, ec2):
    cluster = make_cluster(
        connect_via="docker",
        provision_local_backend=True,
        provision_layout={"manager": {"count": 1}, "worker": {"count": 1}, "web": {"count": 1}},
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
