"""The local cloud's AWS API: a moto server on 127.0.0.1 whose state survives a restart.

moto keeps its records in memory. This server writes them to a snapshot file
after every request that changes something (any API action that is not a
Describe/Get/List), and loads that file when it starts: a stop and a start
(`scripts/local_cloud.sh`, a reboot) keep the same instance ids, VPC,
subnets, security groups, key pairs and tags, as a cloud account does.

A snapshot, rather than a recording replayed on start: moto gives new ids to
replayed calls, and the containers of the local cloud are named after the ids.

    python scripts/local_cloud_server.py --port 4566 --state ~/.cache/geostack/local_cloud/aws-4566.state
"""

from __future__ import annotations

import argparse
import io
import logging
import os
import pickle
import signal
import sys
import tempfile
import threading
from pathlib import Path
from urllib.parse import parse_qs

from moto.backends import get_backend
from moto.server import DomainDispatcherApplication, create_backend_app
from werkzeug.serving import make_server

# The services the collection uses; each one's records are kept.
SERVICES = ("ec2", "elbv2", "autoscaling")
READS = ("Describe", "Get", "List")
# What scripts/local_cloud.sh asks to know the server answers, and is this one.
# moto's own /moto-api/data.json serializes every record: 2 s with a dozen
# instances on an idle machine, far longer on a busy one.
HEALTH = "/geostack/local-cloud/health"
HEALTHY = b"geostack local cloud\n"


class Snapshots:
    """Load and write the services' records; one request at a time changes them."""

    def __init__(self, path: Path):
        self.path = path
        self.lock = threading.RLock()

    def load(self) -> int:
        if not self.path.exists():
            return 0
        with self.path.open("rb") as handle:
            state = pickle.load(handle)
        for service, accounts in state.items():
            get_backend(service).update(accounts)
        return sum(len(regions) for accounts in state.values() for regions in accounts.values())

    def write(self) -> None:
        with self.lock:
            state = {service: dict(get_backend(service)) for service in SERVICES}
            data = pickle.dumps(state)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=self.path.parent, prefix=self.path.name, delete=False) as handle:
            handle.write(data)
        os.chmod(handle.name, 0o600)
        os.replace(handle.name, self.path)


def changes(environ: dict) -> bool:
    """Whether a request may change a record: any action that is not a read (the body is read, and put back)."""
    if environ.get("REQUEST_METHOD") != "POST":
        return False
    size = int(environ.get("CONTENT_LENGTH") or 0)
    body = environ["wsgi.input"].read(size) if size else b""
    environ["wsgi.input"] = io.BytesIO(body)
    action = (parse_qs(body.decode("utf-8", "replace")).get("Action") or parse_qs(environ.get("QUERY_STRING", "")).get("Action") or [""])[0]
    return not action.startswith(READS)


def application(snapshots: Snapshots):
    moto = DomainDispatcherApplication(create_backend_app)

    def app(environ, start_response):
        if environ.get("PATH_INFO") == HEALTH:
            start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", str(len(HEALTHY)))])
            return [HEALTHY]
        # One request at a time: even a read may add a region's records, and
        # the snapshot must not see the records change while it is written.
        changed = changes(environ)
        with snapshots.lock:
            response = list(moto(environ, start_response))
            if changed:
                snapshots.write()
        return response

    return app


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", maxsplit=1)[0])
    parser.add_argument("--port", type=int, default=4566)
    parser.add_argument("--state", type=Path, required=True, help="the snapshot file")
    args = parser.parse_args()
    logging.getLogger("werkzeug").setLevel(logging.WARNING)
    snapshots = Snapshots(args.state)
    regions = snapshots.load()
    server = make_server("127.0.0.1", args.port, application(snapshots), threaded=True)
    signal.signal(signal.SIGTERM, lambda *_: threading.Thread(target=server.shutdown).start())
    print(f"local cloud: serving on 127.0.0.1:{args.port}, state {args.state} ({regions} region(s) restored)", flush=True)
    try:
        server.serve_forever()
    finally:
        snapshots.write()
    return 0


if __name__ == "__main__":
    sys.exit(main())
