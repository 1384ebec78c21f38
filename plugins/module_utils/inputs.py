# Copyright (c) 2026, geostack.cluster maintainers
# Apache License 2.0 (see galaxy.yml)
"""Input rules several roles share, written once: passwords, networks, and lists of dicts."""

from __future__ import annotations

import ipaddress

WEAK_PASSWORDS = {"postgres", "password", "changeme", "change_me", "secret", "admin", "guest", "rabbitmq", "geostack",
                  "citus", "123456"}
MIN_PASSWORD = 12


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
        elif value.lower() in WEAK_PASSWORDS or value == user:
            errors.append(f"{var} is a well-known default; choose another (the role's *_allow_weak_passwords is for tests)")
        elif len(value) < MIN_PASSWORD:
            errors.append(f"{var} is shorter than {MIN_PASSWORD} characters")
    return errors


def invalid_cidrs(cidrs):
    """The entries of a list that are not IPv4/IPv6 networks (an address is a /32 or /128 network)."""
    bad = []
    for cidr in cidrs or []:
        try:
            ipaddress.ip_network(str(cidr), strict=False)
        except ValueError:
            bad.append(str(cidr))
    return bad


def dict_entries(items, variable, shape, errors):
    """(index, "variable[index]", entry) for each dict of the list items; an entry that is not a dict adds
    "variable[index] must be <shape>" to errors instead."""
    for index, item in enumerate(items):
        where = f"{variable}[{index}]"
        if isinstance(item, dict):
            yield index, where, item
        else:
            errors.append(f"{where} must be {shape}")
