"""apt_signing_key end to end: the module's main() against key files served by a real HTTP server on loopback."""

import hashlib
import http.server
import json
import threading
from pathlib import Path

import pytest
from ansible.module_utils.testing import patch_module_args
from ansible_collections.geostack.cluster.plugins.modules import apt_signing_key

KEYS = Path(__file__).parents[1] / "module_utils" / "keys"
A = "5CFCD9B51CAAA29069D931A6D63446ABAEDFD50F"
B = "C9AB23F0FCCBD53086123C9EAEC8D03A5E1AA186"


class Server:
    def __init__(self):
        self.requests = []
        files = {"/a.asc": (KEYS / "a.asc").read_bytes(), "/a_and_b.asc": (KEYS / "a_and_b.asc").read_bytes(),
                 "/page": b"<html>moved</html>"}
        outer = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self):
                outer.requests.append(self.path)
                body = files.get(self.path)
                self.send_response(200 if body is not None else 404)
                self.send_header("Content-Length", str(len(body or b"")))
                self.end_headers()
                self.wfile.write(body or b"")

            def log_message(self, *args):
                """Quiet."""

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"


@pytest.fixture
def server():
    s = Server()
    yield s
    s.httpd.shutdown()


def run(capsys, **args):
    args.setdefault("fingerprints_variable", "grafana_repo_key_fingerprints")
    with patch_module_args(args), pytest.raises(SystemExit) as exited:
        apt_signing_key.main()
    result = json.loads(capsys.readouterr().out)
    result["rc"] = exited.value.code
    return result


def test_the_pinned_key_is_written_once_and_then_not_downloaded_again(server, tmp_path, capsys):
    dest = tmp_path / "keyrings" / "grafana.asc"
    first = run(capsys, url=server.url + "/a.asc", dest=str(dest), fingerprints=[A])
    assert (first["rc"], first["changed"], first["fingerprints"], first["pinned"]) == (0, True, [A], True)
    assert dest.read_bytes() == (KEYS / "a.asc").read_bytes()
    assert oct(dest.stat().st_mode & 0o777) == "0o644" and oct(dest.parent.stat().st_mode & 0o777) == "0o755"
    again = run(capsys, url=server.url + "/a.asc", dest=str(dest), fingerprints=[A])
    assert (again["changed"], again["downloaded"]) == (False, False)
    assert server.requests == ["/a.asc"]
    forced = run(capsys, url=server.url + "/a.asc", dest=str(dest), fingerprints=[A], force=True)
    assert (forced["changed"], forced["downloaded"]) == (False, True)


def test_another_key_is_refused_naming_the_variable_and_nothing_is_written(server, tmp_path, capsys):
    dest = tmp_path / "grafana.asc"
    refused = run(capsys, url=server.url + "/a.asc", dest=str(dest), fingerprints=[B])
    assert refused["rc"] == 1 and refused["failed"]
    assert f"holds the key(s) {A}, which grafana_repo_key_fingerprints does not list ({B})" in refused["msg"]
    assert not dest.exists()


def test_a_file_that_adds_a_key_to_the_pinned_one_is_refused_and_the_old_file_kept(server, tmp_path, capsys):
    dest = tmp_path / "grafana.asc"
    dest.write_bytes(b"an old file that is no key")
    refused = run(capsys, url=server.url + "/a_and_b.asc", dest=str(dest), fingerprints=[A])
    assert refused["rc"] == 1 and f"holds the key(s) {B}" in refused["msg"]
    assert dest.read_bytes() == b"an old file that is no key"


def test_a_page_that_is_no_key_and_a_missing_file_are_refused(server, tmp_path, capsys):
    page = run(capsys, url=server.url + "/page", dest=str(tmp_path / "k.asc"), fingerprints=[A])
    assert page["rc"] == 1 and "neither a binary OpenPGP key nor an ASCII-armored" in page["msg"]
    missing = run(capsys, url=server.url + "/gone", dest=str(tmp_path / "k.asc"), fingerprints=[A])
    assert missing["rc"] == 1 and "could not download" in missing["msg"] and "404" in missing["msg"]


def test_a_checksum_is_checked_too(server, tmp_path, capsys):
    good = "sha256:" + hashlib.sha256((KEYS / "a.asc").read_bytes()).hexdigest()
    ok = run(capsys, url=server.url + "/a.asc", dest=str(tmp_path / "ok.asc"), fingerprints=[A], checksum=good)
    assert ok["rc"] == 0 and ok["changed"]
    bad = run(capsys, url=server.url + "/a.asc", dest=str(tmp_path / "bad.asc"), checksum="sha256:" + "0" * 64,
              checksum_variable="docker_upstream_gpg_key_checksum")
    assert bad["rc"] == 1 and "not the docker_upstream_gpg_key_checksum sha256:000" in bad["msg"]
    assert not (tmp_path / "bad.asc").exists()


def test_check_mode_reports_the_change_and_writes_nothing(server, tmp_path, capsys):
    dest = tmp_path / "k.asc"
    checked = run(capsys, url=server.url + "/a.asc", dest=str(dest), fingerprints=[A], _ansible_check_mode=True)
    assert (checked["rc"], checked["changed"]) == (0, True) and not dest.exists()


def test_an_unpinned_key_is_trusted_with_a_warning_naming_what_to_pin(server, tmp_path, capsys, monkeypatch):
    warnings = []
    monkeypatch.setattr(apt_signing_key.AnsibleModule, "warn", lambda self, text: warnings.append(text))
    result = run(capsys, url=server.url + "/a.asc", dest=str(tmp_path / "k.asc"),
                 fingerprints_variable="citus_repo_key_fingerprints")
    assert result["rc"] == 0 and result["changed"] and not result["pinned"]
    assert any(f"pin it by setting citus_repo_key_fingerprints to [{A}]" in w for w in warnings)


def test_bad_pins_are_refused_before_any_download(server, tmp_path, capsys):
    result = run(capsys, url=server.url + "/a.asc", dest=str(tmp_path / "k.asc"), fingerprints=["ACCC4CF8"])
    assert result["rc"] == 1 and "grafana_repo_key_fingerprints must hold fingerprints of 40 or 64 hex digits" in result["msg"]
    assert server.requests == []
