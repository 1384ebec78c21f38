# Copyright (c) 2026, geostack.cluster maintainers
# Apache License 2.0 (see galaxy.yml)
"""Autoscaling rules for playbooks/autoscale.yml: what is wrong with a rule, and what a rule decides for a measured
value, in plain Python so that every branch is unit-tested."""

from __future__ import annotations

import math

from ansible.errors import AnsibleFilterError

VAR = "geostack_autoscale"
_NUMBERS = ("min", "max", "scale_out_above", "scale_in_below", "step", "cooldown")
# In a query, <group> stands for the node group (the `group` label Prometheus puts on every target).
GROUP = "<group>"
# The built-in rules a geostack_autoscale.<group> entry starts from (its `preset`; by default `requests` for a group
# with the role web, `cpu` for any other). min and max have no default.
PRESETS = {
    # RideShare: requests per second per web node, from the nginx exporter, over the last minute.
    "requests": {
        "query": 'sum(rate(nginx_http_requests_total{group="<group>"}[1m])) / count(up{job="nginx",group="<group>"} == 1)',
        "scale_out_above": 20, "scale_in_below": 5, "step": 1, "cooldown": 300,
    },
    # AirAware: the mean CPU busy percentage of the group's nodes, over the last two minutes.
    "cpu": {
        "query": '100 * avg(1 - rate(node_cpu_seconds_total{mode="idle",group="<group>"}[2m]))',
        "scale_out_above": 70, "scale_in_below": 30, "step": 1, "cooldown": 300,
    },
}


def autoscale_rules(given, layout):
    """Each rule of geostack_autoscale ({group: rule}) over its preset, with <group> in its query replaced by the group.
    layout is provision_layout, for each group's roles. A preset that does not exist is left for autoscale_errors."""
    rules = {}
    for group, rule in (given or {}).items():
        if not isinstance(rule, dict):
            rules[group] = rule
            continue
        roles = ((layout or {}).get(group) or {}).get("roles") or [group]
        preset = rule.get("preset", "requests" if "web" in roles else "cpu")
        merged = {**PRESETS.get(preset, {}), **rule, "preset": preset}
        merged["query"] = str(merged.get("query") or "").replace(GROUP, str(group))
        rules[group] = merged
    return rules


def _number(value):
    """value as a float, or None when it is not a number (a bool is not; a string of a number, as -e gives, is)."""
    if isinstance(value, bool):
        return None
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None


def autoscale_errors(rule, group, group_names):
    """One message per fault of the rule for node group `group`, each naming the variable at fault."""
    where = f"{VAR}.{group}"
    if group not in group_names:
        return [f"{where}: node group '{group}' is not in provision_layout (groups: {', '.join(sorted(group_names))})"]
    if not isinstance(rule, dict):
        return [f"{where} must be a mapping with query, min, max, scale_out_above, scale_in_below, step and cooldown"]
    errors = []
    if rule.get("preset", "requests") not in PRESETS:
        errors.append(f"{where}.preset must be one of {', '.join(PRESETS)}, got {rule['preset']!r}")
    if not str(rule.get("query") or "").strip():
        errors.append(f"{where}.query is empty: give a PromQL query that returns one series")
    numbers = {}
    for key in _NUMBERS:
        numbers[key] = _number(rule.get(key))
        if numbers[key] is None:
            errors.append(f"{where}.{key} must be a number, got {rule.get(key)!r}")
    if errors:
        return errors
    for key in ("min", "max", "step", "cooldown"):
        if numbers[key] != int(numbers[key]) or numbers[key] < 0:
            errors.append(f"{where}.{key} must be a whole number of at least 0, got {rule[key]!r}")
    if numbers["step"] < 1:
        errors.append(f"{where}.step must be at least 1, got {rule['step']!r}")
    if numbers["max"] < 1:
        errors.append(f"{where}.max must be at least 1, got {rule['max']!r}")
    if numbers["min"] > numbers["max"]:
        errors.append(f"{where}.min ({rule['min']}) is above {where}.max ({rule['max']})")
    if numbers["scale_in_below"] >= numbers["scale_out_above"]:
        errors.append(f"{where}.scale_in_below ({rule['scale_in_below']}) must be below {where}.scale_out_above"
                      f" ({rule['scale_out_above']}), or each scale-out would be undone by a scale-in")
    return errors


def autoscale_decision(rule, value, current, now, last_action=None):
    """What the rule decides: {action: out|in|none, current, desired, value, reason}.

    value is the query's result (None or NaN when it returned no series: refused, not read as zero); current the
    group's live node count; now and last_action Unix times (last_action None when the group never scaled). A count
    outside min..max is put back inside at once; otherwise the cooldown after the last action holds every change, and
    the thresholds move the count by step within min..max. Between the thresholds nothing changes (hysteresis)."""
    number = _number(value)
    if number is None:
        raise AnsibleFilterError(f"the query returned no number ({value!r}): {rule.get('query')}")
    current, low, high, step = int(current), int(float(rule["min"])), int(float(rule["max"])), int(float(rule["step"]))
    out_above, in_below, cooldown = float(rule["scale_out_above"]), float(rule["scale_in_below"]), float(rule["cooldown"])

    def decide(desired, reason):
        action = "out" if desired > current else "in" if desired < current else "none"
        return {"action": action, "current": current, "desired": desired, "value": number, "reason": reason}

    if current < low:
        return decide(low, f"{current} nodes is below min {low}")
    if current > high:
        return decide(high, f"{current} nodes is above max {high}")
    if last_action is not None and now - float(last_action) < cooldown:
        left = math.ceil(cooldown - (now - float(last_action)))
        return decide(current, f"cooldown: the last change was {int(now - float(last_action))} s ago, {left} s left")
    if number > out_above:
        if current >= high:
            return decide(current, f"{number:g} is above scale_out_above {out_above:g}, but the group is at max {high}")
        return decide(min(current + step, high), f"{number:g} is above scale_out_above {out_above:g}")
    if number < in_below:
        if current <= low:
            return decide(current, f"{number:g} is below scale_in_below {in_below:g}, but the group is at min {low}")
        return decide(max(current - step, low), f"{number:g} is below scale_in_below {in_below:g}")
    return decide(current, f"{number:g} is within {in_below:g}..{out_above:g}")


class FilterModule:
    def filters(self):
        return {
            "autoscale_errors": autoscale_errors,
            "autoscale_rules": autoscale_rules,
            "autoscale_decision": autoscale_decision,
        }
