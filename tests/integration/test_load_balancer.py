"""The web tier's application load balancer (provision_load_balancer) against a real moto ELBv2 server: the RideShare
layout's target groups, routes and security groups, registration as the web groups scale, and bad input."""

from __future__ import annotations

import pytest
from emulator import client
from playbook_runner import assert_refused_before_any_change

from .conftest import live, security_groups

ZONES = ["us-east-1a", "us-east-1b"]
RIDESHARE = {
    "manager": {"count": 1},
    "web_users": {"count": 2, "roles": ["web"]},
    "web_rides": {"count": 1, "roles": ["web"]},
}
ROUTES = [{"path": "/api/v1/users", "group": "web_users"}, {"path": "/", "group": "web_rides", "health": "/health"}]


@pytest.fixture
def elb(moto_url):
    return client(moto_url, "elbv2")


def balancer(elb, name: str) -> dict:
    """The load balancer's rules (pattern -> target group name, 'default' for the default action) and each target
    group's health check path and registered instances."""
    lb = elb.describe_load_balancers(Names=[name])["LoadBalancers"][0]
    groups = {g["TargetGroupArn"]: g for g in elb.describe_target_groups(LoadBalancerArn=lb["LoadBalancerArn"])["TargetGroups"]}
    (listener,) = elb.describe_listeners(LoadBalancerArn=lb["LoadBalancerArn"])["Listeners"]
    rules = {}
    for rule in elb.describe_rules(ListenerArn=listener["ListenerArn"])["Rules"]:
        key = "default" if rule["IsDefault"] else rule["Conditions"][0]["Values"][0]
        rules[key] = groups[rule["Actions"][0]["TargetGroupArn"]]["TargetGroupName"]
    targets = {
        g["TargetGroupName"]: (g["HealthCheckPath"], sorted(
            t["Target"]["Id"] for t in elb.describe_target_health(TargetGroupArn=arn)["TargetHealthDescriptions"]))
        for arn, g in groups.items()
    }
    return {"dns": lb["DNSName"], "zones": sorted(z["ZoneName"] for z in lb["AvailabilityZones"]),
            "port": listener["Port"], "rules": rules, "targets": targets, "security_groups": lb["SecurityGroups"]}


def test_the_rideshare_layout_routes_by_path_to_each_web_group_and_registers_its_nodes(make_cluster, ec2, elb):
    cluster = make_cluster(provision_layout=RIDESHARE, provision_availability_zones=ZONES, provision_load_balancer=True,
                           provision_load_balancer_routes=ROUTES)
    run = cluster.play("provision.yml")
    assert run.rc == 0, run.failures or run.output[-3000:]
    ids = {group: sorted(cluster.ids(f"node_group_{group}").values()) for group in ("web_users", "web_rides")}
    assert [len(ids["web_users"]), len(ids["web_rides"])] == [2, 1]
    # Both groups are web nodes; each is its own inventory group, for its own web_apps.
    assert sorted(cluster.group("web")) == sorted(cluster.group("node_group_web_users") + cluster.group("node_group_web_rides"))

    users, rides = f"{cluster.name}-web-users", f"{cluster.name}-web-rides"
    lb = balancer(elb, cluster.name)
    assert lb["zones"] == ZONES and lb["port"] == 80
    assert lb["rules"] == {"/api/v1/users*": users, "default": rides}
    assert lb["targets"] == {users: ("/api/v1/users", ids["web_users"]), rides: ("/health", ids["web_rides"])}
    assert f"load balancer: {lb['dns']}" in run.output

    # The load balancer's group takes 80 and 443 from anywhere; web nodes take them only from it.
    sgs = security_groups(ec2, cluster.name)
    lb_group = sgs[f"{cluster.name}-lb"]
    assert lb["security_groups"] == [lb_group["GroupId"]]
    assert sorted((p["FromPort"], [r["CidrIp"] for r in p["IpRanges"]]) for p in lb_group["IpPermissions"]) == [
        (80, ["0.0.0.0/0"]), (443, ["0.0.0.0/0"])]
    web_80 = [p for p in sgs[f"{cluster.name}-web"]["IpPermissions"] if p["FromPort"] in (80, 443)]
    assert web_80 and all(p["IpRanges"] == [] and [g["GroupId"] for g in p["UserIdGroupPairs"]] == [lb_group["GroupId"]]
                          for p in web_80)

    # A second run and --check on this layout change nothing: the loadbalancer scenario's idempotence and check-mode
    # steps run the same provision.yml (zones, load balancer, routes) against its converged cluster.

    # A target removed by hand is registered again; a new users node joins the users group only.
    elb.deregister_targets(TargetGroupArn=elb.describe_target_groups(Names=[users])["TargetGroups"][0]["TargetGroupArn"],
                           Targets=[{"Id": ids["web_users"][0], "Port": 80}])
    # --check says so (elb_target_group itself cannot run in check mode), and changes nothing.
    check = cluster.play("provision.yml", "--check")
    assert check.rc == 0 and check.total("changed") == 1, check.changed_tasks()
    assert f"target group {users} would register {ids['web_users'][0]}" in check.output, check.output[-3000:]
    assert balancer(elb, cluster.name)["targets"][users] == ("/api/v1/users", ids["web_users"][1:])
    grown = cluster.play("provision.yml", provision_layout={**RIDESHARE, "web_users": {"count": 3, "roles": ["web"]}})
    assert grown.rc == 0, grown.failures
    users_now = sorted(cluster.ids("node_group_web_users").values())
    assert len(users_now) == 3 and set(ids["web_users"]) < set(users_now)
    assert balancer(elb, cluster.name)["targets"] == {users: ("/api/v1/users", users_now), rides: ("/health", ids["web_rides"])}

    # Retiring a node deregisters and drains it before its instance goes: the loadbalancer scenario retires a rides
    # node with the same terminate entry point under a request loop through the proxy, and checks the target group.

    gone = cluster.play("teardown.yml", geostack_teardown_confirm=cluster.name)
    assert gone.rc == 0, gone.failures
    assert all(lb["LoadBalancerName"] != cluster.name for lb in elb.describe_load_balancers()["LoadBalancers"])
    assert not {users, rides} & {g["TargetGroupName"] for g in elb.describe_target_groups()["TargetGroups"]}
    assert live(ec2, cluster.name) == [] and security_groups(ec2, cluster.name) == {}


def test_a_certificate_serves_https_and_http_redirects_to_it(make_cluster, moto_url, elb):
    acm = client(moto_url, "acm")
    arn = acm.request_certificate(DomainName="rides.example.test")["CertificateArn"]
    cluster = make_cluster(provision_layout={"manager": {"count": 1}, "web": {"count": 1}}, provision_availability_zones=ZONES,
                           provision_load_balancer=True, provision_load_balancer_certificate_arn=arn)
    run = cluster.play("provision.yml")
    assert run.rc == 0, run.failures or run.output[-3000:]
    lb = elb.describe_load_balancers(Names=[cluster.name])["LoadBalancers"][0]
    listeners = {item["Port"]: item for item in elb.describe_listeners(LoadBalancerArn=lb["LoadBalancerArn"])["Listeners"]}
    assert sorted(listeners) == [80, 443]
    assert listeners[443]["Protocol"] == "HTTPS" and listeners[443]["Certificates"][0]["CertificateArn"] == arn
    assert listeners[443]["SslPolicy"] == "ELBSecurityPolicy-TLS13-1-2-2021-06"
    assert listeners[443]["DefaultActions"][0]["Type"] == "forward"
    redirect = listeners[80]["DefaultActions"][0]
    assert redirect["Type"] == "redirect" and redirect["RedirectConfig"]["Protocol"] == "HTTPS"
    assert redirect["RedirectConfig"]["Port"] == "443" and redirect["RedirectConfig"]["StatusCode"] == "HTTP_301"
    again = cluster.play("provision.yml")
    assert again.rc == 0 and again.total("changed") == 0, again.changed_tasks()


@pytest.mark.parametrize(
    ("overrides", "named"),
    [
        ({"provision_load_balancer_routes": [{"path": "/api/v1/users", "group": "web_user"}, {"path": "/", "group": "web_rides"}]},
         "provision_load_balancer_routes[0].group web_user is not a node group of provision_layout (it has manager, web_rides, web_users)"),
        ({"provision_load_balancer_routes": [{"path": "/", "group": "manager"}]},
         "provision_load_balancer_routes[0].group manager has no web role"),
        ({"provision_load_balancer_routes": [{"path": "api", "group": "web_users"}]},
         "provision_load_balancer_routes[0].path must be a URL path prefix starting with '/'"),
        ({"provision_load_balancer_certificate_arn": "arn:aws:acm:us-east-1:1234:cert/x"},
         "provision_load_balancer_certificate_arn arn:aws:acm:us-east-1:1234:cert/x is not an ACM or IAM certificate ARN"),
        ({"provision_availability_zones": ["us-east-1a"]},
         "provision_load_balancer needs at least 2 provision_availability_zones"),
        ({"provision_load_balancer_health_interval": 3},
         "provision_load_balancer_health_interval must be a number of seconds from 5 to 300 (what an ALB target group accepts), got 3."),
    ],
    ids=lambda v: str(v)[:60],
)
def test_bad_load_balancer_settings_fail_before_anything_is_created(make_cluster, ec2, elb, overrides, named):
    cluster = make_cluster(**{"provision_layout": RIDESHARE, "provision_availability_zones": ZONES,
                              "provision_load_balancer": True, "provision_load_balancer_routes": ROUTES, **overrides})
    run = cluster.play("provision.yml")
    assert_refused_before_any_change(run, named, "provision")
    assert live(ec2, cluster.name) == [] and security_groups(ec2, cluster.name) == {}
    assert all(lb["LoadBalancerName"] != cluster.name for lb in elb.describe_load_balancers()["LoadBalancers"])
