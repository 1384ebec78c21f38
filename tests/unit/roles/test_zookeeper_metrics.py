"""The zookeeper role's metrics writer (roles/zookeeper/files/geostack-zookeeper-metrics),
run against a loopback HTTP server that answers like ZooKeeper's AdminServer."""

from __future__ import annotations

import http.server
import importlib.machinery
import importlib.util
import json
import subprocess
import sys
import threading
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[3] / "roles" / "zookeeper" / "files" / "geostack-zookeeper-metrics"


def load():
    loader = importlib.machinery.SourceFileLoader("geostack_zookeeper_metrics", str(SCRIPT))
    spec = importlib.util.spec_from_loader(loader.name, loader)
    module = importlib.util.module_from_spec(spec)
    loader.exec_module(module)
    return module


def samples(text: str) -> dict[str, str]:
    return dict(line.rsplit(" ", 1) for line in text.splitlines() if line and not line.startswith("#"))


@pytest.fixture
def admin_server():
    """An AdminServer stand-in on 127.0.0.1 whose /commands/monitor answer the test sets."""
    state = {"body": {}}

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            if self.path != "/commands/monitor":
                self.send_error(404)
                return
            body = json.dumps(state["body"]).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_port}/commands", state
    server.shutdown()


@pytest.mark.parametrize(
    ("server_state", "leader", "serving"),
    [("leader", "1", "1"), ("follower", "0", "1"), ("standalone", "1", "1"), ("looking", "0", "0")],
)
def test_state_becomes_gauges(server_state, leader, serving):
    data = {"command": "monitor", "error": None, "server_state": server_state, "znode_count": 7,
            "avg_latency": 0.5, "version": "3.9.3", "is_leader": True}
    got = samples(load().render(data, 1700000000.0))
    assert got["zookeeper_up"] == "1"
    assert got["zookeeper_leader"] == leader
    assert got["zookeeper_serving"] == serving
    assert got[f'zookeeper_server_state{{state="{server_state}"}}'] == "1"
    assert got["zookeeper_znode_count"] == "7" and got["zookeeper_avg_latency"] == "0.5"
    # Strings and booleans are not samples.
    assert "zookeeper_version" not in got and "zookeeper_is_leader" not in got
    assert got["zookeeper_metrics_timestamp_seconds"] == "1700000000.000"


def test_an_unreachable_member_is_down():
    got = samples(load().render(load().read_monitor("http://127.0.0.1:9/commands"), 0))
    assert got["zookeeper_up"] == got["zookeeper_serving"] == got["zookeeper_leader"] == "0"
    assert got['zookeeper_server_state{state="down"}'] == "1"


def test_the_script_writes_the_file_from_the_admin_server(admin_server, tmp_path):
    url, state = admin_server
    target = tmp_path / "zookeeper.prom"
    for server_state, leader in (("follower", "0"), ("leader", "1")):
        state["body"] = {"command": "monitor", "error": None, "server_state": server_state, "znode_count": 3}
        subprocess.run([sys.executable, str(SCRIPT), url, str(target)], check=True)
        got = samples(target.read_text())
        assert got["zookeeper_up"] == "1" and got["zookeeper_leader"] == leader
    # Replaced atomically: no temporary file is left behind, and it is world-readable.
    assert [p.name for p in tmp_path.iterdir()] == ["zookeeper.prom"]
    assert target.stat().st_mode & 0o777 == 0o644
    # An AdminServer error answer counts as down.
    state["body"] = {"command": "monitor", "error": "This ZooKeeper instance is not currently serving requests"}
    subprocess.run([sys.executable, str(SCRIPT), url, str(target)], check=True)
    assert samples(target.read_text())["zookeeper_up"] == "0"
