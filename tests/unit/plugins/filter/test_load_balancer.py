"""The load balancer's layout: names, target groups, rules by path, listeners, and the errors on bad settings."""

import pytest
from ansible.errors import AnsibleFilterError
from ansible_collections.geostack.cluster.plugins.filter.load_balancer import (
    aws_name,
    load_balancer_errors,
    load_balancer_plan,
    load_balancer_targets,
)
from ansible_collections.geostack.cluster.plugins.filter.provision import layout_groups, security_group_specs

GROUPS = layout_groups({"manager": {"count": 1}, "web_users": {"count": 2, "roles": ["web"]},
                        "web_rides": {"count": 1, "roles": ["web", "worker"]}}, "t", 8)
ROUTES = [{"path": "/", "group": "web_rides", "health": "/health"}, {"path": "/api", "group": "web_users"},
          {"path": "/api/v1/users", "group": "web_users"}]
ZONES = ["az-a", "az-b"]


def test_names_are_what_elb_accepts_and_long_ones_stay_distinct():
    assert aws_name("prod-web_users") == "prod-web-users"
    assert aws_name("_x_") == "x"
    long_a, long_b = aws_name("a-very-long-cluster-name-for-tests-web_users"), aws_name("a-very-long-cluster-name-for-tests-web_rides")
    assert len(long_a) == len(long_b) == 32 and long_a != long_b and long_a.startswith("a-very-long-cluster-nam")


def test_routes_become_rules_longest_prefix_first_and_slash_is_the_default():
    plan = load_balancer_plan(GROUPS, "c", ROUTES)
    assert plan["name"] == "c"
    assert [(r["priority"], r["pattern"], r["target_group"]) for r in plan["rules"]] == [
        (1, "/api/v1/users*", "c-web-users"), (2, "/api*", "c-web-users")]
    assert plan["default"] == "c-web-rides"
    # One target group per web node group; the health path is the group's first route's health, else its path.
    assert plan["target_groups"] == [{"name": "c-web-users", "group": "web_users", "health_path": "/api"},
                                     {"name": "c-web-rides", "group": "web_rides", "health_path": "/health"}]
    (listener,) = plan["listeners"]
    assert (listener["Protocol"], listener["Port"]) == ("HTTP", 80)
    assert listener["DefaultActions"] == [{"Type": "forward", "TargetGroupName": "c-web-rides"}]
    assert listener["Rules"][0] == {"Priority": "1", "Conditions": [{"Field": "path-pattern", "Values": ["/api/v1/users*"]}],
                                    "Actions": [{"Type": "forward", "TargetGroupName": "c-web-users"}]}
    # Without a '/' route, what no rule matches gets a 404; an unrouted web group still has its target group.
    plan = load_balancer_plan(GROUPS, "c", [{"path": "/api", "group": "web_users"}])
    assert plan["default"] is None and plan["listeners"][0]["DefaultActions"][0]["Type"] == "fixed-response"
    assert plan["target_groups"][1] == {"name": "c-web-rides", "group": "web_rides", "health_path": "/"}


def test_a_certificate_serves_https_and_redirects_http():
    arn = "arn:aws:acm:us-east-1:123456789012:certificate/0a1b2c3d-aaaa-bbbb-cccc-0123456789ab"
    https, http = load_balancer_plan(GROUPS, "c", ROUTES, arn)["listeners"]
    assert (https["Protocol"], https["Port"], https["Certificates"]) == ("HTTPS", 443, [{"CertificateArn": arn}])
    assert len(https["Rules"]) == 2
    assert (http["Port"], http["DefaultActions"][0]["RedirectConfig"]) == (80, {"Protocol": "HTTPS", "Port": "443", "StatusCode": "HTTP_301"})
    assert "Rules" not in http
    assert load_balancer_errors(GROUPS, ROUTES, "arn:aws:iam::123456789012:server-certificate/site", ZONES) == []


@pytest.mark.parametrize(
    ("routes", "certificate", "zones", "error"),
    [
        (ROUTES, "", ["az-a"], "provision_load_balancer needs at least 2 provision_availability_zones"),
        ([], "", ZONES, "provision_load_balancer_routes must be a non-empty list"),
        ([{"path": "/", "group": "web_rides", "port": 80}], "", ZONES, "provision_load_balancer_routes[0] must be a dict of path"),
        ([{"path": "/a*", "group": "web_rides"}], "", ZONES, "provision_load_balancer_routes[0].path must be a URL path prefix"),
        ([{"path": "/", "group": "web_rides"}, {"path": "/", "group": "web_users"}], "", ZONES,
         "provision_load_balancer_routes[1].path / is routed twice"),
        ([{"path": "/", "group": "rides"}], "", ZONES,
         "provision_load_balancer_routes[0].group rides is not a node group of provision_layout (it has manager, web_users, web_rides)"),
        ([{"path": "/", "group": "manager"}], "", ZONES, "provision_load_balancer_routes[0].group manager has no web role"),
        ([{"path": "/", "group": "web_rides", "health": "health"}], "", ZONES, "provision_load_balancer_routes[0].health must be"),
        (ROUTES, "arn:aws:acm:us-east-1:12:certificate/x", ZONES, "provision_load_balancer_certificate_arn arn:aws:acm:us-east-1:12"),
    ],
)
def test_bad_settings_are_named(routes, certificate, zones, error):
    errors = load_balancer_errors(GROUPS, routes, certificate, zones)
    assert len(errors) == 1 and errors[0].startswith(error), errors
    if len(zones) > 1:
        with pytest.raises(AnsibleFilterError, match=r"provision_load_balancer"):
            load_balancer_plan(GROUPS, "c", routes, certificate)


def test_targets_are_the_live_instances_of_each_group():
    def inst(iid, group):
        return {"instance_id": iid, "tags": {"geostack:group": group, "geostack:roles": "web"}}

    plan = load_balancer_plan(GROUPS, "c", ROUTES)
    targets = load_balancer_targets(plan["target_groups"], [inst("i-2", "web_users"), inst("i-1", "web_users"),
                                                            inst("i-3", "web_rides"), inst("i-4", "manager")])
    assert [(t["group"], t["targets"]) for t in targets] == [
        ("web_users", [{"Id": "i-1", "Port": 80}, {"Id": "i-2", "Port": 80}]), ("web_rides", [{"Id": "i-3", "Port": 80}])]


def test_behind_the_load_balancer_web_nodes_take_http_only_from_it():
    table = [{"suffix": "web", "description": "web", "rules": [
        {"proto": "tcp", "ports": [80, 443], "world": True, "desc": "HTTP(S)"},
        {"proto": "tcp", "ports": [9113], "group": "monitoring", "desc": "exporter"}]}]
    plain = security_group_specs(table, "c", "10.0.0.0/8", [8080])
    assert [s["name"] for s in plain] == ["c-web"] and plain[0]["rules"][0]["cidr_ip"] == "0.0.0.0/0"
    web, lb = security_group_specs(table, "c", "10.0.0.0/8", [8080], load_balancer=True)
    assert web["rules"][0] == {"proto": "tcp", "ports": [80, 443], "rule_desc": "HTTP(S)", "group_name": "c-lb"}
    # Extra web ports stay open to the world; the load balancer's group opens only 80 and 443.
    assert web["rules"][2]["cidr_ip"] == "0.0.0.0/0" and web["rules"][2]["ports"] == [8080]
    assert lb["name"] == "c-lb" and lb["rules"] == [
        {"proto": "tcp", "ports": [80, 443], "rule_desc": "HTTP(S) to the load balancer", "cidr_ip": "0.0.0.0/0"}]
