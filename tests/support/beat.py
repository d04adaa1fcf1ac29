"""Helpers for beat-pipeline tests: organ services in-process, synthetic metrics, reading a node's events."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from nats.js import api as js_api

from venom_common.bus import Bus
from venom_common.embedded import free_port
from venom_common.events import decode, make_event, subjects
from venom_common.events.payloads import MetricsV1, ThetaComponents
from venom_common.runner import serve
from venom_common.streams import EVENTS
from venom_arbiter.service import ArbiterService
from venom_arbiter.settings import ArbiterSettings
from venom_organs.service import OrganService
from venom_organs.settings import OrganSettings


def metrics(node: str, seq: int, anoms: int, theta: float = 0.6) -> MetricsV1:
    return MetricsV1(
        node=node, seq=seq, sampled_at=datetime(2026, 1, 1, tzinfo=UTC) + timedelta(seconds=seq), source="replay",
        interval_s=1.0, cpu_percent=40.0,
        theta=ThetaComponents(h_cpu=theta, h_mem=theta, h_term=None, theta=theta, thermal_sensor=False,
                              weights={"h_cpu": 0.5, "h_mem": 0.5}),
        series={"value": float(anoms)}, anoms=anoms, detector="test",
    )


async def publish_metrics(bus: Bus, node: str, anoms: list[int], theta: float = 0.6) -> None:
    for seq, a in enumerate(anoms):
        await bus.publish(subjects.metrics(node), make_event(metrics(node, seq, a, theta), source=f"/venom/{node}/t"))


@contextlib.asynccontextmanager
async def organs(nats_url: str, model_dir: Path, which: tuple[str, ...] = subjects.ORGANS) -> AsyncIterator[list[OrganService]]:
    running = []
    for organ in which:
        settings = OrganSettings(organ=organ, nats_url=nats_url, port=free_port(), node_id="organs", model_dir=model_dir)
        svc = OrganService(settings)
        stop = asyncio.Event()
        running.append((svc, stop, asyncio.create_task(serve(svc, settings, stop=stop))))
    try:
        # Every organ subscribed before a beat asks (one not yet there is "no answer", and is then asked alone
        # for the next SOLO_BEATS beats). Start-up is a NATS connection and the streams ensured: seconds on a
        # loaded CI machine, so wait on the condition with a generous deadline, never proceed without it.
        deadline = asyncio.get_running_loop().time() + 60
        while not all(svc.ready() for svc, _, _ in running):
            for _, _, task in running:
                if task.done():
                    task.result()  # raise what stopped it
                    raise RuntimeError("an organ service stopped while starting")
            assert asyncio.get_running_loop().time() < deadline, "the organ services did not become ready in 60 s"
            await asyncio.sleep(0.02)
        yield [svc for svc, _, _ in running]
    finally:
        for _, stop, _ in running:
            stop.set()
        await asyncio.gather(*(task for _, _, task in running))


async def stored_events(bus: Bus, filters: list[str]) -> list[tuple[int, Any, dict[str, str]]]:
    """(stream sequence, event, headers) of every event in VENOM_EVENTS on the subject filters, in stream order."""
    out = []
    for subject in filters:
        try:
            info = await bus.js.stream_info(EVENTS.name, subjects_filter=subject)
        except Exception:  # noqa: BLE001
            continue
        total = sum((info.state.subjects or {}).values()) if info.state.subjects else 0
        if not total:
            continue
        sub = await bus.js.subscribe(subject, ordered_consumer=True, stream=EVENTS.name,
                                     deliver_policy=js_api.DeliverPolicy.ALL)
        try:
            for _ in range(total):
                msg = await sub.next_msg(timeout=20)
                out.append((msg.metadata.sequence.stream, decode(msg.data), dict(msg.headers or {})))
        finally:
            await sub.unsubscribe()
    return sorted(out, key=lambda item: item[0])


async def node_events(bus: Bus, node: str, kinds: tuple[str, ...] = ("beat", "flow", "decision", "genome", "alert")) -> list[Any]:
    """Every event of ``node`` in VENOM_EVENTS for the given kinds, in stream order."""
    filters = [f"venom.{k}.{node}" if k != "flow" else f"venom.flow.{node}.*" for k in kinds]
    return [event for _, event, _ in await stored_events(bus, filters)]


async def run_arbiter(nats_url: str, node: str, beats: int, *,
                      before_stop: Callable[[], Awaitable[None]] | None = None, **kw: Any) -> ArbiterService:
    """Run an arbiter (metrics drive) until it has done ``beats`` beats, then stop it.

    ``before_stop`` is awaited after the last beat and before the stop, while the arbiter still listens:
    e.g. to wait until late organ answers are counted, rather than hoping they arrive before its shutdown."""
    # A generous organ deadline unless a test is about deadlines: CI machines are loaded.
    kw.setdefault("organ_deadline_ms", 2000)
    settings = ArbiterSettings(nats_url=nats_url, node_id=node, port=free_port(), drive="metrics", beats=beats, **kw)
    svc = ArbiterService(settings)
    stop = asyncio.Event()
    task = asyncio.create_task(serve(svc, settings, stop=stop))
    try:
        for _ in range(500):
            if svc.finished.is_set():
                break
            await asyncio.sleep(0.02)
        await asyncio.wait_for(svc.finished.wait(), 30)
        if before_stop is not None:
            await before_stop()
    finally:
        stop.set()
        await asyncio.wait_for(task, 20)
    return svc
