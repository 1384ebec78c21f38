"""The comparison behind node_state's drift and the files action: what counts as a difference."""

import pytest
from ansible_collections.geostack.cluster.plugins.module_utils import manifest

CONF = {"dest": "/etc/x.conf", "checksum": manifest.sha1(b"a=1\n"), "owner": "root", "group": "root", "mode": "0644"}
HAVE = {"exists": True, "type": "file", "owner": "root", "group": "root", "mode": "0644", "checksum": manifest.sha1(b"a=1\n")}


def test_a_matching_file_has_no_drift():
    assert manifest.file_drift(manifest.normalize_file(CONF), HAVE) == []


@pytest.mark.parametrize(
    ("have", "reason"),
    [
        ({"exists": False}, "/etc/x.conf is missing"),
        ({**HAVE, "checksum": manifest.sha1(b"a=2\n")}, "/etc/x.conf has other content"),
        ({**HAVE, "mode": "0666"}, "/etc/x.conf mode is 0666 (want 0644)"),
        ({**HAVE, "owner": "nobody"}, "/etc/x.conf owner is nobody (want root)"),
        ({**HAVE, "type": "directory"}, "/etc/x.conf is a directory (want a file)"),
    ],
)
def test_each_kind_of_file_drift_is_named(have, reason):
    assert manifest.file_drift(manifest.normalize_file(CONF), have) == [reason]


def test_an_unset_attribute_is_not_compared():
    assert manifest.file_drift(manifest.normalize_file({"dest": "/etc/x.conf", "checksum": HAVE["checksum"]}), {**HAVE, "mode": "0600"}) == []


def test_a_generated_file_counts_only_its_existence_and_attributes():
    key = manifest.normalize_file({"dest": "/etc/k.key", "exists_only": True, "mode": "0600"})
    assert manifest.file_drift(key, {**HAVE, "mode": "0600", "checksum": "anything"}) == []
    assert manifest.file_drift(key, {"exists": False}) == ["/etc/k.key is missing"]


def test_links_directories_and_absent_paths():
    link = manifest.normalize_file({"dest": "/srv/current", "state": "link", "src": "/srv/r1"})
    assert manifest.file_drift(link, {"exists": True, "type": "link", "target": "/srv/r1"}) == []
    assert manifest.file_drift(link, {"exists": True, "type": "link", "target": "/srv/r0"}) == ["/srv/current points to /srv/r0 (want /srv/r1)"]
    directory = manifest.normalize_file({"dest": "/srv", "state": "directory", "mode": "755"})
    assert directory["mode"] == "0755"
    assert manifest.file_drift(directory, {"exists": True, "type": "directory", "mode": "0755"}) == []
    gone = manifest.normalize_file({"dest": "/etc/default", "state": "absent"})
    assert manifest.file_drift(gone, {"exists": False}) == []
    assert manifest.file_drift(gone, HAVE) == ["/etc/default exists (want absent)"]


@pytest.mark.parametrize(
    ("entry", "message"),
    [
        ({"dest": "relative"}, "dest must be an absolute path"),
        ({"dest": "/x", "state": "gone"}, "state must be one of"),
        ({"dest": "/x", "state": "link"}, "a link needs src"),
        ({"dest": "/x", "mode": "u=rw"}, "mode must be octal digits"),
        ("/x", "must be a dict"),
    ],
)
def test_a_bad_entry_is_refused_naming_it(entry, message):
    with pytest.raises(manifest.ManifestError, match=message):
        manifest.normalize_file(entry, 3)


def test_an_integer_mode_is_read_as_octal_digits():
    # YAML's 0644 is the integer 420.
    assert manifest.normalize_file({"dest": "/x", "mode": 0o644})["mode"] == "0644"


def test_packages_missing_pinned_and_unwanted():
    have = {"nginx": "1.26.3-3", "docker.io": "26.1.5", "vim": "2:9.1"}
    assert manifest.package_drift(["nginx", "docker.io=26.1.5"], ["podman-docker"], have) == []
    assert manifest.package_drift(["git"], [], have) == ["package git is not installed"]
    assert manifest.package_drift(["docker.io=27.0"], [], have) == ["package docker.io is 26.1.5 (want 27.0)"]
    assert manifest.package_drift(["docker.io=26.*"], [], have) == []
    assert manifest.package_drift([], ["vim"], have) == ["package vim is installed (want absent)"]


def test_services_state_and_enablement():
    want = manifest.normalize_service({"name": "nginx", "enabled": True})
    assert manifest.service_drift(want, {"load": "loaded", "active": "active", "enabled": "enabled"}) == []
    assert manifest.service_drift(want, {"load": "loaded", "active": "inactive", "enabled": "disabled"}) == [
        "service nginx is inactive (want started)",
        "service nginx is disabled (want enabled)",
    ]
    assert manifest.service_drift(manifest.normalize_service("x"), {"load": "not-found"}) == ["service x does not exist"]
    stopped = manifest.normalize_service({"name": "zookeeperd", "state": "stopped", "enabled": False})
    assert manifest.service_drift(stopped, {"load": "not-found"}) == []
    assert manifest.service_drift(stopped, {"load": "loaded", "active": "active", "enabled": "enabled"}) == [
        "service zookeeperd is active (want stopped)",
        "service zookeeperd is enabled (want disabled)",
    ]
    with pytest.raises(manifest.ManifestError, match="started or stopped"):
        manifest.normalize_service({"name": "x", "state": "restarted"})


def test_users_and_group_members():
    assert manifest.user_drift(["a", "b"], {"a": {"uid": 1}, "b": None}) == ["user b is missing"]
    assert manifest.group_drift({"docker": ["ci"]}, {"docker": []}) == ["user ci is not in group docker"]
    assert manifest.group_drift({"docker": []}, {"docker": None}) == ["group docker is missing"]
