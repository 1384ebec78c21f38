# Copyright (c) 2026, geostack.cluster maintainers
# Apache License 2.0 (see galaxy.yml)
"""One HTTP GET on the node, for node_state's reads and wait_for_http's waits: an answer is a dict, never an exception."""

from __future__ import annotations

import base64
import http.client
import json
import socket
import urllib.error

from ansible.module_utils.urls import open_url


class _UnixConnection(http.client.HTTPConnection):
    def __init__(self, path, timeout):
        super().__init__("localhost", timeout=timeout)
        self._path = path

    def connect(self):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(self.timeout)
        self.sock.connect(self._path)


def http_request(url, user=None, password=None, timeout=5, unix_socket=None, validate_certs=True):
    """GET url (through unix_socket when given): {status, body, error} and json when the body is JSON. A failure to
    connect is status -1 with the error, an HTTP error its status."""
    timeout = float(timeout or 5)
    headers = {}
    if user:
        token = base64.b64encode(f"{user}:{password or ''}".encode()).decode()
        headers["Authorization"] = f"Basic {token}"
    try:
        if unix_socket:
            conn = _UnixConnection(unix_socket, timeout)
            path = url.split("://", 1)[-1]
            path = "/" + path.split("/", 1)[1] if "/" in path else "/"
            conn.request("GET", path, headers=headers)
            response = conn.getresponse()
            status, body = response.status, response.read()
            conn.close()
        else:
            with open_url(url, headers=headers, timeout=timeout, validate_certs=validate_certs) as response:
                status, body = response.status, response.read()
    except urllib.error.HTTPError as error:
        status, body = error.code, error.read()
    except (OSError, http.client.HTTPException, ValueError) as error:
        return {"status": -1, "body": "", "error": str(error)}
    text = body.decode("utf-8", "replace")
    result = {"status": status, "body": text, "error": ""}
    try:
        result["json"] = json.loads(text)
    except ValueError:
        pass
    return result
