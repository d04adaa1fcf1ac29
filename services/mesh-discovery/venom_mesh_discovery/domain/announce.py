"""Signed announcements (F-MESH-1): format, HMAC-SHA256 sign/verify, replay window and nonce cache.

Wire format (one UDP datagram, canonical JSON, at most ``MAX_PACKET`` bytes)::

    {"a": {<announcement body>}, "mac": "<hex HMAC-SHA256>"}

The MAC is ``HMAC-SHA256(key, DOMAIN_TAG + canonical_dumps(body))``. The body
carries a timestamp and a random nonce; a receiver accepts a body only when
the MAC matches, the timestamp is within the replay window of its own clock
and the ``(node, nonce)`` pair was not seen before. Every refusal has a reason
(``RejectReason``) that the adapter counts.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections import OrderedDict
from dataclasses import dataclass
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from venom_common.canonical import NonFiniteNumber, canonical_dumps

MAX_PACKET = 8192
DOMAIN_TAG = b"venom-mesh-announce-v1\n"
MIN_KEY_BYTES = 16

RejectReason = Literal["malformed", "bad_mac", "stale", "replayed", "self"]
REJECT_REASONS: tuple[RejectReason, ...] = ("malformed", "bad_mac", "stale", "replayed", "self")

NodeId = Annotated[str, Field(min_length=1, max_length=128, pattern=r"^[A-Za-z0-9_-]+$")]
Role = Literal["memory_carrier", "signal_relay", "knowledge_keeper", "generic"]


class Announcement(BaseModel):
    """What one node says about itself. Every field is covered by the MAC."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False, frozen=True)

    v: Literal[1] = 1
    node: NodeId
    addresses: list[Annotated[str, Field(min_length=1, max_length=255)]] = Field(max_length=16)
    version: str = Field(min_length=1, max_length=64)
    capabilities: list[Annotated[str, Field(min_length=1, max_length=64)]] = Field(max_length=32)
    role: Role = "generic"
    interval_s: float = Field(gt=0, le=3600, description="how often the sender announces")
    mode: Literal["multicast", "unicast", "reply"] = Field(
        description="how this copy was sent: to the group, to a seed / DNS / answering peer, or as the one "
                    "immediate unicast answer to a newcomer's announcement")
    ts: float = Field(gt=0, description="sender's clock, Unix seconds")
    nonce: str = Field(pattern=r"^[0-9a-f]{32}$", description="16 random bytes, hex")


class AnnouncementRejected(Exception):
    """An announcement was refused; ``reason`` is one of ``REJECT_REASONS``."""

    def __init__(self, reason: RejectReason, detail: str) -> None:
        super().__init__(f"{reason}: {detail}")
        self.reason: RejectReason = reason
        self.detail = detail


def check_key(key: bytes) -> bytes:
    if len(key) < MIN_KEY_BYTES:
        raise ValueError(f"the mesh key must be at least {MIN_KEY_BYTES} bytes, got {len(key)}")
    return key


def _mac(key: bytes, body: bytes) -> str:
    return hmac.new(key, DOMAIN_TAG + body, hashlib.sha256).hexdigest()


def sign(announcement: Announcement, key: bytes) -> bytes:
    """The datagram for ``announcement``, authenticated under ``key``."""
    body = canonical_dumps(announcement.model_dump(mode="json"))
    packet = b'{"a":' + body + b',"mac":"' + _mac(key, body).encode() + b'"}'
    if len(packet) > MAX_PACKET:
        raise ValueError(f"announcement is {len(packet)} bytes, more than {MAX_PACKET}")
    return packet


def _parse(packet: bytes, key: bytes) -> Announcement:
    if len(packet) > MAX_PACKET:
        raise AnnouncementRejected("malformed", f"{len(packet)} bytes > {MAX_PACKET}")
    try:
        outer = json.loads(packet)
    except (ValueError, UnicodeDecodeError) as exc:
        raise AnnouncementRejected("malformed", f"not JSON: {exc}") from None
    if not isinstance(outer, dict) or set(outer) != {"a", "mac"} or not isinstance(outer["a"], dict) \
            or not isinstance(outer["mac"], str):
        raise AnnouncementRejected("malformed", 'expected {"a": {...}, "mac": "..."}')
    try:
        # The MAC covers the canonical form of the body as received: re-serialising is deterministic.
        body = canonical_dumps(outer["a"])
    except (NonFiniteNumber, TypeError, ValueError) as exc:
        raise AnnouncementRejected("malformed", f"body: {exc}") from None
    if not hmac.compare_digest(_mac(key, body), outer["mac"]):
        raise AnnouncementRejected("bad_mac", "HMAC does not match (wrong key or altered packet)")
    try:
        return Announcement.model_validate(outer["a"])
    except ValidationError as exc:
        raise AnnouncementRejected("malformed", f"fields: {exc.error_count()} error(s)") from None


class ReplayGuard:
    """Refuses an announcement seen before or outside the replay window, in bounded memory.

    The cache keeps at most ``capacity`` ``(node, nonce)`` pairs, oldest
    timestamp first out. When it has to drop a pair still inside the window it
    raises ``floor`` to that pair's timestamp and refuses anything not newer
    than the floor, so a dropped nonce can never be replayed.
    """

    def __init__(self, window_s: float, capacity: int = 4096) -> None:
        if window_s <= 0 or capacity < 1:
            raise ValueError("window_s must be > 0 and capacity >= 1")
        self.window_s = window_s
        self.capacity = capacity
        self.floor = 0.0
        self._seen: OrderedDict[tuple[str, str], float] = OrderedDict()

    def __len__(self) -> int:
        return len(self._seen)

    def admit(self, node: str, nonce: str, ts: float, now: float) -> None:
        """Record the pair or raise :class:`AnnouncementRejected` (``stale`` or ``replayed``)."""
        if abs(now - ts) > self.window_s:
            raise AnnouncementRejected("stale", f"timestamp {ts:.3f} is {now - ts:+.3f} s from now "
                                                f"(window ±{self.window_s} s)")
        if ts <= self.floor:
            raise AnnouncementRejected("replayed", f"timestamp {ts:.3f} not newer than the forgotten-nonce floor")
        key = (node, nonce)
        if key in self._seen:
            raise AnnouncementRejected("replayed", f"nonce {nonce} of {node} already seen")
        # Forget pairs that left the window: they are refused as stale anyway.
        while self._seen:
            old_key, old_ts = next(iter(self._seen.items()))
            if old_ts >= now - self.window_s and len(self._seen) < self.capacity:
                break
            self._seen.popitem(last=False)
            if old_ts >= now - self.window_s:
                self.floor = max(self.floor, old_ts)
        newest = next(reversed(self._seen.values()), None)
        self._seen[key] = ts
        if newest is not None and ts < newest:
            # Keep the cache in timestamp order so eviction drops the oldest first (rare: late packets).
            self._seen = OrderedDict(sorted(self._seen.items(), key=lambda kv: kv[1]))


@dataclass(frozen=True)
class Verifier:
    """Checks a datagram end to end: format, MAC, then (and only then) the replay guard."""

    key: bytes
    own_node: str
    guard: ReplayGuard

    def verify(self, packet: bytes, now: float) -> Announcement:
        ann = _parse(packet, self.key)
        if ann.node == self.own_node:
            # Our own multicast loops back; authentic but not a peer.
            raise AnnouncementRejected("self", "own announcement")
        self.guard.admit(ann.node, ann.nonce, ann.ts, now)
        return ann
