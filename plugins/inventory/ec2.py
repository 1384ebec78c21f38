# Copyright (c) 2026, geostack.cluster maintainers
# Apache License 2.0 (see galaxy.yml)

from __future__ import annotations

DOCUMENTATION = r"""
name: ec2
short_description: One geostack cluster's EC2 instances, grouped by their geostack tags
version_added: 0.1.0
description:
  - Discovers the EC2 instances of exactly one cluster, selected server-side by the C(geostack:cluster) tag.
    Terminated and shutting-down instances are never returned, nor the image builders of C(playbooks/bake.yml)
    (tagged C(geostack:bake)).
  - Builds the layer groups C(managers), C(workers), C(web), C(swarm), C(citus_coordinator), C(citus_workers), C(citus),
    C(rabbitmq), C(zookeeper) and C(monitoring) from the comma-separated C(geostack:roles) tag, and C(swarm_bootstrap),
    one stable manager.
  - Puts each host in C(node_group_<group>) from its C(geostack:group) tag (the C(provision_layout) group that launched
    it; characters other than letters, digits and C(_) become C(_)), for group_vars that differ between node groups with
    the same roles, such as two web groups serving different apps. The group is also the hostvar C(geostack_node_group).
  - Checks the cluster's topology and fails, naming the instances, on an unknown role, zero or an even number of managers,
    more than one Citus coordinator, an even number of ZooKeeper nodes, or a duplicate C(geostack:index) within a role.
  - Tag values are data. They are never templated and every string is marked unsafe (ansible-core 2.19 and later trust no
    inventory value as a template; C(ansible-inventory) writes them as C(__ansible_unsafe)).
  - The configuration file name must end in C(geostack_ec2.yml) or C(geostack_ec2.yaml).
  - When it fails (an unreachable endpoint, bad credentials, a bad topology), it also sets C(geostack_inventory_error)
    on the C(all) group before Ansible reports the failure. Unless C([inventory] unparsed_is_failed) is set, Ansible
    only warns and goes on with no hosts; every playbook of this collection stops at its first task on that variable,
    naming the cause.
author:
  - geostack.cluster maintainers (@geostack)
requirements:
  - python >= 3.12
  - boto3 >= 1.34
  - docker >= 7 (only with O(connect_via=docker))
extends_documentation_fragment:
  - constructed
  - inventory_cache
options:
  plugin:
    description: The name of this plugin.
    required: true
    choices: [geostack.cluster.ec2]
    type: str
  cluster:
    description: The cluster to discover, the value of the C(geostack:cluster) tag.
    required: true
    type: str
    env:
      - name: GEOSTACK_CLUSTER
  regions:
    description:
      - Regions to query, in parallel when there are several.
      - When empty, the region of O(profile) or of the environment (C(AWS_REGION), C(AWS_DEFAULT_REGION)) is used.
        The plugin never queries all regions by surprise.
    type: list
    elements: str
    default: []
  endpoint_url:
    description: URL of the EC2 API, for an emulator or a VPC endpoint.
    type: str
    aliases: [aws_endpoint_url, endpoint]
    env:
      - name: AWS_URL
      - name: EC2_URL
  profile:
    description: Named AWS profile from the shared config and credentials files.
    type: str
    aliases: [aws_profile, boto_profile]
    env:
      - name: AWS_PROFILE
  access_key:
    description: AWS access key id.
    type: str
    aliases: [aws_access_key_id, aws_access_key]
    env:
      - name: AWS_ACCESS_KEY_ID
  secret_key:
    description: AWS secret access key.
    type: str
    aliases: [aws_secret_access_key, aws_secret_key]
    env:
      - name: AWS_SECRET_ACCESS_KEY
  session_token:
    description: AWS session token, for temporary credentials.
    type: str
    aliases: [aws_session_token, security_token]
    env:
      - name: AWS_SESSION_TOKEN
  assume_role_arn:
    description: ARN of a role to assume (with STS) before describing instances.
    type: str
  retries_max_attempts:
    description: Total attempts per API call, including the first (botocore retry config).
    type: int
    default: 10
  retries_mode:
    description: botocore retry mode. C(adaptive) also rate-limits the client side when EC2 throttles.
    type: str
    choices: [legacy, standard, adaptive]
    default: adaptive
  connect_timeout:
    description: Seconds to wait for a connection to the API.
    type: int
    default: 10
  read_timeout:
    description: Seconds to wait for an API answer.
    type: int
    default: 60
  connect_via:
    description:
      - How Ansible reaches the instances.
      - C(private) uses the private IP address (from inside the VPC, or through O(bastion)).
      - C(public) uses the public IP address, falling back to the private one.
      - C(docker) is the local cloud. Each instance is the container named O(docker_container_prefix) + instance id,
        reached with C(geostack.cluster.docker_api) (the Docker API, no docker CLI per task; community.docker.docker_api,
        with an exec whose output Docker lost run again); its address on O(docker_network) is its private address.
        The emulator's own private addresses are never used. A stopped container (a node that is down, or a zone
        taken down) stays a host, with the address the backend pinned for it, and is reported unreachable, as a
        stopped EC2 instance would be; an instance with no container at all is skipped with a warning.
    type: str
    choices: [private, public, docker]
    default: private
  bastion:
    description: A jump host (C([user@]host[:port])) for SSH, set as C(ProxyJump) on every host.
    type: str
  docker_network:
    description:
      - With O(connect_via=docker), the Docker network whose container address becomes C(geostack_private_address).
      - Defaults to C(geostack-) followed by the cluster name, the network the local backend creates.
    type: str
  docker_container_prefix:
    description: With O(connect_via=docker), the prefix before the instance id in container names.
    type: str
    default: ""
  validation:
    description:
      - C(error) makes an invalid topology fail the inventory (and C(ansible-inventory) exit non-zero).
      - C(warn) only warns, and puts instances without a known role in the C(unassigned) group.
    type: str
    choices: [error, warn]
    default: error
  instance_dump:
    description: Add the full C(describe_instances) record of each instance as the hostvar C(ec2_instance).
    type: bool
    default: false
"""

EXAMPLES = r"""
# inventories/aws/geostack_ec2.yml: a cluster in one region, reached through a bastion
plugin: geostack.cluster.ec2
cluster: geodata-prod
regions:
  - eu-west-1
profile: geodata
connect_via: private
bastion: admin@bastion.example.org
---
# inventories/local/geostack_ec2.yml: the local cloud (moto + systemd containers)
plugin: geostack.cluster.ec2
cluster: local
regions: [us-east-1]
endpoint_url: http://127.0.0.1:4566
access_key: testing
secret_key: testing
connect_via: docker
---
# Several regions, queried in parallel, cached for ten minutes, with an extra keyed group
plugin: geostack.cluster.ec2
cluster: geodata
regions: [eu-west-1, eu-central-1]
cache: true
cache_plugin: ansible.builtin.jsonfile
cache_connection: ~/.cache/geostack-inventory
cache_timeout: 600
keyed_groups:
  - key: ec2_placement_availability_zone
    prefix: az
"""

import hashlib
import json
import re
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from urllib.parse import urlparse

from ansible.errors import AnsibleError, AnsibleParserError
from ansible.plugins.inventory import BaseInventoryPlugin, Cacheable, Constructable
from ansible.utils.display import Display
from ansible_collections.geostack.cluster.plugins.module_utils.topology import ROLE_GROUPS, UNION_GROUPS, shape_errors_by_role

try:
    import boto3
    import botocore.config
    import botocore.exceptions

    HAS_BOTO3 = True
except ImportError:  # pragma: no cover
    HAS_BOTO3 = False

display = Display()

TAG_CLUSTER = "geostack:cluster"
TAG_ROLES = "geostack:roles"
TAG_INDEX = "geostack:index"
# An image builder of playbooks/bake.yml: an instance of the cluster, never a node of it.
TAG_BAKE = "geostack:bake"
TAG_LABEL_PREFIX = "geostack:label:"
TAG_GROUP = "geostack:group"
NODE_GROUP_PREFIX = "node_group_"

# role tag value -> inventory group: ROLE_GROUPS; parent group -> roles whose
# hosts it holds: UNION_GROUPS; both from module_utils/topology.py.
# swarm role -> typeNode label, in order of precedence
TYPE_NODE = (("manager", "master"), ("web", "master-web"), ("worker", "worker"))
LIVE_STATES = ["pending", "running", "stopping", "stopped"]
UNASSIGNED = "unassigned"


def _safe_hostname(name):
    """An inventory hostname from a Name tag: printable, no spaces."""
    name = re.sub(r"\s+", "-", name.strip())
    return re.sub(r"[^\w.@:+=,/-]", "_", name)


def _is_loopback(url):
    """Whether an endpoint URL points at this machine (the local cloud's emulator)."""
    host = urlparse(url).hostname or ""
    return host == "localhost" or host.startswith("127.") or host == "::1"


def _launch_key(inst):
    launch = inst.get("LaunchTime")
    if isinstance(launch, datetime):
        launch = launch.isoformat()
    return (launch or "", inst["InstanceId"])


class InventoryModule(BaseInventoryPlugin, Constructable, Cacheable):
    NAME = "geostack.cluster.ec2"

    def verify_file(self, path):
        return super().verify_file(path) and path.endswith(("geostack_ec2.yml", "geostack_ec2.yaml"))

    # ------------------------------------------------------------------ entry
    def parse(self, inventory, loader, path, cache=True):
        try:
            self._parse(inventory, loader, path, cache)
        except AnsibleError as exc:
            # Without [inventory] unparsed_is_failed (the repository's ansible.cfg and AWX set it; a Galaxy user's
            # ansible.cfg may not), Ansible only warns and runs on with no hosts, and a playbook "succeeds" having
            # done nothing. The collection's playbooks stop on this variable (playbooks/tasks/inventory_loaded.yml).
            inventory.set_variable("all", "geostack_inventory_error", f"{path}: {getattr(exc, 'message', None) or exc}")
            raise

    def _parse(self, inventory, loader, path, cache):
        super().parse(inventory, loader, path, cache)
        if not HAS_BOTO3:
            raise AnsibleParserError("geostack.cluster.ec2 needs boto3 and botocore on the controller (pip install boto3).")
        self._read_config_data(path)

        session = self._session()
        regions = self._regions(session)
        self._regions_in_use = regions
        cache_key = self._cache_key(path, session, regions)
        use_cache = self.get_option("cache") and cache
        update_cache = self.get_option("cache") and not cache

        instances = None
        if use_cache:
            try:
                # Stored as one JSON string: the cache plugin's decoder then has
                # one value to visit instead of every field of every instance.
                instances = json.loads(self._cache[cache_key])
            except (KeyError, TypeError, ValueError):
                update_cache = True
        if instances is None:
            instances = self._describe(session, regions)
        if update_cache:
            self._cache[cache_key] = json.dumps(instances)

        self._populate(instances)

    # ------------------------------------------------------------------ AWS
    def _session(self):
        kwargs = {
            "profile_name": self.get_option("profile"),
            "aws_access_key_id": self.get_option("access_key"),
            "aws_secret_access_key": self.get_option("secret_key"),
            "aws_session_token": self.get_option("session_token"),
        }
        try:
            session = boto3.session.Session(**{k: v for k, v in kwargs.items() if v})
        except botocore.exceptions.ProfileNotFound as exc:
            raise AnsibleParserError(f"geostack.cluster.ec2: {exc}") from exc
        if session.get_credentials() is None:
            raise AnsibleParserError(
                "geostack.cluster.ec2: no AWS credentials found. Checked: the access_key/secret_key options, "
                "AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, "
                f"profile {self.get_option('profile') or session.profile_name!r} in the shared credentials and config files "
                "(AWS_SHARED_CREDENTIALS_FILE, AWS_CONFIG_FILE), web identity and SSO settings, "
                "and the container and instance metadata services."
            )
        role_arn = self.get_option("assume_role_arn")
        if role_arn:
            try:
                creds = session.client("sts", config=self._botocore_config(), endpoint_url=self.get_option("endpoint_url")).assume_role(
                    RoleArn=role_arn, RoleSessionName="geostack-inventory"
                )["Credentials"]
            except botocore.exceptions.BotoCoreError as exc:
                raise AnsibleParserError(f"geostack.cluster.ec2: cannot assume role {role_arn}: {exc}") from exc
            except botocore.exceptions.ClientError as exc:
                raise AnsibleParserError(f"geostack.cluster.ec2: cannot assume role {role_arn}: {exc}") from exc
            session = boto3.session.Session(
                aws_access_key_id=creds["AccessKeyId"],
                aws_secret_access_key=creds["SecretAccessKey"],
                aws_session_token=creds["SessionToken"],
                region_name=session.region_name,
            )
        return session

    def _regions(self, session):
        regions = self.get_option("regions") or ([session.region_name] if session.region_name else [])
        if not regions:
            raise AnsibleParserError(
                "geostack.cluster.ec2: no region. Set 'regions' in the inventory file, a region in the profile, "
                "or AWS_REGION/AWS_DEFAULT_REGION. The plugin does not query every region by surprise."
            )
        return sorted(set(regions))

    def _botocore_config(self):
        return botocore.config.Config(
            retries={"max_attempts": self.get_option("retries_max_attempts"), "mode": self.get_option("retries_mode")},
            connect_timeout=self.get_option("connect_timeout"),
            read_timeout=self.get_option("read_timeout"),
            user_agent_extra="geostack.cluster.ec2",
        )

    def _cache_key(self, path, session, regions):
        # The effective configuration and the caller's identity (the access key
        # id the session resolved, never the secret), so that switching profile,
        # account, endpoint or cluster can never return another cluster's hosts.
        creds = session.get_credentials()
        identity = {
            "path": path,
            "cluster": self.get_option("cluster"),
            "regions": regions,
            "endpoint_url": self.get_option("endpoint_url"),
            "profile": self.get_option("profile") or session.profile_name,
            "access_key_id": creds.access_key if creds else None,
            "assume_role_arn": self.get_option("assume_role_arn"),
            "instance_dump": self.get_option("instance_dump"),
        }
        digest = hashlib.sha256(json.dumps(identity, sort_keys=True).encode()).hexdigest()[:32]
        return f"geostack_ec2_{digest}"

    def _client(self, session, region):
        return session.client("ec2", region_name=region, endpoint_url=self.get_option("endpoint_url"), config=self._botocore_config())

    def _describe_region(self, client, region):
        filters = [
            {"Name": f"tag:{TAG_CLUSTER}", "Values": [self.get_option("cluster")]},
            {"Name": "instance-state-name", "Values": LIVE_STATES},
        ]
        found = []
        try:
            for page in client.get_paginator("describe_instances").paginate(Filters=filters):
                for reservation in page["Reservations"]:
                    for inst in reservation["Instances"]:
                        if not any(tag["Key"] == TAG_BAKE for tag in inst.get("Tags") or []):
                            found.append(self._normalise(inst, region))
        except botocore.exceptions.ClientError as exc:
            code = exc.response.get("Error", {}).get("Code", "")
            auth = any(word in code for word in ("Auth", "Unauthorized", "Signature"))
            hint = " Check the credentials (profile, access key) and their permissions." if auth else ""
            raise AnsibleParserError(f"geostack.cluster.ec2: describe_instances in {region} failed: {exc}.{hint}") from exc
        except botocore.exceptions.BotoCoreError as exc:
            endpoint = self.get_option("endpoint_url") or ""
            where = endpoint or f"the EC2 endpoint of {region}"
            # The local cloud's emulator, on loopback: say how to start it.
            hint = " Is the local cloud's EC2 emulator running? Start it with: make cloud-up" if _is_loopback(endpoint) else ""
            # Not chained: the cause is in the message, and Ansible would print it once more.
            raise AnsibleParserError(f"geostack.cluster.ec2: cannot reach {where}.{hint} ({exc})") from None
        return found

    def _describe(self, session, regions):
        # Clients are made here, one by one: a boto3 session is not thread-safe,
        # its clients are.
        clients = [self._client(session, region) for region in regions]
        if len(regions) == 1:
            return self._describe_region(clients[0], regions[0])
        with ThreadPoolExecutor(max_workers=min(8, len(regions))) as pool:
            results = list(pool.map(self._describe_region, clients, regions))
        return [inst for found in results for inst in found]

    def _normalise(self, inst, region):
        """Keep what the inventory uses, JSON-serialisable so it can be cached."""
        tags = {t["Key"]: t["Value"] for t in inst.get("Tags", [])}
        launch = inst.get("LaunchTime")
        record = {
            "InstanceId": inst["InstanceId"],
            "InstanceType": inst.get("InstanceType"),
            "PrivateIpAddress": inst.get("PrivateIpAddress"),
            "PublicIpAddress": inst.get("PublicIpAddress"),
            "PrivateDnsName": inst.get("PrivateDnsName"),
            "PublicDnsName": inst.get("PublicDnsName"),
            "AvailabilityZone": inst.get("Placement", {}).get("AvailabilityZone"),
            "State": inst.get("State", {}).get("Name"),
            "LaunchTime": launch.isoformat() if isinstance(launch, datetime) else launch,
            "Region": region,
            "Tags": tags,
        }
        if self.get_option("instance_dump"):
            record["Raw"] = json.loads(json.dumps(inst, default=str))
        return record

    # ------------------------------------------------------------------ model
    def _model(self, instances):
        """Roles, per-role order and indexes, names; problems found on the way."""
        problems = []
        unknown = []
        by_role = {role: [] for role in ROLE_GROUPS}
        for inst in instances:
            raw = inst["Tags"].get(TAG_ROLES, "")
            roles = [r.strip() for r in raw.split(",") if r.strip()]
            bad = [r for r in roles if r not in ROLE_GROUPS]
            inst["_roles"] = [r for r in roles if r in ROLE_GROUPS]
            if bad or not roles:
                unknown.append((inst, bad))
            for role in inst["_roles"]:
                by_role[role].append(inst)
            index = inst["Tags"].get(TAG_INDEX)
            inst["_index_tag"] = None
            if index is not None:
                try:
                    inst["_index_tag"] = int(index)
                    if inst["_index_tag"] < 0:
                        raise ValueError
                except ValueError:
                    problems.append(f"instance {inst['InstanceId']} has {TAG_INDEX}={index!r}, which is not a non-negative integer")
                    inst["_index_tag"] = None

        for inst, bad in unknown:
            what = f"unknown role(s) {', '.join(repr(b) for b in bad)}" if bad else f"no {TAG_ROLES} tag"
            problems.append(
                f"instance {inst['InstanceId']} ({inst['Tags'].get('Name', 'no Name')}) has {what}; known roles: {', '.join(ROLE_GROUPS)}"
            )

        # Order within each role: lowest geostack:index, then earliest launch, then lowest id.
        indexes = {}
        for role, members in by_role.items():
            members.sort(key=lambda i: (i["_index_tag"] is None, i["_index_tag"] or 0, *_launch_key(i)))
            seen = {}
            for inst in members:
                if inst["_index_tag"] is not None:
                    seen.setdefault(inst["_index_tag"], []).append(inst["InstanceId"])
            for idx, ids in sorted(seen.items()):
                if len(ids) > 1:
                    problems.append(f"duplicate {TAG_INDEX}={idx} within role {role}: instances {', '.join(ids)}")
            # Tagged instances keep their index; the rest take the lowest free ones in order.
            used = set(seen)
            free = (n for n in range(len(members) + len(used) + 1) if n not in used)
            for inst in members:
                idx = inst["_index_tag"] if inst["_index_tag"] is not None else next(free)
                indexes.setdefault(inst["InstanceId"], {})[role] = idx

        problems += shape_errors_by_role({role: [i["InstanceId"] for i in members] for role, members in by_role.items()})
        return by_role, indexes, [inst for inst, _bad in unknown if not inst["_roles"]], problems

    def _hostnames(self, instances):
        """Name tag, made safe; the instance id is added when two names clash."""
        names = {}
        for inst in instances:
            base = _safe_hostname(inst["Tags"].get("Name", "")) or inst["InstanceId"]
            names.setdefault(base, []).append(inst)
        result = {}
        for base, members in names.items():
            for inst in members:
                result[inst["InstanceId"]] = base if len(members) == 1 else f"{base}-{inst['InstanceId']}"
        return result

    def _docker_addresses(self):
        try:
            import docker  # pylint: disable=import-outside-toplevel
        except ImportError as exc:
            raise AnsibleParserError("geostack.cluster.ec2: connect_via=docker needs the docker Python SDK on the controller") from exc
        network = self._docker_network()
        try:
            client = docker.from_env()
            containers = client.containers.list(all=True, filters={"network": network})
        except docker.errors.DockerException as exc:
            raise AnsibleParserError(f"geostack.cluster.ec2: connect_via=docker cannot list containers on network {network!r}: {exc}") from exc
        # Container name -> its address on the network: a running one's, else (stopped) the one the backend pinned for
        # it, else "" (the instance's private address stands in).
        addresses = {}
        for container in containers:
            net = container.attrs.get("NetworkSettings", {}).get("Networks", {}).get(network) or {}
            addresses[container.name] = net.get("IPAddress") or (net.get("IPAMConfig") or {}).get("IPv4Address") or ""
        return addresses

    def _docker_network(self):
        return self.get_option("docker_network") or f"geostack-{self.get_option('cluster')}"

    # ------------------------------------------------------------------ inventory
    def _populate(self, instances):
        instances = [dict(inst) for inst in instances]
        by_role, indexes, unassigned, problems = self._model(instances)
        if problems:
            text = "geostack.cluster.ec2: cluster {!r} has an invalid topology:\n  - {}".format(self.get_option("cluster"), "\n  - ".join(problems))
            if self.get_option("validation") == "error":
                raise AnsibleParserError(text)
            display.warning(text)

        via = self.get_option("connect_via")
        docker_addresses = self._docker_addresses() if via == "docker" and instances else {}
        prefix = self.get_option("docker_container_prefix")
        bastion = self.get_option("bastion")
        hostnames = self._hostnames(instances)
        strict = self.get_option("strict")

        # The inventory file is the one place the cluster is named: plays on
        # localhost (provision, teardown) read it from here.
        self.inventory.set_variable("all", "geostack_cluster_name", self.get_option("cluster"))
        # Every host's geostack:cluster tag is the cluster: one group var, not one per host.
        self.inventory.set_variable("all", "geostack_cluster", self.get_option("cluster"))
        self.inventory.set_variable("all", "geostack_aws_regions", self._regions_in_use)
        self.inventory.set_variable("all", "geostack_aws_endpoint_url", self.get_option("endpoint_url"))

        for group in [*ROLE_GROUPS.values(), *UNION_GROUPS, "swarm_bootstrap"]:
            self.inventory.add_group(group)
        for parent, roles in UNION_GROUPS.items():
            for role in roles:
                self.inventory.add_child(parent, ROLE_GROUPS[role])
        if unassigned:
            self.inventory.add_group(UNASSIGNED)

        for inst in instances:
            iid = inst["InstanceId"]
            if via == "docker":
                container = f"{prefix}{iid}"
                if container not in docker_addresses:
                    display.warning(
                        f"geostack.cluster.ec2: instance {iid} has no container {container!r} on network "
                        f"{self._docker_network()!r}; skipped (start the local backend)"
                    )
                    continue
            host = self.inventory.add_host(hostnames[iid])
            hostvars = self._hostvars(inst, indexes.get(iid, {}))
            if via == "docker":
                hostvars["ansible_connection"] = "geostack.cluster.docker_api"
                hostvars["ansible_host"] = container
                hostvars["geostack_private_address"] = docker_addresses[container] or inst["PrivateIpAddress"]
            else:
                address = inst["PrivateIpAddress"]
                if via == "public":
                    address = inst["PublicIpAddress"] or address
                hostvars["ansible_host"] = address
                if bastion:
                    hostvars["ansible_ssh_common_args"] = f"-o ProxyJump={bastion}"
            for key, value in hostvars.items():
                self.inventory.set_variable(host, key, value)
            for role in inst["_roles"]:
                self.inventory.add_host(host, group=ROLE_GROUPS[role])
            if not inst["_roles"]:
                self.inventory.add_host(host, group=UNASSIGNED)
            if hostvars["geostack_node_group"]:
                node_group = NODE_GROUP_PREFIX + re.sub(r"\W", "_", hostvars["geostack_node_group"], flags=re.ASCII)
                self.inventory.add_group(node_group)
                self.inventory.add_host(host, group=node_group)

            if self.get_option("compose") or self.get_option("groups") or self.get_option("keyed_groups"):
                self._set_composite_vars(self.get_option("compose"), hostvars, host, strict=strict)
                self._add_host_to_composed_groups(self.get_option("groups"), hostvars, host, strict=strict)
                self._add_host_to_keyed_groups(self.get_option("keyed_groups"), hostvars, host, strict=strict)

        for inst in by_role["manager"][:1]:
            name = hostnames[inst["InstanceId"]]
            if name in self.inventory.hosts:
                self.inventory.add_host(name, group="swarm_bootstrap")

    def _hostvars(self, inst, indexes):
        tags = inst["Tags"]
        roles = inst["_roles"]
        labels = {}
        for role, value in TYPE_NODE:
            if role in roles:
                labels["typeNode"] = value
                break
        # The availability zone, for placement preferences (spread=node.labels.zone); a geostack:label:zone tag wins.
        if inst["AvailabilityZone"]:
            labels["zone"] = inst["AvailabilityZone"]
        for key, value in sorted(tags.items()):
            if key.startswith(TAG_LABEL_PREFIX) and len(key) > len(TAG_LABEL_PREFIX):
                labels[key[len(TAG_LABEL_PREFIX):]] = value
        hostvars = {
            "ec2_instance_id": inst["InstanceId"],
            "ec2_instance_type": inst["InstanceType"],
            "ec2_private_ip_address": inst["PrivateIpAddress"],
            "ec2_public_ip_address": inst["PublicIpAddress"],
            "ec2_private_dns_name": inst["PrivateDnsName"],
            "ec2_public_dns_name": inst["PublicDnsName"],
            "ec2_placement_availability_zone": inst["AvailabilityZone"],
            "ec2_placement_region": inst["Region"],
            "ec2_launch_time": inst["LaunchTime"],
            "ec2_state": inst["State"],
            "ec2_tags": tags,
            "geostack_roles": roles,
            "geostack_index": indexes,
            "geostack_private_address": inst["PrivateIpAddress"],
            "geostack_zone": inst["AvailabilityZone"] or "",
            "geostack_node_group": tags.get(TAG_GROUP, ""),
            "swarm_node_labels": labels,
        }
        if "Raw" in inst:
            hostvars["ec2_instance"] = inst["Raw"]
        # Inventory values are never trusted as templates by ansible-core 2.19+
        # (Host.set_variable strips any trust), so tag values stay data.
        return hostvars


if __name__ == "__main__":  # pragma: no cover
    raise AnsibleError("geostack.cluster.ec2 is an inventory plugin; use it through ansible-inventory")
