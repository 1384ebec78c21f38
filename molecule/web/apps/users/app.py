"""RideShare's users service (test app): a user list and a request counter."""

import os

from flask import Flask, jsonify, request

app = Flask(__name__)
USERS = {}
SEEN = {"requests": 0}  # per worker process


@app.before_request
def _count():
    SEEN["requests"] += 1


@app.route("/api/v1/users", methods=["GET", "PUT"])
def users():
    if request.method == "PUT":
        name = request.get_json(force=True)["username"]
        USERS[name] = {"username": name}
        return jsonify(USERS[name]), 201
    return jsonify(service="users", users=sorted(USERS), greeting=os.environ.get("GREETING", ""))


@app.get("/api/v1/users/health")
def health():
    # Says whether the secret arrived, never what it is.
    return jsonify(service="users", status="ok", secret_key_set=bool(os.environ.get("USERS_SECRET_KEY")))


@app.get("/api/v1/users/_count")
def requests_seen():
    return jsonify(service="users", worker=os.getpid(), count=SEEN["requests"])
