"""Unique, sortable event ids (UUIDv7, RFC 9562): time-ordered, so ids sort by creation."""

from __future__ import annotations

import uuid6


def new_event_id() -> str:
    """A new UUIDv7 as its canonical 36-character string."""
    return str(uuid6.uuid7())


def derived_event_id(parent_id: str, label: str) -> str:
    """A deterministic id for an event that belongs to ``parent_id`` (e.g. a beat's flows and decision).

    It keeps the parent's UUIDv7 48-bit millisecond timestamp (so it sorts with
    its parent) and fills the rest from SHA3-256(parent_id/label), marked as a
    UUIDv8 (RFC 9562 §5.8). Re-running the same beat after a crash therefore
    republishes the same ids, and JetStream and the ledger drop the duplicates.
    """
    import hashlib
    import uuid

    parent = uuid.UUID(parent_id)
    digest = hashlib.sha3_256(f"{parent_id}/{label}".encode()).digest()
    raw = bytearray(parent.bytes[:6] + digest[:10])
    raw[6] = 0x80 | (raw[6] & 0x0F)  # version 8
    raw[8] = 0x80 | (raw[8] & 0x3F)  # RFC 9562 variant
    return str(uuid.UUID(bytes=bytes(raw)))
