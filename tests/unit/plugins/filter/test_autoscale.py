# Copyright (c) 2026, geostack.cluster maintainers
# Apache License 2.0 (see galaxy.yml)
from __future__ import annotations

import pytest
from ansible.errors import AnsibleFilterError
from ansible_collections.geostack.cluster.plugins.filter.autoscale import autoscale_decision, autoscale_errors, autoscale_rules

RULE = {"query": "sum(rate(nginx_http_requests_total[1m]))", "min": 1, "max": 3, "scale_out_above": 10,
        "scale_in_below": 2, "step": 1, "cooldown": 120}
GROUPS = ["manager", "worker", "web"]


def rule(**changes):
    return {**RULE, **changes}


def test_a_good_rule_has_no_error():
    assert autoscale_errors(RULE, "web", GROUPS) == []
    # -e gives strings: numbers written as strings are numbers.
    assert autoscale_errors(rule(min="1", max="3", cooldown="60"), "web", GROUPS) == []


def test_a_group_not_in_the_layout_is_named_with_the_groups_there_are():
    assert autoscale_errors(RULE, "webs", GROUPS) == [
        "geostack_autoscale.webs: node group 'webs' is not in provision_layout (groups: manager, web, worker)"]


def test_min_above_max_is_refused():
    assert autoscale_errors(rule(min=4, max=3), "web", GROUPS) == ["geostack_autoscale.web.min (4) is above geostack_autoscale.web.max (3)"]


@pytest.mark.parametrize("scale_in", [10, 11])
def test_scale_in_at_or_above_scale_out_is_refused(scale_in):
    errors = autoscale_errors(rule(scale_in_below=scale_in), "web", GROUPS)
    assert len(errors) == 1 and errors[0].startswith(f"geostack_autoscale.web.scale_in_below ({scale_in}) must be below"), errors


@pytest.mark.parametrize(("key", "value", "message"), [
    ("step", 0, "geostack_autoscale.web.step must be at least 1, got 0"),
    ("step", 1.5, "geostack_autoscale.web.step must be a whole number of at least 0, got 1.5"),
    ("cooldown", -5, "geostack_autoscale.web.cooldown must be a whole number of at least 0, got -5"),
    ("max", 0, "geostack_autoscale.web.max must be at least 1, got 0"),
    ("min", "two", "geostack_autoscale.web.min must be a number, got 'two'"),
    ("scale_out_above", True, "geostack_autoscale.web.scale_out_above must be a number, got True"),
    ("query", " ", "geostack_autoscale.web.query is empty: give a PromQL query that returns one series"),
])
def test_each_bad_key_is_named(key, value, message):
    assert message in autoscale_errors(rule(**{key: value}), "web", GROUPS)


def test_a_rule_that_is_not_a_mapping_is_refused():
    assert autoscale_errors("fast", "web", GROUPS)[0].startswith("geostack_autoscale.web must be a mapping")


def test_above_the_scale_out_threshold_adds_a_step():
    assert autoscale_decision(RULE, "12.5", 1, 1000) == {
        "action": "out", "current": 1, "desired": 2, "value": 12.5, "reason": "12.5 is above scale_out_above 10"}
    assert autoscale_decision(rule(step=5), 20, 1, 1000)["desired"] == 3


def test_at_max_under_load_nothing_changes_and_the_reason_says_so():
    decision = autoscale_decision(RULE, 50, 3, 1000)
    assert (decision["action"], decision["desired"]) == ("none", 3)
    assert decision["reason"] == "50 is above scale_out_above 10, but the group is at max 3"


def test_below_the_scale_in_threshold_removes_a_step_down_to_min():
    assert autoscale_decision(RULE, 0.5, 3, 1000)[("desired")] == 2
    assert autoscale_decision(rule(step=5), 0, 3, 1000)["desired"] == 1
    assert autoscale_decision(RULE, 0, 1, 1000)["action"] == "none"


def test_between_the_thresholds_nothing_changes():
    decision = autoscale_decision(RULE, 5, 2, 1000)
    assert (decision["action"], decision["reason"]) == ("none", "5 is within 2..10")


def test_inside_the_cooldown_nothing_changes_and_after_it_the_rule_acts():
    decision = autoscale_decision(RULE, 50, 1, 1000, 950)
    assert (decision["action"], decision["reason"]) == ("none", "cooldown: the last change was 50 s ago, 70 s left")
    assert autoscale_decision(RULE, 50, 1, 1000, 880)["action"] == "out"


def test_a_count_outside_min_and_max_is_put_back_at_once_cooldown_or_not():
    assert autoscale_decision(rule(min=2), 0, 1, 1000, 999)["desired"] == 2
    assert autoscale_decision(RULE, 50, 5, 1000, 999)["desired"] == 3


@pytest.mark.parametrize("value", [None, "NaN", "", "abc", float("inf")])
def test_no_number_from_the_query_is_refused_not_read_as_zero(value):
    with pytest.raises(AnsibleFilterError, match="the query returned no number"):
        autoscale_decision(RULE, value, 2, 1000)


def test_rules_start_from_their_preset_by_role_and_name_their_group_in_the_query():
    layout = {"web": {"count": 1}, "api": {"count": 2, "roles": ["web"]}, "worker": {"count": 2, "roles": ["worker"]}}
    rules = autoscale_rules({"api": {"min": 1, "max": 4}, "worker": {"min": 2, "max": 6, "scale_out_above": 80},
                             "web": {"preset": "cpu", "min": 1, "max": 2}}, layout)
    assert rules["api"]["preset"] == "requests" and 'group="api"' in rules["api"]["query"] and "<group>" not in rules["api"]["query"]
    assert (rules["worker"]["preset"], rules["worker"]["scale_out_above"], rules["worker"]["scale_in_below"]) == ("cpu", 80, 30)
    assert rules["web"]["preset"] == "cpu" and 'group="web"' in rules["web"]["query"]
    assert all(autoscale_errors(rule, group, list(layout)) == [] for group, rule in rules.items())


def test_an_unknown_preset_is_named():
    rules = autoscale_rules({"web": {"preset": "memory", "min": 1, "max": 2}}, {"web": {"count": 1}})
    assert "geostack_autoscale.web.preset must be one of requests, cpu, got 'memory'" in autoscale_errors(rules["web"], "web", ["web"])
