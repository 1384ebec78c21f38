# Copyright (c) 2026, geostack.cluster maintainers
# Apache License 2.0 (see galaxy.yml)
"""What playbooks/verify.yml decides: from what each layer's play read (registered results in hostvars), the rows of its
report, {layer, check, ok, detail}. The playbook only gathers and prints; every verdict is here, with its unit tests."""

from __future__ import annotations

from collections.abc import Mapping

from ansible_collections.geostack.cluster.plugins.filter.citus import citus_lost_shards, citus_short_copies
from ansible_collections.geostack.cluster.plugins.filter.web import web_probe_failures
from ansible_collections.geostack.cluster.plugins.module_utils.topology import ROLE_GROUPS

_ZOOKEEPER_SERVING = ("leader", "follower", "standalone", "observer")


def _get(value, *keys, default=None):
    """value[k1][k2]..., or default where a level is missing or not a mapping."""
    for key in keys:
        if not isinstance(value, Mapping) or key not in value:
            return default
        value = value[key]
    return value


def _unreachable(hostvar) -> bool:
    return bool(_get(hostvar, "_verify_ping", "unreachable", default=False))


def _row(layer, check, ok, detail):
    return {"layer": layer, "check": str(check), "ok": bool(ok), "detail": str(detail)}


def _truncate(text, length=120, end="...", leeway=5):
    """Jinja's truncate: whole words, `end` appended, and text within `leeway` of `length` kept whole."""
    text = str(text)
    if len(text) <= length + leeway:
        return text
    return text[: length - len(end)].rsplit(" ", 1)[0] + end


def _unique(values):
    seen = []
    for value in values:
        if value not in seen:
            seen.append(value)
    return seen


def verify_swarm_rows(hosts, hostvars, swarm_nodes):
    """Each swarm host is a Ready, active node with its typeNode label (swarm_nodes: a manager's docker_node_info
    nodes, [] when no manager answered); swarm nodes no inventory host is, one row each."""
    nodes = list(swarm_nodes or [])
    rows = []
    ids = []
    for host in hosts:
        hostvar = hostvars[host]
        node_id = _get(hostvar, "_verify_engine", "host_info", "Swarm", "NodeID", default="") or ""
        ids.append(node_id)
        node = next((n for n in nodes if n.get("ID") == node_id), {}) if node_id else {}
        state = _get(node, "Status", "State", default="not in the swarm")
        availability = _get(node, "Spec", "Availability", default="-")
        labels = _get(node, "Spec", "Labels", default={}) or {}
        if _unreachable(hostvar):
            seen = [_get(n, "Status", "State") for n in nodes if _get(n, "Description", "Hostname") == host]
            detail = "unreachable" + (f", swarm node {seen[0]}" if seen else "")
        elif not nodes:
            detail = "no reachable manager to ask"
        else:
            detail = (f"{state}, {availability}, {_get(node, 'Spec', 'Role', default='-')}"
                      + (" (leader)" if _get(node, "ManagerStatus", "Leader", default=False) else "")
                      + ", labels " + (" ".join(f"{key}={value}" for key, value in labels.items()) or "none"))
        ok = not _unreachable(hostvar) and state == "ready" and availability == "active" and "typeNode" in labels
        rows.append(_row("swarm", host, ok, detail))
    for node in nodes:
        if node.get("ID") not in ids:
            rows.append(_row("swarm", f"node {_get(node, 'Description', 'Hostname')} (no inventory host)",
                             _get(node, "Status", "State") == "ready",
                             f"{_get(node, 'Status', 'State')}, {_get(node, 'Spec', 'Availability')}"))
    return rows


def verify_citus_rows(coordinator, hostvars, workers):
    """PostgreSQL answers on the coordinator, each Citus worker is registered and active, and no shard placement the
    coordinator lists is missing on its worker (or, without the extension, why that is healthy or not)."""
    hostvar = hostvars[coordinator]
    check = f"coordinator {coordinator}"
    result = _get(hostvar, "_verify_citus", default={}) or {}
    extension = result.get("query_result")
    if _unreachable(hostvar) or extension is None:
        return [_row("citus", check, False, "unreachable" if _unreachable(hostvar)
                     else f"PostgreSQL does not answer: {result.get('msg', '?')}")]
    if not extension:
        enabled = hostvar.get("citus_enabled", True)
        if not (enabled if isinstance(enabled, bool) else str(enabled).lower() in ("true", "yes", "1", "on")):
            return [_row("citus", check, True, "PostgreSQL answers; Citus not enabled (citus_enabled is false): plain "
                         "PostgreSQL + PostGIS + MobilityDB, no workers to check")]
        installed = (_get(hostvar, "_verify_citus_installed", "query_result", default=None) or [{}])[0].get("installed", False)
        if hostvar.get("citus_install_method", "distro") == "auto" and not installed:
            return [_row("citus", check, True, "PostgreSQL answers; Citus absent (citus_install_method auto had no "
                         "citus_package_file and no reachable Citus repository): plain PostgreSQL + PostGIS + MobilityDB. "
                         "To get Citus, set citus_package_file to a Citus .deb or let the nodes reach citus_repo_url, then "
                         "run site.yml")]
        return [_row("citus", check, False, "PostgreSQL answers, but the citus extension is missing although "
                     "citus_enabled is true")]
    nodes = _get(hostvar, "_verify_citus_nodes", "query_result", default=[]) or []
    primaries = [n for n in nodes if n.get("role") == "primary"]
    rows = [_row("citus", check, True, f"Citus {extension[0]['extversion']}, {len(primaries)} workers registered")]
    workers = list(workers or [])
    for worker in workers:
        name = hostvars[worker].get("citus_listen_address") or hostvars[worker].get("geostack_private_address") or worker
        entry = next((n for n in nodes if n.get("name") == name), {})
        detail = (f"{'active' if entry.get('active') else 'inactive'}, {entry.get('role')}, "
                  f"{'takes shards' if entry.get('shards') else 'no new shards'} ({name}:{entry.get('port')})"
                  if entry else f"not registered in pg_dist_node ({name})")
        rows.append(_row("citus", f"worker {worker}", bool(entry.get("active")) and entry.get("role") == "primary", detail))
    read = _get(hostvar, "_verify_citus_missing", default={}) or {}
    if "query_result" not in read:
        return [*rows, _row("citus", "shard placements", False, f"could not be read: {read.get('msg', '?')}")]
    first = (read["query_result"] or [{}])[0] or {}
    missing = first.get("missing") or []
    hosts = {hostvars[w].get("geostack_private_address"): w for w in workers}
    lost = citus_lost_shards(missing, hosts) + citus_short_copies(first.get("under"))
    if not lost:
        detail = "every placement the coordinator lists is on its worker"
    elif citus_lost_shards(missing, hosts, unrecoverable=True):
        detail = ("; ".join(lost) + ". Restore an empty worker from a backup, start one that does not answer, then run"
                  " site.yml (README: A lost node)")
    else:
        detail = "; ".join(lost) + ". Run site.yml: it copies every shard back up to its table's number of copies"
    return [*rows, _row("citus", "shard placements", not lost, detail)]


def verify_rabbitmq_rows(hosts, hostvars):
    """Every member runs, in one cluster of the expected size (from each member's management API). Each member's view is
    the nodes it lists; when the views differ, the summary row says who lists whom, and what to run."""
    hosts = list(hosts)
    views, running = {}, []
    for host in hosts:
        nodes = _get(hostvars[host], "_verify_rabbitmq", "http", "nodes", default={}) or {}
        if nodes.get("json") is not None:
            views[host] = sorted(n["name"] for n in nodes["json"])
            running += [n["name"] for n in nodes["json"] if n.get("running")]
    running = _unique(running)
    distinct = _unique(views.values())
    said = []
    for view in distinct:
        listers = [host for host, seen in views.items() if seen == view]
        said.append(", ".join(listers) + (" lists " if len(listers) == 1 else " list ") + ", ".join(view))
    detail = f"{len(running)} of {len(hosts)} nodes running"
    if len(distinct) > 1:
        detail += ("; members disagree: " + "; ".join(said)
                   + ". Run site.yml --tags rabbitmq: a member that runs apart rejoins the largest cluster")
    rows = [_row("rabbitmq", "cluster size", len(running) == len(hosts) and len(distinct) == 1, detail)]
    for host in hosts:
        hostvar = hostvars[host]
        overview = _get(hostvar, "_verify_rabbitmq", "http", "overview", default={}) or {}
        name = _get(overview, "json", "node", default="") or ""
        if _unreachable(hostvar):
            detail = "unreachable"
        elif name and name in running:
            detail = f"{name} running"
        else:
            cause = overview.get("error") or f"HTTP {overview.get('status', '?')}"
            detail = f"{name or 'the management API'} not running: {_truncate(cause)}"
        rows.append(_row("rabbitmq", host, not _unreachable(hostvar) and bool(name) and name in running, detail))
    return rows


def verify_zookeeper_rows(hosts, hostvars):
    """A leader is present and every member serves (from each member's AdminServer `monitor` answer)."""
    states = []
    for host in hosts:
        hostvar = hostvars[host]
        answer = _get(hostvar, "_verify_zookeeper", "json", default={})
        if _unreachable(hostvar):
            state = "unreachable"
        elif isinstance(answer, Mapping) and "error" in answer and answer["error"] is None:
            state = answer.get("server_state", "unknown")
        else:
            error = answer.get("error") if isinstance(answer, Mapping) else None
            state = f"not serving ({error or 'no answer'})"
        states.append((host, state))
    leaders = [host for host, state in states if state in ("leader", "standalone")]
    rows = [_row("zookeeper", "leader", len(leaders) == 1, ", ".join(leaders) or "no leader: the ensemble has no quorum")]
    return rows + [_row("zookeeper", host, state in _ZOOKEEPER_SERVING, state) for host, state in states]


def verify_web_rows(hosts, hostvars):
    """Every route answers through nginx on every web node (the web role's probe results)."""
    rows = []
    for host in hosts:
        hostvar = hostvars[host]
        results = _get(hostvar, "web_probe", "results", default=[]) or []
        failures = web_probe_failures(results)
        if _unreachable(hostvar):
            detail = "unreachable"
        elif failures:
            detail = "; ".join(failures)
        elif results:
            detail = f"{len(results)} routes answer ({', '.join(r['item']['route'] for r in results)})"
        else:
            detail = "no route was requested"
        rows.append(_row("web", host, not _unreachable(hostvar) and bool(results) and not failures, detail))
    return rows


def verify_prometheus_rows(hosts, hostvars):
    """Prometheus answers, and each scrape job's targets are up (one row per server and job)."""
    rows = []
    for host in hosts:
        hostvar = hostvars[host]
        targets = _get(hostvar, "_verify_prometheus", "json", "data", "activeTargets", default=None)
        if targets is None:
            rows.append(_row("prometheus", host, False, "unreachable" if _unreachable(hostvar) else
                             f"the API does not answer: {_get(hostvar, '_verify_prometheus', 'msg', default='?')}"))
            continue
        for job in sorted({_get(t, "labels", "job") for t in targets}):
            mine = [t for t in targets if _get(t, "labels", "job") == job]
            down = [t for t in mine if t.get("health") != "up"]
            detail = f"{len(mine) - len(down)}/{len(mine)} targets up"
            if down:
                detail += ", down: " + "), ".join(f"{_get(t, 'labels', 'instance')} ({t.get('lastError')}" for t in down) + ")"
            rows.append(_row("prometheus", f"{host} job {job}", not down, detail))
    return rows


def verify_zone_rows(groups, hostvars, zones):
    """With availability zones (provision_availability_zones), one row per layer group: which of its nodes sit in each
    zone, unreachable ones marked. Fails when the group is not balanced over the zones (counts differ by more than one)
    or a node sits outside them. No zones, no rows."""
    zones = list(zones or [])
    if not zones:
        return []
    rows = []
    for group in ROLE_GROUPS.values():
        hosts = sorted((groups or {}).get(group) or [])
        if not hosts:
            continue
        by_zone = {zone: [] for zone in zones}
        outside = []
        for host in hosts:
            by_zone.get(_get(hostvars, host, "geostack_zone", default=""), outside).append(host)
        counts = [len(members) for members in by_zone.values()]

        def names(members):
            return ", ".join(h + (" (unreachable)" if _unreachable(hostvars.get(h)) else "") for h in members) or "none"

        detail = "; ".join(f"{zone}: {names(members)}" for zone, members in by_zone.items())
        if outside:
            detail += f"; outside the zones: {names(outside)}"
        rows.append(_row("zones", group, not outside and max(counts) - min(counts) <= 1, detail))
    return rows


class FilterModule:
    def filters(self):
        return {
            "verify_swarm_rows": verify_swarm_rows,
            "verify_citus_rows": verify_citus_rows,
            "verify_rabbitmq_rows": verify_rabbitmq_rows,
            "verify_zookeeper_rows": verify_zookeeper_rows,
            "verify_web_rows": verify_web_rows,
            "verify_prometheus_rows": verify_prometheus_rows,
            "verify_zone_rows": verify_zone_rows,
        }
