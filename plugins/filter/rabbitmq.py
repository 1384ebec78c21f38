# Copyright (c) 2026, geostack.cluster maintainers
# Apache License 2.0 (see galaxy.yml)
"""What the rabbitmq role would change, from one read of the management API (no Erlang VM started)."""

from __future__ import annotations

import base64
import hashlib
import json

from ansible.errors import AnsibleFilterError

_HASHES = {
    "rabbit_password_hashing_sha256": hashlib.sha256,
    "rabbit_password_hashing_sha512": hashlib.sha512,
    "rabbit_password_hashing_md5": hashlib.md5,
}


def rabbitmq_password_matches(password, password_hash, algorithm="rabbit_password_hashing_sha256"):
    """Whether `password` is the one RabbitMQ stored: base64(salt[4] + H(salt + password))."""
    digest = _HASHES.get(algorithm or "rabbit_password_hashing_sha256")
    if digest is None or not password_hash:
        return False
    try:
        raw = base64.b64decode(password_hash)
    except (ValueError, TypeError):
        return False
    salt, stored = raw[:4], raw[4:]
    return digest(salt + str(password).encode()).digest() == stored


def _tags(value):
    if isinstance(value, str):
        return sorted(t for t in value.split(",") if t)
    return sorted(value or [])


def _wanted_users(wanted):
    """The admin and rabbitmq_users as {name, password, tags, perms: [(vhost, configure, write, read)]}."""
    admin = wanted.get("admin_user")
    users = [{"name": admin, "password": wanted.get("admin_password"), "tags": ["administrator"],
              "perms": [(v, ".*", ".*", ".*") for v in ["/", *list(wanted.get("vhosts", []))]]}]
    for user in wanted.get("users", []):
        users.append({"name": user["name"], "password": user.get("password"), "tags": list(user.get("tags") or []),
                      "perms": [(user.get("vhost", "/"), user.get("configure_priv", "^$"), user.get("write_priv", ".*"),
                                 user.get("read_priv", ".*"))]})
    return users


def _wanted_policy(policy):
    return (policy["pattern"], policy.get("apply_to", "all"), int(policy.get("priority", 0)), policy.get("tags") or {})


def rabbitmq_definitions_drift(definitions, wanted, guest=True):
    """What differs in the vhosts, users, permissions and policies of /api/definitions; empty when none.

    guest: whether a guest user that still exists counts (it is removed apart from the import).
    """
    if not isinstance(definitions, dict) or not isinstance(wanted, dict):
        raise AnsibleFilterError("rabbitmq_definitions_drift needs /api/definitions and the wanted state as dicts")
    drift = []
    vhosts = {v["name"] for v in definitions.get("vhosts", [])}
    drift += [f"vhost {v} is missing" for v in wanted.get("vhosts", []) if v not in vhosts]

    users = {u["name"]: u for u in definitions.get("users", [])}
    permissions = {(p["user"], p["vhost"]): p for p in definitions.get("permissions", [])}
    if guest and "guest" in users:
        drift.append("user guest exists")
    for user in _wanted_users(wanted):
        have = users.get(user["name"])
        if have is None:
            drift.append(f"user {user['name']} is missing")
            continue
        if not rabbitmq_password_matches(user["password"], have.get("password_hash"), have.get("hashing_algorithm")):
            drift.append(f"user {user['name']} has another password")
        if _tags(have.get("tags")) != sorted(user["tags"]):
            drift.append(f"user {user['name']} has tags {_tags(have.get('tags'))} (want {sorted(user['tags'])})")
        for vhost, configure, write, read in user["perms"]:
            perm = permissions.get((user["name"], vhost))
            if perm is None or (perm.get("configure"), perm.get("write"), perm.get("read")) != (configure, write, read):
                drift.append(f"user {user['name']} has other permissions on vhost {vhost}")

    policies = {(p["vhost"], p["name"]): p for p in definitions.get("policies", [])}
    for policy in wanted.get("policies", []):
        key = (policy.get("vhost", "/"), policy["name"])
        have = policies.get(key)
        if have is None or (have.get("pattern"), have.get("apply-to"), int(have.get("priority", 0)),
                            have.get("definition") or {}) != _wanted_policy(policy):
            drift.append(f"policy {key[0]}/{key[1]} is missing or differs")
    return drift


def rabbitmq_definitions(wanted):
    """The vhosts, users (with their passwords), permissions and policies as a file for `rabbitmqctl import_definitions`."""
    if not isinstance(wanted, dict):
        raise AnsibleFilterError("rabbitmq_definitions needs the wanted state as a dict")
    users = _wanted_users(wanted)
    return {
        "vhosts": [{"name": v} for v in wanted.get("vhosts", [])],
        "users": [{"name": u["name"], "password": u["password"], "tags": u["tags"]} for u in users],
        "permissions": [{"user": u["name"], "vhost": vhost, "configure": configure, "write": write, "read": read}
                        for u in users for vhost, configure, write, read in u["perms"]],
        "policies": [{"vhost": p.get("vhost", "/"), "name": p["name"], "pattern": p["pattern"], "apply-to": p.get("apply_to", "all"),
                      "priority": int(p.get("priority", 0)), "definition": p.get("tags") or {}}
                     for p in wanted.get("policies", [])],
    }


def rabbitmq_drift(api, wanted):
    """Differences between the management API's answers and what the role wants; empty when none.

    api: geostack.cluster.node_state's http answers {nodes: /api/nodes, definitions: /api/definitions,
    queues: /api/queues (name, vhost, type, members)}, each {status, json}. wanted: {nodes: [rabbit@host], plugins, admin_user, admin_password,
    users: rabbitmq_users, vhosts, queues: rabbitmq_queues, policies: rabbitmq_policies}.
    """
    if not isinstance(api, dict) or not isinstance(wanted, dict):
        raise AnsibleFilterError("rabbitmq_drift needs the API's answers and the wanted state as dicts")
    drift = []
    answers = {}
    for name in ("nodes", "definitions", "queues"):
        answer = api.get(name) or {}
        if answer.get("status") != 200 or "json" not in answer:
            return [f"the management API's {name} could not be read ({answer.get('status', 'not asked')} {answer.get('error', '')})".rstrip()]
        answers[name] = answer["json"]
    nodes, definitions, queues = answers["nodes"], answers["definitions"], answers["queues"]

    running = {n.get("name"): n for n in nodes if n.get("running")}
    for name in wanted.get("nodes", []):
        node = running.get(name)
        if node is None:
            drift.append(f"{name} is not a running member")
            continue
        missing = sorted(set(wanted.get("plugins", [])) - set(node.get("enabled_plugins") or []))
        if "enabled_plugins" in node and missing:
            drift.append(f"{name} lacks plugins {', '.join(missing)}")

    drift += rabbitmq_definitions_drift(definitions, wanted)

    declared = {_queue_key(q): q for q in definitions.get("queues", [])}
    for queue in wanted.get("queues", []):
        key = _queue_key(queue)
        have = declared.get(key)
        if have is None:
            drift.append(f"queue {key[0]}/{key[1]} is missing")
        elif _queue_differs(have, queue):
            drift.append(f"queue {key[0]}/{key[1]} has other properties")

    members = set(wanted.get("nodes", []))
    for queue in queues:
        if queue.get("type") == "quorum" and "members" in queue and not members <= set(queue.get("members") or []):
            drift.append(f"quorum queue {queue.get('vhost')}/{queue.get('name')} has no replica on "
                         f"{', '.join(sorted(members - set(queue.get('members') or [])))}")

    return drift


def _queue_key(queue):
    return (queue.get("vhost", "/"), queue["name"])


def _queue_kind(found):
    """The type of a queue as /api/definitions lists it: without x-queue-type it is a classic queue."""
    return (found.get("arguments") or {}).get("x-queue-type", "classic")


def _queue_differs(found, queue):
    """Whether a queue as /api/definitions lists it differs from its entry of rabbitmq_queues in type,
    durability or one of the entry's arguments (arguments the entry does not name are left alone)."""
    args = found.get("arguments") or {}
    return (_queue_kind(found) != queue.get("type", "quorum") or found.get("durable") != queue.get("durable", True)
            or any(args.get(k) != v for k, v in (queue.get("arguments") or {}).items()))


def rabbitmq_queue_conflicts(existing, queues):
    """One sentence per entry of rabbitmq_queues that exists (in /api/definitions' queues) with another type,
    durability or arguments: RabbitMQ cannot change a queue in place, and the role never deletes one."""
    have = {_queue_key(q): q for q in existing or []}
    sentences = []
    for queue in queues or []:
        found = have.get(_queue_key(queue))
        if found is None or not _queue_differs(found, queue):
            continue
        sentences.append(
            f"Queue {queue['name']} in vhost {queue.get('vhost', '/')} already exists as a"
            f" {'durable' if found.get('durable') else 'transient'} {_queue_kind(found)} queue with arguments"
            f" {json.dumps(found.get('arguments') or {})},"
            f" which conflicts with rabbitmq_queues ({json.dumps(queue)}). RabbitMQ cannot change a queue in place and the"
            " role never deletes one: migrate its messages and delete it yourself, or change rabbitmq_queues.")
    return sentences


def rabbitmq_missing_queues(existing, queues):
    """The entries of rabbitmq_queues that /api/definitions' queues do not list."""
    have = {_queue_key(q) for q in existing or []}
    return [queue for queue in queues or [] if _queue_key(queue) not in have]


def rabbitmq_not_running(status):
    """The cluster's members (disk nodes) that `rabbitmqctl cluster_status --formatter json` does not list as running."""
    status = status or {}
    running = set(status.get("running_nodes") or [])
    return sorted(node for node in status.get("disk_nodes") or [] if node not in running)


class FilterModule:
    def filters(self):
        return {
            "rabbitmq_definitions": rabbitmq_definitions,
            "rabbitmq_definitions_drift": rabbitmq_definitions_drift,
            "rabbitmq_drift": rabbitmq_drift,
            "rabbitmq_missing_queues": rabbitmq_missing_queues,
            "rabbitmq_not_running": rabbitmq_not_running,
            "rabbitmq_password_matches": rabbitmq_password_matches,
            "rabbitmq_queue_conflicts": rabbitmq_queue_conflicts,
        }
