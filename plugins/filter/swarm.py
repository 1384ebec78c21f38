# Copyright (c) 2026, geostack.cluster maintainers
# Apache License 2.0 (see galaxy.yml)
"""Decision filters for the swarm role.

The rules that decide whether a node may leave the swarm, and whether the
overlay address pool collides with the nodes' own network, live here as
plain Python so that they are unit-tested apart from a live swarm.
"""

from __future__ import annotations

import ipaddress

from ansible.errors import AnsibleFilterError


def _is_manager(node):
    return bool(node.get("ManagerStatus"))


def _is_reachable_manager(node):
    return (node.get("ManagerStatus") or {}).get("Reachability") == "reachable"


def swarm_removal_blocker(nodes, node_id):
    """Why removing node_id would hurt the swarm, or '' when it is safe.

    nodes: the verbose node list of docker_swarm_info (docker node inspect).
    A worker can always go. A manager cannot be the last one, and demoting
    it must leave a majority of the remaining managers reachable.
    """
    if not isinstance(nodes, list):
        raise AnsibleFilterError(f"swarm_removal_blocker expects the node list, got {type(nodes).__name__}")
    node = next((n for n in nodes if n.get("ID") == node_id), None)
    if node is None or not _is_manager(node):
        return ""
    managers = [n for n in nodes if _is_manager(n)]
    if len(managers) <= 1:
        return "it is the last manager of the swarm; removing it would destroy the swarm"
    remaining = [n for n in managers if n.get("ID") != node_id]
    reachable = [n for n in remaining if _is_reachable_manager(n)]
    needed = len(remaining) // 2 + 1
    if len(reachable) < needed:
        return (
            f"demoting it leaves {len(remaining)} managers of which only {len(reachable)} are reachable; "
            f"the swarm needs {needed} for quorum"
        )
    return ""


def swarm_state(host_results, order=None):
    """Summarise docker_host_info results, one per inventory host.

    host_results: host -> the registered result (unreachable, failed and
    skipped results count as not reachable). order: hosts in order of
    preference to lead the run (bootstrap first, then the managers).
    Returns hosts (host -> reachable, state, node_id, manager, cluster_id,
    addr), live_managers (ordered) and cluster_ids (distinct, sorted).
    """
    if not isinstance(host_results, dict):
        raise AnsibleFilterError(f"swarm_state expects host -> result, got {type(host_results).__name__}")
    hosts = {}
    for host, result in host_results.items():
        result = result or {}
        info = result.get("host_info") if not (result.get("unreachable") or result.get("failed")) else None
        swarm = (info or {}).get("Swarm") or {}
        hosts[host] = {
            "reachable": info is not None,
            "state": swarm.get("LocalNodeState", "unknown"),
            "node_id": swarm.get("NodeID") or "",
            "manager": bool(swarm.get("ControlAvailable")),
            "cluster_id": (swarm.get("Cluster") or {}).get("ID") or "",
            "addr": swarm.get("NodeAddr") or "",
        }
    rank = {host: i for i, host in enumerate(order or [])}
    live = sorted(
        (h for h, s in hosts.items() if s["reachable"] and s["manager"] and s["state"] == "active"),
        key=lambda h: (rank.get(h, len(rank)), h),
    )
    cluster_ids = sorted({hosts[h]["cluster_id"] for h in live if hosts[h]["cluster_id"]})
    return {"hosts": hosts, "live_managers": live, "cluster_ids": cluster_ids}


def swarm_node_changes(nodes, node_id, role, labels, labels_state="merge", labels_to_remove=()):
    """What docker_node would change on one swarm node (its record in docker_swarm_info's nodes): [] when nothing.

    The role (manager or worker), labels to add or change, and labels to
    remove (with labels_state replace, every label not in `labels`).
    """
    node = next((n for n in nodes or [] if n.get("ID") == node_id), None)
    if node is None:
        return [f"node {node_id or '(no id)'} is not in the swarm's node list"]
    spec = node.get("Spec") or {}
    have = spec.get("Labels") or {}
    changes = []
    if spec.get("Role") != role:
        changes.append(f"role {spec.get('Role')} (want {role})")
    changes += [f"label {k}={have.get(k)} (want {v})" for k, v in sorted((labels or {}).items()) if have.get(k) != str(v)]
    extra = set(labels_to_remove or ()) | (set(have) - set(labels or {}) if labels_state == "replace" else set())
    changes += [f"label {k} is set (want it removed)" for k in sorted(extra & set(have))]
    return changes


def cidrs_containing(cidrs, addresses):
    """The entries of cidrs that contain any of addresses (strings)."""
    try:
        networks = [ipaddress.ip_network(c, strict=False) for c in cidrs or []]
        ips = [ipaddress.ip_address(a) for a in addresses or [] if a]
    except ValueError as exc:
        raise AnsibleFilterError(f"cidrs_containing: {exc}") from exc
    return [str(c) for c, net in zip(cidrs, networks, strict=True) if any(ip in net for ip in ips)]


class FilterModule:
    def filters(self):
        return {
            "swarm_node_changes": swarm_node_changes,
            "swarm_removal_blocker": swarm_removal_blocker,
            "cidrs_containing": cidrs_containing,
            "swarm_state": swarm_state,
        }
