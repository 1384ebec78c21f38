"""The web role's input checks, route health checks and the tree_checksum lookup."""

from pathlib import Path

import pytest
from ansible_collections.geostack.cluster.plugins.filter.web import (
    web_input_errors,
    web_load_balancer_errors,
    web_probe_failures,
    web_route_checks,
    web_source_type,
)
from ansible_collections.geostack.cluster.plugins.lookup.tree_checksum import tree_checksum

ROOT = Path(__file__).resolve().parents[4]

USERS = {"name": "users", "source": "apps/users", "module": "app:app", "health": "/api/v1/users/health"}
RIDES = {"name": "rides", "source": "https://git.example.org/rides.git", "version": "v1.2", "module": "app:app", "health": "/health"}
ROUTES = [{"path": "/api/v1/users", "app": "users"}, {"path": "/", "app": "rides"}]


def test_the_rideshare_example_is_sound():
    assert web_input_errors([USERS, RIDES], ROUTES) == []


@pytest.mark.parametrize(
    ("app", "kind"),
    [
        ({"source": "apps/users"}, "dir"),
        ({"source": "https://example.org/app-1.0.tar.gz"}, "archive"),
        ({"source": "/srv/app.ZIP"}, "archive"),
        ({"source": "git@example.org:team/app"}, "git"),
        ({"source": "https://example.org/app.git"}, "git"),
        ({"source": "file:///srv/repos/app", "version": "main"}, "git"),
        ({"source": "whatever", "type": "archive"}, "archive"),
    ],
)
def test_source_type(app, kind):
    assert web_source_type(app) == kind


def test_an_app_without_an_entry_point_is_named():
    assert web_input_errors([dict(USERS, module=None)], ROUTES[:1]) == [
        "web_apps[0] (users).module is missing: the WSGI entry point, as module:variable (e.g. app:app)"
    ]
    assert "is not a WSGI entry point" in web_input_errors([dict(USERS, module="app")], ROUTES[:1])[0]


def test_a_route_to_an_unknown_app_is_named():
    errors = web_input_errors([USERS], [{"path": "/drivers", "app": "drivers"}])
    assert errors == ["web_routes[0] (/drivers).app 'drivers' is not in web_apps (users)"]


@pytest.mark.parametrize("second", ["/api/v1/users", "/api/v1/users/"])
def test_two_routes_on_the_same_path_are_named(second):
    errors = web_input_errors([USERS, RIDES], [ROUTES[0], {"path": second, "app": "rides"}])
    assert errors == [f"web_routes[1] ({second}).path is also web_routes[0]'s path (users): two routes on the same path"]


@pytest.mark.parametrize(
    ("app", "fragment"),
    [
        (dict(RIDES, version=None), "web_apps[0] (rides).version is missing"),
        ({"name": "a", "source": "https://x.org/a.tar.gz", "module": "m:a"}, "web_apps[0] (a).checksum must be sha256"),
        ({"name": "a", "source": "https://x.org/a", "type": "dir", "module": "m:a"}, "is a URL; a dir source"),
        (dict(USERS, name="Users"), "name 'Users' must be"),
        (dict(USERS, source=""), "(users).source is missing"),
        (dict(USERS, type="svn"), "(users).type 'svn' is not one of"),
        (dict(USERS, workers=0), "(users).workers 0 must be an integer of at least 1"),
        (dict(USERS, threads="two"), "(users).threads 'two' must be"),
        (dict(USERS, env={"BAD-NAME": "x"}), "'BAD-NAME' is not a valid environment variable name"),
        (dict(USERS, health="health"), "(users).health 'health' must be a path starting with /"),
        (dict(USERS, subdir="../etc"), "(users).subdir '../etc' must be a path inside the source"),
    ],
)
def test_app_mistakes_are_named(app, fragment):
    errors = web_input_errors([app], [])
    assert len(errors) == 1 and fragment in errors[0], errors


@pytest.mark.parametrize(
    ("route", "fragment"),
    [
        ({"path": "api", "app": "users"}, "path 'api' must start with /"),
        ({"path": "/a b", "app": "users"}, "must start with / and contain no spaces"),
        ({"path": "/x", "app": "users", "upstream": "stomp"}, "needs exactly one of app"),
        ({"path": "/x"}, "needs exactly one of app"),
        ({"path": "/x", "upstream": "nope"}, "upstream 'nope' is not in web_upstreams (stomp)"),
        ({"path": "/x", "app": "users", "status": [200, 999]}, "status [200, 999] must be HTTP status codes"),
    ],
)
def test_route_mistakes_are_named(route, fragment):
    errors = web_input_errors([USERS], [route], [{"name": "stomp", "servers": ["10.0.0.1:15674"]}])
    assert len(errors) == 1 and fragment in errors[0], errors


def test_upstream_and_duplicate_app_mistakes():
    errors = web_input_errors([USERS, USERS], [], [{"name": "s", "servers": []}, {"name": "s", "servers": ["a:1"]}])
    assert errors == [
        "web_apps: the name 'users' is used twice",
        "web_upstreams[0].servers must be a non-empty list of host:port strings",
        "web_upstreams[1].name 's' is used twice in web_upstreams",
    ]


def test_not_lists_are_refused():
    assert web_input_errors({"name": "users"}, []) == ["web_apps must be a list, got dict"]


def test_route_checks_use_the_app_health_only_where_nginx_sends_it():
    tiles = {"name": "tiles", "source": "tiles_app", "module": "app:app", "health": "/health"}
    routes = [{"path": "/api/v1/users", "app": "users"}, {"path": "/tiles/", "app": "tiles"}, {"path": "/", "app": "rides"}]
    assert web_route_checks(routes, [USERS, RIDES, tiles]) == [
        {"route": "/api/v1/users", "path": "/api/v1/users/health", "status": [200]},
        # /health belongs to the / route (rides), so the tiles route is checked at its own path.
        {"route": "/tiles/", "path": "/tiles/", "status": [200]},
        {"route": "/", "path": "/health", "status": [200]},
    ]
    assert web_route_checks([{"path": "/", "app": "rides", "health": "/ping", "status": 204}], [RIDES]) == [
        {"route": "/", "path": "/ping", "status": [204]}
    ]


def test_tree_checksum_follows_content_names_and_modes_only(tmp_path):
    (tmp_path / "pkg").mkdir()
    (tmp_path / "app.py").write_text("app = 1\n")
    (tmp_path / "pkg" / "m.py").write_text("x = 1\n")
    first = tree_checksum(str(tmp_path))
    (tmp_path / "__pycache__").mkdir()
    (tmp_path / "__pycache__" / "app.cpython-313.pyc").write_bytes(b"\0")
    (tmp_path / "pkg" / "m.pyc").write_bytes(b"\0")
    assert tree_checksum(str(tmp_path)) == first
    (tmp_path / "pkg" / "m.py").write_text("x = 2\n")
    second = tree_checksum(str(tmp_path))
    assert second != first
    (tmp_path / "pkg" / "m.py").chmod(0o755)
    assert tree_checksum(str(tmp_path)) != second
    (tmp_path / "pkg" / "m.py").rename(tmp_path / "pkg" / "n.py")
    assert tree_checksum(str(tmp_path)) not in (first, second)


def test_web_probe_failures_names_each_bad_route():
    checks = web_route_checks([{"path": "/", "app": "rides"}, {"path": "/users", "app": "users"}, {"path": "/old", "status": [301, 302]}],
                              [RIDES, USERS])
    results = [
        {"item": checks[0], "status": 200},
        {"item": checks[1], "status": 502},
        {"item": checks[2], "status": -1, "msg": "Status code was -1 and not [301, 302]: Request failed: <urlopen error [Errno 111] Connection refused>"},
    ]
    assert web_probe_failures(results) == [
        f"route /users (GET {checks[1]['path']}) answered 502, expected 200",
        "route /old (GET /old) did not answer (Status code was -1 and not [301, 302]: Request failed: <urlopen error [Errno 111] "
        "Connection refused>), expected 301 or 302",
    ]
    assert web_probe_failures(results[:1]) == []


def test_tree_checksum_skips_the_exclude_patterns_by_path_or_by_name_anywhere(tmp_path):
    (tmp_path / "app.py").write_text("app = 1\n")
    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "guide.txt").write_text("kept\n")
    first = tree_checksum(str(tmp_path), ["*.log", "node_modules"])
    (tmp_path / "debug.log").write_text("x\n")
    (tmp_path / "docs" / "deep.log").write_text("x\n")
    (tmp_path / "web" / "node_modules" / "left").mkdir(parents=True)
    (tmp_path / "web" / "node_modules" / "left" / "pad.js").write_text("x\n")
    (tmp_path / ".git").write_text("gitdir: elsewhere\n")  # a worktree's .git is a file
    assert tree_checksum(str(tmp_path), ["*.log", "node_modules"]) == first
    # Without the patterns the same tree differs; a directory named like a pattern's file part does not match.
    assert tree_checksum(str(tmp_path)) != first
    (tmp_path / "web" / "main.js").write_text("kept\n")
    assert tree_checksum(str(tmp_path), ["*.log", "node_modules"]) != first


def test_copy_exclusions_match_what_tree_checksum_skips(tmp_path):
    """The archive the role copies leaves out exactly the paths tree_checksum skips."""
    import fnmatch

    from ansible_collections.geostack.cluster.plugins.filter.web import web_copy_exclusions
    from ansible_collections.geostack.cluster.plugins.lookup.tree_checksum import ALWAYS_EXCLUDED, excluded

    patterns = web_copy_exclusions(["*.log", "docs/drafts"])
    paths = ["app.py", ".git/HEAD", "pkg/.git/config", ".venv/bin/python", "pkg/__pycache__/m.pyc", "m.pyc", "a.log",
             "logs/b.log", "docs/drafts/x.md", "docs/final.md", "src/docs/drafts/y.md", "drafts/z.md", "pkg/gitignore"]
    archive_skips = {p for p in paths if any(fnmatch.fnmatch(p, pattern) for pattern in patterns)}

    def skipped_by_checksum(path):
        parts = path.split("/")
        return any(excluded("/".join(parts[:i]), [*ALWAYS_EXCLUDED, "*.log", "docs/drafts"]) for i in range(1, len(parts) + 1))

    assert archive_skips == {p for p in paths if skipped_by_checksum(p)}
    assert archive_skips == {".git/HEAD", "pkg/.git/config", ".venv/bin/python", "pkg/__pycache__/m.pyc", "m.pyc", "a.log",
                             "logs/b.log", "docs/drafts/x.md", "src/docs/drafts/y.md"}


def test_app_paths_and_input_checks_know_state_migrate_preload_and_exclude():
    from ansible_collections.geostack.cluster.plugins.filter.web import web_app_paths

    paths = web_app_paths(dict(RIDES, migrate="python migrate.py", preload=True, exclude=["*.log"]), "/srv/w", "/etc/w", "/var/lib/w")
    assert (paths["state"], paths["migrate"], paths["preload"], paths["exclude"]) == ("/var/lib/w/rides", "python migrate.py", True, ["*.log"])
    plain = web_app_paths(RIDES, "/srv/w", "/etc/w")
    assert (plain["state"], plain["migrate"], plain["preload"], plain["exclude"]) == ("/var/lib/geostack-web/rides", "", False, [])
    errors = web_input_errors([dict(RIDES, migrate=["python", "m.py"], preload="yes", exclude=["../up"])], [{"path": "/", "app": "rides"}])
    assert errors == [
        "web_apps[0] (rides).migrate must be a shell command (a string)",
        "web_apps[0] (rides).preload must be true or false",
        "web_apps[0] (rides).exclude must be a list of glob patterns inside the source (e.g. [node_modules, '*.log'])",
    ]


def test_a_node_behind_the_load_balancer_must_serve_what_it_sends_to_its_group():
    lb_routes = [{"path": "/api/v1/users", "group": "web_users", "health": "/api/v1/users/health"},
                 {"path": "/", "group": "web_rides", "health": "/health"}]
    users_routes = [{"path": "/api/v1/users", "app": "users"}]
    assert web_load_balancer_errors(users_routes, lb_routes, "web_users") == []
    # Another group's routes, or no node group, ask nothing of this node.
    assert web_load_balancer_errors(users_routes, lb_routes, "") == []
    assert web_load_balancer_errors([{"path": "/", "app": "rides"}], lb_routes, "web_rides") == []
    # A rides node's routes on the users group: neither the path nor the health check would be served.
    assert web_load_balancer_errors([{"path": "/api/v1/rides", "app": "rides"}], lb_routes, "web_users") == [
        "provision_load_balancer_routes[0] sends path /api/v1/users to node group web_users, but its web_routes"
        " (/api/v1/rides) serve no prefix of it",
        "provision_load_balancer_routes[0] sends health /api/v1/users/health to node group web_users, but its web_routes"
        " (/api/v1/rides) serve no prefix of it"]
