"""Unique, sortable event ids (UUIDv7, RFC 9562): time-ordered, so ids sort by creation."""

from __future__ import annotations

import uuid6


def new_event_id() -> str:
    """A new UUIDv7 as its canonical 36-character string."""
    return str(uuid6.uuid7())
