"""The cluster's shape rules (module_utils/topology.py): one table per rule."""

from __future__ import annotations

import pytest
from ansible_collections.geostack.cluster.plugins.module_utils.topology import (
    coordinator_error,
    ensemble_error,
    majority_kept,
    managers_error,
    shape_errors,
    shape_errors_by_role,
)


@pytest.mark.parametrize(
    ("managers", "others", "error"),
    [
        (["m1"], ["w1"], ""),
        (["m1", "m2", "m3"], [], ""),
        ([], [], ""),
        (["m1", "m2"], [], "managers: 2 (m1, m2); the swarm needs an odd number of managers (1, 3, 5) to keep its quorum"),
        ([], ["w1", "z1"], "managers: none among the cluster's nodes (w1, z1); the swarm needs an odd number of managers (1, 3, 5)"),
    ],
)
def test_managers(managers, others, error):
    assert managers_error(managers, others) == error


@pytest.mark.parametrize(
    ("members", "error"),
    [
        ([], ""),
        (["z1"], ""),
        (["z1", "z2", "z3"], ""),
        (["z1", "z2"], "zookeeper: 2 (z1, z2); a ZooKeeper ensemble needs an odd number of members (1, 3, 5)"),
    ],
)
def test_ensemble(members, error):
    assert ensemble_error(members) == error


@pytest.mark.parametrize(
    ("coordinators", "workers", "error"),
    [
        ([], [], ""),
        (["c1"], [], ""),
        (["c1"], ["w1", "w2"], ""),
        ([], ["w1"], "citus_coordinator: 0 (none); Citus needs exactly one coordinator for its workers"),
        (["c1", "c2"], [], "citus_coordinator: 2 (c1, c2); Citus needs exactly one coordinator, or none"),
    ],
)
def test_coordinator(coordinators, workers, error):
    assert coordinator_error(coordinators, workers) == error


@pytest.mark.parametrize(("before", "after", "kept"), [(3, 2, True), (3, 1, False), (4, 2, False), (5, 3, True), (1, 0, False)])
def test_majority(before, after, kept):
    assert majority_kept(before, after) is kept


def test_shape_reads_only_the_layer_groups_and_names_a_host_in_both_citus_groups():
    groups = {"all": ["m1", "w1", "x"], "ungrouped": ["x"], "managers": ["m1"], "workers": ["w1"],
              "citus_coordinator": ["w1"], "citus_workers": ["w1"]}
    assert shape_errors(groups) == ["w1: in both citus_coordinator and citus_workers"]


def test_by_role_keys_are_the_roles_tag_names():
    assert shape_errors_by_role({"manager": ["i-1", "i-2"], "worker": ["i-3"]}) == [
        "managers: 2 (i-1, i-2); the swarm needs an odd number of managers (1, 3, 5) to keep its quorum"
    ]


def test_a_caller_that_checks_only_its_ensemble_gets_no_managers_rule():
    assert shape_errors({"zookeeper": ["z1", "z2", "z3"]}) == []
    assert shape_errors({"zookeeper": ["z1"], "managers": []}) == [
        "managers: none among the cluster's nodes (z1); the swarm needs an odd number of managers (1, 3, 5)"
    ]
