"""The tests' own helper that proves bad input was refused before any change: it must fail for the wrong reasons."""

import sys

import pytest

from ..conftest import ROOT

sys.path.insert(0, str(ROOT / "tests" / "helpers"))
from playbook_runner import PlaybookRun, assert_refused_before_any_change


def run(failed_task, changed=0, message="web_tls_key_file is not a file"):
    host = {"failed": True, "msg": message}
    results = [("geostack.cluster.web : Assert the apps, routes and upstreams", {"n1": {}}), (failed_task, {"n1": host})]
    return PlaybookRun(rc=2, stats={"n1": {"changed": changed}}, failures={"n1": [f"{failed_task}: {message}"]}, results=results)


def test_a_refusal_in_the_roles_preflight_passes():
    assert_refused_before_any_change(run("geostack.cluster.web : Assert the provided certificate and key exist"), "web_tls_key_file", "web")


def test_a_refusal_by_the_argument_specs_passes():
    assert_refused_before_any_change(
        run("geostack.cluster.web : Validating arguments against arg spec 'main' - Deploy WSGI apps"), "web_tls_key_file", "web")


@pytest.mark.parametrize(
    ("task", "changed", "message", "why"),
    [
        ("geostack.cluster.web : Write nginx's config, checked with nginx -t", 0, "web_tls_key_file is not a file", "failed past"),
        ("geostack.cluster.web : Assert the provided certificate and key exist", 1, "web_tls_key_file is not a file", "changed"),
        ("geostack.cluster.web : Assert the provided certificate and key exist", 0, "something else", "web_tls_key_file"),
    ],
)
def test_a_late_failure_a_change_or_another_message_is_caught(task, changed, message, why):
    with pytest.raises(AssertionError):
        assert_refused_before_any_change(run(task, changed, message), "web_tls_key_file", "web")
