"""The task worker on real NATS: built-in types, failures as results, results recorded as events."""

from __future__ import annotations

import asyncio
import hashlib

import pytest
from pydantic import BaseModel, ConfigDict

from venom_common.bus import Bus
from venom_common.events import decode, make_event, subjects
from venom_common.events.payloads import TaskResultV1, TaskV1
from venom_common.settings import VenomSettings
from venom_hardware_agent.tasks import default_registry
from venom_hardware_agent.tasks.handlers import SleepParams
from venom_orchestrator.harness import start_worker

pytestmark = pytest.mark.integration


async def run(bus: Bus, node: str, task_type: str, payload: dict, *, deadline_s: float = 10.0,
              to: str | None = None) -> TaskResultV1:
    task = TaskV1(task_id=f"t-{task_type}", node=node, task_type=task_type, payload=payload, deadline_s=deadline_s)
    reply = await bus.request(subjects.task(to or node), make_event(task, source="/venom/t/test"), timeout=10,
                              expected=TaskResultV1)
    return reply.data


async def test_builtin_types_and_failures(nats_url: str, unique: str) -> None:
    node = f"w{unique}"
    w = await start_worker(nats_url, node)
    bus = await Bus.connect(VenomSettings(nats_url=nats_url, node_id="t"), "test")
    try:
        r = await run(bus, node, "hash", {"data": "venom", "rounds": 2})
        assert r.status == "succeeded"
        assert r.result["digest"] == hashlib.sha256(hashlib.sha256(b"venom").digest()).hexdigest()
        r = await run(bus, node, "sleep", {"seconds": 0.05})
        assert r.status == "succeeded" and r.elapsed_ms >= 45
        r = await run(bus, node, "cpu", {"iterations": 1000})
        assert r.status == "succeeded" and r.result["iterations"] == 1000 and len(r.result["digest"]) == 64
        r = await run(bus, node, "nope", {})
        assert r.status == "failed" and "unknown task type 'nope'" in r.error
        r = await run(bus, node, "wave", {"tasks": ["a=1000", "b=1000<-a"], "workers": 1})
        assert r.status == "succeeded" and r.result["succeeded"] == ["a", "b"] and r.result["waves"] == 2
        r = await run(bus, node, "sleep", {"seconds": -1})
        assert r.status == "failed" and "invalid payload for sleep" in r.error and "seconds" in r.error
        r = await run(bus, node, "sleep", {"seconds": 1, "extra": 2})
        assert r.status == "failed" and "extra" in r.error
        r = await run(bus, node, "sleep", {"seconds": 5}, deadline_s=0.1)
        assert r.status == "failed" and r.error.startswith("deadline exceeded")
        r = await run(bus, "elsewhere", "sleep", {"seconds": 0}, to=node)
        assert r.status == "failed" and "addressed to node 'elsewhere'" in r.error
        garbage = await bus.nc.request(subjects.task(node), b"{not json", timeout=5)
        bad = decode(garbage.data, TaskResultV1).data
        assert bad.status == "failed" and "not a valid task event" in bad.error
    finally:
        await w.stop()
        await bus.drain()


async def test_tasks_run_concurrently_and_results_are_recorded(nats_url: str, unique: str) -> None:
    node = f"w{unique}"
    # Ten tasks that each wait until all ten are running: they can only succeed side by side (one after
    # another, the first would wait until its deadline). It was ten 0.3 s sleeps within 2 s of wall time,
    # which a stalled CI machine could overrun while running them side by side.
    in_flight = {"now": 0}
    all_in = asyncio.Event()

    async def together(p: SleepParams) -> dict[str, float]:
        in_flight["now"] += 1
        if in_flight["now"] == 10:
            all_in.set()
        await all_in.wait()
        await asyncio.sleep(p.seconds)
        return {"slept_s": p.seconds}

    registry = default_registry()
    registry.register("together", SleepParams, together)
    w = await start_worker(nats_url, node, registry)
    bus = await Bus.connect(VenomSettings(nats_url=nats_url, node_id="t"), "test")
    seen: list[TaskResultV1] = []
    got = asyncio.Event()

    async def on_result(env, _msg) -> None:  # noqa: ANN001
        seen.append(env.data)
        if len(seen) >= 10:
            got.set()

    sub = await bus.subscribe(subjects.task_result(node), on_result, expected=TaskResultV1)
    try:
        results = await asyncio.gather(*(run(bus, node, "together", {"seconds": 0.05}) for _ in range(10)))
        assert all(r.status == "succeeded" for r in results), results  # ten side by side, not one after another
        await asyncio.wait_for(got.wait(), 30)
        assert len(seen) == 10 and all(s.node == node for s in seen)
        await run(bus, node, "ping", {})  # health checks are answered but not recorded
        await asyncio.sleep(0.2)
        assert len(seen) == 10
    finally:
        await sub.unsubscribe()
        await w.stop()
        await bus.drain()


class Echo(BaseModel):
    model_config = ConfigDict(extra="forbid")
    text: str


async def test_registering_a_handler(nats_url: str, unique: str) -> None:
    async def echo(p: Echo) -> dict:
        return {"text": p.text.upper()}

    registry = default_registry()
    registry.register("echo", Echo, echo)
    with pytest.raises(ValueError, match="already registered"):
        registry.register("echo", Echo, echo)
    node = f"w{unique}"
    w = await start_worker(nats_url, node, registry)
    bus = await Bus.connect(VenomSettings(nats_url=nats_url, node_id="t"), "test")
    try:
        r = await run(bus, node, "echo", {"text": "hi"})
        assert r.status == "succeeded" and r.result == {"text": "HI"}
    finally:
        await w.stop()
        await bus.drain()


async def test_a_handler_result_that_is_not_flat_fails_the_task(nats_url: str, unique: str) -> None:
    async def nested(p: Echo) -> dict:
        return {"inner": {"text": p.text}}  # results are flat: scalars and lists of scalars

    registry = default_registry()
    registry.register("nested", Echo, nested)
    node = f"w{unique}"
    w = await start_worker(nats_url, node, registry)
    bus = await Bus.connect(VenomSettings(nats_url=nats_url, node_id="t"), "test")
    try:
        r = await asyncio.wait_for(run(bus, node, "nested", {"text": "hi"}), 10)  # answered, not left to time out
        assert r.status == "failed" and "nested handler returned an invalid result" in r.error
        assert "inner" in r.error
        assert w.worker.failed == 1
    finally:
        await w.stop()
        await bus.drain()
