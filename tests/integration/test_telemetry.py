"""Trace context travels in NATS headers: the consumer's span continues the publisher's trace."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from venom_common.bus import Bus
from venom_common.embedded import EmbeddedNats
from venom_common.events import Envelope, make_event, subjects
from venom_common.events.payloads import InjectDataV1
from venom_common.settings import VenomSettings
from venom_common.streams import EVENTS
from venom_common.telemetry.tracing import setup_tracing, tracer
from support.waiting import until

pytestmark = pytest.mark.integration


async def test_consume_span_is_child_of_publish_trace(nats_url: str, unique: str, span_exporter: InMemorySpanExporter) -> None:
    spans = span_exporter
    spans.clear()
    bus = await Bus.connect(VenomSettings(nats_url=nats_url, node_id="t"), "test")
    await bus.ensure_streams()
    node = f"n{unique}"
    done = asyncio.Event()
    inner: list[Any] = []

    async def handle(event: Envelope[Any]) -> None:
        with tracer().start_as_current_span("handler work") as span:
            inner.append(span.get_span_context())
        done.set()

    consumer = await bus.consume(stream=EVENTS.name, durable=f"d{unique}", subjects=[subjects.command(node, "inject")],
                                 handler=handle)
    with tracer().start_as_current_span("beat") as root:
        trace_id = root.get_span_context().trace_id
        await bus.publish(subjects.command(node, "inject"), make_event(InjectDataV1(node=node), source="/t"))
    await asyncio.wait_for(done.wait(), 10)
    await consumer.stop()
    await bus.drain()
    assert inner[0].trace_id == trace_id
    consume = [s for s in spans.get_finished_spans() if s.name == "consume command" and s.context.trace_id == trace_id]
    assert consume, "no consume span in the publisher's trace"
    publish = [s for s in spans.get_finished_spans() if s.name == "publish command" and s.context.trace_id == trace_id]
    assert consume[0].parent is not None and consume[0].parent.span_id == publish[0].context.span_id


async def test_reconnects_after_server_restart(tmp_path: Any, unique: str) -> None:
    server = EmbeddedNats(tmp_path / "nats").start()
    bus = await Bus.connect(VenomSettings(nats_url=server.url, node_id="t"), "test")
    await bus.ensure_streams()
    node = f"n{unique}"
    first = await bus.publish(subjects.command(node, "inject"), make_event(InjectDataV1(node=node, anoms=1), source="/t"))
    server.stop()
    await until(lambda: not bus.connected)  # noticed (within 0.5 s normally; a starved machine takes longer)
    server = EmbeddedNats(tmp_path / "nats", port=server.port, monitor_port=server.monitor_port).start()
    try:
        for _ in range(100):
            if bus.connected:
                break
            await asyncio.sleep(0.1)
        assert bus.connected
        second = await bus.publish(subjects.command(node, "inject"),
                                   make_event(InjectDataV1(node=node, anoms=2), source="/t"))
        assert second.seq == first.seq + 1  # the stream survived on disk
    finally:
        await bus.drain()
        server.stop()
