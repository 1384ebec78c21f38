"""verify_citus_rows: the rows playbooks/verify.yml reports for Citus."""

from ansible_collections.geostack.cluster.plugins.filter.verify import verify_citus_rows

COORDINATOR = "c-1"
WORKERS = {"w-1": "10.0.0.11", "w-2": "10.0.0.12"}


def rows(citus_enabled: bool, extension: list, nodes: list | None = None, ping: dict | None = None,
         missing: dict | None = None, method: str = "distro", installed: bool = False) -> list[dict]:
    coordinator = {
        "citus_enabled": citus_enabled,
        "citus_install_method": method,
        "_verify_citus_installed": {"query_result": [{"installed": installed}]},
        "_verify_ping": ping or {"ping": "pong"},
        "_verify_citus": {"query_result": extension},
        "_verify_citus_nodes": {"query_result": nodes or []},
        "_verify_citus_missing": missing if missing is not None else {"query_result": [{"missing": [], "under": []}]},
    }
    hostvars = {COORDINATOR: coordinator, **{w: {"geostack_private_address": a} for w, a in WORKERS.items()}}
    return verify_citus_rows(COORDINATOR, hostvars, list(WORKERS))


def test_an_unreachable_coordinator_is_a_failure():
    [row] = rows(True, [], ping={"unreachable": True, "msg": "gone"})
    assert row["ok"] is False and row["detail"] == "unreachable"


def test_a_missing_extension_is_a_failure_when_citus_is_enabled():
    [row] = rows(True, [])
    assert row["ok"] is False
    assert row["detail"] == "PostgreSQL answers, but the citus extension is missing although citus_enabled is true"


def test_a_missing_extension_says_citus_is_not_enabled_when_it_is_off():
    [row] = rows(False, [])
    assert row["ok"] is True and "Citus not enabled (citus_enabled is false)" in row["detail"]


def test_auto_without_a_citus_to_install_says_citus_is_absent_and_how_to_get_it():
    [row] = rows(True, [], method="auto")
    assert row["ok"] is True
    assert row["detail"].startswith("PostgreSQL answers; Citus absent (citus_install_method auto")
    assert "set citus_package_file to a Citus .deb or let the nodes reach citus_repo_url" in row["detail"]


def test_auto_with_citus_installed_but_no_extension_is_a_failure():
    [row] = rows(True, [], method="auto", installed=True)
    assert row["ok"] is False and "the citus extension is missing" in row["detail"]


def test_each_worker_must_be_an_active_primary():
    nodes = [
        {"name": "10.0.0.11", "port": 5432, "active": True, "role": "primary", "shards": True},
        {"name": "10.0.0.12", "port": 5432, "active": False, "role": "primary", "shards": True},
    ]
    coordinator, first, second, placements = rows(True, [{"extversion": "14.0"}], nodes)
    assert coordinator["ok"] is True and coordinator["detail"] == "Citus 14.0, 2 workers registered"
    assert first == {"layer": "citus", "check": "worker w-1", "ok": True,
                     "detail": "active, primary, takes shards (10.0.0.11:5432)"}
    assert second["ok"] is False and second["detail"].startswith("inactive")
    assert placements == {"layer": "citus", "check": "shard placements", "ok": True,
                          "detail": "every placement the coordinator lists is on its worker"}


def test_an_unregistered_worker_is_a_failure():
    nodes = [{"name": "10.0.0.11", "port": 5432, "active": True, "role": "primary", "shards": True}]
    _coordinator, _first, missing, _placements = rows(True, [{"extversion": "14.0"}], nodes)
    assert missing["ok"] is False and missing["detail"] == "not registered in pg_dist_node (10.0.0.12)"


def test_a_worker_that_came_back_empty_is_named_with_the_shards_lost():
    nodes = [{"name": a, "port": 5432, "active": True, "role": "primary", "shards": True} for a in WORKERS.values()]
    missing = [{"table": "trips", "node": "10.0.0.12", "port": 5432, "shard": s, "copies": 1} for s in (102009, 102011)]
    *_rest, row = rows(True, [{"extversion": "14.0"}], nodes, missing={"query_result": [{"missing": missing, "under": []}]})
    assert row["ok"] is False
    assert row["detail"] == ("worker w-2 (10.0.0.12:5432) lacks 2 shard placement(s) the coordinator lists on it (trips 2);"
                             " 2 of those shards had no other copy, so their rows are lost."
                             " Restore an empty worker from a backup, start one that does not answer, then run site.yml"
                             " (README: A lost node)")


def test_placements_that_cannot_be_read_are_a_failure():
    *_rest, row = rows(True, [{"extversion": "14.0"}], missing={"msg": "connection refused"})
    assert row["ok"] is False and row["detail"] == "could not be read: connection refused"


def test_a_worker_whose_shards_have_other_copies_fails_and_says_site_yml_copies_them_back():
    nodes = [{"name": a, "port": 5432, "active": True, "role": "primary", "shards": True} for a in WORKERS.values()]
    missing = [{"table": "trips", "node": "10.0.0.12", "port": 5432, "shard": 102009, "copies": 2}]
    *_rest, row = rows(True, [{"extversion": "14.0"}], nodes, missing={"query_result": [{"missing": missing, "under": []}]})
    assert row["ok"] is False
    assert row["detail"] == ("worker w-2 (10.0.0.12:5432) lacks 1 shard placement(s) the coordinator lists on it (trips 1);"
                             " every one of those shards has a copy on another worker, which site.yml copies back."
                             " Run site.yml: it copies every shard back up to its table's number of copies")


def test_shards_short_of_their_copies_are_a_failure():
    under = [{"table": "trips", "copies": 2, "shards": 4}]
    *_rest, row = rows(True, [{"extversion": "14.0"}], missing={"query_result": [{"missing": [], "under": under}]})
    assert row["ok"] is False and row["detail"].startswith("table trips has 4 shard(s) with fewer than its 2 copies")


def test_every_placement_in_place_is_ok():
    *_rest, row = rows(True, [{"extversion": "14.0"}], missing={"query_result": [{"missing": [], "under": []}]})
    assert row["ok"] is True and row["detail"] == "every placement the coordinator lists is on its worker"
