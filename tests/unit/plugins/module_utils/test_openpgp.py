"""Which keys an apt signing-key file holds (module_utils/openpgp.py).

The key files in keys/ were made with GnuPG 2.4 for these tests (public parts only); the fingerprints below are the
ones `gpg --with-colons --list-keys` printed for them.
"""

from pathlib import Path

import pytest
from ansible_collections.geostack.cluster.plugins.module_utils.openpgp import (
    KeyFileError,
    invalid_fingerprints,
    keys,
    normalize,
    unpinned_keys,
)

KEYS = Path(__file__).parent / "keys"
A = "5CFCD9B51CAAA29069D931A6D63446ABAEDFD50F"  # ed25519, with a cv25519 subkey
A_SUB = "E7734591109AF22060FD2993EA4AAAD772BCAFFD"
B = "C9AB23F0FCCBD53086123C9EAEC8D03A5E1AA186"  # rsa2048, no subkey


def test_an_armored_key_with_a_subkey():
    assert keys((KEYS / "a.asc").read_bytes()) == [{"fingerprint": A, "subkeys": [A_SUB]}]


def test_a_binary_key():
    assert keys((KEYS / "b.gpg").read_bytes()) == [{"fingerprint": B, "subkeys": []}]


def test_a_file_with_two_keys():
    assert [k["fingerprint"] for k in keys((KEYS / "a_and_b.asc").read_bytes())] == [A, B]


def test_armor_headers_and_crlf_line_ends_are_read():
    text = (KEYS / "a.asc").read_text()
    text = text.replace("-----\n\n", "-----\nComment: from the vendor's site\n\n", 1).replace("\n", "\r\n")
    assert keys(text.encode())[0]["fingerprint"] == A


@pytest.mark.parametrize(("content", "reason"), [
    (b"<html>Not Found</html>", "neither a binary OpenPGP key nor an ASCII-armored"),
    (b"", "neither a binary OpenPGP key"),
    (b"\x99\x01", "ends inside a packet"),
    (b"\xc6\x09\x04abcd", "ends inside a packet"),
    (b"\x99\x00\x01\x03", "version 3 key"),
    (b"\x95\x00\x01\x04", "secret key"),
    (b"\xb4\x03abc", "holds no public key"),
])
def test_what_is_not_a_usable_key_file_is_refused_with_the_reason(content, reason):
    with pytest.raises(KeyFileError, match=reason):
        keys(content)


def test_a_damaged_armor_is_refused():
    text = (KEYS / "a.asc").read_text()
    lines = text.splitlines()
    lines[3] = lines[3][:-4] + ("AAAA" if lines[3][-4:] != "AAAA" else "BBBB")
    with pytest.raises(KeyFileError, match="armor checksum does not match"):
        keys("\n".join(lines).encode())


def test_fingerprints_are_given_in_any_usual_spelling():
    assert normalize("0x5cfc d9b5 1caa a290 69d9  31a6 d634 46ab aedf d50f") == A
    assert invalid_fingerprints([A, "0x" + A.lower(), "ACCC4CF8", "not hex at all", "Z" * 40]) == [
        "ACCC4CF8", "not hex at all", "Z" * 40]


def test_every_key_in_the_file_must_be_pinned():
    both = keys((KEYS / "a_and_b.asc").read_bytes())
    assert unpinned_keys(both, [A, B]) == []
    # A file that adds a second key to the pinned one is refused: apt would accept either's signature.
    assert unpinned_keys(both, [A]) == [B]
    assert unpinned_keys(both, []) == [A, B]


def test_a_key_is_pinned_by_its_primary_fingerprint_or_one_of_its_subkeys():
    a = keys((KEYS / "a.asc").read_bytes())
    assert unpinned_keys(a, [A_SUB.lower()]) == []
    assert unpinned_keys(a, [B]) == [A]
