"""The geostack.cluster.ec2 inventory plugin against moto's in-process EC2."""

from __future__ import annotations

import sys
import time

import boto3
import pytest
import yaml
from ansible.errors import AnsibleParserError
from ansible.inventory.data import InventoryData
from ansible.parsing.dataloader import DataLoader
from ansible.plugins.loader import inventory_loader
from moto.core import set_initial_no_auth_action_count

from .conftest import REGION, groups_of, hostvars


def only(inv, group):
    return groups_of(inv)[group]


# ---------------------------------------------------------------- grouping


def test_groups_follow_the_roles_tag(cloud, inventory):
    cloud.launch("manager,zookeeper,rabbitmq", "m1")
    cloud.launch("worker", "w1")
    cloud.launch("worker, citus_worker", "w2")
    cloud.launch("web", "web1")
    cloud.launch("citus_coordinator,monitoring", "db0")
    groups = groups_of(inventory())
    assert groups["managers"] == ["m1"]
    assert groups["workers"] == ["w1", "w2"]
    assert groups["web"] == ["web1"]
    assert groups["swarm"] == ["m1", "w1", "w2", "web1"]
    assert groups["citus_coordinator"] == ["db0"]
    assert groups["citus_workers"] == ["w2"]
    assert groups["citus"] == ["db0", "w2"]
    assert groups["rabbitmq"] == ["m1"]
    assert groups["zookeeper"] == ["m1"]
    assert groups["monitoring"] == ["db0"]
    assert groups["swarm_bootstrap"] == ["m1"]
    assert "unassigned" not in groups


def test_only_this_clusters_live_instances(cloud, inventory):
    cloud.launch("manager", "m1")
    cloud.launch("manager", "other", cluster="someone-else")
    gone = cloud.launch("worker", "gone")
    cloud.terminate(*gone)
    inv = inventory()
    assert sorted(inv.hosts) == ["m1"]


def test_empty_cluster_is_an_empty_inventory(cloud, inventory):
    cloud.launch("manager", "m1", cluster="someone-else")
    inv = inventory()
    assert inv.hosts == {}
    assert groups_of(inv)["managers"] == []


def test_hostvars(cloud, inventory):
    (iid,) = cloud.launch("manager,web", "m1", geostack__label__zone="a", geostack__label__ssd="true")
    inv = inventory()
    hv = hostvars(inv, "m1")
    assert inv.groups["all"].get_vars()["geostack_cluster"] == cloud.cluster
    assert inv.groups["all"].get_vars()["geostack_cluster_name"] == cloud.cluster
    inst = boto3.client("ec2", region_name=REGION).describe_instances(InstanceIds=[iid])["Reservations"][0]["Instances"][0]
    assert hv["ec2_instance_id"] == iid
    assert hv["ec2_private_ip_address"] == inst["PrivateIpAddress"]
    assert hv["ec2_placement_region"] == REGION
    assert hv["ec2_placement_availability_zone"] == inst["Placement"]["AvailabilityZone"]
    assert hv["ec2_state"] == "running"
    assert hv["geostack_roles"] == ["manager", "web"]
    assert hv["geostack_private_address"] == inst["PrivateIpAddress"]
    assert hv["geostack_zone"] == inst["Placement"]["AvailabilityZone"] != ""
    assert hv["ansible_host"] == inst["PrivateIpAddress"]
    # A manager that also serves web is labelled as a manager; a geostack:label:zone tag wins over the zone.
    assert hv["swarm_node_labels"] == {"typeNode": "master", "zone": "a", "ssd": "true"}
    assert "ec2_instance" not in hv


def test_type_node_labels(cloud, inventory):
    cloud.launch("manager", "m")
    cloud.launch("worker", "w")
    cloud.launch("web", "x", geostack__label__typeNode="custom")
    cloud.launch("rabbitmq", "r")
    inv = inventory()
    zone = {"zone": hostvars(inv, "m")["ec2_placement_availability_zone"]}
    assert zone["zone"].startswith(REGION)
    assert hostvars(inv, "m")["swarm_node_labels"] == {"typeNode": "master", **zone}
    assert hostvars(inv, "w")["swarm_node_labels"] == {"typeNode": "worker", **zone}
    # A label tag overrides the role's default.
    assert hostvars(inv, "x")["swarm_node_labels"] == {"typeNode": "custom", **zone}
    assert hostvars(inv, "r")["swarm_node_labels"] == zone


def test_node_groups_are_inventory_groups_for_their_own_vars(cloud, inventory):
    cloud.launch("web", "u", geostack__group="web_users")
    cloud.launch("web", "r", geostack__group="web-rides")
    cloud.launch("manager", "m")
    inv = inventory()
    groups = groups_of(inv)
    # Both groups' nodes are web nodes; each is also in its own node group (a '-' becomes '_').
    assert groups["web"] == ["r", "u"]
    assert groups["node_group_web_users"] == ["u"] and groups["node_group_web_rides"] == ["r"]
    assert hostvars(inv, "u")["geostack_node_group"] == "web_users"
    # An instance from before the tag is in no node group.
    assert hostvars(inv, "m")["geostack_node_group"] == ""
    assert not any(name.startswith("node_group_") and "m" in hosts for name, hosts in groups.items())


def test_instance_dump_only_when_asked(cloud, inventory):
    (iid,) = cloud.launch("manager", "m1")
    hv = hostvars(inventory(instance_dump=True), "m1")
    assert hv["ec2_instance"]["InstanceId"] == iid
    assert "ImageId" in hv["ec2_instance"]


def test_connect_via_public_and_bastion(cloud, inventory):
    (iid,) = cloud.launch("manager", "m1")
    inst = boto3.client("ec2", region_name=REGION).describe_instances(InstanceIds=[iid])["Reservations"][0]["Instances"][0]
    hv = hostvars(inventory(connect_via="public"), "m1")
    assert hv["ansible_host"] == inst["PublicIpAddress"]
    hv = hostvars(inventory(bastion="admin@jump.example.org:2222"), "m1")
    assert hv["ansible_ssh_common_args"] == "-o ProxyJump=admin@jump.example.org:2222"


def test_connect_via_docker_maps_instances_to_containers(cloud, inventory, monkeypatch):
    (m1,) = cloud.launch("manager", "m1")
    cloud.launch("worker", "w1")
    (w2,) = cloud.launch("worker", "w2")
    plugin = inventory_loader.get("geostack.cluster.ec2")
    # m1's container runs; w2's is stopped with no pinned address; w1 has none: it is skipped, never reached on the
    # emulator's address.
    monkeypatch.setattr(plugin, "_docker_addresses", lambda: {f"gs-{m1}": "172.30.0.5", f"gs-{w2}": ""})
    inv = inventory(plugin=plugin, connect_via="docker", docker_container_prefix="gs-")
    hv = hostvars(inv, "m1")
    assert hv["ansible_connection"] == "geostack.cluster.docker_api"
    assert hv["ansible_host"] == f"gs-{m1}"
    assert hv["geostack_private_address"] == "172.30.0.5"
    assert "w1" not in inv.hosts
    # A stopped node stays a host (to be reported unreachable), at its instance's address.
    stopped = hostvars(inv, "w2")
    assert stopped["ansible_host"] == f"gs-{w2}" and stopped["geostack_private_address"] == stopped["ec2_private_ip_address"]


def test_constructed_options_escape_hatch(cloud, inventory):
    cloud.launch("manager", "m1")
    inv = inventory(
        keyed_groups=[{"key": "ec2_placement_availability_zone", "prefix": "az"}],
        groups={"big": "ec2_instance_type == 'm1.small'"},
        compose={"node_role_count": "geostack_roles | length"},
    )
    groups = groups_of(inv)
    assert groups["big"] == ["m1"]
    assert [g for g in groups if g.startswith("az_")] == ["az_us_east_1a"]
    assert hostvars(inv, "m1")["node_role_count"] == 1


# ---------------------------------------------------------------- ordering


def test_bootstrap_prefers_lowest_index(cloud, inventory):
    cloud.launch("manager", "m-a")
    cloud.launch("manager", "m-b", geostack__index="0")
    cloud.launch("manager", "m-c", geostack__index="1")
    inv = inventory()
    assert only(inv, "swarm_bootstrap") == ["m-b"]
    assert hostvars(inv, "m-b")["geostack_index"] == {"manager": 0}
    assert hostvars(inv, "m-c")["geostack_index"] == {"manager": 1}
    # The untagged one takes the lowest free index.
    assert hostvars(inv, "m-a")["geostack_index"] == {"manager": 2}


def test_bootstrap_is_earliest_launch_then_lowest_id(cloud, inventory):
    ec2 = boto3.client("ec2", region_name=REGION)
    first = cloud.launch("manager", "first")[0]
    time.sleep(1.1)
    cloud.launch("manager", "second")
    # EC2 (and moto) give launch times to the second: start the batch just after a second begins, so that both of
    # its instances get the same one.
    time.sleep(1.1 + 1 - time.time() % 1)
    same = cloud.launch("manager", "batch", count=2)
    launched = ec2.describe_instances(InstanceIds=same)["Reservations"][0]["Instances"]
    assert len({i["LaunchTime"] for i in launched}) == 1, launched
    inv = inventory(validation="warn")  # four managers: ordering is what is tested here
    assert only(inv, "swarm_bootstrap") == ["first"]
    assert hostvars(inv, "first")["geostack_index"] == {"manager": 0}
    assert hostvars(inv, "second")["geostack_index"] == {"manager": 1}
    # Same launch time: the lower instance id comes first.
    lower, higher = sorted(same)
    assert hostvars(inv, f"batch-{lower}")["geostack_index"] == {"manager": 2}
    assert hostvars(inv, f"batch-{higher}")["geostack_index"] == {"manager": 3}
    # The bootstrap survives the loss of no one else, and moves only when it is gone.
    ec2.terminate_instances(InstanceIds=[first, lower])
    inv = inventory(validation="warn")
    assert only(inv, "swarm_bootstrap") == ["second"]


def test_index_is_per_role(cloud, inventory):
    cloud.launch("manager,zookeeper", "a", geostack__index="0")
    cloud.launch("rabbitmq,zookeeper", "b", geostack__index="1")
    cloud.launch("rabbitmq,zookeeper", "c", geostack__index="2")
    inv = inventory()
    assert hostvars(inv, "b")["geostack_index"] == {"rabbitmq": 1, "zookeeper": 1}
    assert hostvars(inv, "a")["geostack_index"] == {"manager": 0, "zookeeper": 0}


# ---------------------------------------------------------------- validation


@pytest.mark.parametrize(
    ("layout", "message"),
    [
        ([("manager", "m1"), ("manager", "m2")], "odd number of managers"),
        ([("worker", "w1")], "managers: none among the cluster's nodes (i-"),
        ([("manager", "m1"), ("citus_coordinator", "c1"), ("citus_coordinator", "c2")], "citus_coordinator: 2 (i-"),
        ([("manager,zookeeper", "m1"), ("zookeeper", "z2")], "zookeeper: 2 (i-"),
        ([("manager", "m1"), ("workerr", "typo")], "unknown role(s) 'workerr'"),
        ([("manager", "m1"), ("", "blank")], "no geostack:roles tag"),
    ],
)
def test_invalid_topologies_fail_and_name_the_instances(cloud, inventory, layout, message):
    ids = [cloud.launch(roles, name)[0] for roles, name in layout]
    with pytest.raises(AnsibleParserError) as err:
        inventory()
    text = str(err.value)
    assert message in text
    assert f"cluster '{cloud.cluster}' has an invalid topology" in text
    offenders = [i for (roles, _name), i in zip(layout, ids, strict=True) if roles != "manager" or "managers" in message]
    assert any(i in text for i in offenders), text


def test_a_failure_leaves_its_cause_for_the_playbooks(cloud, tmp_path):
    """Without unparsed_is_failed Ansible only warns; the playbooks stop on geostack_inventory_error instead."""
    cloud.launch("manager", "m1")
    cloud.launch("manager", "m2")
    path = tmp_path / "fail.geostack_ec2.yml"
    path.write_text(yaml.safe_dump({"plugin": "geostack.cluster.ec2", "cluster": cloud.cluster, "regions": [REGION]}))
    data = InventoryData()
    with pytest.raises(AnsibleParserError):
        inventory_loader.get("geostack.cluster.ec2").parse(data, DataLoader(), str(path), cache=False)
    error = data.groups["all"].get_vars()["geostack_inventory_error"]
    assert error.startswith(f"{path}: ") and "odd number of managers" in error, error


def test_duplicate_index_within_a_role(cloud, inventory):
    cloud.launch("manager", "m1")
    a = cloud.launch("zookeeper", "z1", geostack__index="1")[0]
    b = cloud.launch("zookeeper", "z2", geostack__index="1")[0]
    cloud.launch("zookeeper", "z3", geostack__index="2")
    pattern = "duplicate geostack:index=1 within role zookeeper: instances ({a}, {b}|{b}, {a})"
    with pytest.raises(AnsibleParserError, match=pattern.format(a=a, b=b)):
        inventory()


def test_bad_index_tag(cloud, inventory):
    (iid,) = cloud.launch("manager", "m1", geostack__index="first")
    with pytest.raises(AnsibleParserError, match=f"{iid} has geostack:index='first'"):
        inventory()


def test_warn_mode_keeps_going_and_collects_unassigned(cloud, inventory):
    cloud.launch("manager", "m1")
    cloud.launch("manager", "m2")
    cloud.launch("bogus", "b1")
    inv = inventory(validation="warn")
    groups = groups_of(inv)
    assert groups["managers"] == ["m1", "m2"]
    assert groups["unassigned"] == ["b1"]


# ---------------------------------------------------------------- unsafe data

JINJA = "{{ lookup('pipe', 'touch /tmp/geostack-pwned') }}"


def test_tag_values_are_unsafe_and_verbatim(cloud, inventory):
    cloud.launch("manager", JINJA, geostack__label__evil=JINJA)
    inv = inventory()
    (name,) = inv.hosts
    assert "{" not in name and " " not in name
    hv = hostvars(inv, name)
    assert hv["ec2_tags"]["Name"] == JINJA
    assert hv["swarm_node_labels"]["evil"] == JINJA
    from ansible._internal._datatag._tags import TrustedAsTemplate
    from ansible.module_utils._internal._datatag import AnsibleTagHelper

    assert TrustedAsTemplate not in AnsibleTagHelper.tag_types(hv["ec2_tags"]["Name"])


def test_roles_tag_with_jinja_is_an_unknown_role(cloud, inventory):
    cloud.launch("manager", "m1")
    (iid,) = cloud.launch(JINJA, "x")
    with pytest.raises(AnsibleParserError, match=f"instance {iid} .*unknown role"):
        inventory()


@pytest.mark.parametrize(
    ("names", "expected"),
    [
        (["tiles server"], ["tiles-server"]),
        (["  db\tnode  "], ["db-node"]),
        (["ciudad-ñandú"], ["ciudad-ñandú"]),
        (["", ""], None),
    ],
)
def test_hostnames_are_safe_and_unique(cloud, inventory, names, expected):
    cloud.launch("manager", "m0")
    ids = [cloud.launch("worker", name)[0] for name in names]
    inv = inventory()
    hosts = sorted(h for h in inv.hosts if h != "m0")
    assert hosts == (expected if expected is not None else sorted(ids))


def test_name_clash_adds_the_instance_id(cloud, inventory):
    cloud.launch("manager", "m0")
    a, b = cloud.launch("worker", "node", count=2)
    assert sorted(inventory().hosts) == sorted(["m0", f"node-{a}", f"node-{b}"])


# ---------------------------------------------------------------- regions, credentials


def test_regions_are_queried_together(cloud, inventory):
    cloud.launch("manager", "east")
    cloud.launch("worker", "west", region="us-west-2")
    inv = inventory(regions=[REGION, "us-west-2"])
    assert sorted(inv.hosts) == ["east", "west"]
    assert hostvars(inv, "west")["ec2_placement_region"] == "us-west-2"


def test_missing_region_is_an_error(cloud, inventory, monkeypatch):
    monkeypatch.delenv("AWS_DEFAULT_REGION")
    monkeypatch.delenv("AWS_REGION", raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", "/nonexistent")
    with pytest.raises(AnsibleParserError, match="no region"):
        inventory(regions=[])


def test_region_from_the_environment(cloud, inventory):
    cloud.launch("manager", "m1")
    assert list(inventory(regions=[]).hosts) == ["m1"]


def test_no_credentials_lists_what_was_checked(inventory, monkeypatch, tmp_path):
    monkeypatch.delenv("AWS_ACCESS_KEY_ID")
    monkeypatch.delenv("AWS_SECRET_ACCESS_KEY")
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "none"))
    with pytest.raises(AnsibleParserError) as err:
        inventory()
    text = str(err.value)
    for source in ("access_key/secret_key", "AWS_ACCESS_KEY_ID", "shared credentials", "metadata"):
        assert source in text


def test_unknown_profile_is_an_error(inventory, monkeypatch, tmp_path):
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "none"))
    with pytest.raises(AnsibleParserError, match="nope"):
        inventory(profile="nope")


@set_initial_no_auth_action_count(0)
def test_wrong_credentials_are_reported(inventory):
    with pytest.raises(AnsibleParserError, match=r"describe_instances in us-east-1 failed.*Check the credentials"):
        inventory()


def test_an_unreachable_local_emulator_names_the_command_that_starts_it(inventory):
    with pytest.raises(AnsibleParserError, match=r"cannot reach http://127\.0\.0\.1:9\. .*Start it with: make cloud-up"):
        inventory(endpoint_url="http://127.0.0.1:9", retries_max_attempts=1, connect_timeout=1)


@pytest.mark.parametrize(("url", "local"), [
    ("http://127.0.0.1:4566", True), ("http://localhost:4571", True), ("http://[::1]:4566", True),
    ("https://ec2.eu-west-1.amazonaws.com", False), ("http://10.0.0.5:4566", False), ("", False)])
def test_only_a_loopback_endpoint_gets_the_local_cloud_hint(url, local):
    plugin = inventory_loader.get("geostack.cluster.ec2")
    assert sys.modules[type(plugin).__module__]._is_loopback(url) is local


# ---------------------------------------------------------------- cache


def test_cache_hit_skips_the_api_and_keys_on_identity(cloud, inventory, monkeypatch, tmp_path):
    cache = {"cache": True, "cache_plugin": "ansible.builtin.jsonfile", "cache_connection": str(tmp_path / "cache")}
    cloud.launch("manager", "m1")
    plugin = inventory_loader.get("geostack.cluster.ec2")
    calls = []
    real = plugin._describe
    monkeypatch.setattr(plugin, "_describe", lambda *a: calls.append(a) or real(*a))
    # use_cache=False is a refresh: it asks EC2 and fills the cache.
    assert sorted(inventory(plugin=plugin, use_cache=False, **cache).hosts) == ["m1"]
    assert len(calls) == 1
    cloud.launch("manager", "m2")
    cloud.launch("manager", "m3")
    # A hit answers from the cache, without asking EC2.
    assert sorted(inventory(plugin=plugin, use_cache=True, **cache).hosts) == ["m1"]
    assert len(calls) == 1
    # Another identity (another access key: another account) never gets the first one's hosts.
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIAOTHERACCOUNT")
    assert sorted(inventory(plugin=plugin, use_cache=True, **cache).hosts) == ["m1", "m2", "m3"]
    assert len(calls) == 2


def test_cache_key_changes_with_configuration(cloud):
    plugin = inventory_loader.get("geostack.cluster.ec2")
    session = boto3.session.Session()
    keys = set()
    for options in ({"cluster": "a"}, {"cluster": "b"}, {"cluster": "a", "endpoint_url": "http://127.0.0.1:1"}, {"cluster": "a", "profile": "p"}):
        plugin._options = {"regions": [], "endpoint_url": None, "profile": None, "assume_role_arn": None, "instance_dump": False, **options}
        keys.add(plugin._cache_key("/x/geostack_ec2.yml", session, [REGION]))
    assert len(keys) == 4


def test_verify_file_wants_the_suffix(tmp_path):
    plugin = inventory_loader.get("geostack.cluster.ec2")
    for name, ok in (("prod.geostack_ec2.yml", True), ("geostack_ec2.yaml", True), ("aws_ec2.yml", False), ("hosts.yml", False)):
        path = tmp_path / name
        path.write_text("plugin: geostack.cluster.ec2\n")
        assert plugin.verify_file(str(path)) is ok
