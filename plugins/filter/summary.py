# Copyright (c) 2026, geostack.cluster maintainers
# Apache License 2.0 (see galaxy.yml)
"""What playbooks/summary.yml prints: the cluster's hosts, groups, addresses and URLs, shaped here, not in Jinja."""

from __future__ import annotations

from ansible.module_utils.parsing.convert_bool import boolean

SUMMARY_GROUPS = ("managers", "workers", "web", "citus_coordinator", "citus_workers", "rabbitmq", "zookeeper", "monitoring",
                  "swarm_bootstrap")


def _first(groups, hostvars, group):
    """The variables of the group's first host ({} when the group is empty)."""
    members = list(groups.get(group) or [])
    return (hostvars.get(members[0]) or {}) if members else {}


def cluster_summary(groups, hostvars, cluster="?", load_balancer=()):
    """The summary of a cluster from the inventory's groups and hostvars: each host's private address, each layer
    group's addresses, the URLs of the web tier, the RabbitMQ management UI, Prometheus and the Citus coordinator (with
    the roles' defaults unless the inventory sets the ports), and a `citus` line when the citus role found no Citus to
    install (citus_install_method auto). load_balancer: the load balancer's addresses (its DNS name, and on the local
    cloud the proxy's URL), listed first among the URLs."""
    groups = groups or {}

    def address(host):
        return (hostvars.get(host) or {}).get("geostack_private_address")

    addresses = {group: [address(host) for host in groups.get(group) or []] for group in SUMMARY_GROUPS}
    web, rabbitmq = _first(groups, hostvars, "web"), _first(groups, hostvars, "rabbitmq")
    monitoring, coordinator = _first(groups, hostvars, "monitoring"), _first(groups, hostvars, "citus_coordinator")
    scheme = "http" if str(web.get("web_tls", "off")) in ("off", "False", "false") else "https"
    urls = {
        "web": [f"{scheme}://{a}/" for a in addresses["web"]],
        "rabbitmq_management": [f"http://{a}:{rabbitmq.get('rabbitmq_management_port', 15672)}/" for a in addresses["rabbitmq"]],
        "prometheus": [f"http://{a}:{monitoring.get('prometheus_port', 9090)}/" for a in addresses["monitoring"]],
        "citus": [
            f"postgresql://{coordinator.get('citus_app_user', 'geostack')}@{a}:{coordinator.get('citus_port', 5432)}/"
            f"{coordinator.get('citus_database', 'geostack')}?sslmode=require"
            for a in addresses["citus_coordinator"]
        ],
    }
    lb = [a if "://" in a else f"{'https' if web.get('provision_load_balancer_certificate_arn') else 'http'}://{a}/"
          for a in load_balancer or () if a]
    if lb:
        urls = {"load_balancer": lb, **urls}
    summary = {
        "cluster": cluster,
        "hosts": {host: address(host) for host in groups.get("all") or []},
        "groups": {group: found for group, found in addresses.items() if found},
        "urls": {name: found for name, found in urls.items() if found},
    }
    if coordinator and boolean(coordinator.get("citus_enabled", True)) and not boolean(coordinator.get("_citus_on", True)):
        summary["citus"] = (
            "absent: plain PostgreSQL + PostGIS + MobilityDB (citus_install_method auto: no citus_package_file, and "
            f"{', '.join(coordinator.get('_citus_cut_off') or []) or 'a node'} cannot reach Citus's repository); set "
            "citus_package_file or let the nodes reach citus_repo_url, then run site.yml"
        )
    return summary


class FilterModule:
    def filters(self):
        return {"cluster_summary": cluster_summary}
