"""RideShare's users service (test app): users kept in SQLite in the app's
state directory (GEOSTACK_STATE_DIR), whose table migrate.py creates."""

import os
import sqlite3

from flask import Flask, abort, jsonify, request

VERSION = 1
app = Flask(__name__)
DB = os.path.join(os.environ["GEOSTACK_STATE_DIR"], "users.db")
SEEN = {"requests": 0}  # per worker process
# The process that imported this module: gunicorn's master with preload, else each worker.
LOADED_BY = os.getpid()


def db():
    return sqlite3.connect(DB, timeout=10)


@app.before_request
def _count():
    SEEN["requests"] += 1


@app.route("/api/v1/users", methods=["GET", "PUT"])
def users():
    if request.method == "PUT":
        name = request.get_json(force=True)["username"]
        with db() as conn:
            conn.execute("INSERT OR IGNORE INTO users (username) VALUES (?)", (name,))
        return jsonify(username=name), 201
    with db() as conn:
        names = [row[0] for row in conn.execute("SELECT username FROM users ORDER BY username")]
    return jsonify(service="users", version=VERSION, users=names, greeting=os.environ.get("GREETING", ""))


@app.get("/api/v1/users/<name>")
def user(name):
    with db() as conn:
        if conn.execute("SELECT 1 FROM users WHERE username = ?", (name,)).fetchone() is None:
            abort(404)
    return jsonify(service="users", username=name)


@app.get("/api/v1/users/health")
def health():
    # Says whether the secret arrived, never what it is.
    return jsonify(service="users", status="ok", secret_key_set=bool(os.environ.get("USERS_SECRET_KEY")))


@app.get("/api/v1/users/_count")
def requests_seen():
    return jsonify(service="users", worker=os.getpid(), loaded_by=LOADED_BY, count=SEEN["requests"])
