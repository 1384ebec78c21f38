"""The load balancer's layout: names, target groups, rules by path, listeners, and the errors on bad settings."""

import pytest
from ansible.errors import AnsibleFilterError
from ansible_collections.geostack.cluster.plugins.filter.load_balancer import (
    aws_name,
    load_balancer_errors,
    load_balancer_plan,
    load_balancer_proxy,
    load_balancer_target_drift,
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
    assert https["SslPolicy"] == "ELBSecurityPolicy-TLS13-1-2-2021-06"
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


@pytest.mark.parametrize(
    ("interval", "draining", "error"),
    [
        (4, 30, "provision_load_balancer_health_interval must be a number of seconds from 5 to 300"),
        (301, 30, "provision_load_balancer_health_interval must be a number of seconds from 5 to 300"),
        ("ten", 30, "provision_load_balancer_health_interval must be a number of seconds from 5 to 300 (what an ALB target group accepts), got 'ten'"),
        (10, -1, "provision_load_balancer_draining_timeout must be a number of seconds from 0 to 3600"),
        (10, True, "provision_load_balancer_draining_timeout must be a number of seconds from 0 to 3600 (what an ALB target group accepts), got True"),
    ],
)
def test_health_interval_and_draining_timeout_are_named_alone(interval, draining, error):
    errors = load_balancer_errors(GROUPS, ROUTES, "", ZONES, interval, draining)
    assert len(errors) == 1 and errors[0].startswith(error), errors
    assert load_balancer_errors(GROUPS, ROUTES, "", ZONES, 5, 0) == []
    assert load_balancer_errors(GROUPS, ROUTES, "", ZONES, 300, 3600) == []
    # As `-e provision_load_balancer_health_interval=20` gives it.
    assert load_balancer_errors(GROUPS, ROUTES, "", ZONES, "20", "0") == []


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


def test_the_local_proxy_serves_the_emulated_rules_and_registered_targets():
    def arn(name):
        return f"arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/{name}/0f"

    listener = {"protocol": "HTTP", "port": 80, "rules": [
        {"priority": "default", "is_default": True, "conditions": [], "actions": [{"type": "forward", "target_group_arn": arn("c-rides")}]},
        {"priority": "2", "is_default": False, "conditions": [{"field": "path-pattern", "values": ["/a?i/v1.0*"]}],
         "actions": [{"type": "fixed-response", "fixed_response_config": {"status_code": "418", "message_body": "teapot"}}]},
        {"priority": "1", "is_default": False, "conditions": [{"field": "path-pattern", "values": ["/api/v1/users*"]}],
         "actions": [{"type": "forward", "target_group_arn": arn("c-users")}]},
    ]}
    groups = [
        {"target_group_arn": arn("c-users"), "target_group_name": "c-users", "health_check_path": "/api/v1/users/health",
         "health_check_interval_seconds": 5, "health_check_timeout_seconds": 4, "healthy_threshold_count": 2,
         "unhealthy_threshold_count": 3, "matcher": {"http_code": "200-202"}, "port": 80,
         "targets_health_description": [
             {"target": {"id": "i-2", "port": 80}, "target_health": {"state": "healthy"}},
             {"target": {"id": "i-1", "port": 80}, "target_health": {"state": "unhealthy"}},
             # Draining (deregistered) targets and instances without an address get no requests.
             {"target": {"id": "i-3", "port": 80}, "target_health": {"state": "draining"}},
             {"target": {"id": "i-9", "port": 80}, "target_health": {"state": "healthy"}}]},
        {"target_group_arn": arn("c-rides"), "target_group_name": "c-rides", "targets_health_description": []},
    ]
    instances = [{"instance_id": f"i-{n}", "private_ip_address": f"10.0.1.{n}"} for n in (1, 2, 3)]
    proxy = load_balancer_proxy([{"load_balancer_name": "c", "dns_name": "c.elb", "listeners": [listener]}], groups, instances)
    assert (proxy["name"], proxy["dns_name"], proxy["default"]) == ("c", "c.elb", "c-rides")
    assert proxy["rules"] == [{"regex": "^/api/v1/users.*$", "backend": "c-users"}, {"regex": "^/a.i/v1\\.0.*$", "backend": "fixed-418-1"}]
    users, rides = proxy["backends"]
    assert users == {"name": "c-users", "health_path": "/api/v1/users/health", "interval": 5, "timeout": 4, "rise": 2, "fall": 3,
                     "status_regex": "^(200|201|202)$",
                     "servers": [{"id": "i-1", "address": "10.0.1.1", "port": 80}, {"id": "i-2", "address": "10.0.1.2", "port": 80}]}
    assert rides["servers"] == [] and rides["health_path"] == "/"
    assert proxy["fixed"] == [{"name": "fixed-418-1", "status": 418, "body": "teapot"}]
    # No load balancer (yet): nothing to route.
    assert load_balancer_proxy([], [], [])["rules"] == []


def _found(name, ids, path="/health", interval=10, draining=()):
    health = [{"target": {"id": i, "port": 80}, "target_health": {"state": "healthy"}} for i in ids]
    health += [{"target": {"id": i, "port": 80}, "target_health": {"state": "draining"}} for i in draining]
    return {"target_group_name": name, "health_check_path": path, "health_check_interval_seconds": interval,
            "targets_health_description": health}


def test_target_drift_names_what_elb_target_group_would_change():
    wanted = [{"name": "c-users", "health_path": "/api/v1/users/health", "targets": [{"Id": "i-1", "Port": 80}, {"Id": "i-2", "Port": 80}]},
              {"name": "c-rides", "health_path": "/health", "targets": [{"Id": "i-3", "Port": 80}]},
              {"name": "c-new", "health_path": "/", "targets": []}]
    same = [_found("c-users", ["i-1", "i-2"], "/api/v1/users/health"), _found("c-rides", ["i-3"]), _found("c-new", [], "/")]
    assert load_balancer_target_drift(wanted, same, 10) == []
    # A draining target counts as gone; a target of no node is deregistered; settings changed by hand are named.
    drifted = [_found("c-users", ["i-2", "i-9"], "/", draining=["i-1"]), _found("c-rides", ["i-3"], interval="30")]
    assert load_balancer_target_drift(wanted, drifted, "10") == [
        "target group c-users would register i-1; deregister i-9; check health at /api/v1/users/health (not /)",
        "target group c-rides would check health every 10 s (not 30 s)",
        "target group c-new would be created with targets none",
    ]
