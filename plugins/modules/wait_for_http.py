#!/usr/bin/python
# Copyright (c) 2026, geostack.cluster maintainers
# Apache License 2.0 (see galaxy.yml)
"""Wait until a URL on the node answers with an expected HTTP status."""

from __future__ import annotations

DOCUMENTATION = r"""
module: wait_for_http
short_description: Wait until a URL on the node answers with an expected HTTP status
description:
  - Requests O(url) from the node every O(delay) seconds until it answers with one of O(status_code), and fails when
    O(timeout) seconds pass first, naming the URL, what it answered last and for how long it was tried.
  - The one wait the roles use after they (re)start a service with an HTTP endpoint (Grafana, node_exporter,
    Prometheus, a web app on its Unix socket), in place of a C(uri) task with C(until), C(retries) and C(delay).
  - It only reads, so it never reports a change.
version_added: 0.3.0
author:
  - geostack.cluster maintainers (@geostack)
options:
  url:
    description: The URL. With O(unix_socket), only its path is used.
    type: str
    required: true
  status_code:
    description: The statuses that count as an answer.
    type: list
    elements: int
    default: [200]
  timeout:
    description: Seconds to keep trying.
    type: int
    default: 60
  delay:
    description: Seconds between two requests.
    type: float
    default: 1
  request_timeout:
    description: Seconds one request may take.
    type: float
    default: 5
  validate_certs:
    description: Whether to verify an HTTPS server's certificate.
    type: bool
    default: true
  unix_socket:
    description: Connect through this Unix socket instead of the URL's host.
    type: path
attributes:
  check_mode:
    description: Waits under C(--check) too, since a request changes nothing.
    support: full
  diff_mode:
    description: No diff; nothing on the node changes.
    support: none
"""

EXAMPLES = r"""
- name: Wait until Prometheus is ready
  geostack.cluster.wait_for_http:
    url: http://10.0.1.5:9090/-/ready
    timeout: 30

- name: Wait until the app answers on its socket
  geostack.cluster.wait_for_http:
    url: http://localhost/health
    unix_socket: /run/geostack-web/users.sock
"""

RETURN = r"""
status:
  description: The last status (-1 when the last request could not connect).
  returned: always
  type: int
  sample: 200
error:
  description: Why the last request failed to connect, or empty.
  returned: always
  type: str
attempts:
  description: How many requests were made.
  returned: always
  type: int
elapsed:
  description: Seconds spent waiting.
  returned: always
  type: float
json:
  description: The last answer's body, when it is JSON.
  returned: when the body is JSON
  type: raw
"""

import time

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.geostack.cluster.plugins.module_utils.http_probe import http_request


def wait_for_http(request, url, status_code, timeout, delay, clock=time.monotonic, sleep=time.sleep):
    """Call request() until its answer's status is in status_code or timeout seconds passed: (answered, answer,
    attempts, elapsed)."""
    start = clock()
    attempts = 0
    while True:
        attempts += 1
        answer = request()
        elapsed = clock() - start
        if answer["status"] in status_code:
            return True, answer, attempts, elapsed
        if elapsed + delay > timeout:
            return False, answer, attempts, elapsed
        sleep(delay)


def main():
    module = AnsibleModule(
        argument_spec={
            "url": {"type": "str", "required": True},
            "status_code": {"type": "list", "elements": "int", "default": [200]},
            "timeout": {"type": "int", "default": 60},
            "delay": {"type": "float", "default": 1},
            "request_timeout": {"type": "float", "default": 5},
            "validate_certs": {"type": "bool", "default": True},
            "unix_socket": {"type": "path"},
        },
        supports_check_mode=True,
    )
    p = module.params
    answered, answer, attempts, elapsed = wait_for_http(
        lambda: http_request(p["url"], timeout=p["request_timeout"], unix_socket=p["unix_socket"],
                             validate_certs=p["validate_certs"]),
        p["url"], p["status_code"], p["timeout"], p["delay"])
    result = {"changed": False, "status": answer["status"], "error": answer["error"], "attempts": attempts,
              "elapsed": round(elapsed, 1)}
    if "json" in answer:
        result["json"] = answer["json"]
    if not answered:
        last = f"could not connect ({answer['error']})" if answer["status"] == -1 else f"answered {answer['status']}"
        where = f" through {p['unix_socket']}" if p["unix_socket"] else ""
        module.fail_json(msg=f"{p['url']}{where} {last} after {attempts} request(s) in {elapsed:.0f} s; wanted "
                             f"{' or '.join(str(s) for s in p['status_code'])}", **result)
    module.exit_json(**result)


if __name__ == "__main__":
    main()
