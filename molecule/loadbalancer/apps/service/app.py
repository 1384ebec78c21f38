"""A RideShare service for the load balancer scenario: every answer says which
service (SERVICE, from the app's env: users or rides) and which node gave it
(plain WSGI, no dependencies)."""

import json
import os
import socket

SERVICE = os.environ["SERVICE"]


def app(environ, start_response):
    method, path = environ["REQUEST_METHOD"], environ.get("PATH_INFO", "/")
    status = "201 Created" if method in ("PUT", "POST") else "200 OK"
    body = json.dumps({"service": SERVICE, "node": socket.gethostname(), "method": method, "path": path}).encode()
    start_response(status, [("Content-Type", "application/json"), ("Content-Length", str(len(body)))])
    return [body]
