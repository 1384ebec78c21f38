# Copyright (c) 2026, geostack.cluster maintainers
# Apache License 2.0 (see galaxy.yml)
"""Filters for the citus role: check tables, passwords and CIDRs before anything changes."""

from __future__ import annotations

import ipaddress
import re

_IDENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_TABLE = re.compile(r"^([A-Za-z_][A-Za-z0-9_]*\.)?[A-Za-z_][A-Za-z0-9_]*$")
_CREATE = re.compile(r'^\s*create\s+table\s+(?:if\s+not\s+exists\s+)?([A-Za-z0-9_."]+)', re.IGNORECASE)
_CONSTRAINT_WORDS = {"constraint", "primary", "unique", "check", "foreign", "exclude", "like"}
_WEAK = {"postgres", "password", "changeme", "change_me", "secret", "admin", "guest", "rabbitmq", "geostack", "citus", "123456"}
_MIN_PASSWORD = 12


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


def citus_table_errors(distributed, reference=None):
    """Everything wrong with citus_distributed_tables and citus_reference_tables ([] when sound)."""
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
    for index, table in enumerate(distributed if isinstance(distributed, list) else []):
        colocate = table.get("colocate_with") if isinstance(table, dict) else None
        if colocate and colocate not in ("default", "none") and colocate not in known:
            errors.append(f"citus_distributed_tables[{index}]: colocate_with '{colocate}' is not a table of these lists")
    duplicates = sorted({n for n in names if names.count(n) > 1})
    if duplicates:
        errors.append(f"tables defined twice: {', '.join(duplicates)}")
    return errors


def password_errors(passwords, allow_weak=False):
    """Messages for empty, short or well-known passwords; passwords maps variable name -> (value, user)."""
    errors = []
    for var, spec in passwords.items():
        value, user = (spec[0], spec[1]) if isinstance(spec, (list, tuple)) else (spec, "")
        value = "" if value is None else str(value)
        if not value:
            errors.append(f"{var} is empty: set it (from ansible-vault)")
        elif allow_weak:
            continue
        elif value.lower() in _WEAK or value == user:
            errors.append(f"{var} is a well-known default; choose another (citus_allow_weak_passwords is for tests)")
        elif len(value) < _MIN_PASSWORD:
            errors.append(f"{var} is shorter than {_MIN_PASSWORD} characters")
    return errors


def invalid_cidrs(cidrs):
    """The entries of a list that are not IPv4/IPv6 networks."""
    bad = []
    for cidr in cidrs or []:
        try:
            ipaddress.ip_network(str(cidr), strict=False)
        except ValueError:
            bad.append(str(cidr))
    return bad


class FilterModule:
    def filters(self):
        return {
            "citus_ddl_columns": citus_ddl_columns,
            "citus_table_errors": citus_table_errors,
            "password_errors": password_errors,
            "invalid_cidrs": invalid_cidrs,
        }
