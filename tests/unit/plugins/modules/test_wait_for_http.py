"""wait_for_http's loop, and the one HTTP GET it shares with node_state, against real HTTP servers on loopback and on a
Unix socket."""

import http.server
import json
import socket
import socketserver
import threading

import pytest
from ansible_collections.geostack.cluster.plugins.module_utils.http_probe import http_request
from ansible_collections.geostack.cluster.plugins.modules.wait_for_http import wait_for_http


class Clock:
    """A clock that advances only when the loop sleeps."""

    def __init__(self):
        self.now = 0.0
        self.sleeps = []

    def __call__(self):
        return self.now

    def sleep(self, seconds):
        self.sleeps.append(seconds)
        self.now += seconds


def answers(*statuses):
    queue = [{"status": s, "body": "", "error": "refused" if s == -1 else ""} for s in statuses]
    return lambda: queue.pop(0)


def test_it_waits_until_a_wanted_status():
    clock = Clock()
    answered, answer, attempts, elapsed = wait_for_http(answers(-1, 503, 200), "u", [200], 60, 2, clock, clock.sleep)
    assert (answered, answer["status"], attempts, elapsed) == (True, 200, 3, 4.0)
    assert clock.sleeps == [2, 2]


def test_it_gives_up_after_the_timeout_with_the_last_answer():
    clock = Clock()
    answered, answer, attempts, elapsed = wait_for_http(answers(*[503] * 20), "u", [200, 401], 10, 3, clock, clock.sleep)
    assert (answered, answer["status"], attempts) == (False, 503, 4)
    assert elapsed == 9.0 and clock.sleeps == [3, 3, 3]


class Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        status = {"/ok": 200, "/denied": 401}.get(self.path, 503)
        body = json.dumps({"path": self.path}).encode()
        self.send_response(status)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        """Quiet."""


@pytest.fixture
def tcp_server():
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


class UnixHTTPServer(socketserver.ThreadingMixIn, socketserver.UnixStreamServer):
    daemon_threads = True


@pytest.fixture
def unix_server(tmp_path):
    path = str(tmp_path / "app.sock")
    server = UnixHTTPServer(path, Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield path
    server.shutdown()
    server.server_close()


def test_a_real_answer_carries_its_status_and_json(tcp_server):
    assert http_request(f"{tcp_server}/ok") == {"status": 200, "body": '{"path": "/ok"}', "error": "", "json": {"path": "/ok"}}
    assert http_request(f"{tcp_server}/denied")["status"] == 401
    assert http_request(f"{tcp_server}/starting")["status"] == 503


def test_a_port_that_refuses_is_status_minus_one():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    answer = http_request(f"http://127.0.0.1:{port}/", timeout=2)
    assert answer["status"] == -1 and answer["error"]


def test_a_unix_socket_is_asked_for_the_url_path(unix_server):
    answer = http_request("http://localhost/ok", unix_socket=unix_server)
    assert answer["status"] == 200 and answer["json"] == {"path": "/ok"}
    assert http_request("http://localhost/ok", unix_socket=unix_server + ".gone")["status"] == -1
