# Copyright (c) 2026, geostack.cluster maintainers
# Apache License 2.0 (see galaxy.yml)
"""The cluster's shape, checked from the inventory before any layer runs."""

from __future__ import annotations

LAYER_GROUPS = ("managers", "workers", "web", "citus_coordinator", "citus_workers", "rabbitmq", "zookeeper", "monitoring")


def _odd(count: int) -> bool:
    return count % 2 == 1


def topology_errors(groups, hostvars, address_var="geostack_private_address"):
    """Everything wrong with the inventory's topology, one message per problem naming the group or host."""
    groups = {name: list(members or []) for name, members in (groups or {}).items()}
    errors = []
    managers, workers, web = groups.get("managers", []), groups.get("workers", []), groups.get("web", [])
    if (workers or web) and not managers:
        errors.append("managers: the swarm has workers or web nodes but no manager")
    if managers and not _odd(len(managers)):
        errors.append(f"managers: {len(managers)} hosts ({', '.join(managers)}); a swarm needs an odd number (1, 3, 5) to keep its quorum")
    coordinator, citus_workers = groups.get("citus_coordinator", []), groups.get("citus_workers", [])
    if citus_workers and len(coordinator) != 1:
        errors.append(f"citus_coordinator: {len(coordinator)} hosts ({', '.join(coordinator) or 'none'}); Citus workers need exactly one coordinator")
    elif len(coordinator) > 1:
        errors.append(f"citus_coordinator: {len(coordinator)} hosts ({', '.join(coordinator)}); at most one")
    for host in sorted(set(coordinator) & set(citus_workers)):
        errors.append(f"{host}: in both citus_coordinator and citus_workers")
    zookeeper = groups.get("zookeeper", [])
    if zookeeper and not _odd(len(zookeeper)):
        errors.append(f"zookeeper: {len(zookeeper)} hosts ({', '.join(zookeeper)}); an ensemble needs an odd number (1, 3, 5)")
    seen = {}
    members = sorted({host for name in LAYER_GROUPS for host in groups.get(name, [])})
    for host in members:
        address = (hostvars.get(host) or {}).get(address_var)
        if not address:
            errors.append(f"{host}: no {address_var} (the inventory plugin sets it; a static inventory must)")
        elif address in seen:
            errors.append(f"{host}: {address_var} {address} is also {seen[address]}'s")
        else:
            seen[address] = host
    return errors


class FilterModule:
    def filters(self):
        return {"topology_errors": topology_errors}
