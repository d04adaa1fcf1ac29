"""How a task worker records results on JetStream: stored records are confirmed by JetStream's
acknowledgement (read on the worker's acknowledgement inbox, no request per result), refused ones are
counted and logged, and the caller gets its reply either way."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from nats.aio.msg import Msg

from venom_common.bus import Bus
from venom_common.embedded import EmbeddedNats
from venom_common.events import decode, make_event, subjects
from venom_common.events.payloads import TaskResultV1, TaskV1
from venom_common.settings import VenomSettings
from venom_common.streams import EVENTS
from venom_hardware_agent.tasks.worker import RESULTS_UNRECORDED
from venom_orchestrator.harness import start_worker
from support.waiting import until

pytestmark = pytest.mark.integration


async def ask(bus: Bus, node: str, task_type: str, payload: dict, i: int = 0) -> TaskResultV1:
    task = TaskV1(task_id=f"t-{task_type}-{i}", node=node, task_type=task_type, payload=payload, deadline_s=10.0)
    reply = await bus.request(subjects.task(node), make_event(task, source="/venom/t/test"), timeout=10,
                              expected=TaskResultV1)
    return reply.data


def unrecorded(reason: str) -> float:
    return RESULTS_UNRECORDED.labels(reason)._value.get()


async def test_results_are_stored_and_confirmed(nats_url: str, unique: str, bus: Bus) -> None:
    node = f"w{unique}"
    w = await start_worker(nats_url, node)
    try:
        replies = await asyncio.gather(*(ask(bus, node, "hash", {"data": f"d{i}"}, i) for i in range(20)))
        await ask(bus, node, "ping", {})  # answered, not recorded
        assert all(r.status == "succeeded" for r in replies)
        await until(lambda: w.worker.records_stored == 20)
        assert w.worker.records_sent == 20 and w.worker.records_refused == 0
        # what the stream holds is the event the caller got
        last = await bus.js.get_last_msg(EVENTS.name, subjects.task_result(node))
        stored = decode(last.data, TaskResultV1)
        assert stored.data.task_id.startswith("t-hash-") and stored.data.node == node
        assert last.headers is not None and last.headers.get("Nats-Msg-Id") == stored.id
        # a failed task is a recorded result too
        failed = await ask(bus, node, "nope", {})
        assert failed.status == "failed"
        await until(lambda: w.worker.records_stored == 21)
        last = await bus.js.get_last_msg(EVENTS.name, subjects.task_result(node))
        assert decode(last.data, TaskResultV1).data.status == "failed"
    finally:
        await w.stop()


async def test_a_refused_record_is_counted_and_the_caller_still_answered(tmp_path: Path, unique: str) -> None:
    server = EmbeddedNats(tmp_path / "nats").start()  # JetStream on, but no stream takes task results
    node = f"w{unique}"
    try:
        w = await start_worker(server.url, node)
        bus = await Bus.connect(VenomSettings(nats_url=server.url, node_id="t"), "test")
        before = unrecorded("no_stream")
        try:
            r = await ask(bus, node, "hash", {"data": "x"})
            assert r.status == "succeeded"
            await until(lambda: w.worker.records_refused == 1)
            assert w.worker.records_stored == 0 and unrecorded("no_stream") == before + 1
        finally:
            await w.stop()
            await bus.drain()
    finally:
        server.stop()


async def test_acknowledgement_kinds(nats_url: str, unique: str) -> None:
    """JetStream's three answers, as the acknowledgement handler reads them."""
    w = await start_worker(nats_url, f"w{unique}")
    try:
        worker = w.worker
        refused_before = unrecorded("refused")
        await worker._on_record_ack(Msg(_client=None, data=b'{"stream":"VENOM_EVENTS","seq":7}'))  # type: ignore[arg-type]
        await worker._on_record_ack(Msg(_client=None, data=b'{"stream":"VENOM_EVENTS","seq":7,"duplicate":true}'))  # type: ignore[arg-type]
        assert worker.records_stored == 2 and worker.records_refused == 0
        await worker._on_record_ack(Msg(_client=None, data=b'{"error":{"code":500,"err_code":10077,"description":"x"}}'))  # type: ignore[arg-type]
        assert worker.records_refused == 1 and unrecorded("refused") == refused_before + 1
    finally:
        await w.stop()
