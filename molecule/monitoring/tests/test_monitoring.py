"""Verify the monitoring layer: node_exporter on three nodes, a Prometheus
server that scrapes them from file_sd targets built from the inventory, the
alert rules, and the scale, broken-rule, bad-input and replaced-server cases, through
Prometheus's real HTTP API."""

from __future__ import annotations

import functools
import hashlib
import http.server
import json
import os
import subprocess
import threading
import time
import urllib.parse
import urllib.request
from pathlib import Path

import pytest
import yaml
from nodes import address, sh, wait_for
from playbook_runner import assert_refused_before_any_change, run_playbook

SCENARIO = Path(os.environ.get("MOLECULE_SCENARIO_DIRECTORY", Path(__file__).resolve().parents[1]))
MONITORED = [f"geostack-mon-{n}" for n in (1, 2, 3)]
SPARE = "geostack-mon-4"
SERVER = MONITORED[0]

testinfra_hosts = [f"docker://{SERVER}"]


def api(path: str, **params) -> dict:
    url = f"http://{address(SERVER)}:9090/api/v1/{path}"
    if params:
        url += "?" + urllib.parse.urlencode(params)
    with urllib.request.urlopen(url, timeout=10) as response:
        body = json.load(response)
    assert body["status"] == "success", body
    return body["data"]


def node_targets() -> dict[str, str]:
    active = api("targets", state="active")["activeTargets"]
    return {t["labels"]["instance"]: t["health"] for t in active if t["labels"]["job"] == "node"}


def server_pid() -> str:
    return sh(SERVER, "systemctl show -p MainPID --value prometheus").stdout.strip()


def test_every_node_exporter_target_is_up():
    def all_up():
        """the three node targets are up"""
        targets = node_targets()
        return sorted(targets) == MONITORED and set(targets.values()) == {"up"}

    wait_for(all_up, timeout=90)


def test_targets_carry_the_inventory_labels():
    active = api("targets", state="active")["activeTargets"]
    by_instance = {t["labels"]["instance"]: t for t in active if t["labels"]["job"] == "node"}
    assert by_instance[SERVER]["labels"]["roles"] == ",monitoring,"
    assert by_instance[SERVER]["scrapeUrl"] == f"http://{address(SERVER)}:9100/metrics"
    jobs = {t["labels"]["job"] for t in active}
    # rabbitmq is optional and its group is absent here: no job targets.
    assert jobs == {"node", "prometheus"}


def test_rules_are_loaded():
    names = {rule["name"] for group in api("rules")["groups"] for rule in group["rules"]}
    assert {"InstanceDown", "DiskAlmostFull", "HighCpu", "MemoryPressure", "RabbitmqNodeDown", "RabbitmqPartitioned",
            "ZookeeperNoLeader", "ZookeeperMemberNotServing", "CitusWorkerDown", "SwarmNodeDown"} <= names


def test_the_service_alerts_fire_on_their_conditions():
    """The rules of services this scenario does not run (ZooKeeper, Citus,
    RabbitMQ) are checked with promtool's rule tests on synthetic series."""
    tests = (SCENARIO / "rules_test.yml").read_text()
    proc = subprocess.run(["docker", "exec", "-i", SERVER, "sh", "-c", "cat > /tmp/rules_test.yml && promtool test rules /tmp/rules_test.yml"],
                          input=tests, capture_output=True, text=True, check=False)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "SUCCESS" in proc.stdout + proc.stderr


DASHBOARD = json.loads((SCENARIO.parents[1] / "roles" / "grafana" / "files" / "geostack-nodes.json").read_text())
# Panels of nginx's metrics: this scenario runs no web tier; the default scenario's cluster runs their queries.
PANELS = [panel for panel in DASHBOARD["panels"] if panel["type"] != "row" and "nginx_" not in panel["targets"][0]["expr"]]


@pytest.mark.parametrize("panel", PANELS, ids=[panel["title"] for panel in PANELS])
def test_each_grafana_panel_query_returns_series(panel):
    """The grafana role cannot be installed here; its dashboard's queries run
    against this real Prometheus with the variables at 'All'."""
    assert panel["datasource"]["uid"] == "geostack-prometheus"
    for target in panel["targets"]:
        expr = target["expr"].replace("${role:pipe}", "[^,]+").replace("$az", ".*").replace("$__rate_interval", "1m")
        assert wait_for(lambda expr=expr: api("query", query=expr)["result"], timeout=60), expr


@pytest.mark.parametrize("node", MONITORED)
def test_node_exporter_answers_only_on_the_private_address(node):
    probe = (
        "import socket, sys\n"
        "def ok(a):\n"
        "    try:\n"
        "        socket.create_connection((a, 9100), timeout=2).close(); return True\n"
        "    except OSError:\n"
        "        return False\n"
        f"print(ok('{address(node)}'), ok('127.0.0.1'))\n"
    )
    assert sh(node, f"python3 -c \"{probe}\"").stdout.split() == ["True", "False"]


def test_stopped_exporter_is_down_and_alerts():
    node = MONITORED[2]
    sh(node, "systemctl stop prometheus-node-exporter")
    try:
        wait_for(lambda: node_targets().get(node) == "down")

        def alerting():
            """InstanceDown is pending or firing for the stopped node"""
            return [a for a in api("alerts")["alerts"]
                    if a["labels"]["alertname"] == "InstanceDown" and a["labels"].get("instance") == node
                    and a["state"] in ("pending", "firing")]

        wait_for(alerting)
    finally:
        sh(node, "systemctl start prometheus-node-exporter")
    wait_for(lambda: node_targets().get(node) == "up")


def test_check_mode_changes_nothing():
    run = run_playbook("converge.yml", "--check", "--diff")
    assert run.rc == 0, run.failures
    assert run.total("changed") == 0 and run.total("failures") == 0


def test_broken_rule_is_refused_and_the_running_rules_stay():
    before = sh(SERVER, "sha256sum /etc/prometheus/rules/extra.rules.yml").stdout
    broken = [{"name": "broken", "rules": [{"alert": "Broken", "expr": "up ==== 0"}]}]
    run = run_playbook("converge.yml", extra_vars={"prometheus_extra_rule_groups": broken})
    assert run.rc != 0
    assert "Write the targets, rules, config and arguments" in " ".join(run.failures[SERVER]), run.failures
    assert "parse error" in run.output  # promtool's own verdict
    assert sh(SERVER, "sha256sum /etc/prometheus/rules/extra.rules.yml").stdout == before
    assert "broken" not in {group["name"] for group in api("rules")["groups"]}
    assert sh(SERVER, "systemctl is-active prometheus").stdout.strip() == "active"


@pytest.mark.parametrize(
    ("extra", "fragments"),
    [
        ({"node_exporter_enabled_collectors": ["systemd", "ntp"], "node_exporter_disabled_collectors": ["ntp"],
          "node_exporter_listen_address": "0.0.0.0"},
         ["node_exporter_enabled_collectors and node_exporter_disabled_collectors both list ntp",
          "node_exporter_listen_address must be one IP address of the node (not 0.0.0.0, :: or a name), got '0.0.0.0'"]),
        ({"node_exporter_basic_auth_users": {"prometheus": ""}}, ["no password for prometheus"]),
        ({"prometheus_extra_jobs": {"stomp": {"group": "brokers", "port": 15692}, "app": {"group": "all", "port": "http"}}},
         ["job stomp scrapes group 'brokers', which is not in the inventory", "job app needs a numeric port, got 'http'"]),
    ],
    ids=["collectors-and-address", "basic-auth", "jobs"],
)
def test_bad_input_is_refused_before_any_change(extra, fragments):
    run = run_playbook("converge.yml", extra_vars=extra)
    for fragment in fragments:
        assert_refused_before_any_change(run, fragment, "node_exporter", "prometheus")


def test_a_new_node_becomes_a_target_without_a_restart(tmp_path):
    pid = server_pid()
    started = api("query", query='process_start_time_seconds{job="prometheus"}')["result"][0]["value"][1]
    spare = tmp_path / "spare.yml"
    spare.write_text(yaml.safe_dump({"all": {"children": {"monitored": {"hosts": {SPARE: None}}}}}))
    run = run_playbook("converge.yml", "-i", str(spare))
    assert run.rc == 0, run.failures
    wait_for(lambda: node_targets().get(SPARE) == "up")
    assert server_pid() == pid
    assert api("query", query='process_start_time_seconds{job="prometheus"}')["result"][0]["value"][1] == started


def test_a_server_whose_machine_is_replaced_by_an_empty_one_comes_back_with_every_target(tmp_path):
    """The Prometheus node's machine replaced by an empty one under the same name (no data, no packages): one converge
    brings the server back, with an empty TSDB, its rules, and every target (the spare added above included) up; a
    second converge changes nothing."""
    spare = tmp_path / "spare.yml"
    spare.write_text(yaml.safe_dump({"all": {"children": {"monitored": {"hosts": {SPARE: None}}}}}))
    replaced_at = time.time()
    run = run_playbook(SCENARIO.parent / "resources" / "playbooks" / "replace.yml", extra_vars={"replaced": SERVER})
    assert run.rc == 0, run.failures
    assert sh(SERVER, "test -e /var/lib/prometheus", check=False).returncode == 1  # empty

    run = run_playbook("converge.yml", "-i", str(spare))
    assert run.rc == 0, run.failures

    def all_up():
        """the four node targets are up"""
        targets = node_targets()
        return sorted(targets) == sorted([*MONITORED, SPARE]) and set(targets.values()) == {"up"}

    wait_for(all_up, timeout=120)
    assert api("rules")["groups"], "no rule group loaded"
    # A new TSDB: it holds no sample from before the replacement. The series exists once Prometheus has scraped
    # itself, which may come a scrape interval after the node targets are up.
    lowest = wait_for(lambda: api("query", query="prometheus_tsdb_lowest_timestamp_seconds")["result"], timeout=60)
    oldest = float(lowest[0]["value"][1])
    assert oldest >= replaced_at, (oldest, replaced_at)
    again = run_playbook("converge.yml", "-i", str(spare))
    assert again.rc == 0 and again.total("changed") == 0, again.changed_tasks()


# Last: the upstream install method, through the shared upstream_binary role, on the spare node. Offline, the
# "releases" are built here in the upstream layout from Debian's own binaries, and served from the controller.
NODE_EXPORTER_VERSION, PROMETHEUS_VERSION = "1.9.0", "2.53.3"


@pytest.fixture(scope="module")
def releases(tmp_path_factory):
    """{name: (url, sha256)} of node_exporter and prometheus release archives, served on the controller's loopback."""
    root = tmp_path_factory.mktemp("releases")
    ne_dir, prom_dir = f"node_exporter-{NODE_EXPORTER_VERSION}.linux-amd64", f"prometheus-{PROMETHEUS_VERSION}.linux-amd64"
    sh(SPARE, "set -e; rm -rf /srv/releases; mkdir -p /srv/releases/x && cd /srv/releases"
              " && apt-get download -qq prometheus-node-exporter prometheus promtool"
              " && for deb in *.deb; do dpkg-deb -x $deb x; done"
              f" && mkdir {ne_dir} {prom_dir} && cp x/usr/bin/prometheus-node-exporter {ne_dir}/node_exporter"
              f" && cp x/usr/bin/prometheus x/usr/bin/promtool {prom_dir}/"
              f" && tar -cf - {ne_dir} | gzip -1 > {ne_dir}.tar.gz && tar -cf - {prom_dir} | gzip -1 > {prom_dir}.tar.gz")
    for name in (ne_dir, prom_dir):
        subprocess.run(["docker", "cp", f"{SPARE}:/srv/releases/{name}.tar.gz", str(root)], check=True, capture_output=True)
    sh(SPARE, "rm -rf /srv/releases")
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(root))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    base = f"http://127.0.0.1:{server.server_address[1]}"
    archives = {"node_exporter": root / f"{ne_dir}.tar.gz", "prometheus": root / f"{prom_dir}.tar.gz"}
    yield {name: (f"{base}/{path.name}", hashlib.sha256(path.read_bytes()).hexdigest()) for name, path in archives.items()}
    server.shutdown()
    server.server_close()


def upstream_inventory(tmp_path, releases, node_exporter_sha=None, with_server=False) -> Path:
    """The spare node, monitored with node_exporter's upstream release (and, with_server, a second Prometheus server
    from its upstream release)."""
    url, sha = releases["node_exporter"]
    host = {"node_exporter_install_method": "upstream", "node_exporter_version": NODE_EXPORTER_VERSION,
            "node_exporter_upstream_url": url, "node_exporter_upstream_checksum": f"sha256:{node_exporter_sha or sha}",
            "node_exporter_controller_cache_dir": str(tmp_path / "cache")}
    if with_server:
        url, sha = releases["prometheus"]
        host |= {"prometheus_install_method": "upstream", "prometheus_version": PROMETHEUS_VERSION,
                 "prometheus_upstream_url": url, "prometheus_upstream_checksum": f"sha256:{sha}",
                 "prometheus_controller_cache_dir": str(tmp_path / "cache")}
    groups = {"monitored": {"hosts": {SPARE: host}}} | ({"monitoring": {"hosts": {SPARE: None}}} if with_server else {})
    path = tmp_path / "upstream.yml"
    path.write_text(yaml.safe_dump({"all": {"children": groups}}))
    return path


def test_an_upstream_release_whose_checksum_differs_installs_nothing(tmp_path, releases):
    run = run_playbook("converge.yml", "-i", str(upstream_inventory(tmp_path, releases, node_exporter_sha="0" * 64)),
                       "--limit", SPARE)
    assert run.rc != 0
    assert "checksum" in " ".join(m for ms in run.failures.values() for m in ms).lower(), run.failures
    assert sh(SPARE, "test -e /usr/local/bin/node_exporter", check=False).returncode == 1
    assert sh(SPARE, "systemctl is-active prometheus-node-exporter").stdout.strip() == "active"
    assert sh(SPARE, "dpkg-query -W -f '${db:Status-Abbrev}' prometheus-node-exporter").stdout.strip() == "ii"


def test_the_upstream_releases_replace_debians_and_serve(tmp_path, releases):
    """node_exporter and a second Prometheus server switch from Debian's packages to their upstream releases through
    upstream_binary: Debian's packages go, the binaries and units serve, the new server scrapes every node; a second
    converge and --check change nothing; a deleted binary is put back and its service restarted."""
    # The whole play, not --limit: the server's targets need every monitored node's address (from its facts).
    inventory = str(upstream_inventory(tmp_path, releases, with_server=True))
    run = run_playbook("converge.yml", "-i", inventory)
    assert run.rc == 0, run.failures
    # The other monitored nodes change nothing (the first server rewrites the spare's targets: its roles label).
    assert not set(run.changed_tasks()) & set(MONITORED[1:]), run.changed_tasks()
    debian = sh(SPARE, "dpkg-query -W -f '${Package} ${db:Status-Abbrev}\\n' prometheus-node-exporter prometheus",
                check=False).stdout
    assert "ii" not in debian, debian  # removed (rc: only their config files are left)
    assert sh(SPARE, "ls /usr/local/bin").stdout.split() == ["node_exporter", "prometheus", "promtool"]
    assert sh(SPARE, "systemctl is-active node_exporter prometheus").stdout.split() == ["active", "active"]
    assert "node_cpu_seconds_total" in urllib.request.urlopen(f"http://{address(SPARE)}:9100/metrics", timeout=10).read().decode()

    def spare_scrapes_every_node():
        """the spare's own Prometheus has every node target up"""
        with urllib.request.urlopen(f"http://{address(SPARE)}:9090/api/v1/targets?state=active", timeout=10) as response:
            active = json.load(response)["data"]["activeTargets"]
        node = {t["labels"]["instance"]: t["health"] for t in active if t["labels"]["job"] == "node"}
        return sorted(node) == sorted([*MONITORED, SPARE]) and set(node.values()) == {"up"}

    wait_for(spare_scrapes_every_node, timeout=120)
    for args in ((), ("--check",)):
        again = run_playbook("converge.yml", "-i", inventory, *args)
        assert again.rc == 0 and again.total("changed") == 0, (args, again.changed_tasks())
    started = sh(SPARE, "systemctl show -p ExecMainStartTimestampMonotonic --value node_exporter").stdout.strip()
    sh(SPARE, "rm /usr/local/bin/node_exporter")
    healed = run_playbook("converge.yml", "-i", inventory)
    assert healed.rc == 0, healed.failures
    assert sh(SPARE, "test -x /usr/local/bin/node_exporter", check=False).returncode == 0
    assert sh(SPARE, "systemctl show -p ExecMainStartTimestampMonotonic --value node_exporter").stdout.strip() != started
