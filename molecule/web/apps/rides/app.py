"""RideShare's rides service (test app): everything the users service does not answer."""

import os

from flask import Flask, jsonify, request

VERSION = 1
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
