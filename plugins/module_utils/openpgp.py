# Copyright (c) 2026, geostack.cluster maintainers
# Apache License 2.0 (see galaxy.yml)
"""Which OpenPGP keys a key file holds, and whether they are the pinned ones: apt's signing keys (RFC 9580)."""

from __future__ import annotations

import base64
import hashlib
import re

PUBLIC_KEY, PUBLIC_SUBKEY, SECRET_KEY, SECRET_SUBKEY = 6, 14, 5, 7
_ARMOR = re.compile(r"-----BEGIN PGP PUBLIC KEY BLOCK-----\r?\n(.*?)-----END PGP PUBLIC KEY BLOCK-----", re.S)


class KeyFileError(ValueError):
    """The bytes are not an OpenPGP public key file apt can use."""


def _crc24(data):
    crc = 0xB704CE
    for byte in data:
        crc ^= byte << 16
        for _bit in range(8):
            crc <<= 1
            if crc & 0x1000000:
                crc ^= 0x1864CFB
    return crc & 0xFFFFFF


def dearmor(data):
    """The binary packets of a key file: ASCII-armored (one or more blocks, each checked against its CRC) or binary."""
    if data[:1] and data[0] & 0x80:
        return data
    text = data.decode("ascii", errors="replace")
    blocks = _ARMOR.findall(text)
    if not blocks:
        raise KeyFileError("it is neither a binary OpenPGP key nor an ASCII-armored PGP PUBLIC KEY BLOCK")
    packets = b""
    for block in blocks:
        # Armor headers ("Version: ...") hold a colon, which base64 never does; blank lines separate them.
        lines = [line.strip() for line in block.splitlines() if line.strip() and ":" not in line]
        crc = [line for line in lines if line.startswith("=")]
        try:
            raw = base64.b64decode("".join(line for line in lines if not line.startswith("=")), validate=True)
            if crc and int.from_bytes(base64.b64decode(crc[-1][1:]), "big") != _crc24(raw):
                raise KeyFileError("its armor checksum does not match its content")
        except (ValueError, TypeError) as exc:
            if isinstance(exc, KeyFileError):
                raise
            raise KeyFileError(f"its armor is not valid base64 ({exc})") from None
        packets += raw
    return packets


def packets(data):
    """(tag, body) of each OpenPGP packet in binary data, old and new packet formats."""
    pos, found = 0, []
    while pos < len(data):
        first = data[pos]
        if not first & 0x80:
            raise KeyFileError(f"byte {pos} does not start an OpenPGP packet")
        if first & 0x40:
            tag, pos = first & 0x3F, pos + 1
            if pos >= len(data):
                raise KeyFileError("it ends inside a packet header")
            o1 = data[pos]
            if o1 < 192:
                length, pos = o1, pos + 1
            elif o1 < 224:
                if pos + 1 >= len(data):
                    raise KeyFileError("it ends inside a packet header")
                length, pos = ((o1 - 192) << 8) + data[pos + 1] + 192, pos + 2
            elif o1 == 255:
                length, pos = int.from_bytes(data[pos + 1:pos + 5], "big"), pos + 5
            else:
                raise KeyFileError("it uses partial body lengths, which no key packet may")
        else:
            tag, kind, pos = (first >> 2) & 0x0F, first & 0x03, pos + 1
            if kind == 3:
                length = len(data) - pos
            else:
                size = (1, 2, 4)[kind]
                length, pos = int.from_bytes(data[pos:pos + size], "big"), pos + size
        if pos + length > len(data):
            raise KeyFileError("it ends inside a packet")
        found.append((tag, data[pos:pos + length]))
        pos += length
    return found


def fingerprint(body):
    """The fingerprint of a public key or subkey packet's body, upper-case hex (v4: SHA-1; v5 and v6: SHA-256)."""
    version = body[0] if body else None
    if version == 4:
        return hashlib.sha1(b"\x99" + len(body).to_bytes(2, "big") + body).hexdigest().upper()
    if version in (5, 6):
        prefix = b"\x9a" if version == 5 else b"\x9b"
        return hashlib.sha256(prefix + len(body).to_bytes(4, "big") + body).hexdigest().upper()
    raise KeyFileError(f"it holds a version {version} key, which apt does not accept")


def keys(data):
    """Each primary key of a key file: {'fingerprint': ..., 'subkeys': [...]}, in file order."""
    found = []
    for tag, body in packets(dearmor(data)):
        if tag in (SECRET_KEY, SECRET_SUBKEY):
            raise KeyFileError("it holds a secret key; a signing key for apt is public only")
        if tag == PUBLIC_KEY:
            found.append({"fingerprint": fingerprint(body), "subkeys": []})
        elif tag == PUBLIC_SUBKEY:
            if not found:
                raise KeyFileError("it holds a subkey before any primary key")
            found[-1]["subkeys"].append(fingerprint(body))
    if not found:
        raise KeyFileError("it holds no public key")
    return found


def normalize(value):
    """A fingerprint as given ("0x..." or with spaces) in the form keys() returns: upper-case hex, no spaces."""
    text = re.sub(r"\s+", "", str(value))
    if text[:2].lower() == "0x":
        text = text[2:]
    return text.upper()


def invalid_fingerprints(values):
    """The given fingerprints that are not 40 (v4) or 64 (v5, v6) hex digits."""
    return [str(v) for v in values or [] if not re.fullmatch(r"[0-9A-F]{40}|[0-9A-F]{64}", normalize(v))]


def unpinned_keys(found, pinned):
    """The fingerprints of the primary keys in found that neither they nor one of their subkeys is in pinned.

    Every key in an apt keyring may sign the repository, so every one of them must be pinned, not only one.
    """
    wanted = {normalize(v) for v in pinned}
    return [key["fingerprint"] for key in found if not wanted & {key["fingerprint"], *key["subkeys"]}]
