# Copyright (c) 2026, geostack.cluster maintainers
# Apache License 2.0 (see galaxy.yml)
"""Which node group an instance belongs to, and the names its instances get, written once.

The provision filters (the plan, and the names of a run that only reads) and the
ec2_cluster_instances module (the names of the instances it launches) ask these.
An instance is a dict in the snake_case shape ec2_cluster_info returns, with its
tags as a dict.
"""

from __future__ import annotations

import re


def roles_tag(instance):
    return (instance.get("tags") or {}).get("geostack:roles")


def group_of(instance, groups):
    """The node group an instance belongs to: its geostack:group tag, or for an instance launched before that tag
    existed, the first group (in layout order) whose roles tag it carries."""
    tag = (instance.get("tags") or {}).get("geostack:group")
    if tag:
        return tag
    return next((g["name"] for g in groups if g["roles_tag"] == roles_tag(instance)), None)


def age_key(instance):
    return (str(instance.get("launch_time", "")), instance["instance_id"])


def renames(groups, instances, cluster):
    """[instance_id, Name] pairs giving every unnamed instance a unique <cluster>-<group>-<n>.

    Instances that already carry such a name keep it; the others, oldest
    first, take the lowest free numbers.
    """
    out = []
    for group in groups:
        prefix = f"{cluster}-{group['name']}-"
        pattern = re.compile(re.escape(prefix) + r"([0-9]+)$")
        live = sorted((i for i in instances if group_of(i, groups) == group["name"]), key=age_key)
        used = set()
        unnamed = []
        for inst in live:
            match = pattern.match((inst.get("tags") or {}).get("Name", ""))
            if match and int(match.group(1)) not in used:
                used.add(int(match.group(1)))
            else:
                unnamed.append(inst)
        free = (n for n in range(1, len(live) + len(used) + 2) if n not in used)
        out.extend([inst["instance_id"], f"{prefix}{next(free)}"] for inst in unnamed)
    return out
