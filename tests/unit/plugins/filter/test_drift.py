"""The roles' drift filters: what a read of the node (or of an API) says the role would change."""

import base64
import hashlib
import hmac
import json
import os

import pytest
from ansible.errors import AnsibleFilterError
from ansible_collections.geostack.cluster.plugins.filter.citus import (
    citus_drift,
    citus_lost_shards,
    citus_metadata_holders,
    citus_probe_sql,
    citus_query,
    citus_recopy_workers,
    citus_short_copies,
    postgres_password_matches,
)
from ansible_collections.geostack.cluster.plugins.filter.rabbitmq import (
    rabbitmq_definitions,
    rabbitmq_definitions_drift,
    rabbitmq_drift,
    rabbitmq_missing_queues,
    rabbitmq_not_running,
    rabbitmq_password_matches,
    rabbitmq_queue_conflicts,
)


def rabbit_hash(password, salt=b"\x01\x02\x03\x04"):
    """As RabbitMQ stores a password (rabbit_password_hashing_sha256)."""
    return base64.b64encode(salt + hashlib.sha256(salt + password.encode()).digest()).decode()


def scram(password, salt=b"0123456789abcdef", iterations=4096):
    """As PostgreSQL stores a password (password_encryption = scram-sha-256)."""
    salted = hashlib.pbkdf2_hmac("sha256", password.encode(), salt, iterations)
    stored = hashlib.sha256(hmac.new(salted, b"Client Key", hashlib.sha256).digest()).digest()
    server = hmac.new(salted, b"Server Key", hashlib.sha256).digest()
    return f"SCRAM-SHA-256${iterations}:{base64.b64encode(salt).decode()}${base64.b64encode(stored).decode()}:{base64.b64encode(server).decode()}"


def test_rabbitmq_passwords_are_checked_against_the_stored_hash():
    assert rabbitmq_password_matches("s3cret-Pass", rabbit_hash("s3cret-Pass"))
    assert not rabbitmq_password_matches("other", rabbit_hash("s3cret-Pass"))
    assert not rabbitmq_password_matches("x", "", "rabbit_password_hashing_sha256")
    assert not rabbitmq_password_matches("x", rabbit_hash("x"), "an_unknown_algorithm")


NODES = ["rabbit@m1", "rabbit@m2"]
WANTED = {
    "nodes": NODES, "plugins": ["rabbitmq_management"], "admin_user": "admin", "admin_password": "admin-Secret-1",
    "users": [{"name": "app", "password": "app-Secret-2", "vhost": "rs"}], "vhosts": ["rs"],
    "queues": [{"name": "readQ", "vhost": "rs"}], "policies": [{"name": "ha", "vhost": "rs", "pattern": ".*", "tags": {"max-length": 10}}],
}


def api(**changes):
    """The management API's answers for a cluster that matches WANTED, with changes."""
    definitions = {
        "users": [{"name": "admin", "password_hash": rabbit_hash("admin-Secret-1"), "hashing_algorithm": "rabbit_password_hashing_sha256",
                   "tags": ["administrator"]},
                  {"name": "app", "password_hash": rabbit_hash("app-Secret-2"), "hashing_algorithm": "rabbit_password_hashing_sha256",
                   "tags": []}],
        "vhosts": [{"name": "/"}, {"name": "rs"}],
        "permissions": [{"user": "admin", "vhost": v, "configure": ".*", "write": ".*", "read": ".*"} for v in ("/", "rs")]
        + [{"user": "app", "vhost": "rs", "configure": "^$", "write": ".*", "read": ".*"}],
        "queues": [{"name": "readQ", "vhost": "rs", "durable": True, "arguments": {"x-queue-type": "quorum"}}],
        "policies": [{"name": "ha", "vhost": "rs", "pattern": ".*", "apply-to": "all", "priority": 0, "definition": {"max-length": 10}}],
    }
    nodes = [{"name": n, "running": True, "enabled_plugins": ["rabbitmq_management", "rabbitmq_prometheus"]} for n in NODES]
    queues = [{"name": "readQ", "vhost": "rs", "type": "quorum", "members": NODES}]
    answers = {"nodes": nodes, "definitions": definitions, "queues": queues}
    for path, value in changes.items():
        *parents, leaf = path.split("__")
        target = answers
        for key in parents:
            target = target[int(key)] if isinstance(target, list) else target[key]
        target[int(leaf) if isinstance(target, list) else leaf] = value
    return {name: {"status": 200, "json": json.loads(json.dumps(body))} for name, body in answers.items()}


def test_a_cluster_that_matches_has_no_drift():
    assert rabbitmq_drift(api(), WANTED) == []


@pytest.mark.parametrize(
    ("changes", "reason"),
    [
        ({"nodes__1__running": False}, "rabbit@m2 is not a running member"),
        ({"nodes__0__enabled_plugins": []}, "rabbit@m1 lacks plugins rabbitmq_management"),
        ({"definitions__vhosts": [{"name": "/"}]}, "vhost rs is missing"),
        ({"definitions__users__1__password_hash": rabbit_hash("changed-by-hand")}, "user app has another password"),
        ({"definitions__users__0__tags": []}, "user admin has tags [] (want ['administrator'])"),
        ({"definitions__permissions__2__write": "^$"}, "user app has other permissions on vhost rs"),
        ({"definitions__queues": []}, "queue rs/readQ is missing"),
        ({"definitions__queues__0__arguments": {"x-queue-type": "classic"}}, "queue rs/readQ has other properties"),
        ({"queues__0__members": NODES[:1]}, "quorum queue rs/readQ has no replica on rabbit@m2"),
        ({"definitions__policies__0__pattern": "^x"}, "policy rs/ha is missing or differs"),
    ],
)
def test_each_difference_is_named(changes, reason):
    assert rabbitmq_drift(api(**changes), WANTED) == [reason]


def test_a_guest_user_and_an_unreadable_api_are_differences():
    answers = api()
    answers["definitions"]["json"]["users"].append({"name": "guest", "tags": ["administrator"]})
    assert rabbitmq_drift(answers, WANTED) == ["user guest exists"]
    answers["nodes"] = {"status": -1, "error": "connection refused"}
    assert rabbitmq_drift(answers, WANTED) == ["the management API's nodes could not be read (-1 connection refused)"]


def stored(definitions):
    """The import file as /api/definitions shows it once RabbitMQ imported it: passwords hashed, the default vhost there."""
    users = [{"name": u["name"], "password_hash": rabbit_hash(u["password"]), "hashing_algorithm": "rabbit_password_hashing_sha256",
              "tags": u["tags"]} for u in definitions["users"]]
    return dict(definitions, users=users, vhosts=[{"name": "/"}, *definitions["vhosts"]])


def test_the_import_file_holds_every_wanted_definition_and_nothing_else():
    definitions = rabbitmq_definitions(WANTED)
    assert sorted(definitions) == ["permissions", "policies", "users", "vhosts"]
    assert definitions["users"] == [{"name": "admin", "password": "admin-Secret-1", "tags": ["administrator"]},
                                    {"name": "app", "password": "app-Secret-2", "tags": []}]
    assert {(p["user"], p["vhost"]) for p in definitions["permissions"]} == {("admin", "/"), ("admin", "rs"), ("app", "rs")}
    assert definitions["policies"] == [{"vhost": "rs", "name": "ha", "pattern": ".*", "apply-to": "all", "priority": 0,
                                        "definition": {"max-length": 10}}]
    # Imported, it leaves nothing to change; without it, each part is missing.
    assert rabbitmq_definitions_drift(stored(definitions), WANTED) == []
    assert rabbitmq_definitions_drift({"vhosts": [{"name": "/"}]}, WANTED) == [
        "vhost rs is missing", "user admin is missing", "user app is missing", "policy rs/ha is missing or differs"]


def test_the_guest_user_counts_only_where_asked():
    definitions = stored(rabbitmq_definitions(WANTED))
    definitions["users"].append({"name": "guest", "tags": ["administrator"]})
    assert rabbitmq_definitions_drift(definitions, WANTED) == ["user guest exists"]
    assert rabbitmq_definitions_drift(definitions, WANTED, guest=False) == []
    with pytest.raises(AnsibleFilterError, match="needs /api/definitions"):
        rabbitmq_definitions_drift(None, WANTED)


def test_queues_that_exist_alike_are_kept_and_those_that_differ_are_named():
    existing = [{"name": "readQ", "vhost": "rs", "durable": True, "arguments": {"x-queue-type": "quorum", "x-max-length": 5}},
                {"name": "old", "vhost": "/", "durable": False, "arguments": {}}]
    wanted = [{"name": "readQ", "vhost": "rs", "arguments": {"x-max-length": 5}}, {"name": "writeQ", "vhost": "rs"}]
    assert rabbitmq_queue_conflicts(existing, wanted) == []
    assert rabbitmq_missing_queues(existing, wanted) == [{"name": "writeQ", "vhost": "rs"}]
    # Another type, durability or argument value: named, with what exists and what was asked.
    assert rabbitmq_queue_conflicts(existing, [{"name": "readQ", "vhost": "rs", "type": "classic"}]) == [
        'Queue readQ in vhost rs already exists as a durable quorum queue with arguments {"x-queue-type": "quorum", "x-max-length": 5},'
        ' which conflicts with rabbitmq_queues ({"name": "readQ", "vhost": "rs", "type": "classic"}). RabbitMQ cannot change a queue'
        " in place and the role never deletes one: migrate its messages and delete it yourself, or change rabbitmq_queues."]
    asked = [{"name": "old", "type": "classic"}, {"name": "readQ", "vhost": "rs", "arguments": {"x-max-length": 6}}]
    conflicts = rabbitmq_queue_conflicts(existing, asked)
    assert [c.split(" with arguments")[0] for c in conflicts] == [
        "Queue old in vhost / already exists as a transient classic queue", "Queue readQ in vhost rs already exists as a durable quorum queue"]
    assert rabbitmq_missing_queues(None, wanted) == wanted


def test_a_classic_queue_stored_without_its_type_matches_both_checks_alike():
    # RabbitMQ lists a classic queue declared without x-queue-type with no such argument: that is a classic queue,
    # for the drift check as for the conflict check (they share one predicate).
    classic = {"name": "readQ", "vhost": "rs", "durable": True, "arguments": {}}
    wanted = dict(WANTED, queues=[{"name": "readQ", "vhost": "rs", "type": "classic"}])
    answers = api(definitions__queues=[classic], queues__0__type="classic")
    assert rabbitmq_drift(answers, wanted) == []
    assert rabbitmq_queue_conflicts([classic], wanted["queues"]) == []
    # Asked for as a quorum queue, both name it.
    assert rabbitmq_drift(answers, WANTED) == ["queue rs/readQ has other properties"]
    assert rabbitmq_queue_conflicts([classic], WANTED["queues"])[0].startswith(
        "Queue readQ in vhost rs already exists as a durable classic queue with arguments {},")


def test_postgres_passwords_are_checked_against_scram_and_md5():
    assert postgres_password_matches("pg-Secret-2", scram("pg-Secret-2"))
    assert not postgres_password_matches("pg-Secret-3", scram("pg-Secret-2"))
    md5 = "md5" + hashlib.md5(b"pg-Secret-2postgres").hexdigest()
    assert postgres_password_matches("pg-Secret-2", md5, "postgres")
    assert not postgres_password_matches("pg-Secret-2", None)


CITUS_WANTED = {
    "managed_settings": ["port"], "conf_file": "/etc/postgresql/17/main/conf.d/geostack.conf", "app_user": "geo",
    "app_password": "app-Secret-1", "postgres_password": "pg-Secret-2", "exporter_role": "prometheus", "database": "geo",
    "extensions": ["citus", "postgis"], "coordinator": True, "citus": True, "tables": [{"name": "t"}], "address": "10.0.0.1",
    "port": 5432, "workers": ["10.0.0.2"], "demo_table": "t",
}


def citus_answers(server=None, database=None):
    server_state = {"pending": [], "shadowed": [], "monitor": True, "database": {"owner": "geo"},
                    "roles": {"postgres": {"login": True, "password": scram("pg-Secret-2")},
                              "geo": {"login": True, "password": scram("app-Secret-1", os.urandom(16))},
                              "prometheus": {"login": True, "password": None}}}
    db_state = {"extensions": ["citus", "plpgsql", "postgis"], "tables": [{"name": "t", "present": True, "distributed": True}],
                "nodes": [{"name": "10.0.0.1", "port": 5432, "group": 0, "active": True},
                          {"name": "10.0.0.2", "port": 5432, "group": 1, "active": True}], "demo_rows": 100}
    server_state.update(server or {})
    db_state.update(database or {})
    return {"server": {"rc": 0, "stdout": json.dumps(server_state)}, "database": {"rc": 0, "stdout": json.dumps(db_state)}}


def test_a_citus_node_that_matches_has_no_drift():
    assert citus_drift(citus_answers(), CITUS_WANTED) == []


@pytest.mark.parametrize(
    ("server", "database", "reason"),
    [
        ({"pending": ["shared_buffers"]}, None, "shared_buffers waits for a restart"),
        ({"shadowed": ["port"]}, None, "port is set outside geostack.conf"),
        ({"roles": {"postgres": {"login": True, "password": scram("x")}, "geo": {"login": True, "password": scram("app-Secret-1")},
                    "prometheus": {"login": True}}}, None, "role postgres has another password"),
        ({"monitor": False}, None, "role prometheus is not in pg_monitor"),
        (None, {"extensions": ["citus"]}, "extension postgis is missing"),
        (None, {"tables": [{"name": "t", "present": True, "distributed": False}]}, "table t is not distributed"),
        (None, {"nodes": [{"name": "10.0.0.1", "port": 5432, "group": 0, "active": True}]}, "worker 10.0.0.2 is not an active node"),
        (None, {"demo_rows": 0}, "table t has no demo rows"),
    ],
)
def test_each_citus_difference_is_named(server, database, reason):
    assert citus_drift(citus_answers(server, database), CITUS_WANTED) == [reason]


MISSING = [  # two shards of t with one placement each on 10.0.0.2, and one of two copies of a shard of r
    {"table": "t", "node": "10.0.0.2", "port": 5432, "shard": 102008, "copies": 1},
    {"table": "t", "node": "10.0.0.2", "port": 5432, "shard": 102010, "copies": 1},
    {"table": "r", "node": "10.0.0.2", "port": 5432, "shard": 102040, "copies": 2},
]


def test_a_worker_that_came_back_empty_is_named_with_its_tables_and_lost_shards():
    assert citus_lost_shards(MISSING, {"10.0.0.2": "w-1"}) == [
        "worker w-1 (10.0.0.2:5432) lacks 3 shard placement(s) the coordinator lists on it (r 1, t 2);"
        " 2 of those shards had no other copy, so their rows are lost"]
    # Both copies of a shard missing: that shard is lost too; a worker without an inventory name is named by address.
    both = [*MISSING, {"table": "r", "node": "10.0.0.3", "port": 5432, "shard": 102040, "copies": 2}]
    assert citus_lost_shards(both)[0].endswith("3 of those shards had no other copy, so their rows are lost")
    assert citus_lost_shards(both)[1].startswith("worker 10.0.0.3:5432 lacks 1 shard placement(s)")
    assert citus_lost_shards([]) == [] and citus_lost_shards(None) == []


def test_a_worker_whose_shards_all_have_another_copy_is_one_site_yml_copies_back():
    copied = [{"table": "t", "node": "10.0.0.2", "port": 5432, "shard": s, "copies": 2} for s in (1, 2)]
    assert citus_lost_shards(copied, {"10.0.0.2": "w-1"}) == [
        "worker w-1 (10.0.0.2:5432) lacks 2 shard placement(s) the coordinator lists on it (t 2);"
        " every one of those shards has a copy on another worker, which site.yml copies back"]
    assert citus_recopy_workers(copied) == ["10.0.0.2"]
    # Nothing to refuse for that worker; a lost shard anywhere on it, or both copies gone, is refused instead.
    assert citus_lost_shards(copied, unrecoverable=True) == []
    assert citus_recopy_workers(MISSING) == [] and len(citus_lost_shards(MISSING, unrecoverable=True)) == 1
    both = [*copied, {"table": "t", "node": "10.0.0.3", "port": 5432, "shard": 1, "copies": 2}]
    assert citus_recopy_workers(both) == [] and len(citus_lost_shards(both, unrecoverable=True)) == 2


def test_a_worker_that_does_not_answer_is_never_copied_back():
    down = [{"table": "t", "node": "10.0.0.3", "port": 5432, "shard": 1, "copies": 2, "answered": False, "error": "refused"}]
    assert citus_recopy_workers(down) == [] and citus_lost_shards(down, unrecoverable=True) != []


def test_tables_short_of_their_copies_are_named_and_a_difference_on_the_coordinator():
    under = [{"table": "t", "copies": 2, "shards": 3}]
    assert citus_short_copies(under) == ["table t has 3 shard(s) with fewer than its 2 copies, which site.yml copies back"]
    assert citus_short_copies([]) == [] and citus_short_copies(None) == []
    assert citus_drift(citus_answers(None, {"under": under}), CITUS_WANTED) == citus_short_copies(under)
    assert citus_query("under_replicated") in citus_probe_sql(CITUS_WANTED)["database"]


def test_a_worker_that_does_not_answer_is_named_apart_from_lost_shards():
    down = [{"table": "t", "node": "10.0.0.3", "port": 5432, "shard": s, "copies": 1, "answered": False,
             "error": "connection to the remote node 10.0.0.3:5432 failed\nmore"} for s in (1, 2)]
    assert citus_lost_shards(down) == [
        "worker 10.0.0.3:5432 did not answer for 2 shard placement(s) (connection to the remote node 10.0.0.3:5432 failed)"]


def test_missing_placements_are_a_difference_on_the_coordinator():
    drift = citus_drift(citus_answers(None, {"missing": MISSING[:1]}), CITUS_WANTED)
    assert drift == ["worker 10.0.0.2:5432 lacks 1 shard placement(s) the coordinator lists on it (t 1);"
                     " 1 of those shards had no other copy, so their rows are lost"]
    assert citus_query("missing_placements") in citus_probe_sql(CITUS_WANTED)["database"]


def test_an_unreadable_server_or_missing_database_is_a_difference():
    assert citus_drift({"server": {"rc": 2, "stdout": ""}}, CITUS_WANTED) == ["PostgreSQL could not be read"]
    answers = citus_answers({"database": None})
    assert citus_drift(answers, CITUS_WANTED) == ["database geo is missing or not owned by geo"]


def test_the_probe_queries_quote_what_they_are_given():
    sql = citus_probe_sql({**CITUS_WANTED, "app_user": "o'brien"})
    assert "'o''brien'" in sql["server"] and "pg_dist_node" in sql["database"]
    assert "pg_dist_node" not in citus_probe_sql({**CITUS_WANTED, "citus": False})["database"]


def web_state(current, venv, requirements_sum="abc", ls_remote=""):
    from ansible_collections.geostack.cluster.plugins.filter.web import web_venv_id

    files = {
        "/srv/w/a/current": {"exists": True, "type": "link", "target": current},
        "/srv/w/a/current/requirements.txt": {"exists": True, "type": "file", "checksum": requirements_sum},
        "/srv/w/a/venv": {"exists": True, "type": "link", "target": f"/srv/w/a/venvs/{web_venv_id(venv, '23.0.0', '3.13.5')}"},
    }
    return {"files": files, "commands": {"git-a": {"rc": 0, "stdout": ls_remote}}}


def test_a_web_app_on_its_release_and_virtualenv_has_no_drift():
    from ansible_collections.geostack.cluster.plugins.filter.web import web_apps_drift

    app = {"name": "a", "base": "/srv/w/a", "subdir": "", "requirements": "requirements.txt", "release": "r1", "git": None}
    assert web_apps_drift([app], web_state("/srv/w/a/releases/r1", "abc"), "23.0.0", "3.13.5") == []
    assert web_apps_drift([app], web_state("/srv/w/a/releases/r0", "abc"), "23.0.0", "3.13.5") == [
        "app a: current does not point to /srv/w/a/releases/r1"]
    assert web_apps_drift([app], web_state("/srv/w/a/releases/r1", "old"), "23.0.0", "3.13.5")[0].startswith(
        "app a: venv does not point to /srv/w/a/venvs/")


def test_a_git_app_is_on_the_commit_its_version_names():
    from ansible_collections.geostack.cluster.plugins.filter.web import web_apps_drift

    sha, tagged = "1" * 40, "2" * 40
    app = {"name": "a", "base": "/srv/w/a", "subdir": "", "requirements": "requirements.txt", "release": "",
           "git": {"source": "file:///r", "version": "main"}}
    listing = f"{sha}\trefs/heads/main\n"
    assert web_apps_drift([app], web_state(f"/srv/w/a/releases/{sha[:16]}", "abc", ls_remote=listing), "23.0.0", "3.13.5") == []
    moved = f"{'3' * 40}\trefs/heads/main\n"
    assert web_apps_drift([app], web_state(f"/srv/w/a/releases/{sha[:16]}", "abc", ls_remote=moved), "23.0.0", "3.13.5") == [
        f"app a: current does not point to /srv/w/a/releases/{'3' * 16}"]
    tag = dict(app, git={"source": "file:///r", "version": "v1"})
    peeled = f"{'4' * 40}\trefs/tags/v1\n{tagged}\trefs/tags/v1^{{}}\n"
    assert web_apps_drift([tag], web_state(f"/srv/w/a/releases/{tagged[:16]}", "abc", ls_remote=peeled), "23.0.0", "3.13.5") == []
    assert web_apps_drift([app], web_state("/x", "abc", ls_remote=""), "23.0.0", "3.13.5") == [
        "app a: main of its repository could not be read"]


def test_only_the_web_apps_that_differ_are_named():
    from ansible_collections.geostack.cluster.plugins.filter.web import web_app_drifts

    base = {"subdir": "", "requirements": "requirements.txt", "release": "r1", "git": None}
    conf = {"dest": "/etc/geostack-web/a.conf.py", "content": "workers = 2\n", "owner": "root", "mode": "0640"}
    a = {**base, "name": "a", "user": "web-a", "base": "/srv/w/a", "files": [conf], "services": [{"name": "geostack-web-a.service"}]}
    b = {**base, "name": "b", "user": "web-b", "base": "/srv/w/b", "files": [], "services": []}
    state = web_state("/srv/w/a/releases/r1", "abc")
    state["files"]["/etc/geostack-web/a.conf.py"] = {"exists": True, "type": "file", "owner": "root", "mode": "0640",
                                                     "checksum": "0" * 40}
    state["services"] = {"geostack-web-a.service": {"load": "loaded", "active": "active", "enabled": "enabled"}}
    state["users"] = {"web-a": {"uid": 1}, "web-b": None}
    drifts = web_app_drifts([a, b], state, "23.0.0", "3.13.5")
    assert drifts["a"] == ["/etc/geostack-web/a.conf.py has other content"]
    assert drifts["b"][0] == "user web-b is missing"


@pytest.mark.parametrize(("status", "down"), [
    ({"disk_nodes": ["rabbit@a", "rabbit@b", "rabbit@c"], "running_nodes": ["rabbit@c", "rabbit@a", "rabbit@b"]}, []),
    ({"disk_nodes": ["rabbit@c", "rabbit@a", "rabbit@b"], "running_nodes": ["rabbit@a"]}, ["rabbit@b", "rabbit@c"]),
    ({"disk_nodes": ["rabbit@a"]}, ["rabbit@a"]),
    ({}, []),
])
def test_rabbitmq_not_running_names_the_members_that_do_not_run(status, down):
    assert rabbitmq_not_running(status) == down


def test_the_workers_holding_a_coordinators_metadata_are_found_from_their_reads():
    def read(rc, stdout):
        return {"__citus_state": {"commands": {"database": {"rc": rc, "stdout": stdout}}}}
    hostvars = {"w-1": read(0, json.dumps({"metadata": 2})), "w-2": read(0, json.dumps({"metadata": 0})),
                "w-3": read(2, ""), "w-4": read(0, "not json"), "w-5": {}}
    assert citus_metadata_holders(["w-1", "w-2", "w-3", "w-4", "w-5"], hostvars) == ["w-1"]
    assert citus_metadata_holders([], hostvars) == []
