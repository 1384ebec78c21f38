"""The monitoring filters: stable bcrypt hashes and file_sd target groups."""

import bcrypt
import pytest
from ansible.errors import AnsibleFilterError
from ansible_collections.geostack.cluster.plugins.filter.monitoring import bcrypt_hash, prometheus_job_errors, prometheus_targets


def test_bcrypt_hash_is_stable_per_seed_and_verifies():
    first = bcrypt_hash("s3cret-pass", "node-1prometheus")
    assert first == bcrypt_hash("s3cret-pass", "node-1prometheus")
    assert first != bcrypt_hash("s3cret-pass", "node-2prometheus")
    assert first.startswith("$2b$10$") and bcrypt.checkpw(b"s3cret-pass", first.encode())
    assert not bcrypt.checkpw(b"other", first.encode())


def test_bcrypt_hash_refuses_an_empty_password():
    with pytest.raises(AnsibleFilterError, match="empty password"):
        bcrypt_hash("", "seed")


def test_targets_labels_and_addresses():
    hostvars = {
        "m1": {"geostack_private_address": "10.0.0.5", "ec2_placement_availability_zone": "eu-west-1a", "geostack_node_group": "manager"},
        "w1": {"geostack_private_address": "fd00::7"},
    }
    groups = {"managers": ["m1"], "rabbitmq": ["m1"], "workers": ["w1"]}
    assert prometheus_targets(["w1", "m1"], hostvars, 9100, groups, ["managers", "workers", "rabbitmq"]) == [
        {"targets": ["10.0.0.5:9100"], "labels": {
            "instance": "m1", "roles": ",managers,rabbitmq,", "group": "manager", "az": "eu-west-1a"}},
        {"targets": ["[fd00::7]:9100"], "labels": {"instance": "w1", "roles": ",workers,"}},
    ]


def test_a_host_without_an_address_is_named():
    with pytest.raises(AnsibleFilterError, match="w1 has no geostack_private_address"):
        prometheus_targets(["w1"], {"w1": {}}, 9100)


def test_job_errors_name_each_job_at_fault():
    groups = {"all": ["m1"], "ungrouped": [], "managers": ["m1"]}
    jobs = {
        "node": {"group": "all", "port": 9100},
        "nginx": {"group": "web", "port": 9113, "optional": True},
        "app": {"group": "apps", "port": "9200", "optional": False},
        "portless": {"group": "managers"},
        "named": {"group": "managers", "port": "http"},
    }
    assert prometheus_job_errors(jobs, groups) == [
        "job app scrapes group 'apps', which is not in the inventory",
        "job named needs a numeric port, got 'http'",
        "job portless needs a numeric port, got ''",
        "known groups: all, managers",
    ]


def test_sound_jobs_have_no_errors():
    assert prometheus_job_errors({"node": {"group": "all", "port": 9100}, "x": {"group": "gone", "port": 1, "optional": True}},
                                 {"all": []}) == []
