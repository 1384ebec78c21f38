"""Verify the web tier on one node: three apps (archive, git and directory
sources) under gunicorn behind nginx with the RideShare routing and
self-signed TLS, exercised with real HTTP(S) from the controller to the
node's address, and the redeploy, broken-config and bad-input cases."""

from __future__ import annotations

import gzip
import http.client
import json
import os
import ssl
import subprocess
import tempfile
import threading
import time
import urllib.request
from pathlib import Path

import pytest
import yaml
from nodes import address, sh
from playbook_runner import assert_refused_before_any_change, run_playbook

SCENARIO = Path(os.environ.get("MOLECULE_SCENARIO_DIRECTORY", Path(__file__).resolve().parents[1]))
NODE = "geostack-web-1"
VARS = yaml.safe_load((SCENARIO / "vars" / "converge.yml").read_text())
SECRET = VARS["web_apps"][0]["env"]["USERS_SECRET_KEY"]
REPO = "/srv/repos/rides"

testinfra_hosts = [f"docker://{NODE}"]


@pytest.fixture(scope="module")
def tls() -> ssl.SSLContext:
    """Trust exactly the node's self-signed certificate, hostname (IP) checked."""
    cert = sh(NODE, "cat /etc/nginx/geostack-tls/server.crt").stdout
    with tempfile.NamedTemporaryFile("w", suffix=".crt", delete=False) as handle:
        handle.write(cert)
    return ssl.create_default_context(cafile=handle.name)


def request(ctx, path, method="GET", headers=None, body=None, port=443):
    conn = http.client.HTTPSConnection(address(NODE), port, context=ctx, timeout=15)
    try:
        conn.request(method, path, body=body, headers=headers or {})
        response = conn.getresponse()
        return response.status, dict(response.getheaders()), response.read()
    finally:
        conn.close()


def get_json(ctx, path, **kwargs):
    status, _headers, body = request(ctx, path, **kwargs)
    assert status == 200, (path, status, body[:200])
    return json.loads(body)


def main_pid(app: str) -> int:
    return int(sh(NODE, f"systemctl show -p MainPID --value geostack-web-{app}").stdout)


class Load(threading.Thread):
    """GET a path in a loop until stopped (bounded: count and time), new TLS connection each time."""

    def __init__(self, ctx, path, max_requests=20000, max_seconds=300):
        super().__init__(daemon=True)
        self.ctx, self.path, self.max_requests, self.max_seconds = ctx, path, max_requests, max_seconds
        self.stop = threading.Event()
        self.ok, self.failed, self.versions = 0, [], set()

    def run(self):
        deadline = time.monotonic() + self.max_seconds
        while not self.stop.is_set() and time.monotonic() < deadline and self.ok + len(self.failed) < self.max_requests:
            try:
                status, _headers, body = request(self.ctx, self.path)
                if status == 200:
                    self.ok += 1
                    self.versions.add(json.loads(body)["version"])
                else:
                    self.failed.append(status)
            except (OSError, http.client.HTTPException) as error:
                self.failed.append(repr(error))


def redeploy_under_load(ctx):
    """Converge while two clients load the rides route; return the loads and the run."""
    loads = [Load(ctx, "/api/v1/rides/load") for _load in range(2)]
    for load in loads:
        load.start()
    time.sleep(2)
    run = run_playbook("converge.yml")
    time.sleep(2)
    for load in loads:
        load.stop.set()
        load.join()
    return loads, run


# Routing, headers, limits


@pytest.mark.parametrize(
    ("path", "service"),
    [
        ("/api/v1/users", "users"),
        ("/api/v1/users/health", "users"),
        ("/api/v1/rides", "rides"),
        ("/api/v1/_count", "rides"),
        ("/", "rides"),
        ("/health", "rides"),
    ],
)
def test_rideshare_routing(tls, path, service):
    assert get_json(tls, path)["service"] == service


def test_tiles_route_reaches_the_tiles_app(tls):
    assert get_json(tls, "/tiles/")["tiles_dir"] == "/srv/geostack/tiles"


def test_apps_get_their_environment_and_proxy_headers(tls):
    assert get_json(tls, "/api/v1/users")["greeting"] == "hello from users"
    assert get_json(tls, "/api/v1/users/health")["secret_key_set"] is True
    rides = get_json(tls, "/api/v1/rides", headers={"Upgrade": "geostack-test", "Connection": "Upgrade"})
    assert rides["forwarded_proto"] == "https" and rides["forwarded_for"]
    assert rides["upgrade"] == "geostack-test" and rides["connection"].lower() == "upgrade"


def test_gzip_and_body_limit(tls):
    status, headers, body = request(tls, "/api/v1/rides?pad=20000", headers={"Accept-Encoding": "gzip"})
    assert status == 200 and headers.get("Content-Encoding") == "gzip"
    assert len(json.loads(gzip.decompress(body))["pad"]) == 20000
    status, _headers, _body = request(tls, "/api/v1/users", method="PUT", body=b"x" * (11 * 1024 * 1024))
    assert status == 413


def test_sockets_belong_to_nginx_and_apps_run_as_their_users(host):
    for app in ("users", "rides", "tiles"):
        sock = host.file(f"/run/geostack-web/{app}.sock")
        assert sock.is_socket and (sock.user, sock.group, sock.mode) == ("www-data", "www-data", 0o660)
        assert sh(NODE, f"stat -c %U /proc/{main_pid(app)}").stdout.strip() == f"web-{app}"
        assert host.service(f"geostack-web-{app}.socket").is_enabled
    assert not host.file("/etc/nginx/sites-enabled/default").exists


def test_nginx_exporter_reports_nginx_on_the_private_address():
    with urllib.request.urlopen(f"http://{address(NODE)}:9113/metrics", timeout=10) as response:
        metrics = response.read().decode()
    assert "\nnginx_up 1\n" in metrics and "nginx_connections_accepted" in metrics


def test_secret_environment_is_not_world_readable(host):
    conf = host.file("/etc/geostack-web/users.conf.py")
    assert (conf.user, conf.group, conf.mode) == ("root", "web-users", 0o640)


# TLS


@pytest.mark.parametrize("version", [ssl.TLSVersion.TLSv1_2, ssl.TLSVersion.TLSv1_3])
def test_tls_12_and_13_are_spoken(tls, version):
    tls_version = ssl.create_default_context(cafile=None)
    tls_version.load_verify_locations(cadata=sh(NODE, "cat /etc/nginx/geostack-tls/server.crt").stdout)
    tls_version.minimum_version = tls_version.maximum_version = version
    conn = http.client.HTTPSConnection(address(NODE), 443, context=tls_version, timeout=10)
    conn.request("GET", "/health")
    response = conn.getresponse()
    assert response.status == 200 and conn.sock.version() == {ssl.TLSVersion.TLSv1_2: "TLSv1.2", ssl.TLSVersion.TLSv1_3: "TLSv1.3"}[version]
    conn.close()


@pytest.mark.filterwarnings("ignore::DeprecationWarning")
@pytest.mark.parametrize("version", [ssl.TLSVersion.TLSv1, ssl.TLSVersion.TLSv1_1])
def test_tls_10_and_11_are_refused_by_the_server(version):
    old = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    old.check_hostname, old.verify_mode = False, ssl.CERT_NONE
    # Let this client offer the old protocol, so that a refusal is the server's.
    old.set_ciphers("DEFAULT:@SECLEVEL=0")
    old.minimum_version = old.maximum_version = version
    with pytest.raises(ssl.SSLError) as refused:
        request(old, "/health")
    assert "PROTOCOL_VERSION" in str(refused.value) or "UNSUPPORTED_PROTOCOL" in str(refused.value), refused.value


def test_plain_http_redirects_to_https():
    conn = http.client.HTTPConnection(address(NODE), 80, timeout=10)
    conn.request("GET", "/api/v1/users?x=1")
    response = conn.getresponse()
    assert response.status == 301
    assert response.getheader("Location") == f"https://{address(NODE)}/api/v1/users?x=1"


# The reference tiles app


def test_tiles_app_serves_a_tile_and_404s_a_missing_one(tls):
    png = b"\x89PNG\r\n\x1a\n" + os.urandom(64)
    subprocess.run(
        ["docker", "exec", "-i", NODE, "sh", "-c", "mkdir -p /srv/geostack/tiles/3/4 && cat > /srv/geostack/tiles/3/4/5.png"],
        input=png, check=True,
    )
    status, headers, body = request(tls, "/tiles/3/4/5.png")
    assert status == 200 and body == png and headers["Content-Type"] == "image/png"
    assert request(tls, "/tiles/3/4/6.png")[0] == 404
    assert request(tls, "/tiles/3/9/5.png")[0] == 404  # x outside zoom 3
    assert get_json(tls, "/tiles/")["zoom_levels"] == [3]


# Redeploys under load


def test_code_change_reloads_without_dropping_a_request(tls):
    before = main_pid("rides")
    sh(NODE, f"cd {REPO} && sed -i 's/^VERSION = 1$/VERSION = 2/' app.py && git -c user.name=t -c user.email=t@t.invalid commit -qam v2")
    loads, run = redeploy_under_load(tls)
    assert run.rc == 0, run.failures
    assert sum(load.ok for load in loads) > 20
    assert [f for load in loads for f in load.failed] == []
    assert get_json(tls, "/")["version"] == 2
    # A reload (HUP to the same master), not a restart.
    assert main_pid("rides") == before


def venv_target() -> str:
    return sh(NODE, "readlink /srv/geostack-web/rides/venv").stdout.strip()


def test_requirements_change_rebuilds_the_venv_without_dropping_a_request(tls):
    before, venv_before = main_pid("rides"), venv_target()
    # Version 3: a blueprint that imports a new requirement.
    for name in ("deps.py", "requirements.txt"):
        subprocess.run(["docker", "cp", str(SCENARIO / "apps" / "rides-v3" / name), f"{NODE}:{REPO}/{name}"], check=True)
    sh(
        NODE,
        f"cd {REPO} && sed -i 's/^VERSION = 2$/VERSION = 3/' app.py"
        " && printf '\\nfrom deps import deps  # noqa: E402\\n\\napp.register_blueprint(deps)\\n' >> app.py"
        " && git add -A && git -c user.name=t -c user.email=t@t.invalid commit -qm v3",
    )
    loads, run = redeploy_under_load(tls)
    assert run.rc == 0, run.failures
    assert [f for load in loads for f in load.failed] == []
    assert get_json(tls, "/deps")["six"] == "1.17.0"
    assert get_json(tls, "/")["version"] == 3
    # A new venv, a restarted master (the socket held the connections), the old venv gone.
    assert venv_target() != venv_before and main_pid("rides") != before
    assert sh(NODE, f"test -e {venv_before}", check=False).returncode == 1


# Broken config, check mode, bad input


def nginx_conf_sum() -> str:
    return sh(NODE, "sha256sum /etc/nginx/nginx.conf").stdout.split()[0]


def test_broken_upstream_fails_at_nginx_t_and_the_old_config_keeps_serving(tls):
    before = nginx_conf_sum()
    run = run_playbook(
        "converge.yml",
        extra_vars={
            "web_upstreams": [{"name": "stomp", "servers": ["127.0.0.1:notaport"]}],
            "web_routes": VARS["web_routes"] + [{"path": "/stomp", "upstream": "stomp"}],
        },
    )
    assert run.rc != 0
    messages = " ".join(run.failures.get(NODE, []))
    assert "Write nginx's config" in messages and "invalid port" in run.output, run.failures
    assert nginx_conf_sum() == before
    assert sh(NODE, "systemctl is-active nginx").stdout.strip() == "active"
    assert get_json(tls, "/api/v1/users")["service"] == "users"


def test_check_mode_on_the_converged_node_changes_nothing_and_shows_no_secret():
    run = run_playbook("converge.yml", "--check", "--diff", "-v")
    assert run.rc == 0, run.failures
    assert run.total("changed") == 0 and run.total("failures") == 0
    assert SECRET not in run.output


def test_bad_apps_and_routes_are_refused_before_any_change():
    apps = [dict(VARS["web_apps"][0], module=""), *VARS["web_apps"][1:]]
    routes = [
        {"path": "/api/v1/users", "app": "users"},
        {"path": "/api/v1/users/", "app": "rides"},
        {"path": "/drivers", "app": "drivers"},
        {"path": "/", "app": "rides"},
    ]
    run = run_playbook("converge.yml", extra_vars={"web_apps": apps, "web_routes": routes})
    assert_refused_before_any_change(run, "web_apps[0] (users).module is missing", "web")
    message = " ".join(run.failures[NODE])
    assert "web_apps[0] (users).module is missing" in message
    assert "web_routes[2] (/drivers).app 'drivers' is not in web_apps" in message
    assert "web_routes[1] (/api/v1/users/).path is also web_routes[0]'s path" in message


def test_missing_certificate_file_is_refused_before_any_change():
    run = run_playbook(
        "converge.yml",
        extra_vars={"web_tls": "provided", "web_tls_certificate_file": "/nonexistent/server.crt", "web_tls_key_file": __file__},
    )
    assert_refused_before_any_change(run, "web_tls_certificate_file (/nonexistent/server.crt)", "web")
    assert "web_tls_key_file" not in " ".join(run.failures[NODE])
