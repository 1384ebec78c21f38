"""provision.yml, scaling and teardown.yml against a real moto EC2 server."""

from __future__ import annotations

import json
import subprocess

import pytest
from emulator import images
from playbook_runner import assert_refused_before_any_change

from .conftest import live, run_playbook, security_groups

LAYOUT = {
    "manager": {"count": 1},
    "worker": {"count": 2, "instance_type": "t3.large"},
    "web": {"count": 1},
    "db": {"count": 1, "roles": ["citus_coordinator"]},
    "broker": {"count": 3, "roles": ["rabbitmq", "zookeeper"]},
}


def rule_set(groups: dict) -> dict[str, set]:
    """Each group's ingress rules as (protocol, from, to, source, description), however EC2 groups them."""
    return {
        name: {
            (p["IpProtocol"], p.get("FromPort"), p.get("ToPort"), source.get("CidrIp") or source.get("GroupId"),
             source.get("Description", ""))
            for p in group["IpPermissions"]
            for source in p.get("IpRanges", []) + p.get("UserIdGroupPairs", [])
        }
        for name, group in groups.items()
    }


def graph(cluster) -> str:
    out = subprocess.run(["ansible-inventory", "-i", str(cluster.dir), "--graph"], capture_output=True, text=True, check=False)
    assert out.returncode == 0, out.stderr
    return out.stdout


def test_provision_builds_the_layout_and_the_inventory_sees_it(make_cluster, ec2):
    cluster = make_cluster(provision_layout=LAYOUT, provision_web_extra_ports=[8080])
    run = cluster.play("provision.yml")
    assert run.rc == 0, run.failures or run.output
    n = cluster.name

    inv = cluster.inventory()
    expected = {
        "managers": [f"{n}-manager-1"],
        "workers": [f"{n}-worker-1", f"{n}-worker-2"],
        "web": [f"{n}-web-1"],
        "citus_coordinator": [f"{n}-db-1"],
        "rabbitmq": [f"{n}-broker-1", f"{n}-broker-2", f"{n}-broker-3"],
        "zookeeper": [f"{n}-broker-1", f"{n}-broker-2", f"{n}-broker-3"],
        "swarm_bootstrap": [f"{n}-manager-1"],
    }
    for group, hosts in expected.items():
        assert sorted(inv[group]["hosts"]) == hosts, group
    assert sorted(inv["swarm"]["children"]) == ["managers", "web", "workers"]
    assert sorted(inv["citus"]["children"]) == ["citus_coordinator", "citus_workers"]
    text = graph(cluster)
    assert "@swarm_bootstrap:" in text and f"|--{n}-manager-1" in text

    # The instances carry the contract's tags and the requested types.
    instances = live(ec2, n)
    assert len(instances) == 8
    tags = {i["InstanceId"]: {t["Key"]: t["Value"] for t in i["Tags"]} for i in instances}
    assert {t["geostack:roles"] for t in tags.values()} == {"manager", "worker", "web", "citus_coordinator", "rabbitmq,zookeeper"}
    assert {i["InstanceType"] for i in instances if tags[i["InstanceId"]]["geostack:roles"] == "worker"} == {"t3.large"}

    # The security groups follow the port tables, sourced from the cluster's own groups.
    sgs = security_groups(ec2, n)
    ids = {name: g["GroupId"] for name, g in sgs.items()}

    def sources(group, port, proto="tcp"):
        found = set()
        for perm in sgs[f"{n}-{group}"]["IpPermissions"]:
            if perm["IpProtocol"] == proto and perm.get("FromPort") <= port <= perm.get("ToPort"):
                found |= {p["GroupId"] for p in perm.get("UserIdGroupPairs", [])}
                found |= {r["CidrIp"] for r in perm.get("IpRanges", [])}
        return found

    assert sources("manager", 2377) == {ids[f"{n}-swarm"]}
    assert sources("swarm", 7946) == {ids[f"{n}-swarm"]}
    assert sources("swarm", 7946, "udp") == {ids[f"{n}-swarm"]}
    assert sources("swarm", 4789, "udp") == {ids[f"{n}-swarm"]}
    assert sources("base", 22) == {"127.0.0.1/32"}
    assert sources("base", 9100) == {ids[f"{n}-monitoring"]}
    assert sources("citus", 5432) == {ids[f"{n}-citus"], ids[f"{n}-swarm"]}
    assert sources("rabbitmq", 25672) == {ids[f"{n}-rabbitmq"]}
    assert sources("zookeeper", 3888) == {ids[f"{n}-zookeeper"]}
    assert sources("monitoring", 9090) == {"127.0.0.1/32"}
    assert sources("web", 443) == {"0.0.0.0/0"}
    # 8080 is both an extra port for the world (asked for here) and the web role's internal listener for the cluster.
    assert sources("web", 8080) == {"0.0.0.0/0", ids[f"{n}-base"]}
    assert sources("web", 9113) == {ids[f"{n}-monitoring"]}
    assert sources("web", 5000) == set()
    world = [
        (name, perm.get("FromPort"))
        for name, g in sgs.items()
        for perm in g["IpPermissions"]
        if any(r["CidrIp"] == "0.0.0.0/0" for r in perm.get("IpRanges", []))
    ]
    assert sorted(world) == sorted([(f"{n}-web", 80), (f"{n}-web", 443), (f"{n}-web", 8080)])
    # Each instance joins base plus its roles' groups.
    by_name = {tags[i["InstanceId"]]["Name"]: {g["GroupName"] for g in i["SecurityGroups"]} for i in instances}
    assert by_name[f"{n}-manager-1"] == {f"{n}-base", f"{n}-swarm", f"{n}-manager"}
    assert by_name[f"{n}-broker-2"] == {f"{n}-base", f"{n}-rabbitmq", f"{n}-zookeeper"}

    # A second run changes nothing; so does a run in check mode. Neither runs the security groups' module: the
    # cluster's read already shows them as they should be.
    groups_task = r"Create the cluster's security groups and set their rules$"
    again = cluster.play("provision.yml")
    assert again.rc == 0 and again.total("changed") == 0, again.output
    assert list(again.ran(groups_task).values()) == [[]], again.ran(groups_task)
    check = cluster.play("provision.yml", "--check")
    assert check.rc == 0 and check.total("changed") == 0, check.output

    # Rules changed by hand (the admin SSH rule revoked, a stray world rule added, a rule's description edited) are
    # found by that read and put back by the next run, which changes only the security groups.
    base, manager = sgs[f"{n}-base"], sgs[f"{n}-manager"]
    ssh = next(p for p in base["IpPermissions"] if p.get("FromPort") == 22)
    ec2.revoke_security_group_ingress(GroupId=base["GroupId"], IpPermissions=[ssh])
    ec2.authorize_security_group_ingress(GroupId=manager["GroupId"], IpPermissions=[
        {"IpProtocol": "tcp", "FromPort": 6000, "ToPort": 6000, "IpRanges": [{"CidrIp": "0.0.0.0/0"}]}])
    swarm_rule = next(p for p in manager["IpPermissions"] if p.get("FromPort") == 2377)
    pair = swarm_rule["UserIdGroupPairs"][0]
    ec2.update_security_group_rule_descriptions_ingress(GroupId=manager["GroupId"], IpPermissions=[
        {**{k: swarm_rule[k] for k in ("IpProtocol", "FromPort", "ToPort")},
         "UserIdGroupPairs": [{"GroupId": pair["GroupId"], "Description": "edited by hand"}]}])
    drifted = cluster.play("provision.yml", "--check")
    assert drifted.rc == 0 and drifted.changed_tasks() == {"localhost": [f"geostack.cluster.provision : {groups_task[:-1]}"]}, \
        drifted.changed_tasks()
    fixed = cluster.play("provision.yml")
    assert fixed.rc == 0 and fixed.changed_tasks() == drifted.changed_tasks(), fixed.changed_tasks()
    assert rule_set(security_groups(ec2, n)) == rule_set(sgs)
    assert cluster.play("provision.yml").total("changed") == 0


def test_scaling_workers_never_touches_managers(make_cluster, ec2):
    layout = {"manager": {"count": 3}, "worker": {"count": 2}}
    cluster = make_cluster(provision_layout=layout)
    assert cluster.play("provision.yml").rc == 0
    managers = cluster.ids("managers")
    bootstrap = cluster.group("swarm_bootstrap")
    workers = cluster.ids("workers")
    assert len(managers) == 3 and len(workers) == 2

    up = cluster.play("provision.yml", provision_layout={**layout, "worker": {"count": 4}})
    assert up.rc == 0, up.failures
    assert cluster.ids("managers") == managers
    assert cluster.group("swarm_bootstrap") == bootstrap
    grown = cluster.ids("workers")
    assert len(grown) == 4 and set(workers.items()) <= set(grown.items())
    assert sorted(grown) == [f"{cluster.name}-worker-{i}" for i in range(1, 5)]

    # Shrinking is refused unless allowed, and nothing is terminated.
    refused = cluster.play("provision.yml", provision_layout=layout)
    assert refused.rc != 0
    assert "provision_layout.worker asks for 2 instance(s) but 4 are running" in str(refused.failures)
    assert cluster.ids("workers") == grown

    down = cluster.play("provision.yml", provision_layout=layout, provision_allow_scale_in=True)
    assert down.rc == 0, down.failures
    # The newest two went; the original workers and every manager stayed.
    assert cluster.ids("workers") == workers
    assert cluster.ids("managers") == managers
    assert cluster.group("swarm_bootstrap") == bootstrap

    # Shrinking the managers retires the newest first but never the bootstrap,
    # even when the bootstrap is the newest-looking one: give the manager that
    # retirement would pick first (same launch time, highest id) index 0.
    newest = max(managers.values())
    ec2.create_tags(Resources=[newest], Tags=[{"Key": "geostack:index", "Value": "0"}])
    (bootstrap,) = cluster.group("swarm_bootstrap")
    assert managers[bootstrap] == newest
    one = cluster.play("provision.yml", provision_layout={**layout, "manager": {"count": 1}}, provision_allow_scale_in=True)
    assert one.rc == 0, one.failures
    assert cluster.ids("managers") == {bootstrap: newest}
    assert cluster.ids("workers") == workers


def test_a_scale_run_of_one_group_leaves_every_node_of_the_others(make_cluster, ec2):
    """scale.yml and autoscale.yml name the groups they change (provision_layout_override) and allow scale-in: a group
    they do not name keeps the nodes an earlier scale run added (autoscaling the web tier once terminated the workers
    a hand-run scale.yml had added, back to the layout's count), and still gets the nodes it lacks."""
    layout = {"manager": {"count": 1}, "worker": {"count": 1}, "web": {"count": 1}}
    cluster = make_cluster(provision_layout=layout)
    assert cluster.play("provision.yml").rc == 0
    up = cluster.play("provision.yml", provision_layout_override={"worker": {"count": 3}}, provision_allow_scale_in=True)
    assert up.rc == 0, up.failures
    workers = cluster.ids("workers")
    assert len(workers) == 3
    web = cluster.play("provision.yml", provision_layout_override={"web": {"count": 2}}, provision_allow_scale_in=True)
    assert web.rc == 0, web.failures
    assert cluster.ids("workers") == workers and len(cluster.ids("web")) == 2
    # Named, the workers go back to the layout's count, the newest first; the web nodes stay.
    down = cluster.play("provision.yml", provision_layout_override={"worker": {"count": 1}}, provision_allow_scale_in=True)
    assert down.rc == 0, down.failures
    assert cluster.ids("workers") == {f"{cluster.name}-worker-1": workers[f"{cluster.name}-worker-1"]}
    assert len(cluster.ids("web")) == 2


def test_teardown_needs_confirmation_and_touches_only_its_cluster(make_cluster, ec2):
    mine = make_cluster(provision_layout={"manager": {"count": 1}, "worker": {"count": 1}})
    other = make_cluster(provision_layout={"manager": {"count": 1}})
    assert mine.play("provision.yml").rc == 0
    assert other.play("provision.yml").rc == 0
    # An image baked for each cluster (as bake.yml tags it).
    for cluster in (mine, other):
        made = ec2.create_image(InstanceId=live(ec2, cluster.name)[0]["InstanceId"], Name=f"{cluster.name}-worker")
        ec2.create_tags(Resources=[made["ImageId"]], Tags=[{"Key": "geostack:cluster", "Value": cluster.name}])
    assert len(images(ec2, mine.name)) == len(images(ec2, other.name)) == 1

    refused = mine.play("teardown.yml")
    assert refused.rc != 0
    assert f"geostack_teardown_confirm={mine.name}" in str(refused.failures)
    assert refused.total("changed") == 0
    assert len(live(ec2, mine.name)) == 2

    wrong = mine.play("teardown.yml", geostack_teardown_confirm=other.name)
    assert wrong.rc != 0 and wrong.total("changed") == 0, wrong.changed_tasks()
    assert f"geostack_teardown_confirm={mine.name}" in str(wrong.failures), wrong.failures
    assert len(live(ec2, mine.name)) == 2 and len(live(ec2, other.name)) == 1
    assert len(images(ec2, mine.name)) == 1

    done = mine.play("teardown.yml", geostack_teardown_confirm=mine.name)
    assert done.rc == 0, done.failures
    assert live(ec2, mine.name) == []
    assert images(ec2, mine.name) == []  # deregistered
    assert security_groups(ec2, mine.name) == {}
    vpcs = ec2.describe_vpcs(Filters=[{"Name": "tag:geostack:cluster", "Values": [mine.name]}])["Vpcs"]
    assert vpcs == []
    # The other cluster is whole.
    assert len(live(ec2, other.name)) == 1 and len(images(ec2, other.name)) == 1
    assert len(security_groups(ec2, other.name)) == 8
    assert other.group("managers") == [f"{other.name}-manager-1"]
    # Tearing down again is a no-op.
    again = mine.play("teardown.yml", geostack_teardown_confirm=mine.name)
    assert again.rc == 0 and again.total("changed") == 0


@pytest.mark.parametrize(
    ("overrides", "named"),
    [
        ({"provision_layout": {"manager": {"count": -1}}}, "provision_layout.manager"),
        ({"provision_layout": {"manager": {"count": "three"}}}, "provision_layout.manager"),
        ({"provision_layout": {"manager": {"count": 1}, "gpu": {"count": 1}}}, "unknown roles: gpu"),
        ({"provision_layout": {"manager": {"count": 1}, "x": {"count": 1, "roles": ["manager", "workerr"]}}}, "unknown roles: workerr"),
        ({"provision_layout": {"manager": {"count": 2}}}, "provision_layout: managers: 2 (manager-1, manager-2); the swarm needs an odd number of managers"),
        ({"provision_layout": {"manager": {"count": 1}, "zk": {"count": 2, "roles": ["zookeeper"]}}},
         "zookeeper: 2 (zk-1, zk-2); a ZooKeeper ensemble needs an odd number"),
        ({"provision_ami_ids": {}}, "No image in us-east-1 is named debian-13-amd64-* for x86_64 (hvm, EBS) by 136693071363"),
        ({"provision_admin_cidr": "0.0.0.0/0"}, "provision_admin_cidr"),
        ({"provision_web_extra_ports": ["http"]}, "provision_web_extra_ports"),
        ({"provision_availability_zones": ["us-east-1a", "us-east-1z"]},
         "provision_availability_zones: us-east-1z is not an available zone of us-east-1 (it has us-east-1a,"),
        ({"provision_availability_zones": ["us-east-1a", "us-east-1a"]}, "provision_availability_zones must be a list of distinct"),
        ({"provision_availability_zones": ["us-east-1a", "us-east-1b"], "provision_subnet_cidr": "10.42.255.0/24"},
         "zone us-east-1b would get subnet 10.43.0.0/24, outside provision_vpc_cidr 10.42.0.0/16"),
        ({"provision_availability_zones": ["us-east-1a", "us-east-1b"], "provision_vpc_id": "vpc-1",
          "provision_zone_subnet_ids": {"us-east-1a": "subnet-1"}}, "provision_zone_subnet_ids must give"),
        ({"provision_availability_zones": ["us-east-1a"], "provision_zone_quorum_required": True},
         "would lose a quorum with one zone down: swarm managers: 1 over 1 zone(s) (1 in us-east-1a)"),
    ],
    ids=lambda v: str(v)[:60],
)
def test_bad_layouts_fail_before_anything_is_created(make_cluster, ec2, overrides, named):
    cluster = make_cluster(**{"provision_layout": {"manager": {"count": 1}}, **overrides})
    run = cluster.play("provision.yml")
    assert_refused_before_any_change(run, named, "provision")
    assert live(ec2, cluster.name) == []
    assert security_groups(ec2, cluster.name) == {}


ZONES = ["us-east-1a", "us-east-1b"]


def zones_of(cluster, group: str) -> dict[str, str]:
    """Each host of the group and the zone the inventory gives it (checked against its swarm label)."""
    inv = cluster.inventory()
    hostvars = inv["_meta"]["hostvars"]
    found = {}
    for host in inv.get(group, {}).get("hosts", []):
        zone = hostvars[host]["geostack_zone"]
        assert hostvars[host]["ec2_placement_availability_zone"] == zone == hostvars[host]["swarm_node_labels"]["zone"], host
        found[host] = zone
    return found


def spread(zones: dict[str, str]) -> list[int]:
    return [list(zones.values()).count(zone) for zone in ZONES]


def test_node_groups_are_spread_over_the_zones_and_stay_balanced(make_cluster, ec2):
    layout = {"manager": {"count": 3}, "worker": {"count": 2}, "broker": {"count": 3, "roles": ["rabbitmq", "zookeeper"]}}
    cluster = make_cluster(provision_layout=layout, provision_availability_zones=ZONES)
    run = cluster.play("provision.yml")
    assert run.rc == 0, run.failures or run.output
    # Two zones cannot keep a 3-member quorum through one zone's loss: preflight says so for each such group.
    for who in ("swarm managers", "RabbitMQ members", "ZooKeeper members"):
        assert f"{who}: 3 over 2 zone(s) (2 in us-east-1a, 1 in us-east-1b); with us-east-1a down 1 of 3" in run.output, who

    # One public subnet per zone, in that zone, routed; each instance sits in its zone's subnet.
    subnets = ec2.describe_subnets(Filters=[{"Name": "tag:geostack:cluster", "Values": [cluster.name]}])["Subnets"]
    assert sorted((s["AvailabilityZone"], s["CidrBlock"], s["MapPublicIpOnLaunch"]) for s in subnets) == [
        ("us-east-1a", "10.42.1.0/24", True), ("us-east-1b", "10.42.2.0/24", True)]
    zone_of_subnet = {s["SubnetId"]: s["AvailabilityZone"] for s in subnets}
    routed = {a.get("SubnetId") for t in ec2.describe_route_tables(
        Filters=[{"Name": "tag:geostack:cluster", "Values": [cluster.name]}])["RouteTables"] for a in t["Associations"]}
    assert set(zone_of_subnet) <= routed
    assert all(zone_of_subnet[i["SubnetId"]] == i["Placement"]["AvailabilityZone"] for i in live(ec2, cluster.name))

    # Each group is balanced: the hostvar, the EC2 placement and the swarm label agree.
    assert spread(zones_of(cluster, "managers")) == [2, 1]
    assert spread(zones_of(cluster, "workers")) == [1, 1]
    assert spread(zones_of(cluster, "rabbitmq")) == [2, 1]
    again = cluster.play("provision.yml")
    assert again.rc == 0 and again.total("changed") == 0, again.changed_tasks()
    check = cluster.play("provision.yml", "--check")
    assert check.rc == 0 and check.total("changed") == 0, check.changed_tasks()

    # Workers 2 -> 3 -> 2: the new one goes to the first of the tied zones, and scale-in takes it back from the
    # fullest zone, so the group ends as it began.
    workers = zones_of(cluster, "workers")
    up = cluster.play("provision.yml", provision_layout={**layout, "worker": {"count": 3}})
    assert up.rc == 0, up.failures
    grown = zones_of(cluster, "workers")
    assert spread(grown) == [2, 1] and set(workers.items()) <= set(grown.items())
    down = cluster.play("provision.yml", provision_layout=layout, provision_allow_scale_in=True)
    assert down.rc == 0, down.failures
    assert zones_of(cluster, "workers") == workers
    assert spread(zones_of(cluster, "managers")) == [2, 1]


def test_a_subnet_built_before_zones_in_another_zone_is_named_before_any_change(make_cluster, ec2):
    # A cluster built without zones: EC2 put its subnet where it chose, here the second zone listed below.
    cluster = make_cluster(provision_layout={"manager": {"count": 1}}, provision_availability_zones=ZONES)
    tags = [{"Key": "geostack:cluster", "Value": cluster.name}]
    vpc = ec2.create_vpc(CidrBlock="10.42.0.0/16", TagSpecifications=[
        {"ResourceType": "vpc", "Tags": [*tags, {"Key": "Name", "Value": cluster.name}]}])["Vpc"]["VpcId"]
    ec2.create_subnet(VpcId=vpc, CidrBlock="10.42.1.0/24", AvailabilityZone="us-east-1b",
                      TagSpecifications=[{"ResourceType": "subnet", "Tags": tags}])
    run = cluster.play("provision.yml")
    assert run.rc != 0 and run.total("changed") == 0, run.changed_tasks()
    messages = " ".join(m for msgs in run.failures.values() for m in msgs)
    assert "(10.42.1.0/24) sits in us-east-1b, but zone 1 of provision_availability_zones (us-east-1a)" in messages, messages
    assert "list us-east-1b as zone 1" in messages
    assert live(ec2, cluster.name) == []
    assert [s["CidrBlock"] for s in ec2.describe_subnets(Filters=[{"Name": "vpc-id", "Values": [vpc]}])["Subnets"]] == ["10.42.1.0/24"]
    # Listed in that order, the same subnet becomes the first zone's, and the second zone gets the next block.
    fixed = cluster.play("provision.yml", provision_availability_zones=ZONES[::-1])
    assert fixed.rc == 0, fixed.failures
    assert sorted((s["AvailabilityZone"], s["CidrBlock"]) for s in ec2.describe_subnets(
        Filters=[{"Name": "vpc-id", "Values": [vpc]}])["Subnets"]) == [("us-east-1a", "10.42.2.0/24"), ("us-east-1b", "10.42.1.0/24")]


def test_tag_values_are_never_templated(make_cluster, ec2, tmp_path):
    cluster = make_cluster()
    marker = tmp_path / "pwned"
    payload = f"{{{{ lookup('pipe', 'touch {marker}') }}}}"
    tags = {"geostack:cluster": cluster.name, "geostack:roles": "manager", "Name": payload, "geostack:label:evil": payload}
    ec2.run_instances(
        ImageId="ami-12c6146b",
        MinCount=1,
        MaxCount=1,
        TagSpecifications=[{"ResourceType": "instance", "Tags": [{"Key": k, "Value": v} for k, v in tags.items()]}],
    )
    raw = subprocess.run(["ansible-inventory", "-i", str(cluster.dir), "--list"], capture_output=True, text=True, check=True).stdout
    # The dump marks tag values unsafe, so that a consumer of it does not template them either.
    assert json.dumps({"__ansible_unsafe": payload}, indent=4).replace("\n", "").replace(" ", "") in raw.replace("\n", "").replace(" ", "")
    inv = cluster.inventory()
    (host,) = inv["managers"]["hosts"]
    assert inv["_meta"]["hostvars"][host]["ec2_tags"]["Name"] == payload
    # Reading the values in a play renders them as text, never runs them.
    playbook = tmp_path / "read.yml"
    playbook.write_text(
        "- hosts: managers\n  gather_facts: false\n  tasks:\n"
        "    - ansible.builtin.debug:\n        msg: \"{{ ec2_tags.Name }} {{ swarm_node_labels.evil }} {{ inventory_hostname }}\"\n"
    )
    run = run_playbook(playbook, inventory=cluster.dir)
    assert run.rc == 0, run.output
    assert payload in run.output
    assert not marker.exists()
