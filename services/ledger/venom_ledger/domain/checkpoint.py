"""Signed tree heads (F-LEDGER-6).

A checkpoint says "chain C had ``tree_size`` entries with Merkle root R at time T", signed with
Ed25519. The signed message is exactly::

    canonical_json({"chain": C, "root_hash": "<64 hex>", "timestamp": "<ledger timestamp>",
                    "tree_size": n})

(keys sorted, no spaces, UTF-8). ``key_id`` is the first 16 hex digits of SHA3-256 of the raw
32-byte public key. Anyone holding the public key can check a checkpoint, and with it an
exported range of entries, without the database.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
from dataclasses import dataclass

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import Encoding, PrivateFormat, PublicFormat, NoEncryption

from venom_common.canonical import canonical_dumps


class BadSigningKey(ValueError):
    """The configured signing key is not a raw 32-byte Ed25519 private key in hex or base64."""


@dataclass(frozen=True, slots=True)
class TreeHead:
    chain: str
    tree_size: int
    root_hash: str  # hex
    timestamp: str  # ledger timestamp format (domain.chain.format_timestamp)

    def signed_bytes(self) -> bytes:
        return canonical_dumps(
            {"chain": self.chain, "root_hash": self.root_hash, "timestamp": self.timestamp,
             "tree_size": self.tree_size}
        )


@dataclass(frozen=True, slots=True)
class SignedTreeHead:
    head: TreeHead
    key_id: str
    signature: str  # hex


def parse_private_key(text: str) -> Ed25519PrivateKey:
    """A raw 32-byte Ed25519 private key given as 64 hex digits or base64."""
    value = text.strip()
    raw: bytes | None = None
    if len(value) == 64:
        try:
            raw = bytes.fromhex(value)
        except ValueError:
            raw = None
    if raw is None:
        try:
            raw = base64.b64decode(value, validate=True)
        except (binascii.Error, ValueError):
            raw = None
    if raw is None or len(raw) != 32:
        raise BadSigningKey(
            "the ledger signing key must be a raw 32-byte Ed25519 private key as 64 hex digits or base64 "
            "(generate one with: python -c \"import os; print(os.urandom(32).hex())\")"
        )
    return Ed25519PrivateKey.from_private_bytes(raw)


def private_key_hex(key: Ed25519PrivateKey) -> str:
    return key.private_bytes(Encoding.Raw, PrivateFormat.Raw, NoEncryption()).hex()


def public_key_raw(key: Ed25519PrivateKey | Ed25519PublicKey) -> bytes:
    public = key.public_key() if isinstance(key, Ed25519PrivateKey) else key
    return public.public_bytes(Encoding.Raw, PublicFormat.Raw)


def key_id_of(public_raw: bytes) -> str:
    return hashlib.sha3_256(public_raw).hexdigest()[:16]


def sign(head: TreeHead, key: Ed25519PrivateKey) -> SignedTreeHead:
    return SignedTreeHead(head, key_id_of(public_key_raw(key)), key.sign(head.signed_bytes()).hex())


def verify_signature(signed: SignedTreeHead, public_key_hex: str) -> bool:
    """True when ``signed`` was signed by the key whose raw public bytes are ``public_key_hex``."""
    try:
        raw = bytes.fromhex(public_key_hex)
        public = Ed25519PublicKey.from_public_bytes(raw)
        if key_id_of(raw) != signed.key_id:
            return False
        public.verify(bytes.fromhex(signed.signature), signed.head.signed_bytes())
    except (ValueError, InvalidSignature):
        return False
    return True
