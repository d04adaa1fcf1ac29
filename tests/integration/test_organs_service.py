"""Organ services on real NATS: queue groups share the work, each beat answered once; hot model reload."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest
from prometheus_client import REGISTRY

from venom_common.bus import Bus
from venom_common.embedded import free_port
from venom_common.events import encode, make_event, subjects
from venom_common.events.payloads import FlowResultV1, GenomeView, OrganFeatures, OrganRequestV1
from venom_common.runner import serve
from venom_common.settings import VenomSettings
from venom_organs.adapters.model_store import ModelStore
from venom_organs.service import OrganService
from venom_organs.settings import OrganSettings

pytestmark = pytest.mark.integration


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
    for _ in range(200):
        if svc.ready():
            break
        await asyncio.sleep(0.02)
    assert svc.ready()
    return svc, stop, task


async def test_two_replicas_share_beats_each_answered_once(nats_url: str, tmp_path: Path, unique: str) -> None:
    a, stop_a, task_a = await start_organ(nats_url, "entropy", "a", tmp_path)
    b, stop_b, task_b = await start_organ(nats_url, "entropy", "b", tmp_path)
    bus = await Bus.connect(VenomSettings(nats_url=nats_url, node_id="t"), "test")
    node = f"n{unique}"
    try:
        replies = await asyncio.gather(*(
            bus.request(subjects.organ_request("entropy"), request(node, beat), timeout=5, expected=FlowResultV1)
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


async def test_invalid_request_counted_and_organ_keeps_serving(nats_url: str, tmp_path: Path, unique: str) -> None:
    svc, stop, task = await start_organ(nats_url, "regen", "r", tmp_path)
    bus = await Bus.connect(VenomSettings(nats_url=nats_url, node_id="t"), "test")
    before = REGISTRY.get_sample_value("venom_events_rejected_total", {"reason": "payload"}) or 0
    try:
        bad = encode(request(f"n{unique}", 1, organ="regen")).replace(b'"anoms":5', b'"anoms":-5')
        with pytest.raises(Exception):
            await bus.nc.request(subjects.organ_request("regen"), bad, timeout=0.5)
        after = REGISTRY.get_sample_value("venom_events_rejected_total", {"reason": "payload"}) or 0
        assert after == before + 1
        ok = await bus.request(subjects.organ_request("regen"), request(f"n{unique}", 2, organ="regen"), timeout=5)
        assert ok.data.result.kind == "regen" and ok.data.result.urgency == pytest.approx(0.05)
    finally:
        await bus.drain()
        stop.set()
        await task


async def test_entropy_organ_hot_reloads_newer_model(nats_url: str, tmp_path: Path, unique: str) -> None:
    svc, stop, task = await start_organ(nats_url, "entropy", "e", tmp_path / "models")
    bus = await Bus.connect(VenomSettings(nats_url=nats_url, node_id="t"), "test")
    try:
        first = await bus.request(subjects.organ_request("entropy"), request(f"n{unique}", 1), timeout=5)
        assert first.data.result.model_version == "seed"
        ModelStore(tmp_path / "models").save(weight=1.0, bias=-5.0, auc=0.9, trained_on="test")
        for beat in range(2, 200):
            reply = await bus.request(subjects.organ_request("entropy"), request(f"n{unique}", beat), timeout=5)
            if reply.data.result.model_version == "v1":
                break
            await asyncio.sleep(0.05)
        assert reply.data.result.model_version == "v1"
        assert reply.data.result.threat_score == pytest.approx(0.5)  # sigmoid(1·5 − 5)
    finally:
        await bus.drain()
        stop.set()
        await task
