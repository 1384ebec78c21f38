"""verify_rabbitmq_rows: the rows playbooks/verify.yml reports for RabbitMQ."""

from ansible_collections.geostack.cluster.plugins.filter.verify import verify_rabbitmq_rows

HOSTS = ["m-1", "m-2", "m-3"]
NAMES = [f"rabbit@{h}" for h in HOSTS]


def answer(host: str, listed: dict[str, bool]) -> dict:
    """A member's management API answers: its own name, and the nodes it lists (name: running)."""
    return {"_verify_ping": {"ping": "pong"}, "_verify_rabbitmq": {"http": {
        "overview": {"status": 200, "json": {"node": f"rabbit@{host}"}},
        "nodes": {"status": 200, "json": [{"name": n, "running": r} for n, r in listed.items()]},
    }}}


def rows(hostvars: dict) -> list[dict]:
    return verify_rabbitmq_rows(HOSTS, hostvars)


def test_one_cluster_of_every_member_is_healthy():
    everyone = dict.fromkeys(NAMES, True)
    summary, *members = rows({h: answer(h, everyone) for h in HOSTS})
    assert summary == {"layer": "rabbitmq", "check": "cluster size", "ok": True, "detail": "3 of 3 nodes running"}
    assert [m["ok"] for m in members] == [True, True, True]


def test_a_replaced_member_that_runs_alone_is_named_with_who_lists_whom():
    """m-1 came back empty: it runs alone, while m-2 and m-3 still list it (not running, to them)."""
    survivors = {NAMES[0]: False, NAMES[1]: True, NAMES[2]: True}
    hostvars = {"m-1": answer("m-1", {NAMES[0]: True}), "m-2": answer("m-2", survivors), "m-3": answer("m-3", survivors)}
    summary, *_rest = rows(hostvars)
    assert summary["ok"] is False
    assert summary["detail"] == (
        "3 of 3 nodes running; members disagree: m-1 lists rabbit@m-1; m-2, m-3 list rabbit@m-1, rabbit@m-2, rabbit@m-3."
        " Run site.yml --tags rabbitmq: a member that runs apart rejoins the largest cluster")


def test_a_stopped_member_is_a_failure():
    survivors = {NAMES[0]: True, NAMES[1]: True, NAMES[2]: False}
    hostvars = {h: answer(h, survivors) for h in HOSTS[:2]}
    hostvars["m-3"] = {"_verify_ping": {"ping": "pong"}, "_verify_rabbitmq": {"http": {
        "overview": {"status": -1, "error": "connection refused"}, "nodes": {"status": -1, "error": "connection refused"}}}}
    summary, *members = rows(hostvars)
    assert summary == {"layer": "rabbitmq", "check": "cluster size", "ok": False, "detail": "2 of 3 nodes running"}
    assert members[2]["ok"] is False and members[2]["detail"] == "the management API not running: connection refused"
