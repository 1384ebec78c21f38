# Copyright (c) 2026, geostack.cluster maintainers
# Apache License 2.0 (see galaxy.yml)
"""Filters for the citus role: its tables, its drift and its queries (passwords and CIDRs: filter/inputs.py)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import re

_IDENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_TABLE = re.compile(r"^([A-Za-z_][A-Za-z0-9_]*\.)?[A-Za-z_][A-Za-z0-9_]*$")
_CREATE = re.compile(r'^\s*create\s+table\s+(?:if\s+not\s+exists\s+)?([A-Za-z0-9_."]+)', re.IGNORECASE)
_CONSTRAINT_WORDS = {"constraint", "primary", "unique", "check", "foreign", "exclude", "like"}


def _split_top_level(text):
    """Split on commas that are not inside parentheses or quotes."""
    parts, depth, quote, current = [], 0, "", []
    for char in text:
        if quote:
            quote = "" if char == quote else quote
        elif char in "'\"":
            quote = char
        elif char == "(":
            depth += 1
        elif char == ")":
            depth -= 1
        elif char == "," and depth == 0:
            parts.append("".join(current))
            current = []
            continue
        current.append(char)
    parts.append("".join(current))
    return parts


def citus_ddl_columns(ddl):
    """The column names a CREATE TABLE statement defines (lower-cased unless quoted), in order."""
    start = ddl.find("(")
    end = ddl.rfind(")")
    if start < 0 or end < start:
        return []
    columns = []
    for element in _split_top_level(ddl[start + 1 : end]):
        element = element.strip()
        if not element:
            continue
        if element.startswith('"'):
            columns.append(element[1 : element.index('"', 1)])
            continue
        word = element.split()[0]
        if word.lower() not in _CONSTRAINT_WORDS:
            columns.append(word.lower())
    return columns


def _column_names(table):
    if table.get("ddl"):
        return citus_ddl_columns(str(table["ddl"]))
    return [str(c.get("name", "")).lower() if isinstance(c, dict) else "" for c in table.get("columns") or []]


def _table_errors(table, where, distributed):
    if not isinstance(table, dict):
        return [f"{where} must be a dict, got {type(table).__name__}"]
    errors = []
    name = str(table.get("name", ""))
    if not _TABLE.match(name):
        errors.append(f"{where} needs a name (a plain or schema-qualified identifier), got '{name}'")
    has_ddl, has_columns = bool(table.get("ddl")), bool(table.get("columns"))
    if has_ddl == has_columns:
        errors.append(f"{where} ({name}) needs exactly one of columns or ddl")
        return errors
    if has_ddl:
        ddl = str(table["ddl"])
        if not re.match(r"^\s*create\s+table\s", ddl, re.IGNORECASE) or ";" in ddl.rstrip().rstrip(";"):
            errors.append(f"{where} ({name}): ddl must be one CREATE TABLE statement")
        else:
            created = _CREATE.match(ddl)
            if not created or created.group(1).replace('"', "").lower() != name.lower():
                errors.append(f"{where} ({name}): ddl does not create a table called {name}")
    else:
        for index, column in enumerate(table["columns"]):
            if not isinstance(column, dict) or not _IDENT.match(str(column.get("name", ""))) or not column.get("type"):
                errors.append(f"{where} ({name}).columns[{index}] needs a name (an identifier) and a type")
            elif ";" in str(column["type"]):
                errors.append(f"{where} ({name}).columns[{index}] has a ';' in its type")
    if distributed:
        copies = table.get("replication_factor", 1)
        if isinstance(copies, bool) or not isinstance(copies, int) or copies < 1:
            errors.append(f"{where} ({name}): replication_factor must be a whole number of 1 or more, got '{copies}'")
        column = str(table.get("distribution_column", ""))
        columns = _column_names(table)
        if not column:
            errors.append(f"{where} ({name}) needs a distribution_column")
        elif column.lower() not in columns and column not in columns:
            errors.append(f"{where} ({name}): distribution_column '{column}' is not one of its columns ({', '.join(columns)})")
        shards = table.get("shard_count")
        if shards is not None and (not str(shards).isdigit() or int(shards) < 1):
            errors.append(f"{where} ({name}): shard_count must be a positive integer, got {shards!r}")
    return errors


def citus_table_errors(distributed, reference=None, workers=None):
    """Everything wrong with citus_distributed_tables and citus_reference_tables ([] when sound); with workers (how
    many workers take shards), also a replication_factor above it (or above 1 without workers)."""
    errors = []
    names = []
    for var, tables, is_distributed in (
        ("citus_distributed_tables", distributed, True),
        ("citus_reference_tables", reference or [], False),
    ):
        if not isinstance(tables, list):
            errors.append(f"{var} must be a list, got {type(tables).__name__}")
            continue
        for index, table in enumerate(tables):
            errors.extend(_table_errors(table, f"{var}[{index}]", is_distributed))
            if isinstance(table, dict):
                names.append(str(table.get("name", "")))
    known = set(names)
    tables = [t for t in (distributed if isinstance(distributed, list) else []) if isinstance(t, dict)]
    copies = {str(t.get("name", "")): t.get("replication_factor", 1) for t in tables}
    for index, table in enumerate(distributed if isinstance(distributed, list) else []):
        colocate = table.get("colocate_with") if isinstance(table, dict) else None
        if colocate and colocate not in ("default", "none") and colocate not in known:
            errors.append(f"citus_distributed_tables[{index}]: colocate_with '{colocate}' is not a table of these lists")
        elif colocate in copies and copies[colocate] != copies[str(table.get("name", ""))]:
            errors.append(f"citus_distributed_tables[{index}]: replication_factor {copies[str(table.get('name', ''))]}"
                          f" differs from that of {colocate} ({copies[colocate]}), which it is colocated with")
        # Without workers, the coordinator holds the one copy of each shard.
        factor = table.get("replication_factor", 1) if isinstance(table, dict) else 1
        if workers is not None and isinstance(factor, int) and not isinstance(factor, bool) and factor > max(int(workers), 1):
            errors.append(f"citus_distributed_tables[{index}] ({table.get('name', '')}): replication_factor {factor}"
                          f" needs {factor} workers to hold the copies, and citus_workers has {int(workers)}")
    duplicates = sorted({n for n in names if names.count(n) > 1})
    if duplicates:
        errors.append(f"tables defined twice: {', '.join(duplicates)}")
    return errors


def postgres_password_matches(password, stored, user=""):
    """Whether PostgreSQL's stored password (pg_authid.rolpassword: SCRAM-SHA-256 or md5) is `password`."""
    if not stored or password is None:
        return False
    password = str(password)
    if stored.startswith("md5"):
        return stored[3:] == hashlib.md5((password + user).encode()).hexdigest()
    match = re.match(r"^SCRAM-SHA-256\$(\d+):([^$]+)\$([^:]+):(.+)$", stored)
    if not match:
        return False
    iterations, salt, stored_key = int(match[1]), base64.b64decode(match[2]), base64.b64decode(match[3])
    salted = hashlib.pbkdf2_hmac("sha256", password.encode(), salt, iterations)
    client_key = hmac.new(salted, b"Client Key", hashlib.sha256).digest()
    return hmac.compare_digest(hashlib.sha256(client_key).digest(), stored_key)


def _literal(value):
    return "'" + str(value).replace("'", "''") + "'"


# Read-only queries by name (the role and playbooks/verify.yml use the same text).
QUERIES = {
    # On the coordinator: each shard placement whose table is missing on its worker (a worker that came back empty),
    # or whose worker did not answer, with how many placements its shard has, as one JSON array.
    "missing_placements": (
        "SELECT coalesce(json_agg(json_build_object('table', m.tab, 'node', m.nodename, 'port', m.nodeport, 'shard', m.shardid,"
        " 'copies', m.copies, 'answered', m.success, 'error', m.error) ORDER BY m.nodename, m.tab, m.shardid), '[]') FROM ("
        "SELECT p.logicalrelid::regclass::text AS tab, r.nodename, r.nodeport, r.shardid, r.success,"
        " CASE WHEN NOT r.success THEN left(r.result, 200) END AS error,"
        " (SELECT count(*) FROM pg_dist_placement c WHERE c.shardid = r.shardid) AS copies"
        " FROM pg_dist_partition p,"
        " LATERAL run_command_on_placements(p.logicalrelid, 'SELECT to_regclass(''%s'') IS NOT NULL') r"
        " WHERE NOT r.success OR r.result = 'f') m"
    ),
    # On the coordinator: each hash-distributed table whose colocation group keeps more than one copy of a shard
    # (citus.shard_replication_factor at its creation), with how many of its shards have fewer copies than that.
    "under_replicated": (
        "SELECT coalesce(json_agg(json_build_object('table', u.tab, 'copies', u.copies, 'shards', u.short)"
        " ORDER BY u.tab), '[]') FROM ("
        "SELECT p.logicalrelid::regclass::text AS tab, c.replicationfactor AS copies, count(*) AS short"
        " FROM pg_dist_partition p JOIN pg_dist_colocation c ON c.colocationid = p.colocationid"
        " JOIN pg_dist_shard s ON s.logicalrelid = p.logicalrelid"
        " WHERE p.partmethod = 'h' AND c.replicationfactor > 1"
        " AND (SELECT count(*) FROM pg_dist_placement pl WHERE pl.shardid = s.shardid) < c.replicationfactor"
        " GROUP BY 1, 2) u"
    ),
}


def citus_query(name):
    """The read-only query of that name (QUERIES)."""
    return QUERIES[name]


def _shard_damage(missing):
    """Per worker (address, port): the tables and placements it lacks, how many of those shards have no copy left
    anywhere, and the placements it did not answer for (with the first line of the error)."""
    rows = list(missing or [])
    gone = {}
    for row in rows:
        if row.get("answered", True):
            gone[row["shard"]] = gone.get(row["shard"], 0) + 1
    workers = {}
    for row in rows:
        worker = workers.setdefault((row["node"], row["port"]), {"tables": {}, "lost": 0, "placements": 0, "unanswered": 0, "error": ""})
        if not row.get("answered", True):
            error = (row.get("error") or "").strip()
            worker["unanswered"] += 1
            worker["error"] = worker["error"] or (error.splitlines()[0] if error else "")
            continue
        worker["placements"] += 1
        worker["tables"][row["table"]] = worker["tables"].get(row["table"], 0) + 1
        worker["lost"] += gone[row["shard"]] >= row["copies"]
    return workers


def _recopyable(worker):
    """Whether a worker of _shard_damage answered, lacks placements, and every shard it lacks has a copy elsewhere."""
    return bool(worker["placements"]) and not worker["lost"] and not worker["unanswered"]


def citus_lost_shards(missing, hosts=None, unrecoverable=False):
    """One sentence per worker that lacks shard placements the coordinator lists on it, or did not answer for them
    (from the missing_placements query): how many, of which tables, and how many of the shards it lacks had no other
    copy (their rows are lost), or that every one has a copy elsewhere (site.yml copies them back). hosts maps a
    worker's address to its inventory name. With unrecoverable, only the workers site.yml cannot repair."""
    hosts = hosts or {}
    sentences = []
    for (node, port), worker in sorted(_shard_damage(missing).items()):
        name = f"{hosts[node]} ({node}:{port})" if node in hosts else f"{node}:{port}"
        if worker["placements"] and not (unrecoverable and _recopyable(worker)):
            tables = ", ".join(f"{table} {count}" for table, count in sorted(worker["tables"].items()))
            what = (f"{worker['lost']} of those shards had no other copy, so their rows are lost" if worker["lost"]
                    else "every one of those shards has a copy on another worker, which site.yml copies back")
            sentences.append(f"worker {name} lacks {worker['placements']} shard placement(s) the coordinator lists on it"
                             f" ({tables}); {what}")
        if worker["unanswered"]:
            sentences.append(f"worker {name} did not answer for {worker['unanswered']} shard placement(s)"
                             f" ({worker['error'] or 'no error given'})")
    return sentences


def citus_short_copies(under):
    """One sentence per table (from the under_replicated query) whose shards have fewer copies than its
    replication factor."""
    return [f"table {row['table']} has {row['shards']} shard(s) with fewer than its {row['copies']} copies, which site.yml"
            " copies back" for row in under or []]


def citus_recopy_workers(missing):
    """The addresses of the workers that answered but lack shard placements (they came back empty), where every
    shard they lack still has a copy on another worker: the coordinator can copy those shards back onto them."""
    return [node for (node, _port), worker in sorted(_shard_damage(missing).items()) if _recopyable(worker)]


def citus_probe_sql(wanted):
    """Two read-only queries, each returning one JSON object: `server` (as postgres, database postgres) and
    `database` (in the app database), for citus_drift."""
    names = "ARRAY[" + ",".join(_literal(n) for n in wanted["managed_settings"]) + "]::text[]"
    roles = "ARRAY[" + ",".join(_literal(r) for r in ["postgres", wanted["app_user"], wanted.get("exporter_role") or "postgres"]) + "]"
    server = (
        "SELECT json_build_object("
        "'pending', coalesce((SELECT json_agg(name ORDER BY name) FROM pg_settings WHERE pending_restart), '[]'),"
        f"'shadowed', coalesce((SELECT json_agg(name ORDER BY name) FROM pg_settings WHERE name = ANY({names})"
        f" AND coalesce(sourcefile, '') <> {_literal(wanted['conf_file'])}), '[]'),"
        "'roles', coalesce((SELECT json_object_agg(rolname, json_build_object('login', rolcanlogin, 'password', rolpassword))"
        f" FROM pg_authid WHERE rolname = ANY({roles})), '{{}}'),"
        "'monitor', (SELECT count(*) > 0 FROM pg_auth_members m JOIN pg_roles r ON r.oid = m.member"
        f" JOIN pg_roles g ON g.oid = m.roleid WHERE r.rolname = {_literal(wanted.get('exporter_role') or '')} AND g.rolname = 'pg_monitor'),"
        "'database', (SELECT json_build_object('owner', pg_get_userbyid(datdba), 'encoding', pg_encoding_to_char(encoding))"
        f" FROM pg_database WHERE datname = {_literal(wanted['database'])}))"
    )
    parts = ["'extensions', coalesce((SELECT json_agg(extname ORDER BY extname) FROM pg_extension), '[]')"]
    if wanted.get("citus") and not wanted.get("coordinator"):
        # The distributed tables a worker knows from the metadata its coordinator synced to it: a coordinator that
        # came back empty finds its workers still holding them. (query_to_xml: pg_dist_partition exists only with
        # the extension.)
        parts.append("'metadata', CASE WHEN to_regclass('pg_dist_partition') IS NULL THEN 0 ELSE (xpath('/row/n/text()',"
                     " query_to_xml('SELECT count(*) AS n FROM pg_dist_partition', false, true, '')))[1]::text::bigint END")
    if wanted.get("coordinator"):
        tables = ",".join(
            f"json_build_object('name', {_literal(t['name'])}, 'present', to_regclass({_literal(t['name'])}) IS NOT NULL"
            + (f", 'distributed', (SELECT count(*) > 0 FROM pg_dist_partition WHERE logicalrelid = to_regclass({_literal(t['name'])}))"
               if wanted.get("citus") else "")
            + ")"
            for t in wanted.get("tables", [])
        )
        parts.append(f"'tables', json_build_array({tables})")
        if wanted.get("citus"):
            parts.append(f"'missing', ({QUERIES['missing_placements']})")
            parts.append(f"'under', ({QUERIES['under_replicated']})")
            parts.append("'nodes', coalesce((SELECT json_agg(json_build_object('name', nodename, 'port', nodeport, 'group', groupid,"
                         " 'active', isactive) ORDER BY nodeid) FROM pg_dist_node), '[]')")
        if wanted.get("demo_table"):
            table = _literal(wanted["demo_table"])
            parts.append(f"'demo_rows', CASE WHEN to_regclass({table}) IS NULL THEN -1 ELSE (xpath('/row/n/text()', query_to_xml("
                         f"format('SELECT count(*) AS n FROM %s', to_regclass({table})), false, true, '')))[1]::text::bigint END")
    return {"server": server, "database": "SELECT json_build_object(" + ", ".join(parts) + ")"}


def _json_answer(answer):
    if not isinstance(answer, dict) or answer.get("rc") != 0:
        return None
    try:
        return json.loads(answer.get("stdout") or "")
    except ValueError:
        return None


def citus_drift(answers, wanted):
    """What the citus role would change on a node, from the two queries of citus_probe_sql (node_state's commands
    `server` and `database`); empty when nothing."""
    server, database = _json_answer(answers.get("server")), _json_answer(answers.get("database"))
    if server is None:
        return ["PostgreSQL could not be read"]
    drift = [f"{name} waits for a restart" for name in server.get("pending") or []]
    drift += [f"{name} is set outside geostack.conf" for name in server.get("shadowed") or []]
    roles = server.get("roles") or {}
    for user, password in (("postgres", wanted["postgres_password"]), (wanted["app_user"], wanted["app_password"])):
        role = roles.get(user)
        if role is None or not role.get("login"):
            drift.append(f"role {user} is missing or cannot log in")
        elif not postgres_password_matches(password, role.get("password"), user):
            drift.append(f"role {user} has another password")
    if wanted.get("exporter_role"):
        if not (roles.get(wanted["exporter_role"]) or {}).get("login"):
            drift.append(f"role {wanted['exporter_role']} is missing or cannot log in")
        if not server.get("monitor"):
            drift.append(f"role {wanted['exporter_role']} is not in pg_monitor")
    if not server.get("database") or server["database"].get("owner") != wanted["app_user"]:
        return [*drift, f"database {wanted['database']} is missing or not owned by {wanted['app_user']}"]
    if database is None:
        return [*drift, f"database {wanted['database']} could not be read"]
    drift += [f"extension {e} is missing" for e in wanted.get("extensions", []) if e not in (database.get("extensions") or [])]
    if not wanted.get("coordinator"):
        return drift
    for table in database.get("tables") or []:
        if not table.get("present"):
            drift.append(f"table {table['name']} is missing")
        elif wanted.get("citus") and not table.get("distributed"):
            drift.append(f"table {table['name']} is not distributed")
    if wanted.get("citus"):
        nodes = database.get("nodes") or []
        coordinator = [n for n in nodes if n.get("group") == 0]
        if not coordinator or coordinator[0].get("name") != wanted["address"] or coordinator[0].get("port") != int(wanted["port"]):
            drift.append("the coordinator's host is not set to its private address")
        active = {n["name"] for n in nodes if n.get("group") != 0 and n.get("port") == int(wanted["port"]) and n.get("active")}
        drift += [f"worker {w} is not an active node" for w in wanted.get("workers", []) if w not in active]
        drift += citus_lost_shards(database.get("missing"))
        drift += citus_short_copies(database.get("under"))
    if wanted.get("demo_table") and (database.get("demo_rows") or 0) <= 0:
        drift.append(f"table {wanted['demo_table']} has no demo rows")
    return drift


def citus_metadata_holders(workers, hostvars):
    """The workers whose read (the role's node_state command `database`, in hostvars as __citus_state) lists
    distributed tables in the metadata a coordinator synced to them."""
    holders = []
    for worker in workers or []:
        state = hostvars[worker].get("__citus_state") or {}
        answer = _json_answer((state.get("commands") or {}).get("database"))
        if answer and int(answer.get("metadata") or 0) > 0:
            holders.append(worker)
    return holders


def _series_key(series):
    return tuple(int(part) for part in re.findall(r"\d+", str(series)))


def citus_offered_series(index, postgresql_version):
    """The Citus release series (X.Y, oldest first) a Debian Packages index offers for that PostgreSQL major
    version: one per package C(postgresql-<pg>-citus-X.Y)."""
    pattern = re.compile(rf"^Package:\s*postgresql-{int(postgresql_version)}-citus-(\d+\.\d+)\s*$", re.MULTILINE)
    return sorted(set(pattern.findall(index or "")), key=_series_key)


def citus_newest_series(series, postgresql_version, supported):
    """The newest of the series (X.Y) whose Citus major release supports the PostgreSQL major version (supported
    maps a major release to its PostgreSQL versions); empty when none does."""
    fitting = [s for s in series or [] if int(postgresql_version) in
               [int(v) for v in supported.get(str(s).split(".", 1)[0], [])]]
    return max(fitting, key=_series_key) if fitting else ""


class FilterModule:
    def filters(self):
        return {
            "postgres_password_matches": postgres_password_matches,
            "citus_probe_sql": citus_probe_sql,
            "citus_drift": citus_drift,
            "citus_query": citus_query,
            "citus_lost_shards": citus_lost_shards,
            "citus_recopy_workers": citus_recopy_workers,
            "citus_short_copies": citus_short_copies,
            "citus_metadata_holders": citus_metadata_holders,
            "citus_offered_series": citus_offered_series,
            "citus_newest_series": citus_newest_series,
            "citus_ddl_columns": citus_ddl_columns,
            "citus_table_errors": citus_table_errors,
        }
