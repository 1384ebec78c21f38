"""The swarm, stack and provision filters that tell, from one read, what a role would change."""

import json

from ansible_collections.geostack.cluster.plugins.filter.provision import provision_network, security_group_specs
from ansible_collections.geostack.cluster.plugins.filter.stack import stack_drift, stack_wanted
from ansible_collections.geostack.cluster.plugins.filter.swarm import swarm_node_changes
from ansible_collections.geostack.cluster.plugins.module_utils.ec2_rules import (
    current_permissions,
    rule_changes,
    to_ip_permissions,
    wanted_permissions,
)

NODES = [{"ID": "n1", "Spec": {"Role": "worker", "Labels": {"typeNode": "worker", "disk": "ssd", "hand": "made"}}}]


def test_a_swarm_node_as_wanted_has_no_changes():
    assert swarm_node_changes(NODES, "n1", "worker", {"typeNode": "worker", "disk": "ssd"}) == []


def test_swarm_node_role_labels_and_removals_are_named():
    assert swarm_node_changes(NODES, "n1", "manager", {"typeNode": "master"}) == [
        "role worker (want manager)", "label typeNode=worker (want master)"]
    assert swarm_node_changes(NODES, "n1", "worker", {"typeNode": "worker"}, "replace") == [
        "label disk is set (want it removed)", "label hand is set (want it removed)"]
    assert swarm_node_changes(NODES, "n1", "worker", {"typeNode": "worker"}, "merge", ["hand"]) == ["label hand is set (want it removed)"]
    assert swarm_node_changes(NODES, "gone", "worker", {}) == ["node gone is not in the swarm's node list"]


COMPOSE = """
services:
  web: {image: "nginx:stable", deploy: {replicas: 2}}
  agent: {image: "busybox:1", deploy: {mode: global}}
"""


def service_ls(**overrides):
    rows = {"geo_web": {"Name": "geo_web", "Mode": "replicated", "Replicas": "2/2", "Image": "nginx:stable"},
            "geo_agent": {"Name": "geo_agent", "Mode": "global", "Replicas": "3/3", "Image": "busybox:1@sha256:abc"}}
    for name, change in overrides.items():
        rows[name] = None if change is None else {**rows[name], **change}
    return "\n".join(json.dumps(r) for r in rows.values() if r)


def test_a_stack_as_wanted_has_no_drift():
    wanted = stack_wanted("geo", [COMPOSE], [], {"prune": False})
    assert wanted["services"] == {"geo_web": {"replicas": 2, "image": "nginx:stable"}, "geo_agent": {"replicas": "global", "image": "busybox:1"}}
    assert wanted["marker"]["dest"] == "/etc/geostack/stacks/geo/.geostack-deployed"
    assert stack_drift([wanted], {"drift": [], "commands": {"geo": {"rc": 0, "stdout": service_ls()}}}) == []


def test_a_stack_scaled_or_changed_by_hand_differs():
    wanted = stack_wanted("geo", [COMPOSE])
    scaled = service_ls(geo_web={"Replicas": "5/5"})
    assert stack_drift([wanted], {"commands": {"geo": {"rc": 0, "stdout": scaled}}}) == ["service geo_web wants 5 replicas (want 2)"]
    imaged = service_ls(geo_web={"Image": "nginx:mainline"})
    assert stack_drift([wanted], {"commands": {"geo": {"rc": 0, "stdout": imaged}}}) == [
        "service geo_web runs nginx:mainline (want nginx:stable)"]
    gone = service_ls(geo_agent=None)
    assert stack_drift([wanted], {"commands": {"geo": {"rc": 0, "stdout": gone}}}) == ["service geo_agent is missing"]


def test_a_changed_compose_file_or_option_changes_the_marker():
    first = stack_wanted("geo", [COMPOSE], [], {"prune": False})["marker"]["content"]
    assert stack_wanted("geo", [COMPOSE + "\n"], [], {"prune": False})["marker"]["content"] != first
    assert stack_wanted("geo", [COMPOSE], [], {"prune": True})["marker"]["content"] != first


def test_security_group_specs_name_groups_and_open_the_extra_web_ports():
    table = [{"suffix": "web", "description": "web", "rules": [{"proto": "tcp", "ports": [80], "world": True, "desc": "HTTP"}]},
             {"suffix": "base", "description": "all", "rules": [{"proto": "tcp", "ports": [22], "admin": True}]}]
    specs = security_group_specs(table, "geo", "192.0.2.0/24", [8080])
    assert [s["name"] for s in specs] == ["geo-web", "geo-base"]
    assert [r["ports"] for r in specs[0]["rules"]] == [[80], [8080]]
    assert specs[1]["rules"][0]["cidr_ip"] == "192.0.2.0/24"


def test_rules_are_compared_without_their_descriptions_first():
    ids = {"geo-monitoring": "sg-mon"}
    wanted = wanted_permissions([{"proto": "tcp", "ports": [9100], "group_name": "geo-monitoring", "rule_desc": "node_exporter"},
                                 {"proto": "tcp", "ports": ["8000-8010"], "cidr_ip": "10.0.0.0/8"}], ids)
    current = current_permissions(to_ip_permissions(wanted))
    assert rule_changes(wanted, current) == (set(), set(), set())
    renamed = current_permissions([{"IpProtocol": "tcp", "FromPort": 9100, "ToPort": 9100,
                                    "UserIdGroupPairs": [{"GroupId": "sg-mon", "Description": "old"}]},
                                   {"IpProtocol": "tcp", "FromPort": 22, "ToPort": 22, "IpRanges": [{"CidrIp": "0.0.0.0/0"}]}])
    authorize, revoke, describe = rule_changes(wanted, renamed)
    assert {p[1:3] for p in authorize} == {(8000, 8010)}
    assert {p[1] for p in revoke} == {22}
    assert {p[5] for p in describe} == {"node_exporter"}


def test_the_network_is_complete_only_with_every_part():
    info = {
        "vpc": {"vpc_id": "vpc-1", "cidr_block": "10.42.0.0/16"},
        "subnets": [{"subnet_id": "subnet-1", "cidr_block": "10.42.1.0/24", "map_public_ip_on_launch": True}],
        "internet_gateways": [{"internet_gateway_id": "igw-1", "attachments": [{"vpc_id": "vpc-1", "state": "available"}]}],
        "route_tables": [{"associations": [{"subnet_id": "subnet-1"}],
                          "routes": [{"destination_cidr_block": "0.0.0.0/0", "gateway_id": "igw-1"}]}],
    }
    assert provision_network(info, "10.42.0.0/16", "10.42.1.0/24") == {
        "complete": True, "vpc_id": "vpc-1", "subnet_id": "subnet-1", "missing": [], "misplaced": [],
        "subnets": [{"zone": "", "cidr": "10.42.1.0/24", "subnet_id": "subnet-1"}]}
    info["route_tables"][0]["routes"] = []
    assert provision_network(info, "10.42.0.0/16", "10.42.1.0/24")["missing"] == ["default route of subnet 10.42.1.0/24 through the gateway"]
    assert provision_network({}, "10.42.0.0/16", "10.42.1.0/24")["missing"][:2] == ["VPC 10.42.0.0/16", "public subnet 10.42.1.0/24"]
