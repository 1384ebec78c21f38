"""The cluster_summary filter (playbooks/summary.yml)."""

from ansible_collections.geostack.cluster.plugins.filter.summary import cluster_summary

GROUPS = {
    "all": ["m1", "w1", "web1"], "managers": ["m1"], "workers": ["w1"], "web": ["web1"], "citus_coordinator": ["m1"],
    "citus_workers": ["w1"], "rabbitmq": ["m1"], "zookeeper": ["m1"], "monitoring": ["m1"], "swarm_bootstrap": ["m1"],
}
ADDRESSES = {"m1": "10.0.1.10", "w1": "10.0.1.11", "web1": "10.0.1.12"}


def hostvars(**extra):
    return {host: {"geostack_private_address": address, **extra.get(host, {})} for host, address in ADDRESSES.items()}


def test_hosts_groups_and_urls_with_the_roles_default_ports():
    summary = cluster_summary(GROUPS, hostvars(), "geodata")
    assert summary["cluster"] == "geodata"
    assert summary["hosts"] == ADDRESSES
    assert summary["groups"]["workers"] == ["10.0.1.11"] and "ungrouped" not in summary["groups"]
    assert summary["urls"] == {
        "web": ["http://10.0.1.12/"],
        "rabbitmq_management": ["http://10.0.1.10:15672/"],
        "prometheus": ["http://10.0.1.10:9090/"],
        "citus": ["postgresql://geostack@10.0.1.10:5432/geostack?sslmode=require"],
    }
    assert "citus" not in summary


def test_the_inventory_s_settings_shape_the_urls_and_empty_groups_are_left_out():
    vars_ = hostvars(web1={"web_tls": "selfsigned"}, m1={"citus_port": 6432, "citus_app_user": "app", "prometheus_port": 9091})
    summary = cluster_summary({**GROUPS, "rabbitmq": [], "zookeeper": []}, vars_)
    assert summary["urls"]["web"] == ["https://10.0.1.12/"]
    assert summary["urls"]["citus"] == ["postgresql://app@10.0.1.10:6432/geostack?sslmode=require"]
    assert summary["urls"]["prometheus"] == ["http://10.0.1.10:9091/"]
    assert "rabbitmq_management" not in summary["urls"] and "rabbitmq" not in summary["groups"]


def test_citus_absent_is_said_with_the_nodes_that_could_not_reach_the_repository():
    summary = cluster_summary(GROUPS, hostvars(m1={"_citus_on": False, "_citus_cut_off": ["m1", "w1"]}))
    assert summary["citus"].startswith("absent: plain PostgreSQL + PostGIS + MobilityDB (citus_install_method auto")
    assert "m1, w1 cannot reach Citus's repository" in summary["citus"]
    assert "citus" not in cluster_summary(GROUPS, hostvars(m1={"_citus_on": False, "citus_enabled": False}))


def test_the_load_balancer_comes_first_among_the_urls():
    summary = cluster_summary(GROUPS, hostvars(), "geodata", ["geodata-123.us-east-1.elb.amazonaws.com", "http://127.0.0.1:32768", ""])
    assert next(iter(summary["urls"])) == "load_balancer"
    assert summary["urls"]["load_balancer"] == ["http://geodata-123.us-east-1.elb.amazonaws.com/", "http://127.0.0.1:32768"]
    arn = {"provision_load_balancer_certificate_arn": "arn:aws:acm:us-east-1:123456789012:certificate/x"}
    assert cluster_summary(GROUPS, hostvars(web1=arn), "g", ["lb.example"])["urls"]["load_balancer"] == ["https://lb.example/"]
    assert "load_balancer" not in cluster_summary(GROUPS, hostvars(), "g", ["", ""])["urls"]
