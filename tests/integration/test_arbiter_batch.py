"""With ``VENOM_ATOMIC_BATCHES`` the arbiter stores each beat's events as one JetStream atomic batch (real
NATS, real organs, in-process).

A batch is stored whole with consecutive sequences; when its ack is lost or the server refuses it, the
arbiter sends the same events one by one and every event is still stored exactly once, the beat is
committed once, and the stored state points at the genome event's real sequence.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from prometheus_client import REGISTRY

from venom_arbiter.service import ArbiterService
from venom_common.bus import Bus

from support.beat import organs, publish_metrics, run_arbiter, stored_events

pytestmark = pytest.mark.integration

KINDS = ["venom.beat.v1", "venom.flow.v1", "venom.flow.v1", "venom.flow.v1", "venom.flow.v1",
         "venom.decision.v1", "venom.genome.v1"]


async def node_stored_events(bus: Bus, node: str) -> list[tuple[int, Any, dict[str, str]]]:
    """(stream sequence, event, headers) of every event of ``node`` in VENOM_EVENTS, in stream order."""
    return await stored_events(bus, [f"venom.*.{node}", f"venom.*.{node}.*"])


def failures() -> float:
    return REGISTRY.get_sample_value("venom_beat_publish_failures_total") or 0.0


def assert_each_beat_stored_once(events: list[tuple[int, Any, dict[str, str]]], beats: int) -> None:
    ids = Counter(event.id for _, event, _ in events)
    assert all(n == 1 for n in ids.values()), [i for i, n in ids.items() if n > 1]
    per_beat: dict[int, list[str]] = {}
    for _, event, _ in events:
        per_beat.setdefault(event.data.beat, []).append(event.type)
    assert sorted(per_beat) == list(range(beats))
    for kinds in per_beat.values():
        assert sorted(kinds) == sorted(KINDS)


async def test_each_beat_is_one_batch_with_consecutive_sequences(bus: Bus, nats_url: str, tmp_path: Path,
                                                                 unique: str) -> None:
    node = f"b{unique}"
    await publish_metrics(bus, node, [0, 1, 2])
    before = failures()
    async with organs(nats_url, tmp_path):
        svc = await run_arbiter(nats_url, node, beats=3, atomic_batches=True)
    events = await node_stored_events(bus, node)
    assert_each_beat_stored_once(events, 3)
    for beat in range(3):
        mine = [(seq, event, headers) for seq, event, headers in events if event.data.beat == beat]
        seqs = [seq for seq, _, _ in mine]
        assert seqs == list(range(seqs[0], seqs[0] + 7))  # one batch: consecutive, nothing between
        assert [event.type for _, event, _ in mine] == KINDS  # the pulse first
        assert all(headers["Nats-Msg-Id"] == event.id for _, event, headers in mine)
        assert len({headers["Nats-Batch-Id"] for _, _, headers in mine}) == 1  # the server keeps the header
    genome_seq = max(seq for seq, event, _ in events if event.type == "venom.genome.v1")
    assert svc.state.genome_seq == genome_seq and svc.state.beat == 3
    assert failures() == before


async def test_a_lost_batch_ack_is_followed_by_the_events_one_by_one_stored_once(
        bus: Bus, nats_url: str, tmp_path: Path, unique: str, monkeypatch: pytest.MonkeyPatch) -> None:
    node = f"l{unique}"
    await publish_metrics(bus, node, [0, 1, 2, 3])
    real_send_batch = ArbiterService._send_batch
    lost: list[int] = []

    async def send_batch_losing_beat_1s_ack(self: ArbiterService, items: list[Any]) -> Any:
        future = await real_send_batch(self, items)
        if items[0][1].data.beat == 1 and not lost:
            lost.append(1)
            await future  # the batch is stored ...
            # ... and its ack never arrives: the wait for it ends as the arbiter's timeout ends it (TimeoutError).
            never = asyncio.get_running_loop().create_future()
            asyncio.get_running_loop().call_later(0.3, lambda: never.done() or never.set_exception(TimeoutError()))
            return never
        return future

    monkeypatch.setattr(ArbiterService, "_send_batch", send_batch_losing_beat_1s_ack)
    before = failures()
    async with organs(nats_url, tmp_path):
        # Only beat 1's ack is lost (failures() counts one). The other acks get 30 s: a real timeout of a
        # few seconds was overrun on a CPU-starved CI machine (beat 2's ack took over 2 s there).
        svc = await run_arbiter(nats_url, node, beats=4, publish_timeout_s=30.0, atomic_batches=True)
    assert lost == [1] and failures() == before + 1
    events = await node_stored_events(bus, node)
    assert_each_beat_stored_once(events, 4)
    genome_seq = max(seq for seq, event, _ in events if event.type == "venom.genome.v1")
    assert svc.state.genome_seq == genome_seq and svc.state.beat == 4 and svc.beats_done == 4


async def test_a_refused_batch_is_followed_by_the_events_one_by_one_stored_once(
        bus: Bus, nats_url: str, tmp_path: Path, unique: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """One of beat 2's events is stored before its batch arrives (as a one-by-one resend can be): the
    server refuses the whole batch (duplicate message id); the arbiter sends the events one by one."""
    node = f"r{unique}"
    await publish_metrics(bus, node, [0, 1, 2, 3])
    real_send_batch = ArbiterService._send_batch

    async def send_batch_with_one_event_stored_first(self: ArbiterService, items: list[Any]) -> Any:
        if items[0][1].data.beat == 2:
            subject, decision = items[5]
            await bus.publish(subject, decision)
        return await real_send_batch(self, items)

    monkeypatch.setattr(ArbiterService, "_send_batch", send_batch_with_one_event_stored_first)
    before = failures()
    async with organs(nats_url, tmp_path):
        svc = await run_arbiter(nats_url, node, beats=4, publish_timeout_s=5, atomic_batches=True)
    assert failures() == before + 1
    events = await node_stored_events(bus, node)
    assert_each_beat_stored_once(events, 4)
    genome_seq = max(seq for seq, event, _ in events if event.type == "venom.genome.v1")
    assert svc.state.genome_seq == genome_seq and svc.state.beat == 4


async def test_by_default_each_event_is_published_and_acked_on_its_own(bus: Bus, nats_url: str, tmp_path: Path,
                                                                       unique: str) -> None:
    node = f"d{unique}"
    await publish_metrics(bus, node, [0, 1])
    async with organs(nats_url, tmp_path):
        svc = await run_arbiter(nats_url, node, beats=2)
    events = await node_stored_events(bus, node)
    assert_each_beat_stored_once(events, 2)
    assert not any("Nats-Batch-Id" in headers for _, _, headers in events)
    genome_seq = max(seq for seq, event, _ in events if event.type == "venom.genome.v1")
    assert svc.state.genome_seq == genome_seq and svc.state.beat == 2
