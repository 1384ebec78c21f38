# Copyright (c) 2026, geostack.cluster maintainers
# Apache License 2.0 (see galaxy.yml)
"""Filters for the web role: check web_apps, web_routes and web_upstreams, and
derive each app's source type and each route's health check."""

from __future__ import annotations

import hashlib
import re
from urllib.parse import urlparse

from ansible.errors import AnsibleFilterError
from ansible_collections.geostack.cluster.plugins.module_utils.inputs import dict_entries

_NAME = re.compile(r"^[a-z][a-z0-9-]{0,27}$")
_ENTRY = re.compile(r"^[A-Za-z_][\w.]*:[A-Za-z_][\w.]*(\(.*\))?$")
_ENV = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_PATH = re.compile(r"^/[^\s;{}'\"#]*$")
_SHA256 = re.compile(r"^sha256:[0-9a-fA-F]{64}$")
_ARCHIVE = (".tar.gz", ".tgz", ".tar.bz2", ".tbz2", ".tar.xz", ".txz", ".tar", ".zip")
_TYPES = ("dir", "git", "archive")
# Setting: (smallest value, what it is)
_INTS = {"workers": 1, "threads": 1, "timeout": 1, "graceful_timeout": 1, "max_requests": 0, "max_requests_jitter": 0}


def web_source_type(app):
    """dir, git or archive: the app's `type`, or what its source looks like."""
    if not isinstance(app, dict):
        raise AnsibleFilterError(f"a web app must be a dict, got {type(app).__name__}")
    if app.get("type"):
        return app["type"]
    source = str(app.get("source") or "")
    if source.lower().endswith(_ARCHIVE):
        return "archive"
    if source.startswith(("git@", "git://", "git+")) or source.endswith(".git") or app.get("version"):
        return "git"
    return "dir"


def web_app_paths(app, web_root, conf_dir, state_root="/var/lib/geostack-web"):
    """Where one app lives on a node: name, type, base, state (its writable directory, kept across releases), user, unit,
    conf, requirements, subdir, url (a URL source), migrate (its per-release command, or ''), preload and exclude."""
    name = app["name"]
    return {
        "name": name,
        "type": web_source_type(app),
        "base": f"{web_root}/{name}",
        "state": f"{state_root}/{name}",
        "user": f"web-{name}",
        "unit": f"geostack-web-{name}",
        "conf": f"{conf_dir}/{name}.conf.py",
        "requirements": app.get("requirements", "requirements.txt"),
        "subdir": app.get("subdir", ""),
        "url": bool(re.match(r"^https?://", str(app.get("source") or ""))),
        "migrate": app.get("migrate") or "",
        "preload": bool(app.get("preload", False)),
        "exclude": list(app.get("exclude") or []),
    }


def web_copy_exclusions(exclude):
    """community.general.archive's exclusion_patterns for a directory source: what tree_checksum skips (always .git,
    .venv, __pycache__ and *.pyc, and the app's `exclude`), as the archive matches them (each path inside the tree whole,
    so a pattern becomes itself, itself after any directory, and everything under either)."""
    from ansible_collections.geostack.cluster.plugins.lookup.tree_checksum import (  # pylint: disable=import-outside-toplevel
        ALWAYS_EXCLUDED,
    )

    patterns = []
    for pattern in [*ALWAYS_EXCLUDED, *(exclude or [])]:
        patterns += [pattern, f"*/{pattern}", f"{pattern}/*", f"*/{pattern}/*"]
    return patterns


def web_venv_id(requirements_checksum, gunicorn_version, python_version):
    """The name of an app's virtualenv: it changes with its requirements, gunicorn and Python, not with its code."""
    key = " ".join([requirements_checksum or "none", str(gunicorn_version), str(python_version)])
    return hashlib.sha1(key.encode()).hexdigest()[:16]


def _git_commit(ls_remote, version):
    """The commit `git ls-remote <repo> <version>` names (a branch, a tag, or a full commit id), or ''."""
    refs = {}
    for line in (ls_remote or "").splitlines():
        sha, _tab, ref = line.partition("\t")
        refs[ref.strip()] = sha.strip()
    for ref in (f"refs/tags/{version}^{{}}", f"refs/tags/{version}", f"refs/heads/{version}", version):
        if ref in refs:
            return refs[ref]
    return version if re.fullmatch(r"[0-9a-f]{40}", str(version)) else ""


def web_apps_drift(apps, state, gunicorn_version, python_version):
    """Apps whose deployed release (the `current` link, read by node_state) or virtualenv (the `venv` link) is not the one
    their source and requirements ask for. A git source's release is the commit `git ls-remote` names (node_state's
    command `git-<app>`)."""
    drift = []
    files, commands = state.get("files") or {}, state.get("commands") or {}
    for app in apps:
        release = app["release"]
        if app.get("git"):
            answer = commands.get(f"git-{app['name']}") or {}
            commit = _git_commit(answer.get("stdout"), app["git"]["version"]) if answer.get("rc") == 0 else ""
            if not commit:
                drift.append(f"app {app['name']}: {app['git']['version']} of its repository could not be read")
                continue
            release = commit[:16]
        want = f"{app['base']}/releases/{release}" + (f"/{app['subdir']}" if app.get("subdir") else "")
        current = files.get(f"{app['base']}/current") or {}
        if current.get("target") != want:
            drift.append(f"app {app['name']}: current does not point to {want}")
            continue
        checksum = None
        if app.get("requirements"):
            checksum = (files.get(f"{app['base']}/current/{app['requirements']}") or {}).get("checksum")
            if not checksum:
                drift.append(f"app {app['name']}: release {release} has no {app['requirements']}")
                continue
        venv = f"{app['base']}/venvs/{web_venv_id(checksum, gunicorn_version, python_version)}"
        if (files.get(f"{app['base']}/venv") or {}).get("target") != venv:
            drift.append(f"app {app['name']}: venv does not point to {venv}")
    return drift


def web_app_drifts(apps, state, gunicorn_version, python_version):
    """Per app, what differs on the node: its user, its files (node_state's read of the entries web_wanted_app lists),
    its socket and service, and its release and virtualenv links; the apps that match have no entry."""
    from ansible.module_utils.common.text.converters import to_bytes  # pylint: disable=import-outside-toplevel
    from ansible_collections.geostack.cluster.plugins.module_utils.manifest import (  # pylint: disable=import-outside-toplevel
        file_drift,
        normalize_file,
        normalize_service,
        service_drift,
        sha1,
    )

    files, services, users = state.get("files") or {}, state.get("services") or {}, state.get("users") or {}
    drifts = {}
    for app in apps:
        reasons = [] if users.get(app["user"]) else [f"user {app['user']} is missing"]
        for index, entry in enumerate(app["files"]):
            item = normalize_file(entry, index)
            if "content" in item:
                item["checksum"] = sha1(to_bytes(item["content"], errors="surrogate_or_strict"))
            reasons += file_drift(item, files.get(item["dest"]))
        for index, entry in enumerate(app["services"]):
            item = normalize_service(entry, index)
            reasons += service_drift(item, services.get(item["name"]))
        reasons += web_apps_drift([app], state, gunicorn_version, python_version)
        if reasons:
            drifts[app["name"]] = reasons
    return drifts


def _app_errors(i, app):
    where = f"web_apps[{i}]"
    if not isinstance(app, dict):
        return [f"{where} must be a dict with name, source and module"]
    name = app.get("name")
    if name:
        where = f"web_apps[{i}] ({name})"
    errors = []
    if not isinstance(name, str) or not _NAME.match(name):
        errors.append(f"{where}.name {name!r} must be 1-28 lower-case letters, digits or '-', starting with a letter")
    module = app.get("module")
    if not module:
        errors.append(f"{where}.module is missing: the WSGI entry point, as module:variable (e.g. app:app)")
    elif not isinstance(module, str) or not _ENTRY.match(module):
        errors.append(f"{where}.module {module!r} is not a WSGI entry point of the form module:variable")
    source = app.get("source")
    kind = app.get("type") or (web_source_type(app) if source else None)
    if not source or not isinstance(source, str):
        errors.append(f"{where}.source is missing: a directory on the controller, a git URL or an archive")
    elif kind not in _TYPES:
        errors.append(f"{where}.type {kind!r} is not one of {', '.join(_TYPES)}")
    elif kind == "git" and not app.get("version"):
        errors.append(f"{where}.version is missing: the git branch, tag or commit to deploy from {source}")
    elif kind == "archive" and urlparse(source).scheme in ("http", "https") and not _SHA256.match(str(app.get("checksum", ""))):
        errors.append(f"{where}.checksum must be sha256:<64 hex digits> for the downloaded archive {source}")
    elif kind == "dir" and urlparse(source).scheme:
        errors.append(f"{where}.source {source!r} is a URL; a dir source is a directory on the controller")
    for key, low in _INTS.items():
        value = app.get(key)
        if value is not None and (isinstance(value, bool) or not str(value).isdigit() or int(value) < low):
            errors.append(f"{where}.{key} {value!r} must be an integer of at least {low}")
    env = app.get("env", {})
    if not isinstance(env, dict):
        errors.append(f"{where}.env must be a dict of variable names to values")
    else:
        errors.extend(f"{where}.env: {key!r} is not a valid environment variable name" for key in env if not _ENV.match(str(key)))
    if not isinstance(app.get("migrate", ""), str):
        errors.append(f"{where}.migrate must be a shell command (a string)")
    if not isinstance(app.get("preload", False), bool):
        errors.append(f"{where}.preload must be true or false")
    exclude = app.get("exclude", [])
    if not isinstance(exclude, list) or not all(isinstance(item, str) and item and ".." not in item for item in exclude):
        errors.append(f"{where}.exclude must be a list of glob patterns inside the source (e.g. [node_modules, '*.log'])")
    for key in ("health", "subdir"):
        value = app.get(key)
        if value is not None and (not isinstance(value, str) or (key == "health" and not _PATH.match(value)) or ".." in value):
            errors.append(f"{where}.{key} {value!r} must be a path" + (" starting with /" if key == "health" else " inside the source"))
    return errors


def _route_errors(routes, apps, upstreams):
    errors = []
    seen = {}
    for i, where, route in dict_entries(routes, "web_routes", "a dict with path and app (or upstream)", errors):
        path = route.get("path")
        if path:
            where = f"web_routes[{i}] ({path})"
        if not isinstance(path, str) or not _PATH.match(path):
            errors.append(f"{where}.path {path!r} must start with / and contain no spaces, quotes, ; {{ }} or #")
        else:
            key = path.rstrip("/") or "/"
            if key in seen:
                j, other = seen[key]
                errors.append(f"{where}.path is also web_routes[{j}]'s path ({other}): two routes on the same path")
            else:
                seen[key] = (i, route.get("app") or route.get("upstream"))
        app, upstream = route.get("app"), route.get("upstream")
        if bool(app) == bool(upstream):
            errors.append(f"{where} needs exactly one of app (one of web_apps) or upstream (one of web_upstreams)")
        elif app and app not in apps:
            errors.append(f"{where}.app {app!r} is not in web_apps ({', '.join(apps) or 'none'})")
        elif upstream and upstream not in upstreams:
            errors.append(f"{where}.upstream {upstream!r} is not in web_upstreams ({', '.join(upstreams) or 'none'})")
        status = route.get("status", [200])
        status = status if isinstance(status, list) else [status]
        if not status or not all(str(s).isdigit() and 100 <= int(s) <= 599 for s in status):
            errors.append(f"{where}.status {route.get('status')!r} must be HTTP status codes")
        health = route.get("health")
        if health is not None and (not isinstance(health, str) or not _PATH.match(health)):
            errors.append(f"{where}.health {health!r} must be a path starting with /")
    return errors


def _upstream_errors(upstreams):
    errors = []
    names = []
    for _index, where, upstream in dict_entries(upstreams, "web_upstreams", "a dict with name and servers", errors):
        name = upstream.get("name")
        if not isinstance(name, str) or not _NAME.match(name):
            errors.append(f"{where}.name {name!r} must be 1-28 lower-case letters, digits or '-', starting with a letter")
        elif name in names:
            errors.append(f"{where}.name {name!r} is used twice in web_upstreams")
        names.append(name)
        servers = upstream.get("servers")
        if not isinstance(servers, list) or not servers or not all(isinstance(s, str) and s.strip() for s in servers):
            errors.append(f"{where}.servers must be a non-empty list of host:port strings")
    return errors


def web_input_errors(apps, routes, upstreams=None):
    """Everything wrong with web_apps, web_routes and web_upstreams ([] when sound)."""
    upstreams = upstreams or []
    for var, value in (("web_apps", apps), ("web_routes", routes), ("web_upstreams", upstreams)):
        if not isinstance(value, list):
            return [f"{var} must be a list, got {type(value).__name__}"]
    errors = [error for i, app in enumerate(apps) for error in _app_errors(i, app)]
    names = [app.get("name") for app in apps if isinstance(app, dict)]
    errors.extend(f"web_apps: the name {name!r} is used twice" for name in sorted({n for n in names if n and names.count(n) > 1}))
    upstream_names = [u.get("name") for u in upstreams if isinstance(u, dict)]
    errors.extend(_upstream_errors(upstreams))
    errors.extend(_route_errors(routes, [n for n in names if n], [n for n in upstream_names if n]))
    return errors


def web_load_balancer_errors(routes, lb_routes, node_group):
    """The paths the load balancer sends to this node's node group (provision_load_balancer_routes) that its
    web_routes would not serve: nginx serves a path when some route's path is a prefix of it."""
    errors = []
    prefixes = [r.get("path") for r in routes or [] if isinstance(r, dict) and isinstance(r.get("path"), str)]
    for index, route in enumerate(lb_routes or []):
        if not isinstance(route, dict) or route.get("group") != node_group or not node_group:
            continue
        for kind, path in (("path", route.get("path")), ("health", route.get("health"))):
            if isinstance(path, str) and not any(path.startswith(prefix) for prefix in prefixes):
                errors.append(
                    f"provision_load_balancer_routes[{index}] sends {kind} {path} to node group {node_group}, but its"
                    f" web_routes ({', '.join(prefixes) or 'none'}) serve no prefix of it")
    return errors


def web_route_checks(routes, apps):
    """What to request through nginx after a deploy, one {path, status, route} per route.

    A route's own `health` wins; else its app's `health` when nginx would send
    that path to this route (it starts with the route's path); else the route's path.
    """
    by_name = {app["name"]: app for app in apps}
    checks = []
    for route in routes:
        path = route["path"]
        app_health = by_name.get(route.get("app"), {}).get("health")
        longest = max((r["path"] for r in routes if app_health and app_health.startswith(r["path"])), key=len, default=None)
        check = route.get("health") or (app_health if longest == path else None) or path
        status = route.get("status", [200])
        checks.append({"route": path, "path": check, "status": [int(s) for s in (status if isinstance(status, list) else [status])]})
    return checks


def web_probe_failures(results):
    """From the registered results of a loop over web_route_checks: one message per route that did not answer as expected."""
    failures = []
    for result in results:
        check = result["item"]
        status = result.get("status", -1)
        if status not in check["status"]:
            answer = f"answered {status}" if status and status > 0 else f"did not answer ({result.get('msg', 'no response')})"
            expected = " or ".join(str(s) for s in check["status"])
            failures.append(f"route {check['route']} (GET {check['path']}) {answer}, expected {expected}")
    return failures


class FilterModule:
    def filters(self):
        return {
            "web_input_errors": web_input_errors,
            "web_load_balancer_errors": web_load_balancer_errors,
            "web_route_checks": web_route_checks,
            "web_probe_failures": web_probe_failures,
            "web_source_type": web_source_type,
            "web_app_paths": web_app_paths,
            "web_copy_exclusions": web_copy_exclusions,
            "web_venv_id": web_venv_id,
            "web_apps_drift": web_apps_drift,
            "web_app_drifts": web_app_drifts,
        }
