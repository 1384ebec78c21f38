# Copyright (c) 2026, geostack.cluster maintainers
# Apache License 2.0 (see galaxy.yml)
"""Filters for the monitoring roles: bcrypt hashes for exporter web configs,
and Prometheus file_sd target groups from the inventory."""

from __future__ import annotations

import hashlib

from ansible.errors import AnsibleFilterError

_BCRYPT_ALPHABET = "./ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"


def bcrypt_hash(password, seed, rounds=10):
    """A bcrypt hash of password whose salt is derived from seed, so the same
    password and seed always give the same hash (idempotent config files)."""
    try:
        import bcrypt
    except ImportError as error:  # pragma: no cover - the controller requirements pin it
        raise AnsibleFilterError("bcrypt_hash needs the Python package bcrypt on the controller (requirements.txt)") from error
    if not password:
        raise AnsibleFilterError("bcrypt_hash: empty password")
    digest = hashlib.sha256(str(seed).encode()).digest()
    # 22 salt characters; the last carries only 2 bits (its 4 low bits are padding).
    salt = "".join(_BCRYPT_ALPHABET[b % 64] for b in digest[:21]) + _BCRYPT_ALPHABET[(digest[21] % 4) * 16]
    return bcrypt.hashpw(str(password).encode(), f"$2b${int(rounds):02d}${salt}".encode()).decode()


def prometheus_targets(hosts, hostvars, port, groups=None, layer_groups=(), address_var="geostack_private_address"):
    """One file_sd target group per host: [{targets: ["addr:port"], labels: {...}}].

    Labels: instance (the inventory name), roles (the host's layer groups,
    comma-separated, as in the EC2 tag), group (the provision_layout node group,
    for autoscaling queries and per-group dashboards) and az (the availability
    zone) when known.
    """
    groups = groups or {}
    result = []
    for host in sorted(hosts):
        hv = hostvars[host]
        address = hv.get(address_var)
        if not address:
            raise AnsibleFilterError(f"prometheus_targets: {host} has no {address_var}")
        host_address = f"[{address}]" if ":" in str(address) else str(address)
        labels = {"instance": host}
        roles = [g for g in layer_groups if host in groups.get(g, [])]
        if roles:
            labels["roles"] = "," + ",".join(roles) + ","
        if hv.get("geostack_node_group"):
            labels["group"] = str(hv["geostack_node_group"])
        zone = hv.get("geostack_zone") or hv.get("ec2_placement_availability_zone") or hv.get("geostack_availability_zone")
        if zone:
            labels["az"] = str(zone)
        result.append({"targets": [f"{host_address}:{int(port)}"], "labels": labels})
    return result


def prometheus_target_files(jobs, sd_dir, hostvars, groups, layer_groups=(), address_var="geostack_private_address"):
    """One file_sd file per scrape job ({name: {group, port}}), as geostack.cluster.files entries (YAML, root:prometheus 0644)."""
    from ansible.plugins.filter.core import to_nice_yaml  # pylint: disable=import-outside-toplevel

    files = []
    for name, job in sorted((jobs or {}).items()):
        targets = prometheus_targets(groups.get(job["group"], []), hostvars, job["port"], groups, layer_groups, address_var)
        files.append(
            {
                "dest": f"{sd_dir}/{name}.yml",
                "content": to_nice_yaml(targets, indent=2),
                "owner": "root",
                "group": "prometheus",
                "mode": "0644",
            }
        )
    return files


def prometheus_job_errors(jobs, groups):
    """What is wrong with the scrape jobs ({name: {group, port, optional}}), one message per fault, by job name.

    A job needs a numeric port, and a group the inventory has unless the job is optional.
    """
    errors = []
    for name, job in sorted((jobs or {}).items()):
        group = job.get("group", "")
        if group not in groups and not job.get("optional", False):
            errors.append(f"job {name} scrapes group '{group}', which is not in the inventory")
        if not str(job.get("port", "")).isdigit():
            errors.append(f"job {name} needs a numeric port, got '{job.get('port', '')}'")
    if any("not in the inventory" in error for error in errors):
        errors.append("known groups: " + ", ".join(sorted(set(groups) - {"ungrouped"})))
    return errors


class FilterModule:
    def filters(self):
        return {
            "bcrypt_hash": bcrypt_hash,
            "prometheus_job_errors": prometheus_job_errors,
            "prometheus_targets": prometheus_targets,
            "prometheus_target_files": prometheus_target_files,
        }
