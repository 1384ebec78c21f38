# Copyright (c) 2026, geostack.cluster maintainers
# Apache License 2.0 (see galaxy.yml)
"""The operating system releases the node roles support, in one place."""

from __future__ import annotations

# Distribution -> {major version: release name}. Every node role installs from
# this release's packages (docker-cli, postgresql-17, rabbitmq-server 4, ...).
SUPPORTED = {"Debian": {"13": "trixie"}}


def _supported_text():
    return ", ".join(f"{dist} {major} ({name})" for dist, majors in SUPPORTED.items() for major, name in majors.items())


def os_unsupported(facts, role, host="this host"):
    """Why the role cannot run on a host with these facts ('' when it can): the release it runs and what is supported."""
    facts = facts or {}
    if "distribution" not in facts:
        return (f"The {role} role needs the host's facts to check its release ({_supported_text()} supported); "
                f"gather them first (gather_facts: true, or ansible.builtin.setup) for {host}.")
    dist, major = facts.get("distribution"), str(facts.get("distribution_major_version", ""))
    if major in SUPPORTED.get(dist, {}):
        return ""
    release = facts.get("distribution_release") or "unknown"
    return f"The {role} role supports {_supported_text()}; {host} runs {dist} {major} ({release})."


def node_address(host, hostvars):
    """A host's private address: its geostack_private_address (which this collection's inventory sets), else the
    default IPv4 address of its gathered facts."""
    from ansible.errors import AnsibleFilterError  # pylint: disable=import-outside-toplevel

    if host not in hostvars:
        raise AnsibleFilterError(f"node_address: {host} is not in the inventory")
    node = hostvars[host]
    address = node.get("geostack_private_address")
    if not address:
        address = ((node.get("ansible_facts") or {}).get("default_ipv4") or {}).get("address")
    if not address:
        raise AnsibleFilterError(
            f"{host} has no address: set geostack_private_address for it, or gather its facts (a default IPv4 route)")
    return address


def host_port(address, port):
    """address:port for a URL or a listen option, with an IPv6 address in brackets ([::1]:9090)."""
    address = str(address)
    return f"[{address}]:{port}" if ":" in address and not address.startswith("[") else f"{address}:{port}"


def failed_checks(checks):
    """The messages of the checks that failed, in order: each check is a pair [passed, message], so that a preflight
    names only the condition at fault (and its variable), not every condition it tests."""
    failed = []
    for check in checks or []:
        passed, message = check
        if not passed:
            failed.append(str(message))
    return failed


class FilterModule:
    def filters(self):
        return {"os_unsupported": os_unsupported, "node_address": node_address, "failed_checks": failed_checks,
                "host_port": host_port}
