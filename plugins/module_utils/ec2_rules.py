# Copyright (c) 2026, geostack.cluster maintainers
# Apache License 2.0 (see galaxy.yml)
"""Security group rules as comparable sets: what the role asks for, and what EC2 describes.

A permission is (protocol, from_port, to_port, kind, source, description):
kind is 'cidr', 'cidr6' or 'group' (source a group id). Rules are compared
without their description first, so that a description change is an update,
never a revoke and re-authorize that would drop traffic for a moment.
"""

from __future__ import annotations


class RuleError(ValueError):
    pass


def _port_range(port):
    text = str(port)
    if "-" in text:
        low, high = text.split("-", 1)
        return int(low), int(high)
    return int(text), int(text)


def wanted_permissions(rules, group_ids: dict) -> set:
    """The role's rules ({proto, ports, cidr_ip | group_name, rule_desc}) as permission tuples."""
    wanted = set()
    for index, rule in enumerate(rules or []):
        proto = str(rule.get("proto", "tcp")).lower()
        desc = rule.get("rule_desc") or ""
        if rule.get("group_name"):
            if rule["group_name"] not in group_ids:
                raise RuleError(f"rule {index} refers to group {rule['group_name']}, which is not one of the groups")
            kind, source = "group", group_ids[rule["group_name"]]
        elif rule.get("cidr_ip"):
            kind, source = ("cidr6" if ":" in rule["cidr_ip"] else "cidr"), rule["cidr_ip"]
        else:
            raise RuleError(f"rule {index} has neither cidr_ip nor group_name")
        ports = rule.get("ports") or []
        if proto in ("-1", "all"):
            wanted.add(("-1", -1, -1, kind, source, desc))
            continue
        if not ports:
            raise RuleError(f"rule {index} ({proto}) has no ports")
        for port in ports:
            low, high = _port_range(port)
            wanted.add((proto, low, high, kind, source, desc))
    return wanted


def current_permissions(ip_permissions) -> set:
    """EC2's IpPermissions as permission tuples."""
    found = set()
    for perm in ip_permissions or []:
        proto = str(perm.get("IpProtocol", "-1"))
        low = perm.get("FromPort", -1) if proto != "-1" else -1
        high = perm.get("ToPort", -1) if proto != "-1" else -1
        for entry in perm.get("IpRanges", []):
            found.add((proto, low, high, "cidr", entry["CidrIp"], entry.get("Description", "") or ""))
        for entry in perm.get("Ipv6Ranges", []):
            found.add((proto, low, high, "cidr6", entry["CidrIpv6"], entry.get("Description", "") or ""))
        for entry in perm.get("UserIdGroupPairs", []):
            found.add((proto, low, high, "group", entry["GroupId"], entry.get("Description", "") or ""))
    return found


def _key(permission):
    return permission[:5]


def rule_changes(wanted: set, current: set):
    """(to_authorize, to_revoke, to_describe): the permissions that differ, compared without descriptions first."""
    wanted_by_key = {_key(p): p for p in wanted}
    current_by_key = {_key(p): p for p in current}
    authorize = {p for k, p in wanted_by_key.items() if k not in current_by_key}
    revoke = {p for k, p in current_by_key.items() if k not in wanted_by_key}
    describe = {p for k, p in wanted_by_key.items() if k in current_by_key and current_by_key[k][5] != p[5]}
    return authorize, revoke, describe


def to_ip_permissions(permissions) -> list[dict]:
    """Permission tuples as EC2's IpPermissions (one entry per permission)."""
    out = []
    for proto, low, high, kind, source, desc in sorted(permissions):
        perm = {"IpProtocol": proto}
        if proto != "-1":
            perm.update(FromPort=low, ToPort=high)
        entry_desc = {"Description": desc} if desc else {}
        if kind == "cidr":
            perm["IpRanges"] = [{"CidrIp": source, **entry_desc}]
        elif kind == "cidr6":
            perm["Ipv6Ranges"] = [{"CidrIpv6": source, **entry_desc}]
        else:
            perm["UserIdGroupPairs"] = [{"GroupId": source, **entry_desc}]
        out.append(perm)
    return out


def describe(permission, names_by_id: dict) -> str:
    """One permission as a short sentence for the module's result."""
    proto, low, high, kind, source, _description = permission
    ports = "all" if proto == "-1" else (str(low) if low == high else f"{low}-{high}")
    return f"{proto}/{ports} from {names_by_id.get(source, source) if kind == 'group' else source}"
