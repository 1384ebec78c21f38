"""Verify the citus role on 1 coordinator + 2 workers (+ a fourth node outside).

Without a Citus package (Debian has none) the nodes are plain PostgreSQL 17 +
PostGIS + MobilityDB and the Citus steps are skipped, saying why. With
GEOSTACK_CITUS_PACKAGE=/path/to/postgresql-17-citus-*.deb the same scenario
also checks registration, distribution, scale-out with rebalance and scale-in
with drain.
"""

from __future__ import annotations

import os
import re
import subprocess
import tempfile
from pathlib import Path

import pytest
import yaml
from nodes import address, sh, wait_for
from playbook_runner import assert_refused_before_any_change, run_playbook

# Inventories the tests write; removed when the test session ends.
_SCRATCH = tempfile.TemporaryDirectory(prefix="geostack-test-")

SCENARIO = Path(os.environ.get("MOLECULE_SCENARIO_DIRECTORY", Path(__file__).resolve().parents[1]))
PROJECT = SCENARIO.parents[1]
COORDINATOR, WORKER_1, WORKER_2, SPARE = (f"geostack-citus-{n}" for n in range(1, 5))
CLUSTER = [COORDINATOR, WORKER_1, WORKER_2]
VARS = yaml.safe_load((SCENARIO / "vars" / "converge.yml").read_text())
CITUS = bool(os.environ.get("GEOSTACK_CITUS_PACKAGE"))
needs_citus = pytest.mark.skipif(
    not CITUS,
    reason="Citus steps skipped: no Citus package was given. Citus is not packaged by Debian and its repository is "
    "unreachable here; set GEOSTACK_CITUS_PACKAGE=/path/to/postgresql-17-citus-<version>.deb to run them.",
)
TRIP_LENGTHS = (
    "SELECT column_dist, round(length(tgeompointseq(array_agg(tgeompoint(geom, t) ORDER BY t)))::numeric, 9), "
    "round(maxValue(speed(tgeompointseq(array_agg(tgeompoint(geom, t) ORDER BY t))))::numeric, 12) "
    "FROM {table} GROUP BY column_dist ORDER BY column_dist"
)

testinfra_hosts = [f"docker://{COORDINATOR}"]


def sql(node: str, query: str, database: str = "geostack") -> str:
    """Run a query as the local superuser (root is mapped to postgres by pg_ident)."""
    proc = subprocess.run(
        ["docker", "exec", node, "psql", "-U", "postgres", "-d", database, "-AtX", "-v", "ON_ERROR_STOP=1", "-c", query],
        capture_output=True,
        text=True,
        check=False,
    )
    if proc.returncode != 0:
        raise AssertionError(f"{node}: {query}: {proc.stderr}")
    return proc.stdout.strip()


def remote_psql(source: str, target: str, query: str, env: dict | None = None, **conninfo: str):
    """psql as the postgres OS user on `source` to `target`'s private address."""
    params = {"host": address(target), "dbname": "geostack", "user": "geostack", "sslmode": "require", **conninfo}
    dsn = " ".join(f"{k}={v}" for k, v in params.items())
    return sh(source, f"runuser -u postgres -- psql '{dsn}' -AtXc \"{query}\"", check=False, env=env)


def probe(source: str, target: str) -> str:
    proc = subprocess.run(
        ["docker", "exec", "-i", source, "python3", "-", address(target), "5432", "geostack", "geostack"],
        input=(SCENARIO / "pg_probe.py").read_text(),
        capture_output=True,
        text=True,
        check=True,
    )
    return proc.stdout.strip()


def grown_inventory() -> Path:
    """Molecule's inventory plus the spare node as a third Citus worker, with
    every node's address as a host variable (as the inventory plugin sets it)."""
    extra = Path(tempfile.mkdtemp(prefix="citus-inv-", dir=_SCRATCH.name)) / "spare.yml"
    hosts = {node: {"geostack_private_address": address(node)} for node in [*CLUSTER, SPARE]}
    groups = {"citus": {"hosts": {SPARE: {}}}, "citus_workers": {"hosts": {SPARE: {}}}}
    extra.write_text(yaml.safe_dump({"all": {"hosts": hosts, "children": groups}}))
    return extra


# Plain PostgreSQL + PostGIS + MobilityDB: always.


@pytest.mark.parametrize("node", CLUSTER)
def test_postgresql_17_with_postgis_and_mobilitydb(node):
    assert sql(node, "SHOW server_version_num").startswith("17")
    extensions = set(sql(node, "SELECT extname FROM pg_extension").split())
    assert {"postgis", "mobilitydb"} <= extensions
    assert ("citus" in extensions) == CITUS


@pytest.mark.parametrize("node", CLUSTER)
def test_a_mobilitydb_query_works(node):
    trip = "tgeompoint '[Point(0 0)@2025-01-01 08:00:00+00, Point(3 4)@2025-01-01 08:00:10+00]'"
    assert sql(node, f"SELECT length({trip}), maxValue(speed({trip}))") == "5|0.5"


@pytest.mark.parametrize("node", CLUSTER)
def test_settings_are_applied(node):
    settings = dict(
        line.split("|", 1)
        for line in sql(
            node,
            "SELECT name, setting FROM pg_settings WHERE name IN ('shared_preload_libraries', 'max_locks_per_transaction',"
            " 'wal_level', 'listen_addresses', 'ssl', 'password_encryption', 'ssl_min_protocol_version')",
        ).splitlines()
    )
    assert settings == {
        "shared_preload_libraries": "citus,postgis-3" if CITUS else "postgis-3",
        "max_locks_per_transaction": "128",
        "wal_level": "logical",
        "listen_addresses": f"localhost,{address(node)}",
        "ssl": "on",
        "password_encryption": "scram-sha-256",
        "ssl_min_protocol_version": "TLSv1.2",
    }
    # Derived from citus_memory_mb: 1024 MB -> a quarter.
    assert sql(node, "SHOW shared_buffers") == "256MB"
    assert sql(node, "SELECT count(*) FROM pg_settings WHERE pending_restart") == "0"
    if CITUS:
        assert sql(node, "SHOW citus.node_conninfo") == "sslmode=require"


@pytest.mark.parametrize("node", CLUSTER)
def test_listens_only_on_the_private_address_and_loopback(node):
    listening = {line.split()[3].rsplit(":", 1)[0].strip("[]") for line in sh(node, "ss -ltnH 'sport = :5432'").stdout.splitlines()}
    assert listening and listening <= {"127.0.0.1", "::1", address(node)}


def metrics(node: str, host: str) -> str:
    """GET the PostgreSQL exporter's metrics on host:9187 from inside node ('' if it does not answer)."""
    fetch = f"import urllib.request; print(urllib.request.urlopen('http://{host}:9187/metrics', timeout=5).read().decode())"
    return sh(node, f'python3 -c "{fetch}"', check=False).stdout


@pytest.mark.parametrize("node", CLUSTER)
def test_the_postgresql_exporter_reads_the_node_on_the_private_address_only(node):
    samples = metrics(COORDINATOR, address(node))
    assert "\npg_up 1\n" in samples
    assert 'pg_database_size_bytes{datname="geostack"}' in samples
    assert metrics(node, "127.0.0.1") == ""
    # It logs in by peer as a pg_monitor member, nothing more.
    assert sql(node, "SELECT rolsuper, pg_has_role('prometheus', 'pg_monitor', 'MEMBER') FROM pg_roles WHERE rolname = 'prometheus'",
               database="postgres") == "f|t"


def test_pg_hba_has_no_trust_and_only_tls_from_the_network():
    rules = [line.split("|") for line in sql(WORKER_1, "SELECT type, auth_method, coalesce(address, '') FROM pg_hba_file_rules").splitlines()]
    assert rules
    assert all(method in ("scram-sha-256", "peer") for _kind, method, _addr in rules)
    assert all(method == "scram-sha-256" for kind, method, _addr in rules if kind != "local")
    network = {addr for kind, _method, addr in rules if kind.startswith("host") and addr not in ("127.0.0.1", "::1")}
    assert network == {address(node) for node in CLUSTER}
    assert all(kind == "hostssl" for kind, _method, addr in rules if addr in network)


@pytest.mark.parametrize("worker", [WORKER_1, WORKER_2])
def test_the_coordinator_reaches_each_worker_over_tls_with_the_managed_credentials(worker):
    # The password comes from the postgres user's .pgpass, as Citus's own connections do.
    proc = remote_psql(COORDINATOR, worker, "SELECT ssl, version FROM pg_stat_ssl WHERE pid = pg_backend_pid()")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() in ("t|TLSv1.3", "t|TLSv1.2")


def test_wrong_credentials_are_refused():
    proc = remote_psql(COORDINATOR, WORKER_1, "SELECT 1", env={"PGPASSFILE": "/dev/null", "PGPASSWORD": "not-the-password"})
    assert proc.returncode != 0
    assert 'password authentication failed for user "geostack"' in proc.stderr


def test_a_connection_without_tls_is_refused():
    proc = remote_psql(COORDINATOR, WORKER_1, "SELECT 1", sslmode="disable")
    assert proc.returncode != 0
    assert "no pg_hba.conf entry" in proc.stderr and "no encryption" in proc.stderr


def test_pg_hba_refuses_an_address_outside_the_cluster():
    # Same client, same TLS: a cluster node is asked for its SCRAM password...
    assert probe(WORKER_2, WORKER_1) == "auth 10"
    # ...the node outside the cluster is refused before authentication.
    answer = probe(SPARE, WORKER_1)
    assert answer.startswith("error no pg_hba.conf entry for host") and address(SPARE) in answer


def test_the_demo_trajectories_are_loaded():
    assert int(sql(COORDINATOR, "SELECT count(*) FROM mobilitydb_table")) == (VARS["citus_demo_trips"] * VARS["citus_demo_points_per_trip"])
    lengths = sql(COORDINATOR, TRIP_LENGTHS.format(table="mobilitydb_table")).splitlines()
    assert len(lengths) == VARS["citus_demo_trips"]
    assert len({line.split("|")[1] for line in lengths}) > 1  # trips differ


def test_check_mode_on_the_converged_cluster_changes_nothing():
    run = run_playbook("converge.yml", "--check")
    assert run.rc == 0, run.failures
    assert run.total("changed") == 0, run.output
    assert run.failures == {}


def test_a_reload_only_setting_does_not_restart_postgresql():
    started = {node: sql(node, "SELECT pg_postmaster_start_time()") for node in CLUSTER}
    run = run_playbook("converge.yml", extra_vars={"citus_postgresql_settings": {"log_min_duration_statement": "250ms"}})
    assert run.rc == 0, run.failures
    assert run.total("changed") > 0
    for node in CLUSTER:
        assert sql(node, "SHOW log_min_duration_statement") == "250ms"
        assert sql(node, "SELECT pg_postmaster_start_time()") == started[node]
    # Back to the scenario's settings, again without a restart.
    run = run_playbook("converge.yml")
    assert run.rc == 0, run.failures
    for node in CLUSTER:
        assert sql(node, "SHOW log_min_duration_statement") == "-1"
        assert sql(node, "SELECT pg_postmaster_start_time()") == started[node]


BAD_INPUT = {
    "two coordinators": ({"citus_coordinator": [COORDINATOR, WORKER_1]}, {}, "exactly one host in citus_coordinator"),
    "no coordinator": ({"citus_coordinator": []}, {}, "exactly one host in citus_coordinator"),
    "distribution column missing": (
        None,
        {"citus_distributed_tables": [{"name": "trips", "ddl": "CREATE TABLE trips (id int, t timestamptz)", "distribution_column": "vehicle"}]},
        "citus_distributed_tables[0] (trips): distribution_column 'vehicle' is not one of its columns (id, t)",
    ),
    "unknown PostgreSQL version": (None, {"citus_postgresql_version": 16}, "citus_postgresql_version 16 cannot be"),
    "PostgreSQL version Citus does not support": (
        None,
        {"citus_install_method": "upstream", "citus_postgresql_version": 18, "citus_package_file": "", "citus_version": "13.0"},
        "citus_version 13.0 does not support PostgreSQL 18",
    ),
    "empty password": (None, {"citus_app_password": ""}, "citus_app_password is empty"),
    "default password": (None, {"citus_postgres_password": "postgres"}, "citus_postgres_password is a well-known"),
    "too few locks": (None, {"citus_max_locks_per_transaction": 64}, "citus_max_locks_per_transaction (64) must be at least 128"),
    "a managed setting": (None, {"citus_postgresql_settings": {"wal_level": "replica"}}, "(found: wal_level)"),
    "exporter on every address": (None, {"citus_exporter_listen_address": "0.0.0.0"}, "citus_exporter_listen_address must be one"),
    "a renamed TLS variable": (None, {"citus_tls_cert_file": "/etc/ssl/node.crt"}, "were renamed citus_tls (selfsigned or provided"),
    "more copies than workers": (
        None,
        {"citus_distributed_tables": [{**VARS["citus_distributed_tables"][0], "replication_factor": 3}]},
        "citus_distributed_tables[0] (mobilitydb_table): replication_factor 3 needs 3 workers to hold the copies, and citus_workers has 2",
    ),
}


def inventory_of(groups: dict, prefix: str = "citus-bad-") -> Path:
    """An inventory of the nodes in these groups (citus_coordinator, citus_workers, ...), all of them in citus."""
    nodes = list(dict.fromkeys(node for members in groups.values() for node in members))
    # Each node's address as a host variable, as the inventory plugin sets it.
    hosts = {node: {"ansible_connection": "geostack.cluster.docker_api", "geostack_private_address": address(node)} for node in nodes}
    inventory = {
        "all": {
            "hosts": hosts,
            "children": {
                "citus": {"hosts": {node: {} for node in nodes}},
                **{group: {"hosts": {node: {} for node in members}} for group, members in groups.items()},
            },
        }
    }
    path = Path(tempfile.mkdtemp(prefix=prefix, dir=_SCRATCH.name)) / "hosts.yml"
    path.write_text(yaml.safe_dump(inventory))
    return path


def bad_inventory(groups: dict) -> Path:
    """The three cluster nodes with other group memberships."""
    return inventory_of({"citus_coordinator": [COORDINATOR], "citus_workers": [WORKER_1, WORKER_2], **groups})


@pytest.mark.parametrize("case", BAD_INPUT, ids=list(BAD_INPUT))
def test_bad_input_is_refused_before_anything_changes(case):
    groups, extra_vars, message = BAD_INPUT[case]
    run = run_playbook(
        "converge.yml",
        inventory=bad_inventory(groups) if groups is not None else None,
        extra_vars={"citus_enabled": True, **extra_vars},
    )
    assert_refused_before_any_change(run, message, "citus")
    # The secrets never reach the output.
    assert VARS["citus_app_password"] not in run.output and VARS["citus_postgres_password"] not in run.output


# Where Citus comes from: the spare node (no PostgreSQL yet) as a one-node
# cluster, against a Debian package index served on its own loopback, where
# the scenario's citus_repo_url points.
REPO_ROOT = "/srv/geostack-test-citus"
INDEX = """Package: postgresql-17-citus-14.0
Version: 14.0.0.citus-1
Architecture: amd64

Package: postgresql-17-citus-14.1
Version: 14.1.0.citus-1
Architecture: amd64

Package: postgresql-16-citus-15.0
Version: 15.0.0.citus-1
Architecture: amd64
"""


# The spare alone is a one-node cluster: one copy of each shard, and no Citus
# package, whatever GEOSTACK_CITUS_PACKAGE says (these tests are about the
# repository).
ALONE_VARS = {"citus_package_file": "",
              "citus_distributed_tables": [{**table, "replication_factor": 1} for table in VARS["citus_distributed_tables"]]}


@pytest.fixture
def spare_alone(tmp_path) -> Path:
    inventory = {
        "all": {
            "hosts": {SPARE: {"ansible_connection": "geostack.cluster.docker_api"}},
            "vars": {"geostack_private_address": "{{ ansible_facts['default_ipv4']['address'] }}"},
            "children": {"citus": {"hosts": {SPARE: {}}}, "citus_coordinator": {"hosts": {SPARE: {}}}},
        }
    }
    path = tmp_path / "hosts.yml"
    path.write_text(yaml.safe_dump(inventory))
    yield path
    sh(SPARE, "systemctl stop geostack-test-citus-repo; rm -rf " + REPO_ROOT, check=False)


def serve_index(node: str) -> None:
    """A real HTTP server on the node's loopback, serving INDEX where a Debian repository keeps it."""
    index = f"{REPO_ROOT}/citus/dists/trixie/main/binary-amd64/Packages"
    subprocess.run(["docker", "exec", "-i", node, "sh", "-c", f"mkdir -p {Path(index).parent} && cat > {index}"],
                   input=INDEX, text=True, check=True)
    sh(node, f"systemd-run --unit=geostack-test-citus-repo python3 -m http.server 8499 --bind 127.0.0.1 --directory {REPO_ROOT}")
    wait_for(lambda: sh(node, "python3 -c \"import urllib.request; urllib.request.urlopen('http://127.0.0.1:8499/citus/')\"",
                        check=False).returncode == 0, timeout=30)


def decision(run) -> str:
    found = re.search(r"Citus decision: (with_citus=\w+ series=[\d.]*)", run.output)
    assert found, run.output[-3000:]
    return found.group(1)


def test_auto_installs_the_newest_citus_series_the_repository_offers(spare_alone):
    serve_index(SPARE)
    run = run_playbook("preflight.yml", inventory=spare_alone, extra_vars=ALONE_VARS)
    assert run.rc == 0, run.failures
    assert decision(run) == "with_citus=True series=14.1"
    assert run.total("changed") == 0


def test_a_series_the_repository_does_not_offer_is_refused_naming_citus_version(spare_alone):
    serve_index(SPARE)
    run = run_playbook("preflight.yml", inventory=spare_alone, extra_vars={**ALONE_VARS, "citus_version": "13.0"})
    assert_refused_before_any_change(run, f"offers no postgresql-17-citus-13.0 for Debian trixie ({SPARE}). It offers "
                                          "citus_version 14.0, citus_version 14.1; set citus_version to one of those", "citus")


def test_auto_without_the_repository_runs_plain_postgresql_and_says_so(spare_alone):
    run = run_playbook("preflight.yml", inventory=spare_alone, extra_vars=ALONE_VARS)
    assert run.rc == 0, run.failures
    assert decision(run) == "with_citus=False series=14.0"
    assert "Citus is absent: citus_install_method is auto, no citus_package_file is given and " + SPARE in run.output


def test_distro_without_the_repository_is_refused_naming_the_node_and_the_way_out(spare_alone):
    run = run_playbook("preflight.yml", inventory=spare_alone, extra_vars={**ALONE_VARS, "citus_install_method": "distro"})
    assert_refused_before_any_change(run, f"{SPARE} cannot read Citus's repository", "citus")
    assert "or set citus_install_method: auto to run plain PostgreSQL while no node has Citus" in run.output


# With Citus: registration, distribution, scale-out and scale-in.


@needs_citus
def test_the_coordinator_and_the_workers_are_registered():
    rows = sql(COORDINATOR, "SELECT groupid = 0, nodename, isactive FROM pg_dist_node").splitlines()
    assert f"t|{address(COORDINATOR)}|t" in rows
    assert sorted(r for r in rows if r.startswith("f|")) == sorted(f"f|{address(w)}|t" for w in (WORKER_1, WORKER_2))


@needs_citus
def test_the_seed_table_is_spread_over_both_workers():
    placed = sql(
        COORDINATOR,
        "SELECT DISTINCT nodename FROM citus_shards WHERE table_name = 'mobilitydb_table'::regclass",
    ).split()
    assert sorted(placed) == sorted(address(w) for w in (WORKER_1, WORKER_2))
    assert sql(COORDINATOR, "SELECT count(*) FROM pg_dist_shard WHERE logicalrelid = 'mobilitydb_table'::regclass") == "8"
    reference = sql(COORDINATOR, "SELECT count(DISTINCT nodename) FROM citus_shards WHERE table_name = 'trip_kinds'::regclass")
    assert int(reference) >= 2


@needs_citus
def test_a_mobilitydb_query_on_the_distributed_table_matches_a_local_copy():
    sql(COORDINATOR, "DROP TABLE IF EXISTS mobility_local; CREATE TABLE mobility_local AS SELECT * FROM mobilitydb_table")
    try:
        assert sql(COORDINATOR, "SELECT count(*) FROM pg_dist_partition WHERE logicalrelid = 'mobility_local'::regclass") == "0"
        distributed = sql(COORDINATOR, TRIP_LENGTHS.format(table="mobilitydb_table"))
        local = sql(COORDINATOR, TRIP_LENGTHS.format(table="mobility_local"))
        assert distributed == local and len(distributed.splitlines()) == VARS["citus_demo_trips"]
    finally:
        sql(COORDINATOR, "DROP TABLE IF EXISTS mobility_local")


def rows_and_checksum() -> str:
    return sql(COORDINATOR, "SELECT count(*), md5(string_agg(column_dist || ':' || t, ',' ORDER BY column_dist, t)) FROM mobilitydb_table")


@needs_citus
def test_adding_a_worker_rebalances_shards_onto_it():
    before = rows_and_checksum()
    run = run_playbook("converge.yml", "-i", str(grown_inventory()))
    assert run.rc == 0, run.failures
    assert any(task.endswith("Wait for the rebalance or drain job to finish") for task in run.tasks)
    assert sql(COORDINATOR, f"SELECT isactive FROM pg_dist_node WHERE nodename = '{address(SPARE)}'") == "t"
    moved = int(sql(COORDINATOR, f"SELECT count(*) FROM citus_shards WHERE nodename = '{address(SPARE)}' AND citus_table_type = 'distributed'"))
    assert moved > 0
    assert rows_and_checksum() == before
    # Converging the grown cluster again changes nothing.
    again = run_playbook("converge.yml", "-i", str(grown_inventory()))
    assert again.rc == 0 and again.total("changed") == 0, again.output


@needs_citus
def test_removing_a_worker_drains_it_first_and_loses_no_row():
    before = rows_and_checksum()
    gone = address(WORKER_2)
    # The shard tables the worker holds now: after the drain, moved away, and their old tables dropped on it.
    held = sql(COORDINATOR, f"SELECT string_agg(shard_name, ',') FROM citus_shards WHERE nodename = '{gone}'"
                            " AND table_name = 'mobilitydb_table'::regclass")
    on_worker = f"SELECT count(*) FROM unnest(string_to_array('{held}', ',')) AS s WHERE to_regclass(s) IS NOT NULL"
    assert held and int(sql(WORKER_2, on_worker)) == len(held.split(","))
    args = ("-i", str(grown_inventory()), "-e", f"node={WORKER_2}", "-e", f"remove_node_confirm={WORKER_2}")
    run = run_playbook(PROJECT / "playbooks" / "remove_node.yml", *args)
    assert run.rc == 0, run.failures
    steps = (
        "Stop placing shards on the workers to remove",
        "Wait for the rebalance or drain job to finish",
        "Drop the old shard tables the drain left on the workers",
        "Remove the drained workers from pg_dist_node",
    )
    order = [step for task in run.tasks for step in steps if task.endswith(step)]
    assert order == list(steps)
    assert sql(COORDINATOR, f"SELECT count(*) FROM pg_dist_node WHERE nodename = '{gone}'") == "0"
    assert sql(COORDINATOR, f"SELECT count(*) FROM citus_shards WHERE nodename = '{gone}'") == "0"
    # The drain's old shard tables were dropped on the worker before it left: no deferred drop is left behind,
    # which would block every later copy of those shards (a worker that comes back empty could not be refilled).
    assert sql(COORDINATOR, "SELECT count(*) FROM pg_dist_cleanup") == "0"
    assert sql(WORKER_2, on_worker) == "0"
    assert rows_and_checksum() == before
    # The removed node itself was not touched: its PostgreSQL still runs.
    assert sql(WORKER_2, "SELECT 1") == "1"
    # A second run finds nothing to do.
    again = run_playbook(PROJECT / "playbooks" / "remove_node.yml", *args)
    assert again.rc == 0 and again.total("changed") == 0, again.output


# A node whose machine is replaced by an empty one under the same name (no `remove` first): the tests above leave
# the coordinator, WORKER_1 and the spare as workers.


def replace_by_an_empty_node(node: str) -> None:
    before = address(node)
    run = run_playbook(SCENARIO.parent / "resources" / "playbooks" / "replace.yml", extra_vars={"replaced": node})
    assert run.rc == 0, run.failures
    assert sh(node, "test -e /var/lib/postgresql", check=False).returncode == 1  # empty
    assert address(node) == before  # the same machine name and address, as on the local cloud


def current_inventory() -> Path:
    """The cluster as the scale tests leave it: WORKER_2 removed, the spare a worker."""
    return inventory_of({"citus_coordinator": [COORDINATOR], "citus_workers": [WORKER_1, SPARE]}, prefix="citus-inv-")


def short_shards(table: str) -> str:
    """How many of the table's shards have fewer placements than its colocation group's replication factor."""
    return sql(COORDINATOR, "SELECT count(*) FROM pg_dist_shard s JOIN pg_dist_partition p USING (logicalrelid)"
                            " JOIN pg_dist_colocation c USING (colocationid)"
                            f" WHERE s.logicalrelid = '{table}'::regclass AND"
                            " (SELECT count(*) FROM pg_dist_placement pl WHERE pl.shardid = s.shardid) < c.replicationfactor")


@needs_citus
def test_a_worker_that_came_back_empty_gets_its_shards_copied_back_from_the_other_copies():
    # Every shard of the seed table has 2 copies.
    current = current_inventory()
    before = rows_and_checksum()
    held = f"SELECT count(*) FROM citus_shards WHERE nodename = '{address(WORKER_1)}' AND table_name = 'mobilitydb_table'::regclass"
    assert int(sql(COORDINATOR, held)) > 0 and short_shards("mobilitydb_table") == "0"
    replace_by_an_empty_node(WORKER_1)

    # verify.yml names the worker, which has no PostgreSQL yet.
    report = run_playbook(PROJECT / "playbooks" / "verify.yml", inventory=current)
    assert report.rc != 0
    assert f"worker {WORKER_1} ({address(WORKER_1)}:5432) did not answer for" in report.output, report.output[-3000:]

    run = run_playbook("converge.yml", inventory=current)
    assert run.rc == 0, run.failures
    steps = ("Clear the pending cleanups before forgetting a worker that came back empty",
             "Forget the placements of the workers that came back empty (each shard has a copy elsewhere)",
             "Add the missing workers", "Copy the shards back up to their tables' number of copies")
    done = [step for task in run.changed_tasks().get(COORDINATOR, []) for step in steps if task.endswith(step)]
    assert list(dict.fromkeys(done)) == list(steps), run.changed_tasks()
    assert not any(task.endswith("Wait for the rebalance or drain job to finish") for task in run.tasks)
    # The rows are all there, every shard has its 2 copies again, and WORKER_1 holds its share.
    assert rows_and_checksum() == before
    assert short_shards("mobilitydb_table") == "0" and int(sql(COORDINATOR, held)) > 0
    assert sql(COORDINATOR, f"SELECT isactive FROM pg_dist_node WHERE nodename = '{address(WORKER_1)}'") == "t"

    again = run_playbook("converge.yml", inventory=current)
    assert again.rc == 0 and again.total("changed") == 0, again.output
    report = run_playbook(PROJECT / "playbooks" / "verify.yml", inventory=current)
    assert report.rc == 0, report.output[-3000:]


@needs_citus
def test_a_worker_that_came_back_empty_is_named_with_its_lost_shards_and_nothing_is_registered_over_it():
    # A table with one copy of each shard: WORKER_1's shards of it are lost with its disk.
    sql(COORDINATOR, "CREATE TABLE lost_trips (id bigint PRIMARY KEY);"
                     " SELECT create_distributed_table('lost_trips', 'id', colocate_with := 'none', shard_count := 4)"
                     " FROM (SELECT set_config('citus.shard_replication_factor', '1', true)) AS copies;"
                     " INSERT INTO lost_trips SELECT generate_series(1, 100)")
    assert int(sql(COORDINATOR, f"SELECT count(*) FROM citus_shards WHERE nodename = '{address(WORKER_1)}'"
                                " AND table_name = 'lost_trips'::regclass")) > 0
    lacking = int(sql(COORDINATOR, f"SELECT count(*) FROM citus_shards WHERE nodename = '{address(WORKER_1)}'"))
    replace_by_an_empty_node(WORKER_1)

    run = run_playbook("converge.yml", inventory=current_inventory())
    assert run.rc != 0
    assert run.failures.keys() == {COORDINATOR}, run.failures
    said = " ".join(run.failures[COORDINATOR])
    assert f"worker {WORKER_1} ({address(WORKER_1)}:5432) lacks {lacking} shard placement(s)" in said, said
    assert "mobilitydb_table" in said and "lost_trips" in said and "rows are lost" in said, said
    assert "restore its PostgreSQL data from a backup" in said, said
    assert run.changed_tasks().get(COORDINATOR, []) == [], run.changed_tasks()
    # The worker itself converged (an empty PostgreSQL with the extensions), and is still the registered one.
    assert sql(WORKER_1, "SELECT count(*) FROM pg_extension WHERE extname = 'citus'") == "1"
    assert sql(COORDINATOR, f"SELECT isactive FROM pg_dist_node WHERE nodename = '{address(WORKER_1)}'") == "t"

    report = run_playbook(PROJECT / "playbooks" / "verify.yml", inventory=current_inventory())
    assert report.rc != 0
    assert "shard placements" in report.output, report.output[-3000:]
    assert f"worker {WORKER_1} ({address(WORKER_1)}:5432) lacks {lacking} shard placement(s)" in report.output, report.output[-3000:]


@needs_citus
def test_a_coordinator_that_came_back_empty_is_refused_before_it_registers_a_worker():
    replace_by_an_empty_node(COORDINATOR)

    run = run_playbook("converge.yml", "-i", str(grown_inventory()))
    assert run.rc != 0
    said = " ".join(run.failures.get(COORDINATOR, []))
    assert f"{SPARE}" in said and "the coordinator came back empty" in said and "Nothing was registered" in said, run.failures
    assert sql(COORDINATOR, "SELECT count(*) FROM pg_dist_node WHERE groupid <> 0") == "0"
