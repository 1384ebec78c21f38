"""RideShare's rides service (test app): everything the users service does not
answer. A ride is booked only for a user the users service knows, asked over
the web tier's internal listener (USERS_URL)."""

import json
import os
import urllib.error
import urllib.request

from flask import Flask, jsonify, request

VERSION = 1
# A test of the web role's crash check: with RIDES_CRASH_ONCE set, the first
# worker to start after it is set crashes (the mark is in the state directory).
if os.environ.get("RIDES_CRASH_ONCE"):
    _mark = os.path.join(os.environ["GEOSTACK_STATE_DIR"], "crashed-" + os.environ["RIDES_CRASH_ONCE"])
    if not os.path.exists(_mark):
        open(_mark, "w").close()
        raise RuntimeError("rides: crashing once on purpose (RIDES_CRASH_ONCE)")
app = Flask(__name__)
SEEN = {"requests": 0}  # per worker process


@app.before_request
def _count():
    SEEN["requests"] += 1


@app.get("/health")
def health():
    return jsonify(service="rides", status="ok")


@app.get("/api/v1/_count")
def requests_seen():
    return jsonify(service="rides", worker=os.getpid(), count=SEEN["requests"])


@app.post("/api/v1/rides")
def book():
    rider = request.get_json(force=True)["username"]
    try:
        with urllib.request.urlopen(f"{os.environ['USERS_URL']}/api/v1/users/{rider}", timeout=5) as answer:
            json.load(answer)
    except urllib.error.HTTPError as error:
        if error.code == 404:
            return jsonify(service="rides", error=f"no user {rider}"), 422
        raise
    return jsonify(service="rides", rider=rider), 201


@app.route("/", defaults={"path": ""})
@app.route("/<path:path>")
def rides(path):
    return jsonify(
        service="rides",
        version=VERSION,
        path="/" + path,
        forwarded_proto=request.headers.get("X-Forwarded-Proto"),
        forwarded_for=request.headers.get("X-Forwarded-For"),
        # Hop-by-hop headers reach the app only if the proxy passes upgrades on.
        upgrade=request.headers.get("Upgrade"),
        connection=request.headers.get("Connection"),
        pad="x" * min(int(request.args.get("pad", 0)), 100_000),
    )
