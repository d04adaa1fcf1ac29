"""Announcements: HMAC-SHA256 sign/verify, malformed input, replay window, bounded nonce cache (F-MESH-1)."""

from __future__ import annotations

import json

import pytest

from venom_mesh_discovery.domain.announce import (
    MAX_PACKET,
    Announcement,
    AnnouncementRejected,
    ReplayGuard,
    Verifier,
    sign,
)

KEY = b"k" * 32
NOW = 1_800_000_000.0


def ann(node: str = "n1", ts: float = NOW, nonce: str = "0" * 32, **kw) -> Announcement:
    base = dict(node=node, addresses=["127.0.0.1"], version="0.1.0", capabilities=["tasks"], role="generic",
                interval_s=1.0, mode="multicast", ts=ts, nonce=nonce)
    base.update(kw)
    return Announcement(**base)


def verifier(window: float = 30.0, capacity: int = 64) -> Verifier:
    return Verifier(KEY, "me", ReplayGuard(window, capacity))


def reason(v: Verifier, packet: bytes, now: float = NOW) -> str:
    with pytest.raises(AnnouncementRejected) as err:
        v.verify(packet, now)
    return err.value.reason


def test_signed_announcement_verifies_with_all_fields() -> None:
    a = ann(role="knowledge_keeper", capabilities=["tasks", "wave"])
    assert verifier().verify(sign(a, KEY), NOW) == a


def test_wrong_key_is_bad_mac() -> None:
    assert reason(verifier(), sign(ann(), b"x" * 32)) == "bad_mac"


def test_altered_field_is_bad_mac() -> None:
    outer = json.loads(sign(ann(), KEY))
    outer["a"]["role"] = "knowledge_keeper"
    assert reason(verifier(), json.dumps(outer).encode()) == "bad_mac"


@pytest.mark.parametrize("packet", [
    b"", b"\xff\xfe", b"not json", b"[]", b'{"a": 1, "mac": "00"}', b'{"a": {}}',
    b'{"a": {"node": "n"}, "mac": "00", "x": 1}', b'{"a": {"ts": NaN}, "mac": "00"}',
    b"{" + b" " * MAX_PACKET + b"}",
])
def test_malformed_packets_are_refused(packet: bytes) -> None:
    assert reason(verifier(), packet) == "malformed"


def test_authentic_but_invalid_fields_are_malformed() -> None:
    # Someone with the key still cannot smuggle a bad node id or extra fields.
    from venom_common.canonical import canonical_dumps
    from venom_mesh_discovery.domain import announce as a

    body = ann().model_dump(mode="json") | {"node": "bad.node", "extra": 1}
    raw = canonical_dumps(body)
    packet = b'{"a":' + raw + b',"mac":"' + a._mac(KEY, raw).encode() + b'"}'
    assert reason(verifier(), packet) == "malformed"


def test_replay_is_refused_and_fresh_nonce_accepted() -> None:
    v = verifier()
    packet = sign(ann(nonce="1" * 32), KEY)
    v.verify(packet, NOW)
    assert reason(v, packet, NOW + 1) == "replayed"
    v.verify(sign(ann(nonce="2" * 32, ts=NOW + 1), KEY), NOW + 1)


def test_old_or_future_timestamp_is_stale() -> None:
    v = verifier(window=30)
    assert reason(v, sign(ann(ts=NOW - 31), KEY)) == "stale"
    assert reason(v, sign(ann(ts=NOW + 31), KEY)) == "stale"


def test_own_announcement_is_not_a_peer() -> None:
    assert reason(verifier(), sign(ann(node="me"), KEY)) == "self"


def test_nonce_cache_is_bounded_and_a_forgotten_nonce_still_cannot_replay() -> None:
    guard = ReplayGuard(window_s=1000, capacity=8)
    first = (NOW, "a" * 32)
    guard.admit("n1", first[1], first[0], NOW)
    for i in range(1, 20):
        guard.admit("n1", f"{i:032x}", NOW + i, NOW + i)
    assert len(guard) <= 8
    with pytest.raises(AnnouncementRejected) as err:
        guard.admit("n1", first[1], first[0], NOW + 20)
    assert err.value.reason == "replayed"


def test_expired_nonces_are_forgotten_without_raising_the_floor() -> None:
    guard = ReplayGuard(window_s=10, capacity=4)
    for i in range(4):
        guard.admit("n1", f"{i:032x}", NOW + i, NOW + i)
    guard.admit("n1", "f" * 32, NOW + 100, NOW + 100)
    assert len(guard) == 1 and guard.floor == 0.0


def test_late_packet_keeps_cache_ordered() -> None:
    guard = ReplayGuard(window_s=100, capacity=3)
    guard.admit("n1", "1" * 32, NOW + 5, NOW + 5)
    guard.admit("n2", "2" * 32, NOW + 1, NOW + 5)  # late but within the window
    guard.admit("n3", "3" * 32, NOW + 6, NOW + 6)
    guard.admit("n4", "4" * 32, NOW + 7, NOW + 7)  # full: the oldest timestamp (NOW+1) goes
    assert guard.floor == NOW + 1


def test_largest_valid_announcement_fits_one_datagram() -> None:
    packet = sign(ann(capabilities=["c" * 64] * 32, addresses=["a" * 255] * 16), KEY)
    assert len(packet) <= MAX_PACKET
    assert verifier().verify(packet, NOW).node == "n1"
