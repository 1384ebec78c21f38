"""The collection as a Galaxy user gets it: built into a tarball, installed with ansible-galaxy from a
requirements.yml (its dependencies resolved from the PyPI `ansible` package's bundled collections, offline), then
used by FQCN from a playbook outside this repository, with none of the repository's settings (no ansible.cfg, no
roles path, no collection link): one role converges a fresh node container for real, and a re-run changes nothing.
"""

from __future__ import annotations

import base64
import json
import os
import re
import socket
import subprocess
import tarfile
import urllib.request
import uuid
from pathlib import Path

import pytest
import yaml
from nodes import start_systemd_container

ROOT = Path(__file__).resolve().parents[2]
# One worker builds and installs the tarball once for all of these (pytest -n auto --dist loadgroup).
pytestmark = pytest.mark.xdist_group("galaxy")
RECAP = re.compile(r"^(\S+)\s+:\s+ok=(\d+)\s+changed=(\d+)\s+unreachable=(\d+)\s+failed=(\d+)", re.M)


def bundled_collections() -> Path:
    """The directory that holds the `ansible` package's ansible_collections/."""
    import ansible_collections

    return Path(next(iter(ansible_collections.__path__))).parent


def outside_env(work: Path, collections: str) -> dict:
    """An environment with none of the repository's Ansible settings."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("ANSIBLE_")}
    env.update(ANSIBLE_COLLECTIONS_PATH=collections, ANSIBLE_HOME=str(work / "ansible-home"), ANSIBLE_NOCOLOR="1")
    return env


def run(argv: list[str], env: dict, cwd: Path) -> subprocess.CompletedProcess:
    proc = subprocess.run(argv, env=env, cwd=cwd, capture_output=True, text=True, check=False)
    assert proc.returncode == 0, f"{' '.join(argv)} exited {proc.returncode}:\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"
    return proc


@pytest.fixture(scope="module")
def galaxy(tmp_path_factory):
    """Build the tarball, then install it from a requirements.yml into a directory of its own."""
    work = tmp_path_factory.mktemp("galaxy")
    build_env = outside_env(work, str(bundled_collections()))
    run(["ansible-galaxy", "collection", "build", "--output-path", str(work / "build"), str(ROOT)], build_env, work)
    [tarball] = (work / "build").glob("geostack-cluster-*.tar.gz")
    (work / "requirements.yml").write_text(yaml.safe_dump({"collections": [{"name": str(tarball), "type": "file"}]}))
    installed = work / "collections"
    env = outside_env(work, f"{installed}:{bundled_collections()}")
    run(["ansible-galaxy", "collection", "install", "--offline", "-r", "requirements.yml", "-p", str(installed)], env, work)
    return work, tarball, installed, env


def test_the_tarball_holds_the_collection_and_nothing_of_the_workspace(galaxy):
    _work, tarball, _installed, _env = galaxy
    with tarfile.open(tarball) as archive:
        names = archive.getnames()
        manifest = json.load(archive.extractfile("MANIFEST.json"))
    spec = yaml.safe_load((ROOT / "galaxy.yml").read_text())
    assert manifest["collection_info"]["version"] == spec["version"]
    assert manifest["collection_info"]["dependencies"] == spec["dependencies"]
    for wanted in ("roles/node_exporter/meta/argument_specs.yml", "plugins/inventory/ec2.py", "playbooks/site.yml",
                   "meta/runtime.yml", "meta/execution-environment.yml", "LICENSE", "CHANGELOG.md"):
        assert wanted in names, wanted
    leaked = [n for n in names if re.match(r"(\.venv|\.git|\.collections|\.cache|\.logs|\.ansible|\.pytest_cache|\.molecule|build|tests/output)(/|$)", n)]
    assert not leaked, leaked


def test_the_installed_collection_is_found_by_fqcn_with_its_dependencies(galaxy):
    work, _tarball, installed, env = galaxy
    listed = run(["ansible-galaxy", "collection", "list", "--format", "json"], env, work).stdout
    found = {name: info["version"] for path in json.loads(listed).values() for name, info in path.items()}
    assert found["geostack.cluster"] == yaml.safe_load((ROOT / "galaxy.yml").read_text())["version"]
    assert (installed / "ansible_collections" / "geostack" / "cluster" / "roles" / "docker").is_dir()
    for dependency in yaml.safe_load((ROOT / "galaxy.yml").read_text())["dependencies"]:
        assert dependency in found, dependency
    # The playbooks run by FQCN; the modules' documentation comes from the installed copy.
    run(["ansible-playbook", "--syntax-check", "-i", "localhost,", "geostack.cluster.site"], env, work)
    doc = json.loads(run(["ansible-doc", "--json", "geostack.cluster.node_state"], env, work).stdout)
    assert str(installed) in doc["geostack.cluster.node_state"]["doc"]["filename"]


def test_an_inventory_that_fails_stops_the_playbooks_without_the_repositorys_settings(galaxy):
    """No unparsed_is_failed here: Ansible only warns about the plugin, and the playbook's first task stops the run."""
    work, _tarball, _installed, env = galaxy
    project = work / "unreachable"
    project.mkdir()
    with socket.socket() as probe:  # a port nothing listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    (project / "cloud.geostack_ec2.yml").write_text(yaml.safe_dump({
        "plugin": "geostack.cluster.ec2", "cluster": "nowhere", "regions": ["us-east-1"],
        "endpoint_url": f"http://127.0.0.1:{port}", "access_key": "testing", "secret_key": "testing",
        # One attempt: nothing will ever listen there, so botocore's retries (10 by default) would only wait.
        "retries_max_attempts": 1, "connect_timeout": 1}))
    for playbook in ("geostack.cluster.verify", "geostack.cluster.upgrade"):
        proc = subprocess.run(["ansible-playbook", "-i", "cloud.geostack_ec2.yml", playbook], env=env, cwd=project,
                              capture_output=True, text=True, check=False)
        output = proc.stdout + proc.stderr
        assert proc.returncode == 2, output[-3000:]
        assert "The geostack.cluster.ec2 inventory failed, so this run would see none of the cluster's nodes" in output
        assert f"cannot reach http://127.0.0.1:{port}" in output, output[-3000:]
        assert re.search(r"localhost\s+:\s+ok=\d+\s+changed=0\s+unreachable=0\s+failed=1", output), output[-3000:]


@pytest.fixture(scope="module")
def node():
    name = f"geostack-galaxy-{uuid.uuid4().hex[:8]}"
    start_systemd_container(name, "--label", "geostack.cluster=integration-galaxy")
    try:
        yield name
    finally:
        subprocess.run(["docker", "rm", "-f", "-v", name], capture_output=True, check=False)


def test_a_role_by_fqcn_from_a_playbook_outside_the_repository_converges_a_node(galaxy, node):
    work, _tarball, _installed, env = galaxy
    project = work / "my-project"
    project.mkdir()
    (project / "inventory.ini").write_text(f"{node} ansible_connection=geostack.cluster.docker_api\n")
    (project / "playbook.yml").write_text(
        "- name: Node metrics on my own host, from geostack.cluster\n"
        "  hosts: all\n"
        "  roles:\n"
        "    - role: geostack.cluster.node_exporter\n"
        "      vars:\n"
        "        node_exporter_listen_address: 127.0.0.1\n")
    env = dict(env, ANSIBLE_INVENTORY_ENABLED="ini")

    first = run(["ansible-playbook", "-i", "inventory.ini", "playbook.yml"], env, project).stdout
    assert "geostack.cluster.node_exporter" in first or "node_exporter" in first
    metrics = subprocess.run(
        ["docker", "exec", node, "python3", "-c",
         "import urllib.request; print(urllib.request.urlopen('http://127.0.0.1:9100/metrics', timeout=10).read().decode())"],
        capture_output=True, text=True, check=True).stdout
    assert "node_exporter_build_info" in metrics

    again = run(["ansible-playbook", "-i", "inventory.ini", "playbook.yml"], env, project).stdout
    [(host, _ok, changed, unreachable, failed)] = RECAP.findall(again)
    assert (host, changed, unreachable, failed) == (node, "0", "0", "0"), again[-2000:]


STANDALONE = """\
- name: Docker, the web tier and node metrics on my own host
  hosts: all
  roles:
    - role: geostack.cluster.docker
    - role: geostack.cluster.web
    - role: geostack.cluster.node_exporter

- name: A one-node RabbitMQ
  hosts: rabbitmq
  roles:
    - role: geostack.cluster.rabbitmq
      vars:
        rabbitmq_erlang_cookie: my-own-cookie-0123456789abcdef
        rabbitmq_admin_password: my-own-password-42
"""


def node_address(node: str) -> str:
    out = subprocess.run(["docker", "inspect", "-f", "{{json .NetworkSettings.Networks}}", node],
                         capture_output=True, text=True, check=True).stdout
    return next(iter(json.loads(out).values()))["IPAddress"]


def test_roles_on_their_own_with_a_plain_inventory_converge_and_refuse_another_release(galaxy, node):
    """docker, web, node_exporter and rabbitmq from a plain static inventory, with none of this collection's inventory
    variables: the addresses fall back to the host's default IPv4 address, and a release other than Debian 13 is
    refused before anything changes."""
    work, _tarball, _installed, env = galaxy
    project = work / "standalone"
    project.mkdir()
    (project / "inventory.ini").write_text(f"[rabbitmq]\n{node} ansible_connection=geostack.cluster.docker_api\n")
    (project / "playbook.yml").write_text(STANDALONE)
    env = dict(env, ANSIBLE_INVENTORY_ENABLED="ini")
    playbook = ["ansible-playbook", "-i", "inventory.ini", "playbook.yml"]

    # The same node, saying it is Debian 12 (Ansible reads the release from both files): the docker role's
    # preflight stops the run, and nothing changed.
    def write(path, text):
        subprocess.run(["docker", "exec", "-i", node, "sh", "-c", f"cat > {path}"], input=text, text=True, check=True)

    real = {path: subprocess.run(["docker", "exec", node, "cat", path], capture_output=True, text=True, check=True).stdout
            for path in ("/etc/os-release", "/etc/debian_version")}
    bookworm = re.sub(r'(?m)^VERSION_ID=.*$', 'VERSION_ID="12"', real["/etc/os-release"])
    bookworm = re.sub(r'(?m)^VERSION=.*$', 'VERSION="12 (bookworm)"', bookworm)
    write("/etc/os-release", re.sub(r'(?m)^VERSION_CODENAME=.*$', 'VERSION_CODENAME=bookworm', bookworm))
    write("/etc/debian_version", "12.9\n")
    try:
        refused = subprocess.run(playbook, env=env, cwd=project, capture_output=True, text=True, check=False)
    finally:
        for path, text in real.items():
            write(path, text)
    assert refused.returncode == 2, refused.stdout[-3000:]
    assert f"The docker role supports Debian 13 (trixie); {node} runs Debian 12 (" in refused.stdout, refused.stdout[-3000:]
    [(_host, _ok, changed, _unreachable, failed)] = RECAP.findall(refused.stdout)
    assert (changed, failed) == ("0", "1"), refused.stdout[-2000:]

    run(playbook, env, project)
    address = node_address(node)
    with urllib.request.urlopen(f"http://{address}:9100/metrics", timeout=10) as answer:
        assert "node_exporter_build_info" in answer.read().decode()
    with urllib.request.urlopen(f"http://{address}/health", timeout=10) as answer:
        assert json.load(answer)["status"] == "ok"
    overview = urllib.request.Request(f"http://{address}:15672/api/overview")
    overview.add_header("Authorization", "Basic " + base64.b64encode(b"admin:my-own-password-42").decode())
    with urllib.request.urlopen(overview, timeout=10) as answer:
        listeners = {(item["protocol"], item["ip_address"]) for item in json.load(answer)["listeners"]}
    assert ("amqp", address) in listeners, listeners
    engine = subprocess.run(["docker", "exec", node, "docker", "info", "--format", "{{.ServerVersion}}"],
                            capture_output=True, text=True, check=False)
    assert engine.returncode == 0 and engine.stdout.strip(), engine.stderr

    again = run(playbook, env, project).stdout
    [(host, _ok, changed, unreachable, failed)] = RECAP.findall(again)
    assert (host, changed, unreachable, failed) == (node, "0", "0", "0"), again[-3000:]

    # Bad input is refused naming the one variable at fault, not every condition the assert tests.
    bad = subprocess.run([*playbook, "-e", "web_keep_releases=0"], env=env, cwd=project, capture_output=True, text=True,
                         check=False)
    assert bad.returncode == 2, bad.stdout[-3000:]
    messages = [line for line in bad.stdout.splitlines() if "web_keep_releases must be" in line]
    assert messages, bad.stdout[-3000:]
    assert all("web_keep_releases must be at least 1, got 0" in line and ";" not in line for line in messages), messages
    [(_host, _ok, changed, _unreachable, failed)] = RECAP.findall(bad.stdout)
    assert (changed, failed) == ("0", "1"), bad.stdout[-2000:]


def test_ansible_builder_reads_the_collections_requirements_and_writes_a_build_context(galaxy):
    """What an AWX or Automation Platform user builds an execution environment from (no image is built here)."""
    work, tarball, installed, env = galaxy
    introspected = yaml.safe_load(run(["ansible-builder", "introspect", "--sanitize", str(installed)], env, work).stdout)

    def entries(lines):
        return {line.split("#")[0].strip() for line in lines if line.split("#")[0].strip()}

    python = entries(line for line in introspected["python"] if "geostack.cluster" in line)
    assert python == entries((ROOT / "meta" / "ee-requirements.txt").read_text().splitlines())
    assert python and not [r for r in python if "==" in r], python  # ranges, never the controller's pins
    system = entries(line for line in introspected["system"] if "geostack.cluster" in line)
    assert system == entries((ROOT / "bindep.txt").read_text().splitlines())

    ee = work / "ee"
    ee.mkdir()
    (ee / "requirements.yml").write_text(yaml.safe_dump(
        {"collections": [{"name": f"collections/{tarball.name}", "type": "file"}]}))
    (ee / "execution-environment.yml").write_text(yaml.safe_dump({
        "version": 3,
        "images": {"base_image": {"name": "registry.example.invalid/ee-minimal:latest"}},
        "dependencies": {"galaxy": "requirements.yml", "ansible_core": {"package_pip": "ansible-core>=2.17"},
                         "ansible_runner": {"package_pip": "ansible-runner"}},
        "additional_build_files": [{"src": str(tarball), "dest": "collections"}],
    }))
    run(["ansible-builder", "create", "-f", "execution-environment.yml", "-c", "context", "--output-filename", "Containerfile"],
        env, ee)
    context = ee / "context"
    containerfile = (context / "Containerfile").read_text()
    assert "ansible-galaxy" in containerfile and "introspect" in containerfile
    assert (context / "_build" / "collections" / tarball.name).is_file()
    assert yaml.safe_load((context / "_build" / "requirements.yml").read_text()) == yaml.safe_load(
        (ee / "requirements.yml").read_text())
