from __future__ import annotations

import base64
import os

import pytest

from venom_ledger.domain import checkpoint as cp


def test_sign_and_verify_round_trip():
    key = cp.parse_private_key(os.urandom(32).hex())
    head = cp.TreeHead("main", 42, "ab" * 32, "2026-11-21T10:00:00.000000Z")
    signed = cp.sign(head, key)
    pub = cp.public_key_raw(key).hex()
    assert cp.verify_signature(signed, pub)
    assert head.signed_bytes() == (b'{"chain":"main","root_hash":"' + b"ab" * 32 +
                                   b'","timestamp":"2026-11-21T10:00:00.000000Z","tree_size":42}')


@pytest.mark.parametrize("change", ["tree_size", "root_hash", "timestamp", "chain", "signature", "key"])
def test_any_change_breaks_the_signature(change):
    key = cp.parse_private_key(base64.b64encode(os.urandom(32)).decode())
    head = cp.TreeHead("main", 42, "ab" * 32, "2026-11-21T10:00:00.000000Z")
    signed = cp.sign(head, key)
    pub = cp.public_key_raw(key).hex()
    if change == "key":
        pub = cp.public_key_raw(cp.parse_private_key(os.urandom(32).hex())).hex()
    elif change == "signature":
        sig = bytearray(bytes.fromhex(signed.signature))
        sig[0] ^= 1
        signed = cp.SignedTreeHead(head, signed.key_id, sig.hex())
    else:
        values = {"tree_size": 41, "root_hash": "ac" * 32, "timestamp": "2026-11-21T10:00:00.000001Z",
                  "chain": "other"}
        from dataclasses import replace

        signed = cp.SignedTreeHead(replace(head, **{change: values[change]}), signed.key_id, signed.signature)
    assert not cp.verify_signature(signed, pub)


@pytest.mark.parametrize("bad", ["", "zz" * 32, "ab" * 31, base64.b64encode(b"x" * 31).decode(), "not base64!"])
def test_bad_keys_are_refused_with_a_hint(bad):
    with pytest.raises(cp.BadSigningKey, match="32-byte"):
        cp.parse_private_key(bad)
