"""Ask a PostgreSQL server, over TLS, to start a session, and print its first answer.

Run inside a node (python3 only, no client library): prints "auth <code>" when
the server asks for a password (10 = SCRAM), or "error <message>" when it
refuses the connection outright (for example: no pg_hba.conf entry).
Usage: python3 pg_probe.py HOST PORT USER DATABASE
"""

import socket
import ssl
import struct
import sys


def main() -> None:
    host, port, user, database = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]
    raw = socket.create_connection((host, port), timeout=10)
    raw.sendall(struct.pack("!ii", 8, 80877103))  # SSLRequest
    if raw.recv(1) != b"S":
        print("error server refused TLS")
        return
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    conn = context.wrap_socket(raw)
    params = b"".join(k.encode() + b"\0" + v.encode() + b"\0" for k, v in (("user", user), ("database", database)))
    body = struct.pack("!i", 196608) + params + b"\0"
    conn.sendall(struct.pack("!i", len(body) + 4) + body)
    kind = conn.recv(1)
    length = struct.unpack("!i", conn.recv(4))[0]
    payload = b""
    while len(payload) < length - 4:
        payload += conn.recv(length - 4 - len(payload))
    if kind == b"R":
        print(f"auth {struct.unpack('!i', payload[:4])[0]}")
    elif kind == b"E":
        fields = dict((f[:1].decode(), f[1:].decode()) for f in payload.split(b"\0") if f)
        print(f"error {fields.get('M', '')}")
    else:
        print(f"other {kind!r}")


if __name__ == "__main__":
    main()
