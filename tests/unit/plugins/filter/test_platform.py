"""The platform filters: supported releases, a node's address, and the messages of failed preflight checks."""

import pytest
from ansible.errors import AnsibleFilterError
from ansible_collections.geostack.cluster.plugins.filter.platform import failed_checks, host_port, node_address, os_unsupported

TRIXIE = {"distribution": "Debian", "distribution_major_version": "13", "distribution_release": "trixie"}


def test_debian_13_is_supported_and_another_release_is_named_with_what_is():
    assert os_unsupported(TRIXIE, "docker", "n1") == ""
    bookworm = {**TRIXIE, "distribution_major_version": "12", "distribution_release": "bookworm"}
    assert os_unsupported(bookworm, "docker", "n1") == "The docker role supports Debian 13 (trixie); n1 runs Debian 12 (bookworm)."
    assert "gather them first" in os_unsupported({}, "web", "n1")


def test_a_node_address_is_the_private_one_else_the_default_ipv4_else_an_error_naming_the_host():
    hostvars = {
        "a": {"geostack_private_address": "10.0.0.5", "ansible_facts": {"default_ipv4": {"address": "192.0.2.1"}}},
        "b": {"ansible_facts": {"default_ipv4": {"address": "192.0.2.2"}}},
        "c": {},
    }
    assert node_address("a", hostvars) == "10.0.0.5"
    assert node_address("b", hostvars) == "192.0.2.2"
    with pytest.raises(AnsibleFilterError, match="c has no address: set geostack_private_address"):
        node_address("c", hostvars)


def test_only_the_failed_checks_are_named_in_order():
    c = 1
    checks = [[True, "a is fine"], [False, "b must be set"], [c == 2, "c must equal 2"], [True, "d"]]
    assert failed_checks(checks) == ["b must be set", "c must equal 2"]
    assert failed_checks([]) == []


@pytest.mark.parametrize(("address", "port", "joined"), [
    ("10.0.1.5", 9090, "10.0.1.5:9090"),
    ("fd00::5", 9090, "[fd00::5]:9090"),
    ("[fd00::5]", "80", "[fd00::5]:80"),
    ("prometheus.internal", 9090, "prometheus.internal:9090"),
])
def test_an_address_and_a_port_join_with_ipv6_in_brackets(address, port, joined):
    assert host_port(address, port) == joined
