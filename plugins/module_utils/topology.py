# Copyright (c) 2026, geostack.cluster maintainers
# Apache License 2.0 (see galaxy.yml)
"""The cluster's shape rules, written once.

The inventory plugin (instances by their roles tag), the topology filters (the
inventory's groups), the provision role (the layout's planned nodes), and the
swarm and ZooKeeper preflights (their play's members) all ask these functions,
each with its own member names: instance ids, host names or planned names.
"""

from __future__ import annotations

# A role of the geostack:roles tag and provision_layout, and the inventory group it puts a host in.
ROLE_GROUPS = {
    "manager": "managers",
    "worker": "workers",
    "web": "web",
    "citus_coordinator": "citus_coordinator",
    "citus_worker": "citus_workers",
    "rabbitmq": "rabbitmq",
    "zookeeper": "zookeeper",
    "monitoring": "monitoring",
}
# parent group -> roles whose hosts it holds
UNION_GROUPS = {
    "swarm": ("manager", "worker", "web"),
    "citus": ("citus_coordinator", "citus_worker"),
}


def inventory_groups(roles) -> list[str]:
    """The inventory groups a host with these geostack:roles is in (as the inventory plugin puts it)."""
    roles = list(roles or [])
    groups = [ROLE_GROUPS[r] for r in roles if r in ROLE_GROUPS]
    return groups + [parent for parent, members in UNION_GROUPS.items() if set(members) & set(roles)]


def is_odd(count: int) -> bool:
    return count % 2 == 1


def majority_kept(before: int, after: int) -> bool:
    """Whether `after` of `before` members is still a majority of the old membership."""
    return after > before / 2


def _names(members) -> str:
    return ", ".join(members) or "none"


def managers_error(managers, others=()) -> str:
    """Why these swarm managers cannot keep a Raft quorum ('' when they can): an odd number, and at least one when the
    cluster has any other node (others), since every layer runs on the swarm's nodes."""
    managers = list(managers or [])
    if managers and not is_odd(len(managers)):
        return (f"managers: {len(managers)} ({_names(managers)}); the swarm needs an odd number of managers (1, 3, 5) "
                "to keep its quorum")
    if not managers and others:
        return (f"managers: none among the cluster's nodes ({_names(list(others))}); the swarm needs an odd number of "
                "managers (1, 3, 5)")
    return ""


def ensemble_error(members) -> str:
    """Why these ZooKeeper members are not an ensemble ('' when they are, or when there are none)."""
    members = list(members or [])
    if members and not is_odd(len(members)):
        return (f"zookeeper: {len(members)} ({_names(members)}); a ZooKeeper ensemble needs an odd number of members "
                "(1, 3, 5)")
    return ""


def coordinator_error(coordinators, workers=()) -> str:
    """Why these Citus coordinators do not fit ('' when they do): exactly one when there are workers, else at most one."""
    coordinators, workers = list(coordinators or []), list(workers or [])
    if (workers and len(coordinators) != 1) or len(coordinators) > 1:
        return (f"citus_coordinator: {len(coordinators)} ({_names(coordinators)}); Citus needs exactly one "
                f"coordinator{' for its workers' if workers else ', or none'}")
    return ""


def shape_errors(groups) -> list:
    """Every quorum and count rule the cluster's groups break, one message each. groups maps an inventory group
    (managers, workers, web, citus_coordinator, citus_workers, zookeeper, ...) to its members' names; the managers
    rule applies when it has a managers key (a caller that checks only its ensemble leaves it out)."""
    groups = {name: list(members or []) for name, members in (groups or {}).items() if name in ROLE_GROUPS.values()}
    others = sorted({member for name, members in groups.items() if name != "managers" for member in members})
    errors = [
        managers_error(groups["managers"], others) if "managers" in groups else "",
        coordinator_error(groups.get("citus_coordinator"), groups.get("citus_workers")),
        ensemble_error(groups.get("zookeeper")),
    ]
    errors += [f"{name}: in both citus_coordinator and citus_workers"
               for name in sorted(set(groups.get("citus_coordinator", [])) & set(groups.get("citus_workers", [])))]
    return [error for error in errors if error]


def shape_errors_by_role(members_by_role) -> list:
    """shape_errors for members keyed by role (manager, citus_worker, ...) instead of by group."""
    return shape_errors({ROLE_GROUPS.get(role, role): members for role, members in (members_by_role or {}).items()})
