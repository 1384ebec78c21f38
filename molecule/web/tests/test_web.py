"""Verify the web tier on one node: three apps (archive, git and directory
sources) under gunicorn behind nginx with the RideShare routing and
self-signed TLS, exercised with real HTTP(S) from the controller to the
node's address, and the redeploy, broken-config and bad-input cases."""

from __future__ import annotations

import gzip
import http.client
import io
import json
import os
import ssl
import subprocess
import tarfile
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
    return ssl.create_default_context(cadata=sh(NODE, "cat /etc/nginx/geostack-tls/server.crt").stdout)


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
    """GET a path in a loop until stopped (bounded: count and time), new TLS connection each time, a short pause
    between requests: two clients, each asking every 50 ms or so, find a gap of a tenth of a second, without taking
    the cores the converge under test needs (every request is a TLS handshake)."""

    def __init__(self, ctx, path, max_requests=20000, max_seconds=300, pause=0.05):
        super().__init__(daemon=True)
        self.ctx, self.path, self.max_requests, self.max_seconds = ctx, path, max_requests, max_seconds
        self.pause = pause
        self.stop = threading.Event()
        self.ok, self.failed, self.versions = 0, [], set()

    def run(self):
        deadline = time.monotonic() + self.max_seconds
        while not self.stop.is_set() and time.monotonic() < deadline and self.ok + len(self.failed) < self.max_requests:
            try:
                status, _headers, body = request(self.ctx, self.path)
                if status == 200:
                    self.ok += 1
                    self.versions.add(json.loads(body).get("version"))
                else:
                    self.failed.append(status)
            except (OSError, http.client.HTTPException) as error:
                self.failed.append(repr(error))
            self.stop.wait(self.pause)


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


# Hosting real apps: a state directory, a migrate step per release, calls
# between apps, the working copy left out, and crashes caught


def users_release(tmp_path, version, migrate=None):
    """An archive of the users app at another version (and another migrate.py, if given), as web_apps."""
    archive = tmp_path / f"users-v{version}.tar.gz"
    with tarfile.open(archive, "w:gz") as tar:
        for source in sorted((SCENARIO / "apps" / "users").iterdir()):
            text = source.read_text()
            if source.name == "app.py":
                text = text.replace("\nVERSION = 1\n", f"\nVERSION = {version}\n")
            if source.name == "migrate.py" and migrate is not None:
                text = migrate
            data = text.encode()
            info = tarfile.TarInfo(source.name)
            info.size, info.mode = len(data), 0o644
            tar.addfile(info, io.BytesIO(data))
    return [dict(VARS["web_apps"][0], source=str(archive)), *VARS["web_apps"][1:]]


def migrations() -> int:
    """How many times the users app's migrate command ran (it adds a row each time)."""
    query = "import sqlite3; print(sqlite3.connect('/var/lib/geostack-web/users/users.db').execute('SELECT count(*) FROM migrations').fetchone()[0])"
    return int(sh(NODE, f'python3 -c "{query}"').stdout)


def current(app: str) -> str:
    return sh(NODE, f"readlink /srv/geostack-web/{app}/current").stdout.strip()


def test_apps_call_each_other_through_the_internal_listener(tls):
    status, _headers, _body = request(tls, "/api/v1/users", method="PUT", body=b'{"username": "ada"}')
    assert status == 201
    # rides asks users (http://<private address>:8080/api/v1/users/<name>) before it books a ride.
    status, _headers, body = request(tls, "/api/v1/rides", method="POST", body=b'{"username": "ada"}')
    assert (status, json.loads(body)["rider"]) == (201, "ada"), body
    status, _headers, body = request(tls, "/api/v1/rides", method="POST", body=b'{"username": "nobody"}')
    assert status == 422, body
    # The internal listener: plain HTTP, the same routes, no redirect.
    with urllib.request.urlopen(f"http://{address(NODE)}:8080/api/v1/users/ada", timeout=10) as answer:
        assert json.load(answer) == {"service": "users", "username": "ada"}


def test_apps_trust_the_self_signed_certificate():
    # As an app's user, with Python's default trust (the node's store): no CA file given.
    check = f"import urllib.request; print(urllib.request.urlopen('https://{address(NODE)}/health', timeout=10).status)"
    assert sh(NODE, f'runuser -u web-rides -- python3 -c "{check}"').stdout.strip() == "200"


def test_a_preloaded_app_is_imported_once_by_the_master(tls):
    counted = get_json(tls, "/api/v1/users/_count")
    assert counted["loaded_by"] == main_pid("users") != counted["worker"]


def test_a_directory_source_leaves_the_working_copy_behind():
    release = current("tiles")
    assert sh(NODE, f"test -f {release}/app.py && test -f {release}/docs/notes.txt", check=False).returncode == 0
    for left_out in (".git", ".venv", "__pycache__", "debug.log"):
        assert sh(NODE, f"test -e {release}/{left_out}", check=False).returncode == 1, left_out


def test_state_survives_a_new_release_and_migrate_runs_once_per_release(tls, tmp_path):
    assert request(tls, "/api/v1/users", method="PUT", body=b'{"username": "grace"}')[0] == 201
    before = migrations()
    apps = users_release(tmp_path, 2)
    run = run_playbook("converge.yml", extra_vars={"web_apps": apps})
    assert run.rc == 0, run.failures
    answer = get_json(tls, "/api/v1/users")
    assert answer["version"] == 2 and {"ada", "grace"} <= set(answer["users"])
    assert migrations() == before + 1
    again = run_playbook("converge.yml", extra_vars={"web_apps": apps})
    assert again.rc == 0 and again.total("changed") == 0, again.changed_tasks()
    assert migrations() == before + 1


def test_a_failing_migrate_keeps_the_old_release_serving(tls, tmp_path):
    serving, version = current("users"), get_json(tls, "/api/v1/users")["version"]
    apps = users_release(tmp_path, 3, migrate='import sys\nprint("users: cannot migrate to schema 3")\nsys.exit(4)\n')
    loads = [Load(tls, "/api/v1/users") for _load in range(2)]
    for load in loads:
        load.start()
    time.sleep(2)
    run = run_playbook("converge.yml", extra_vars={"web_apps": apps})
    time.sleep(2)
    for load in loads:
        load.stop.set()
        load.join()
    assert run.rc != 0
    message = " ".join(run.failures.get(NODE, []))
    assert "web_apps[users].migrate `python migrate.py` failed with exit code 4" in message, run.failures
    assert "users: cannot migrate to schema 3" in message
    assert sum(load.ok for load in loads) > 20
    assert [f for load in loads for f in load.failed] == []
    assert {v for load in loads for v in load.versions} == {version}
    assert current("users") == serving


def test_workers_that_crashed_while_the_app_came_up_fail_the_play(tls):
    apps = [dict(app, env=dict(app.get("env", {}), RIDES_CRASH_ONCE=str(time.time_ns()))) if app["name"] == "rides" else app
            for app in VARS["web_apps"]]
    run = run_playbook("converge.yml", extra_vars={"web_apps": apps})
    assert run.rc != 0
    message = " ".join(run.failures.get(NODE, []))
    assert "web app rides" in message and "its workers crashed while it came up" in message, run.failures
    assert "crashing once on purpose" in message or "Worker failed to boot" in message, message
    # systemd brought it back; the play still said what happened.
    assert get_json(tls, "/health")["service"] == "rides"


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
