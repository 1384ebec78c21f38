"""The input rules the roles share (module_utils/inputs.py): passwords and CIDRs."""

from ansible_collections.geostack.cluster.plugins.module_utils.inputs import dict_entries, invalid_cidrs, password_errors


def test_passwords():
    assert password_errors({"citus_app_password": ["a-long-enough-secret", "geostack"]}) == []
    assert password_errors({"citus_app_password": ["", "geostack"]}) == ["citus_app_password is empty: set it (from ansible-vault)"]
    assert "well-known" in password_errors({"citus_postgres_password": ["postgres", "postgres"]})[0]
    assert "well-known" in password_errors({"citus_app_password": ["geostack", "geostack"]})[0]
    assert "well-known" in password_errors({"rabbitmq_users[app].password": ["guest", "app"]})[0]
    assert "shorter than 12" in password_errors({"citus_app_password": ["short", "geostack"]})[0]


def test_weak_passwords_can_be_allowed_for_tests_but_never_empty():
    assert password_errors({"p": ["postgres", "postgres"]}, allow_weak=True) == []
    assert password_errors({"p": [None, "x"]}, allow_weak=True) == ["p is empty: set it (from ansible-vault)"]


def test_messages_never_carry_the_password():
    errors = password_errors({"p": ["tiny", "x"], "q": ["changeme", "y"]})
    assert errors and not any("tiny" in e or "changeme" in e for e in errors)


def test_invalid_cidrs():
    assert invalid_cidrs(["10.0.0.0/8", "192.168.1.7", "fd00::/64"]) == []
    assert invalid_cidrs(["10.0.0.0/33", "nope"]) == ["10.0.0.0/33", "nope"]
    assert invalid_cidrs(None) == []


def test_dict_entries_yields_the_dicts_and_names_each_entry_that_is_not_one():
    errors = []
    entries = list(dict_entries([{"a": 1}, "x", {"b": 2}, 7], "web_routes", "a dict with path and app", errors))
    assert entries == [(0, "web_routes[0]", {"a": 1}), (2, "web_routes[2]", {"b": 2})]
    assert errors == ["web_routes[1] must be a dict with path and app", "web_routes[3] must be a dict with path and app"]
