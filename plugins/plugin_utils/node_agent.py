# Copyright (c) 2026, geostack.cluster maintainers
# Apache License 2.0 (see galaxy.yml)
"""The node agent of the geostack.cluster.docker_api connection: runs a task's command in its container.

A Docker exec costs about 30 ms of the Docker engine's CPU (dockerd, containerd, the shim and runc) besides the
command itself, and a task makes at least one. The connection starts this agent once in each container it runs
tasks in (itself through one Docker exec), then hands it each command over a Unix socket in the container's
``/run``, which the controller reaches through ``/proc/<the container's PID>/root``. The agent runs the command as a
Docker exec would: ``/bin/sh -c`` as root, with the container's environment, the command's stdin, and its stdout,
stderr and exit code sent back. It only moves bytes: what the command does on the node is the same.

Nothing here is imported on a node: the connection sends this file's source to the node's ``python3`` as a
``-c`` argument. Its wire format, both ways, is a JSON header line and then raw bytes:

- request: ``{"argv": [...], "stdin": <bytes that follow>}``;
- answer: ``{"rc": <exit code>, "stdout": <bytes>, "stderr": <bytes>}``, then stdout's bytes, then stderr's.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import socket
import socketserver
import subprocess
import sys
import threading
import time

# The agent leaves when no command came for this long; a later task starts it again.
IDLE_SECONDS = 600
# The largest request header (a command line; its stdin follows the header).
MAX_HEADER = 1 << 20


def request(path: str, argv: list[str], stdin: bytes | None) -> tuple[int, bytes, bytes]:
    """Run argv through the agent listening on path: (rc, stdout, stderr). Raises OSError when none answers there,
    and EOFError when it went away before its answer was whole."""
    data = stdin or b""
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        sock.connect(path)
        sock.sendall(json.dumps({"argv": argv, "stdin": len(data)}).encode() + b"\n" + data)
        reader = sock.makefile("rb")
        header = reader.readline(MAX_HEADER)
        if not header.endswith(b"\n"):
            raise EOFError("the node agent closed the connection before its answer")
        answer = json.loads(header)
        stdout, stderr = reader.read(answer["stdout"]), reader.read(answer["stderr"])
        if len(stdout) != answer["stdout"] or len(stderr) != answer["stderr"]:
            raise EOFError("the node agent's answer was cut short")
        return answer["rc"], stdout, stderr


class _Handler(socketserver.StreamRequestHandler):
    def handle(self):
        with self.server.busy():
            self._run()

    def _run(self):
        line = self.rfile.readline(MAX_HEADER)
        if not line:
            return  # a look whether an agent listens here (another agent starting)
        header = json.loads(line)
        stdin = self.rfile.read(header["stdin"]) if header["stdin"] else None
        try:
            # A process of its own, as a Docker exec is: not in the agent's session.
            # No stdin is /dev/null, as for a Docker exec that attaches none.
            feed = {"input": stdin} if stdin is not None else {"stdin": subprocess.DEVNULL}
            proc = subprocess.run(header["argv"], capture_output=True, start_new_session=True, check=False, **feed)
            rc, stdout, stderr = proc.returncode, proc.stdout, proc.stderr
        except OSError as error:
            rc, stdout, stderr = 126, b"", f"{header['argv'][0]}: {error}\n".encode()
        # A command killed by a signal: what a shell (and Docker) reports, 128 + the signal.
        rc = 128 - rc if rc < 0 else rc
        self.wfile.write(json.dumps({"rc": rc, "stdout": len(stdout), "stderr": len(stderr)}).encode() + b"\n")
        self.wfile.write(stdout)
        self.wfile.write(stderr)


class _Server(socketserver.ThreadingMixIn, socketserver.UnixStreamServer):
    # A command that runs when the agent leaves is waited for (server_close joins its thread).
    daemon_threads = False

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.last = time.monotonic()
        self.active = 0
        self.guard = threading.Lock()

    @contextlib.contextmanager
    def busy(self):
        with self.guard:
            self.active += 1
        try:
            yield
        finally:
            with self.guard:
                self.active -= 1
                self.last = time.monotonic()

    def idle(self) -> bool:
        with self.guard:
            return self.active == 0 and time.monotonic() - self.last >= IDLE_SECONDS


def _live(path: str) -> bool:
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        try:
            sock.connect(path)
        except OSError:
            return False
    return True


def serve(path: str) -> int:
    """Listen on path until idle for IDLE_SECONDS; 0 also when another agent listens there already."""
    directory = os.path.dirname(path)
    os.makedirs(directory, mode=0o700, exist_ok=True)
    # One agent per socket: the check, the removal of a stale socket and the bind happen under one lock.
    with open(path + ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if _live(path):
            return 0
        if os.path.lexists(path):
            os.unlink(path)
        # The socket is root's alone; the commands keep the umask a Docker exec has (files they make are not).
        umask = os.umask(0o077)
        try:
            server = _Server(path, _Handler)
        finally:
            os.umask(umask)

    def leave_when_idle():
        while not server.idle():
            time.sleep(10)
        # Gone from the path first: a task that comes now starts a new agent instead of waiting on this one.
        os.unlink(path)
        server.shutdown()

    threading.Thread(target=leave_when_idle, daemon=True).start()
    try:
        server.serve_forever(poll_interval=5)
    finally:
        server.server_close()
    return 0


if __name__ == "__main__":
    sys.exit(serve(sys.argv[1]))
