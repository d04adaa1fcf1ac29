"""The bus against a real JetStream-enabled nats-server."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest
from prometheus_client import REGISTRY

from venom_common.bus import Bus
from venom_common.events import Envelope, encode, make_event, subjects
from venom_common.events.payloads import InjectDataV1
from venom_common.settings import VenomSettings
from venom_common.streams import EVENTS

from support.waiting import settles_to

pytestmark = pytest.mark.integration


def rejected(reason: str) -> float:
    return REGISTRY.get_sample_value("venom_events_rejected_total", {"reason": reason}) or 0.0



def inject(node: str, anoms: int) -> Envelope[InjectDataV1]:
    return make_event(InjectDataV1(node=node, anoms=anoms), source=f"/venom/{node}/test")


async def _pending(bus: Bus, durable: str) -> tuple[int, int]:
    info = await bus.js.consumer_info(EVENTS.name, durable)
    return info.num_ack_pending, info.num_pending


async def wait_for(predicate: Any, timeout: float = 10.0) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while not predicate():
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(0.02)


async def test_ensure_streams_is_idempotent(bus: Bus) -> None:
    await bus.ensure_streams()
    await bus.ensure_streams()
    info = await bus.js.stream_info(EVENTS.name)
    assert set(info.config.subjects or []) == set(EVENTS.subjects)


async def test_publish_then_consume_acks_once(bus: Bus, unique: str) -> None:
    node = f"n{unique}"
    got: list[int] = []

    async def handle(event: Envelope[Any]) -> None:
        got.append(event.data.anoms)

    consumer = await bus.consume(stream=EVENTS.name, durable=f"d{unique}", subjects=[subjects.command(node, "inject")],
                                 handler=handle, expected=InjectDataV1)
    for i in range(5):
        await bus.publish(subjects.command(node, "inject"), inject(node, i))
    await wait_for(lambda: len(got) == 5)
    await asyncio.sleep(0.3)
    assert got == [0, 1, 2, 3, 4]
    await consumer.stop()
    # The server takes acks in asynchronously: read until it has them (a loaded machine lags), not once.
    await settles_to(lambda: _pending(bus, f"d{unique}"), (0, 0))


async def test_same_event_id_is_stored_once(bus: Bus, unique: str) -> None:
    node = f"n{unique}"
    event = inject(node, 7)
    first = await bus.publish(subjects.command(node, "inject"), event)
    second = await bus.publish(subjects.command(node, "inject"), event)
    assert second.duplicate and not first.duplicate
    assert second.seq == first.seq


async def test_published_message_carries_msg_id_and_traceparent(bus: Bus, unique: str) -> None:
    node = f"n{unique}"
    event = inject(node, 1)
    ack = await bus.publish(subjects.command(node, "inject"), event)
    # read back what the stream stored (a core subscription's delivery raced a stalled event loop in a slow CI run)
    msg = await bus.js.get_msg(ack.stream, ack.seq)
    assert msg.subject == subjects.command(node, "inject")
    assert msg.headers["Nats-Msg-Id"] == event.id
    assert msg.headers["traceparent"].startswith("00-")
    assert json.loads(msg.data)["id"] == event.id


async def test_a_refused_publish_fails_at_once_not_after_the_timeout(bus: Bus, unique: str) -> None:
    """A publish JetStream refuses (here: a stream that keeps one message and discards new ones) fails
    its future with the server's error as soon as the answer arrives. (nats-py's ``publish_async`` never
    completed such a future: the caller waited out its whole timeout and got a TimeoutError instead.)"""
    import nats.js.errors
    from nats.js.api import DiscardPolicy, StreamConfig

    stream = f"T{unique}"
    await bus.js.add_stream(StreamConfig(name=stream, subjects=[f"test.{unique}.>"], max_msgs=1,
                                         discard=DiscardPolicy.NEW))
    try:
        node = f"n{unique}"
        first, second = inject(node, 1), inject(node, 2)
        with pytest.raises(nats.js.errors.APIError, match="maximum messages"):
            await bus.publish_many([(f"test.{unique}.a", first), (f"test.{unique}.b", second)], timeout=60)
        futures = await bus.send_many([(f"test.{unique}.c", inject(node, 3))], only_recorded_spans=True)
        with pytest.raises(nats.js.errors.APIError):
            await asyncio.wait_for(futures[0], 60)
        again = await bus.publish_many([(f"test.{unique}.a", first)])  # the stored one: a duplicate, acknowledged
        assert again[0].duplicate and again[0].seq == 1
        assert not bus._acks  # every answered future is forgotten
    finally:
        await bus.js.delete_stream(stream)


async def test_invalid_messages_are_rejected_counted_and_consumer_keeps_running(
    bus: Bus, nc: Any, unique: str
) -> None:
    node = f"n{unique}"
    subject = subjects.command(node, "inject")
    got: list[int] = []

    async def handle(event: Envelope[Any]) -> None:
        got.append(event.data.anoms)

    before = {r: rejected(r) for r in ("not_json", "non_finite", "payload", "envelope")}
    consumer = await bus.consume(stream=EVENTS.name, durable=f"d{unique}", subjects=[subject], handler=handle,
                                 expected=InjectDataV1)
    js = nc.jetstream()
    good = json.loads(encode(inject(node, 3)))
    nan = encode(inject(node, 3)).replace(b'"anoms":3', b'"anoms":NaN')
    bad_payload = dict(good, id="x1", data={"node": node, "anoms": -5})
    await js.publish(subject, b"this is not json")
    await js.publish(subject, nan)
    await js.publish(subject, json.dumps(bad_payload).encode())
    await js.publish(subject, b'{"specversion": "1.0"}')
    await bus.publish(subject, inject(node, 42))
    await wait_for(lambda: got == [42])
    assert rejected("not_json") == before["not_json"] + 1
    assert rejected("non_finite") == before["non_finite"] + 1
    assert rejected("payload") == before["payload"] + 1
    assert rejected("envelope") == before["envelope"] + 1
    await asyncio.sleep(1.5)  # invalid ones were terminated: never redelivered
    assert got == [42]
    await consumer.stop()
    await settles_to(lambda: _pending(bus, f"d{unique}"), (0, 0))  # acked or terminated: none outstanding


async def test_handler_failure_is_redelivered_not_lost(bus: Bus, unique: str) -> None:
    node = f"n{unique}"
    attempts: list[int] = []

    async def flaky(event: Envelope[Any]) -> None:
        attempts.append(event.data.anoms)
        if len(attempts) == 1:
            raise RuntimeError("database briefly away")

    consumer = await bus.consume(stream=EVENTS.name, durable=f"d{unique}", subjects=[subjects.command(node, "inject")],
                                 handler=flaky)
    await bus.publish(subjects.command(node, "inject"), inject(node, 9))
    await wait_for(lambda: len(attempts) == 2, timeout=15)
    assert attempts == [9, 9]
    await consumer.stop()


async def test_batch_handler_gets_a_batch_and_acks_after_return(bus: Bus, unique: str) -> None:
    node = f"n{unique}"
    subject = subjects.command(node, "inject")
    for i in range(50):
        await bus.publish(subject, inject(node, i))
    batches: list[list[int]] = []

    async def commit(events: list[Envelope[Any]]) -> None:
        batches.append([e.data.anoms for e in events])

    consumer = await bus.consume(stream=EVENTS.name, durable=f"d{unique}", subjects=[subject], batch_handler=commit,
                                 batch=20)
    await wait_for(lambda: sum(map(len, batches)) == 50)
    assert [x for b in batches for x in b] == list(range(50))
    assert max(map(len, batches)) > 1
    await consumer.stop()


async def test_durable_consumer_resumes_after_restart(bus: Bus, nats_url: str, unique: str) -> None:
    node = f"n{unique}"
    subject = subjects.command(node, "inject")
    seen: list[int] = []

    async def handle(event: Envelope[Any]) -> None:
        seen.append(event.data.anoms)

    consumer = await bus.consume(stream=EVENTS.name, durable=f"d{unique}", subjects=[subject], handler=handle)
    await bus.publish(subject, inject(node, 1))
    await wait_for(lambda: seen == [1])
    await consumer.stop()
    await bus.publish(subject, inject(node, 2))  # published while nobody consumes
    other = await Bus.connect(VenomSettings(nats_url=nats_url, node_id="test"), "test2")
    try:
        consumer = await other.consume(stream=EVENTS.name, durable=f"d{unique}", subjects=[subject], handler=handle)
        await wait_for(lambda: seen == [1, 2])
    finally:
        await other.drain()
