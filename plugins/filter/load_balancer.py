# Copyright (c) 2026, geostack.cluster maintainers
# Apache License 2.0 (see galaxy.yml)
"""The web tier's application load balancer: its names, target groups and listeners from provision_layout and
provision_load_balancer_routes, and what is wrong with them, in plain Python so that the rules are unit-tested and
shared by provision (AWS and the emulator) and the local cloud's proxy."""

from __future__ import annotations

import hashlib
import re

from ansible.errors import AnsibleFilterError

# Names of load balancers and target groups: at most 32 letters, digits and '-', not starting or ending with '-'.
_AWS_NAME_MAX = 32
_PATH = re.compile(r"^/[A-Za-z0-9._~!$&()+,;=:@%/-]*$")
_CERTIFICATE = re.compile(r"^arn:aws[a-z-]*:(acm:[a-z0-9-]+:\d{12}:certificate/[A-Za-z0-9-]+"
                          r"|iam::\d{12}:server-certificate/[\w+=,.@/-]+)$")
VAR = "provision_load_balancer_routes"
# TLS 1.2 and 1.3 only, as the web role speaks.
SSL_POLICY = "ELBSecurityPolicy-TLS13-1-2-2021-06"


def aws_name(text):
    """A name ELB accepts for text: '_' and other characters become '-', and one longer than 32 characters keeps its
    first 23 and a digest of the whole, so two clusters' names never meet by truncation."""
    name = re.sub(r"[^A-Za-z0-9-]+", "-", str(text)).strip("-")
    if len(name) > _AWS_NAME_MAX:
        name = f"{name[:23].rstrip('-')}-{hashlib.sha1(name.encode()).hexdigest()[:8]}"
    return name


def _web_groups(groups):
    return [g["name"] for g in groups if "web" in g["roles"]]


def _outside(value, low, high):
    """Whether value is not a whole number of seconds from low to high (a string of digits, as `-e name=20` gives it,
    counts; a bool does not)."""
    if isinstance(value, bool) or not (isinstance(value, int) or (isinstance(value, str) and value.strip().isdigit())):
        return True
    return not low <= int(value) <= high


def load_balancer_errors(groups, routes, certificate_arn="", zones=(), health_interval=10, draining_timeout=30):
    """What keeps the load balancer from being built, one sentence each naming the variable at fault."""
    errors = []
    if _outside(health_interval, 5, 300):
        errors.append(f"provision_load_balancer_health_interval must be a number of seconds from 5 to 300 (what an"
                      f" ALB target group accepts), got {health_interval!r}")
    if _outside(draining_timeout, 0, 3600):
        errors.append(f"provision_load_balancer_draining_timeout must be a number of seconds from 0 to 3600 (what an"
                      f" ALB target group accepts), got {draining_timeout!r}")
    web = _web_groups(groups)
    names = [g["name"] for g in groups]
    if len(list(zones or [])) < 2:
        errors.append(f"provision_load_balancer needs at least 2 provision_availability_zones (an application load"
                      f" balancer spans two or more zones); got {len(list(zones or []))}")
    if not isinstance(routes, list) or not routes:
        return [*errors, f"{VAR} must be a non-empty list of {{path, group}}, got {routes!r}"]
    seen = set()
    for index, route in enumerate(routes):
        at = f"{VAR}[{index}]"
        if not isinstance(route, dict) or set(route) - {"path", "group", "health"}:
            errors.append(f"{at} must be a dict of path, group and optionally health, got {route!r}")
            continue
        path, group = route.get("path"), route.get("group")
        if not isinstance(path, str) or not _PATH.match(path) or "*" in path:
            errors.append(f"{at}.path must be a URL path prefix starting with '/', got {path!r}")
        elif path in seen:
            errors.append(f"{at}.path {path} is routed twice")
        seen.add(path)
        if group not in names:
            errors.append(f"{at}.group {group} is not a node group of provision_layout (it has {', '.join(names)})")
        elif group not in web:
            errors.append(f"{at}.group {group} has no web role, so nothing there serves HTTP")
        health = route.get("health")
        if health is not None and (not isinstance(health, str) or not _PATH.match(health)):
            errors.append(f"{at}.health must be a URL path starting with '/', got {health!r}")
    if certificate_arn and not _CERTIFICATE.match(str(certificate_arn)):
        errors.append(f"provision_load_balancer_certificate_arn {certificate_arn} is not an ACM or IAM certificate ARN"
                      " (arn:aws:acm:<region>:<account>:certificate/<id>)")
    return errors


def load_balancer_plan(groups, cluster, routes, certificate_arn="", ssl_policy=SSL_POLICY):
    """The load balancer of a cluster: name; target_groups [{name, group, health_path}], one per web node group
    (its health check path: the `health` of the group's first route, else that route's path, else '/'); rules
    [{priority, path, pattern, group, target_group}], longest path first as the web role's prefixes match; default
    (the target group of the '/' route, or none: a 404); and listeners as amazon.aws.elb_application_lb takes them
    (HTTP on 80, or with a certificate HTTPS on 443 with ssl_policy and 80 redirecting to it)."""
    errors = load_balancer_errors(groups, routes, certificate_arn, zones=["-", "-"])
    if errors:
        raise AnsibleFilterError("; ".join(errors))
    names = {group: aws_name(f"{cluster}-{group}") for group in _web_groups(groups)}
    target_groups = []
    for group, name in names.items():
        mine = [r for r in routes if r["group"] == group]
        health = (mine[0].get("health") or mine[0]["path"]) if mine else "/"
        target_groups.append({"name": name, "group": group, "health_path": health})
    ordered = sorted((r for r in routes if r["path"] != "/"), key=lambda r: (-len(r["path"]), r["path"]))
    rules = [{"priority": index, "path": r["path"], "pattern": f"{r['path']}*", "group": r["group"],
              "target_group": names[r["group"]]} for index, r in enumerate(ordered, 1)]
    default = next((names[r["group"]] for r in routes if r["path"] == "/"), None)
    default_actions = ([{"Type": "forward", "TargetGroupName": default}] if default else
                       [{"Type": "fixed-response",
                         "FixedResponseConfig": {"StatusCode": "404", "ContentType": "text/plain", "MessageBody": "no route"}}])
    routed = {
        "DefaultActions": default_actions,
        "Rules": [{"Priority": str(r["priority"]),
                   "Conditions": [{"Field": "path-pattern", "Values": [r["pattern"]]}],
                   "Actions": [{"Type": "forward", "TargetGroupName": r["target_group"]}]} for r in rules],
    }
    if certificate_arn:
        listeners = [
            {"Protocol": "HTTPS", "Port": 443, "Certificates": [{"CertificateArn": certificate_arn}],
             "SslPolicy": ssl_policy or SSL_POLICY, **routed},
            {"Protocol": "HTTP", "Port": 80, "DefaultActions": [
                {"Type": "redirect", "RedirectConfig": {"Protocol": "HTTPS", "Port": "443", "StatusCode": "HTTP_301"}}]},
        ]
    else:
        listeners = [{"Protocol": "HTTP", "Port": 80, **routed}]
    return {"name": aws_name(cluster), "target_groups": target_groups, "rules": rules, "default": default,
            "listeners": listeners}


def load_balancer_targets(target_groups, instances):
    """Each target group with its targets: the live instances of its node group (geostack:group tag), on port 80."""
    out = []
    for tg in target_groups:
        ids = sorted(i["instance_id"] for i in instances or []
                     if (i.get("tags") or {}).get("geostack:group") == tg["group"])
        out.append({**tg, "targets": [{"Id": iid, "Port": 80} for iid in ids]})
    return out


def load_balancer_target_drift(wanted, found, health_interval=10):
    """What community.aws.elb_target_group would change, which it cannot say itself under --check: one sentence per
    target group that differs (missing, targets to register or deregister, health check path or interval)."""
    have = {tg.get("target_group_name"): tg for tg in found or []}
    out = []
    for tg in wanted or []:
        want = sorted(t["Id"] for t in tg.get("targets") or [])
        current = have.get(tg["name"])
        if current is None:
            out.append(f"target group {tg['name']} would be created with targets {', '.join(want) or 'none'}")
            continue
        registered = sorted(d["target"]["id"] for d in current.get("targets_health_description") or []
                            if (d.get("target_health") or {}).get("state") != "draining")
        changes = []
        if add := [i for i in want if i not in registered]:
            changes.append(f"register {', '.join(add)}")
        if drop := [i for i in registered if i not in want]:
            changes.append(f"deregister {', '.join(drop)}")
        if current.get("health_check_path") != tg.get("health_path"):
            changes.append(f"check health at {tg.get('health_path')} (not {current.get('health_check_path')})")
        if str(current.get("health_check_interval_seconds")) != str(health_interval):
            changes.append(f"check health every {health_interval} s (not {current.get('health_check_interval_seconds')} s)")
        if changes:
            out.append(f"target group {tg['name']} would {'; '.join(changes)}")
    return out


_STATE_SERVED = ("initial", "healthy", "unhealthy", "unavailable")


def _pattern_regex(pattern):
    """An ALB path pattern ('*' any characters, '?' one) as an anchored regular expression without quotes."""
    out = "".join(".*" if c == "*" else "." if c == "?" else ("\\" + c if c in ".^$+(){}[]|\\" else c) for c in pattern)
    return f"^{out}$"


def _status_regex(codes):
    """A target group's matcher (`200`, `200,202` or `200-299`) as a regular expression of the codes it takes."""
    taken = []
    for part in str(codes or "200").split(","):
        low, _sep, high = part.strip().partition("-")
        taken += [str(code) for code in range(int(low), int(high or low) + 1)]
    return f"^({'|'.join(taken)})$"


def load_balancer_proxy(load_balancers, target_groups, instances):
    """What the local cloud's reverse proxy serves, from the emulated load balancer's state as
    amazon.aws.elb_application_lb_info (with listeners and rules) and community.aws.elb_target_group_info (with the
    targets' health) read it: rules [{regex, backend}] in priority order, the default backend, and backends [{name,
    health_path, interval, timeout, rise, fall, status_regex, servers [{id, address, port}]}] or fixed responses
    [{name, status, body}]. A target's address is its instance's private address (the node container's); targets that
    are draining or not registered get no requests, as on an ALB. The listener served is the one with the forwarding
    rules (the HTTPS one with a certificate, served as plain HTTP: the proxy does not terminate TLS)."""
    lb = (load_balancers or [{}])[0]
    addresses = {i["instance_id"]: i.get("private_ip_address") for i in instances or []}
    groups = {tg["target_group_arn"]: tg for tg in target_groups or []}
    listeners = sorted(lb.get("listeners") or [], key=lambda listener: listener.get("protocol") != "HTTPS")
    listener = next((listener for listener in listeners
                     if any(a.get("type") == "forward" for r in listener.get("rules") or [] for a in r.get("actions") or [])),
                    listeners[0] if listeners else {})
    backends, fixed = {}, {}

    def target(action):
        if action.get("type") == "forward" and action.get("target_group_arn") in groups:
            tg = groups[action["target_group_arn"]]
            name = aws_name(tg["target_group_name"])
            backends[name] = {
                "name": name, "health_path": tg.get("health_check_path") or "/",
                "interval": int(tg.get("health_check_interval_seconds") or 30),
                "timeout": int(tg.get("health_check_timeout_seconds") or 5),
                "rise": int(tg.get("healthy_threshold_count") or 5), "fall": int(tg.get("unhealthy_threshold_count") or 2),
                "status_regex": _status_regex((tg.get("matcher") or {}).get("http_code")),
                "servers": [{"id": d["target"]["id"], "address": addresses[d["target"]["id"]],
                             "port": int(d["target"].get("port") or tg.get("port") or 80)}
                            for d in sorted(tg.get("targets_health_description") or [], key=lambda d: d["target"]["id"])
                            if (d.get("target_health") or {}).get("state", "healthy") in _STATE_SERVED
                            and addresses.get(d["target"]["id"])],
            }
            return name
        config = action.get("fixed_response_config") or {"status_code": "503", "message_body": "not emulated"}
        name = f"fixed-{config.get('status_code')}-{len(fixed) + 1}"
        fixed[name] = {"name": name, "status": int(config.get("status_code") or 503), "body": config.get("message_body") or ""}
        return name

    rules, default = [], None
    for rule in sorted(listener.get("rules") or [], key=lambda r: int(r["priority"]) if str(r["priority"]).isdigit() else 1 << 30):
        backend = target((rule.get("actions") or [{}])[0])
        if rule.get("is_default"):
            default = backend
            continue
        patterns = [v for c in rule.get("conditions") or [] if c.get("field") == "path-pattern"
                    for v in c.get("values") or (c.get("path_pattern_config") or {}).get("values") or []]
        rules.extend({"regex": _pattern_regex(p), "backend": backend} for p in patterns if "'" not in p)
    return {"name": lb.get("load_balancer_name", ""), "dns_name": lb.get("dns_name", ""), "rules": rules,
            "default": default, "backends": list(backends.values()), "fixed": list(fixed.values())}


class FilterModule:
    def filters(self):
        return {
            "aws_name": aws_name,
            "load_balancer_errors": load_balancer_errors,
            "load_balancer_plan": load_balancer_plan,
            "load_balancer_proxy": load_balancer_proxy,
            "load_balancer_targets": load_balancer_targets,
            "load_balancer_target_drift": load_balancer_target_drift,
        }
