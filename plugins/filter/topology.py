# Copyright (c) 2026, geostack.cluster maintainers
# Apache License 2.0 (see galaxy.yml)
"""The cluster's shape, checked from the inventory before any layer runs."""

from __future__ import annotations

from ansible_collections.geostack.cluster.plugins.module_utils.topology import (
    ensemble_error,
    is_odd,
    majority_kept,
    shape_errors,
    shape_errors_by_role,
)

LAYER_GROUPS = ("managers", "workers", "web", "citus_coordinator", "citus_workers", "rabbitmq", "zookeeper", "monitoring")


def topology_errors(groups, hostvars, address_var="geostack_private_address"):
    """Everything wrong with the inventory's topology, one message per problem naming the group or host: the shape
    rules (module_utils/topology.py), and one distinct address per layer host."""
    groups = {name: list(members or []) for name, members in (groups or {}).items()}
    errors = shape_errors(groups)
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


def removal_errors(groups, hostvars, leaving):
    """Why taking the `leaving` hosts out of the cluster would lose data or a quorum; empty when it is safe.

    Checked before the first node is drained. The Citus coordinator never
    leaves (it holds the metadata); the RabbitMQ cluster and the ZooKeeper
    ensemble each keep a majority of their members, and the ensemble stays
    odd. Swarm managers are the swarm role's to check as it demotes them one
    at a time (it refuses to remove the last one); scale.yml never picks the
    bootstrap manager.
    """
    groups = {name: list(members or []) for name, members in (groups or {}).items()}
    leaving = list(leaving or [])
    errors = [f"{host}: not an inventory host" for host in leaving if host not in (hostvars or {})]
    errors += [
        f"{host}: the Citus coordinator holds the cluster's metadata and is never removed"
        for host in leaving if host in groups.get("citus_coordinator", [])
    ]
    for group, what in (("rabbitmq", "RabbitMQ members"), ("zookeeper", "ZooKeeper members")):
        members = groups.get(group, [])
        gone = [h for h in members if h in leaving]
        left = len(members) - len(gone)
        if gone and not majority_kept(len(members), left):
            errors.append(
                f"{group}: removing {', '.join(gone)} leaves {left} of {len(members)} {what}, not a majority; remove fewer at a time"
            )
        elif gone and group == "zookeeper" and not is_odd(left):
            errors.append(f"zookeeper: removing {', '.join(gone)} leaves {left} members; an ensemble needs an odd number")
    return errors


class FilterModule:
    def filters(self):
        return {
            "topology_errors": topology_errors,
            "removal_errors": removal_errors,
            "shape_errors": shape_errors,
            "shape_errors_by_role": shape_errors_by_role,
            "ensemble_error": ensemble_error,
        }
