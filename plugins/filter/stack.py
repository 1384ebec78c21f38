# Copyright (c) 2026, geostack.cluster maintainers
# Apache License 2.0 (see galaxy.yml)
"""What the stack role would change, from the compose files and one `docker service ls` on the deploying manager."""

from __future__ import annotations

import hashlib
import json

import yaml
from ansible.errors import AnsibleFilterError


def stack_wanted(name, rendered, inline=(), options=None, stack_dir="/etc/geostack/stacks"):
    """One stack as it should run: its services ({<stack>_<service>: {replicas: n or 'global', image}}, merged over the
    compose files in order), the marker a deploy leaves (the digest of the rendered compose files, the inline compose
    and the deploy options) and the command that lists its running services."""
    services = {}
    documents = []
    for text in rendered or []:
        try:
            documents.append(yaml.safe_load(text) or {})
        except yaml.YAMLError as error:
            raise AnsibleFilterError(f"stack {name}: a compose template does not render to YAML: {error}") from error
    documents += list(inline or [])
    for document in documents:
        for service, spec in ((document or {}).get("services") or {}).items():
            merged = services.setdefault(service, {})
            merged.update({k: v for k, v in (spec or {}).items() if k in ("image", "deploy")})
    wanted = {}
    for service, spec in services.items():
        deploy = spec.get("deploy") or {}
        replicas = "global" if deploy.get("mode") == "global" else int(deploy.get("replicas", 1))
        wanted[f"{name}_{service}"] = {"replicas": replicas, "image": str(spec.get("image", ""))}
    digest = hashlib.sha256(json.dumps([list(rendered or []), list(inline or []), options or {}], sort_keys=True, default=str).encode())
    return {
        "name": name,
        "services": wanted,
        "marker": {"dest": f"{stack_dir}/{name}/.geostack-deployed", "content": digest.hexdigest() + "\n", "mode": "0640"},
        "command": {"name": name, "argv": ["docker", "service", "ls", "--filter", f"label=com.docker.stack.namespace={name}",
                                           "--format", "{{json .}}"]},
    }


def stack_drift(stacks, state):
    """How the stacks differ from stack_wanted's: node_state's drift (their markers) and, per stack, its running
    services (`docker service ls --format '{{json .}}'` lines, node_state's commands) against the wanted ones."""
    drift = list((state or {}).get("drift") or [])
    for wanted in stacks or []:
        answer = ((state or {}).get("commands") or {}).get(wanted["name"]) or {}
        if answer.get("rc") != 0:
            drift.append(f"stack {wanted['name']}: its services could not be listed")
            continue
        drift += _services_drift(wanted, answer.get("stdout"))
    return drift


def _services_drift(wanted, service_ls):
    running = {}
    for line in (service_ls or "").splitlines():
        if line.strip():
            record = json.loads(line)
            running[record["Name"]] = record
    drift = []
    for service, want in sorted(wanted["services"].items()):
        have = running.get(service)
        if have is None:
            drift.append(f"service {service} is missing")
            continue
        if want["replicas"] == "global":
            if have.get("Mode") != "global":
                drift.append(f"service {service} is not global")
        else:
            desired = str(have.get("Replicas", "")).split(" ", maxsplit=1)[0].partition("/")[2]
            if have.get("Mode") != "replicated" or desired != str(want["replicas"]):
                drift.append(f"service {service} wants {desired or '?'} replicas (want {want['replicas']})")
        if want["image"] and str(have.get("Image", "")).split("@", maxsplit=1)[0] != want["image"]:
            drift.append(f"service {service} runs {have.get('Image')} (want {want['image']})")
    return drift


class FilterModule:
    def filters(self):
        return {"stack_wanted": stack_wanted, "stack_drift": stack_drift}
