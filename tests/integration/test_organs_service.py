"""Organ services on real NATS: queue groups share the work, each beat answered once; hot model reload."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest
from prometheus_client import REGISTRY

from venom_common.bus import Bus
from venom_common.embedded import free_port
from venom_common.events import decode, encode, make_event, subjects
from venom_common.events.payloads import (
    FlowResultV1,
    GenomeView,
    OrganBeatRequestV1,
    OrganFeatures,
    OrganRequestV1,
)
from venom_common.runner import serve
from venom_common.settings import VenomSettings
from venom_organs.adapters.model_store import ModelStore
from venom_organs.service import OrganService
from venom_organs.settings import OrganSettings
from support.waiting import until

pytestmark = pytest.mark.integration

#: How long a request waits for an organ's answer: only bounds a failure (an organ answers in milliseconds,
#: a CPU-starved CI machine stalls for a second or more now and then).
REPLY_S = 30


def request(node: str, beat: int, organ: str = "entropy", anoms: int = 5) -> Any:
    return make_event(
        OrganRequestV1(node=node, beat=beat, organ=organ, features=OrganFeatures(anoms=anoms, theta=0.6),
                       genome=GenomeView(R=0.25, B=0.25, E=0.15, O=0.35), deadline_ms=1000),
        source=f"/venom/{node}/test",
    )


async def start_organ(nats_url: str, organ: str, replica: str, model_dir: Path) -> tuple[OrganService, asyncio.Event, asyncio.Task[None]]:
    settings = OrganSettings(organ=organ, nats_url=nats_url, port=free_port(), node_id="t", replica=replica,
                             model_dir=model_dir, model_reload_s=0.1)
    svc = OrganService(settings)
    stop = asyncio.Event()
    task = asyncio.create_task(serve(svc, settings, stop=stop))
    # Start-up is a NATS connection and the streams ensured: seconds on a loaded CI machine (it was 4 s at most).
    await until(lambda: svc.ready() or task.done(), timeout=60)
    if task.done():
        task.result()  # raise what stopped it
    assert svc.ready()
    return svc, stop, task


async def test_two_replicas_share_beats_each_answered_once(nats_url: str, tmp_path: Path, unique: str) -> None:
    a, stop_a, task_a = await start_organ(nats_url, "entropy", "a", tmp_path)
    b, stop_b, task_b = await start_organ(nats_url, "entropy", "b", tmp_path)
    bus = await Bus.connect(VenomSettings(nats_url=nats_url, node_id="t"), "test")
    node = f"n{unique}"
    try:
        replies = await asyncio.gather(*(
            bus.request(subjects.organ_request("entropy"), request(node, beat), timeout=REPLY_S, expected=FlowResultV1)
            for beat in range(60)
        ))
        assert sorted(r.data.beat for r in replies) == list(range(60))
        assert all(r.data.result.threat_score == pytest.approx(0.6457, abs=5e-5) for r in replies)
        assert a.answered + b.answered == 60  # each beat answered exactly once
        assert a.answered > 0 and b.answered > 0  # and the work is shared
        assert {r.data.replica for r in replies} == {"a", "b"}
    finally:
        await bus.drain()
        stop_a.set()
        stop_b.set()
        await asyncio.gather(task_a, task_b)


def rejected_payloads() -> float:
    return REGISTRY.get_sample_value("venom_events_rejected_total", {"reason": "payload"}) or 0


async def test_invalid_request_counted_and_organ_keeps_serving(nats_url: str, tmp_path: Path, unique: str) -> None:
    svc, stop, task = await start_organ(nats_url, "regen", "r", tmp_path)
    bus = await Bus.connect(VenomSettings(nats_url=nats_url, node_id="t"), "test")
    before = rejected_payloads()
    try:
        bad = encode(request(f"n{unique}", 1, organ="regen")).replace(b'"anoms":5', b'"anoms":-5')
        with pytest.raises(Exception):
            await bus.nc.request(subjects.organ_request("regen"), bad, timeout=0.5)
        # The organ may count it after the request timed out on a CPU-starved machine: wait for the count.
        await until(lambda: rejected_payloads() > before)
        assert rejected_payloads() == before + 1
        ok = await bus.request(subjects.organ_request("regen"), request(f"n{unique}", 2, organ="regen"),
                               timeout=REPLY_S)
        assert ok.data.result.kind == "regen" and ok.data.result.urgency == pytest.approx(0.05)
    finally:
        await bus.drain()
        stop.set()
        await task


async def test_entropy_organ_hot_reloads_newer_model(nats_url: str, tmp_path: Path, unique: str) -> None:
    svc, stop, task = await start_organ(nats_url, "entropy", "e", tmp_path / "models")
    bus = await Bus.connect(VenomSettings(nats_url=nats_url, node_id="t"), "test")
    try:
        first = await bus.request(subjects.organ_request("entropy"), request(f"n{unique}", 1), timeout=REPLY_S)
        assert first.data.result.model_version == "seed"
        ModelStore(tmp_path / "models").save(weight=1.0, bias=-5.0, auc=0.9, trained_on="test")
        for beat in range(2, 200):
            reply = await bus.request(subjects.organ_request("entropy"), request(f"n{unique}", beat),
                                      timeout=REPLY_S)
            if reply.data.result.model_version == "v1":
                break
            await asyncio.sleep(0.05)
        assert reply.data.result.model_version == "v1"
        assert reply.data.result.threat_score == pytest.approx(0.5)  # sigmoid(1·5 − 5)
    finally:
        await bus.drain()
        stop.set()
        await task


async def test_one_request_for_several_organs_is_answered_once_by_each_named_organ(nats_url: str, tmp_path: Path,
                                                                                  unique: str) -> None:
    """venom.organs: every organ service gets the request (a queue group per organ); each organ named
    in it answers once (two replicas of entropy share the beats), an organ not named does not answer."""
    started = [await start_organ(nats_url, organ, replica, tmp_path)
               for organ, replica in (("entropy", "a"), ("entropy", "b"), ("regen", "r"), ("balance", "x"))]
    entropy_a, entropy_b, regen, balance = (svc for svc, _, _ in started)
    bus = await Bus.connect(VenomSettings(nats_url=nats_url, node_id="t"), "test")
    node = f"n{unique}"
    inbox = bus.nc.new_inbox()
    replies: list[Any] = []
    got = asyncio.Event()

    async def on_reply(msg: Any) -> None:
        replies.append((msg.subject, decode(msg.data, FlowResultV1).data))
        if len(replies) == 120:
            got.set()

    sub = await bus.nc.subscribe(f"{inbox}.*", cb=on_reply)
    try:
        for beat in range(60):
            ask = OrganBeatRequestV1(node=node, beat=beat, organs=["regen", "entropy"],
                                     features=OrganFeatures(anoms=5, theta=0.6),
                                     genome=GenomeView(R=0.25, B=0.25, E=0.15, O=0.35), deadline_ms=1000)
            await bus.nc.publish(subjects.ORGANS_REQUEST, encode(make_event(ask, source="/t")), reply=f"{inbox}.{beat}")
        await asyncio.wait_for(got.wait(), 60)
        await asyncio.sleep(0.2)  # nothing more arrives
        assert len(replies) == 120
        assert sorted((f.beat, f.organ) for _, f in replies) == sorted(
            (b, o) for b in range(60) for o in ("regen", "entropy"))
        assert all(subject == f"{inbox}.{f.beat}" for subject, f in replies)
        assert entropy_a.answered + entropy_b.answered == 60 and entropy_a.answered > 0 and entropy_b.answered > 0
        assert regen.answered == 60 and balance.answered == 0
        assert all(f.result.threat_score == pytest.approx(0.6457, abs=5e-5) for _, f in replies if f.organ == "entropy")
    finally:
        await sub.unsubscribe()
        await bus.drain()
        for _, stop, _ in started:
            stop.set()
        await asyncio.gather(*(task for _, _, task in started))
