"""Peer table expiry, NanoBot capacities and FIFO eviction, broadcast fan-out and adaptive delay."""

from __future__ import annotations

import pytest

from venom_mesh_discovery.domain.announce import Announcement
from venom_mesh_discovery.domain.broadcast import FifoDeliveryQueue, delivery_delay, fan_out
from venom_mesh_discovery.domain.nanobots import ROLE_CAPACITY, NanoBot
from venom_mesh_discovery.domain.peers import PeerTable


def ann(node: str, interval: float = 1.0, role: str = "generic") -> Announcement:
    return Announcement(node=node, addresses=["10.0.0.1"], version="1", capabilities=[], role=role,
                        interval_s=interval, mode="multicast", ts=1.0, nonce="0" * 32)


def test_join_refresh_and_expiry_after_missed_intervals() -> None:
    t = PeerTable(missed_intervals=3)
    assert t.observe(ann("a"), "multicast", "x", 100.0).status == "joined"
    assert t.observe(ann("a"), "multicast", "x", 101.0) is None  # refresh, no change
    assert t.expire(104.0) == []  # 3 s after the last word: not yet
    left = t.expire(104.01)
    assert [(c.status, c.peer.node) for c in left] == [("left", "a")] and len(t) == 0


def test_expiry_uses_each_peers_own_interval() -> None:
    t = PeerTable(missed_intervals=2)
    t.observe(ann("fast", 0.5), "seed", "x", 0.0)
    t.observe(ann("slow", 10.0), "seed", "x", 0.0)
    assert [c.peer.node for c in t.expire(1.5)] == ["fast"]
    assert "slow" in t


def test_multicast_overrides_how_a_peer_was_learnt_but_seed_does_not() -> None:
    t = PeerTable(missed_intervals=3)
    t.observe(ann("a"), "dns", "x", 0.0)
    t.observe(ann("a"), "seed", "x", 1.0)
    assert t.get("a").via == "dns"
    t.observe(ann("a"), "multicast", "x", 2.0)
    assert t.get("a").via == "multicast" and t.get("a").first_seen == 0.0


def test_table_is_bounded() -> None:
    t = PeerTable(missed_intervals=3, capacity=2)
    t.observe(ann("a"), "seed", "x", 0.0)
    t.observe(ann("b"), "seed", "x", 0.0)
    assert t.observe(ann("c"), "seed", "x", 0.0) is None and len(t) == 2


def test_role_capacities_match_the_spec() -> None:
    assert ROLE_CAPACITY == {"memory_carrier": 200, "signal_relay": 50, "knowledge_keeper": 500, "generic": 100}


@pytest.mark.parametrize("role", sorted(ROLE_CAPACITY))
def test_nanobot_evicts_oldest_first(role: str) -> None:
    bot: NanoBot[int] = NanoBot(role)  # type: ignore[arg-type]
    cap = ROLE_CAPACITY[role]  # type: ignore[index]
    assert [bot.store(i) for i in range(cap)] == [None] * cap
    assert bot.store(cap) == 0 and bot.store(cap + 1) == 1
    assert bot.items() == list(range(2, cap + 2)) and bot.evicted == 2 and len(bot) == cap


def test_unknown_role_is_refused() -> None:
    with pytest.raises(ValueError):
        NanoBot("overlord")  # type: ignore[arg-type]


def test_fan_out_reaches_every_peer_but_the_sender_once() -> None:
    assert fan_out("b", ["c", "a", "b", "a"]) == ["a", "c"]
    assert fan_out("a", ["a"]) == []


def test_adaptive_delay_threshold() -> None:
    assert delivery_delay(100) == 0.001
    assert delivery_delay(101) == 0.0003


def test_fifo_queue_keeps_order_and_switches_delay() -> None:
    q: FifoDeliveryQueue[str] = FifoDeliveryQueue(capacity=300)
    q.enqueue([f"p{i}" for i in range(150)], "m1")
    q.enqueue(["x"], "m2")
    first, delay = q.next_delivery()
    assert (first.target, first.message, delay) == ("p0", "m1", 0.0003)
    out = [q.next_delivery() for _ in range(len(q))]
    assert [d.target for d, _ in out][-1] == "x" and out[-1][1] == 0.001
    assert q.next_delivery() is None


def test_fifo_queue_is_bounded() -> None:
    q: FifoDeliveryQueue[str] = FifoDeliveryQueue(capacity=2)
    assert q.enqueue(["a", "b", "c"], "m") == 2 and q.dropped == 1
