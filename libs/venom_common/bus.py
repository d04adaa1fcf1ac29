"""The NATS bus client every service uses (nats-py, JetStream).

* :meth:`Bus.connect` retries forever, and the connection reconnects forever.
* :meth:`Bus.ensure_streams` creates or updates the streams (idempotent).
* :meth:`Bus.publish` sends an event to JetStream with ``Nats-Msg-Id`` = the
  event id (JetStream drops a duplicate inside the stream's window) and the
  W3C ``traceparent`` header; it returns once the stream has stored it.
* :meth:`Bus.consume` runs a durable pull consumer: a message is acknowledged
  only after its handler returned (the handler's work is committed); a handler
  error negatively acknowledges it for redelivery; a message that is not a
  valid event is terminated (never redelivered), logged with its reason and
  counted in ``venom_events_rejected_total{reason}``. The consumer never dies
  of a bad message.

nats-py is used directly rather than FastStream: one small layer, explicit
acknowledgement after commit, and no framework ack policy to reason about.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import nats
from nats.aio.client import Client as NatsClient
from nats.aio.msg import Msg
from nats.js import JetStreamContext
from nats.js import api as js_api
from nats.js.errors import NotFoundError
from opentelemetry import trace
from opentelemetry.trace import SpanKind

from venom_common.events.envelope import Envelope, InvalidEvent, decode, encode
from venom_common.events.payloads import Payload
from venom_common.settings import VenomSettings
from venom_common.streams import ALL_STREAMS, StreamSpec
from venom_common.telemetry import metrics as m
from venom_common.telemetry.tracing import extract_context, inject_headers, tracer

log = logging.getLogger("venom.bus")

#: A per-message handler: do the work, return when it is committed.
Handler = Callable[[Envelope[Any]], Awaitable[None]]
#: A batch handler: commit all of them, return when committed (one transaction).
BatchHandler = Callable[[list[Envelope[Any]]], Awaitable[None]]
ExpectedTypes = type[Payload] | tuple[type[Payload], ...] | None


class Bus:
    def __init__(self, nc: NatsClient, service: str) -> None:
        self.nc = nc
        self.js: JetStreamContext = nc.jetstream()
        self.service = service
        self._consumers: list[Consumer] = []
        self._closing: list[bool] = []
        self._tracer = tracer("venom.bus")

    # --- connection ----------------------------------------------------------------------------

    @classmethod
    async def connect(
        cls,
        settings: VenomSettings,
        service: str,
        *,
        stop: asyncio.Event | None = None,
        first_attempt_timeout: float = 2.0,
    ) -> Bus:
        """Connect, retrying until connected (or ``stop`` is set); reconnect forever after."""

        closing: list[bool] = []  # set by drain(): a disconnect then is expected, not news

        async def _disconnected() -> None:
            m.BUS_CONNECTED.set(0)
            if not closing:
                log.warning("disconnected from NATS; reconnecting")

        async def _reconnected() -> None:
            m.BUS_CONNECTED.set(1)
            log.info("reconnected to NATS")

        failures = 0

        async def _error(exc: Exception) -> None:
            nonlocal failures
            failures += 1
            if failures == 1 or failures % 30 == 0:
                log.warning("NATS at %s not reachable (%s); retrying (attempt %d)", settings.nats_url, exc, failures)

        # nats-py itself retries the first connection forever when max_reconnect_attempts
        # is -1; the race with ``stop`` lets a service shut down while still waiting.
        connecting = asyncio.ensure_future(
            nats.connect(
                servers=settings.nats_servers,
                name=f"venom-{service}-{settings.node_id}",
                user=settings.nats_user,
                password=settings.nats_password,
                token=settings.nats_token,
                connect_timeout=first_attempt_timeout,
                allow_reconnect=True,
                max_reconnect_attempts=-1,
                reconnect_time_wait=1,
                disconnected_cb=_disconnected,
                reconnected_cb=_reconnected,
                error_cb=_error,
            )
        )
        if stop is not None:
            stopped = asyncio.ensure_future(stop.wait())
            await asyncio.wait({connecting, stopped}, return_when=asyncio.FIRST_COMPLETED)
            stopped.cancel()
            if not connecting.done():
                connecting.cancel()
                with contextlib.suppress(BaseException):
                    await connecting
                raise ConnectionError("stopped before NATS was reachable")
        nc = await connecting
        m.BUS_CONNECTED.set(1)
        bus = cls(nc, service)
        bus._closing = closing
        return bus

    @property
    def connected(self) -> bool:
        return bool(self.nc.is_connected)

    async def ensure_streams(self, specs: Sequence[StreamSpec] = ALL_STREAMS) -> None:
        """Create each stream, or update it to the spec if it exists (idempotent)."""
        for spec in specs:
            config = js_api.StreamConfig(
                name=spec.name,
                subjects=list(spec.subjects),
                storage=js_api.StorageType.FILE,
                retention=js_api.RetentionPolicy.LIMITS,
                max_age=spec.max_age_s,
                max_bytes=spec.max_bytes,
                duplicate_window=spec.duplicate_window_s,
            )
            try:
                await self.js.stream_info(spec.name)
            except NotFoundError:
                await self.js.add_stream(config)
                log.info("created stream %s", spec.name)
            else:
                await self.js.update_stream(config)

    async def drain(self) -> None:
        """Stop consumers (finishing in-flight work), flush and close the connection."""
        self._closing.append(True)
        for consumer in list(self._consumers):
            await consumer.stop()
        if not self.nc.is_closed:
            with contextlib.suppress(Exception):
                await self.nc.drain()
        m.BUS_CONNECTED.set(0)

    # --- publishing ----------------------------------------------------------------------------

    def _headers(self, event: Envelope[Any]) -> dict[str, str]:
        headers: dict[str, str] = {"Nats-Msg-Id": event.id}
        inject_headers(headers)
        return headers

    async def publish(self, subject: str, event: Envelope[Any], *, timeout: float = 5.0) -> js_api.PubAck:
        """Publish to JetStream and wait until the stream stored it."""
        with self._tracer.start_as_current_span(f"publish {m.kind_of(subject)}", kind=SpanKind.PRODUCER) as span:
            span.set_attribute("messaging.system", "nats")
            span.set_attribute("messaging.destination.name", subject)
            span.set_attribute("messaging.message.id", event.id)
            ack = await self.js.publish(subject, encode(event), timeout=timeout, headers=self._headers(event))
        m.EVENTS_PUBLISHED.labels(m.kind_of(subject)).inc()
        return ack

    async def publish_many(self, items: Sequence[tuple[str, Envelope[Any]]], *, timeout: float = 5.0) -> list[js_api.PubAck]:
        """Publish several events to JetStream pipelined: all are sent, then all acks awaited.

        Raises if any was not stored in time; publishing the same events again is
        safe (the ids make JetStream drop the copies it already has).
        """
        futures = await self.send_many(items)
        acks: list[js_api.PubAck] = list(await asyncio.wait_for(asyncio.gather(*futures), timeout))
        for subject, _ in items:
            m.EVENTS_PUBLISHED.labels(m.kind_of(subject)).inc()
        return acks

    async def send_many(self, items: Sequence[tuple[str, Envelope[Any]]]) -> list[asyncio.Future[js_api.PubAck]]:
        """Send several events to JetStream without waiting for the stream: one ack future per event, in order.

        The caller awaits the futures (all of them: an event is stored only once its ack arrived) and
        sends the same events again if any failed; their ids make JetStream drop the copies it has.
        """
        futures = []
        for subject, event in items:
            with self._tracer.start_as_current_span(f"publish {m.kind_of(subject)}", kind=SpanKind.PRODUCER) as span:
                span.set_attribute("messaging.system", "nats")
                span.set_attribute("messaging.destination.name", subject)
                span.set_attribute("messaging.message.id", event.id)
                futures.append(await self.js.publish_async(subject, encode(event), headers=self._headers(event)))
        return futures

    async def publish_core(self, subject: str, event: Envelope[Any], *, reply: str = "") -> None:
        """Publish on core NATS (not stored): requests, replies and ephemeral notices."""
        with self._tracer.start_as_current_span(f"publish {m.kind_of(subject)}", kind=SpanKind.PRODUCER) as span:
            span.set_attribute("messaging.destination.name", subject)
            await self.nc.publish(subject, encode(event), reply=reply, headers=self._headers(event))
        m.EVENTS_PUBLISHED.labels(m.kind_of(subject)).inc()

    async def request(
        self, subject: str, event: Envelope[Any], *, timeout: float, expected: ExpectedTypes = None
    ) -> Envelope[Any]:
        """Core NATS request/reply; the reply must be a valid event (else :class:`InvalidEvent`)."""
        with self._tracer.start_as_current_span(f"request {m.kind_of(subject)}", kind=SpanKind.CLIENT):
            msg = await self.nc.request(subject, encode(event), timeout=timeout, headers=self._headers(event))
        return decode(msg.data, expected)

    # --- consuming -----------------------------------------------------------------------------

    async def subscribe(
        self,
        subject: str,
        handler: Callable[[Envelope[Any], Msg], Awaitable[None]],
        *,
        queue: str = "",
        expected: ExpectedTypes = None,
        name: str | None = None,
    ) -> Any:
        """A core NATS subscription (optionally in a queue group). Invalid events are counted and dropped."""
        label = name or subject

        async def _on_msg(msg: Msg) -> None:
            try:
                event = decode(msg.data, expected)
            except InvalidEvent as exc:
                _reject(label, exc)
                return
            ctx = extract_context(msg.headers)
            with self._tracer.start_as_current_span(
                f"consume {m.kind_of(msg.subject)}", context=ctx, kind=SpanKind.CONSUMER
            ):
                try:
                    await handler(event, msg)
                except Exception:
                    m.HANDLER_ERRORS.labels(label).inc()
                    log.exception("handler for %s failed on event %s", label, event.id)
                    return
            m.EVENTS_CONSUMED.labels(label).inc()

        sub = await self.nc.subscribe(subject, queue=queue, cb=_on_msg)
        await self.nc.flush()  # the server has the subscription when this returns: nothing published after is missed
        return sub

    async def consume(
        self,
        *,
        stream: str,
        durable: str,
        subjects: Sequence[str],
        handler: Handler | None = None,
        batch_handler: BatchHandler | None = None,
        expected: ExpectedTypes = None,
        batch: int = 100,
        ack_wait_s: float = 30.0,
        max_deliver: int = -1,
        deliver_policy: js_api.DeliverPolicy = js_api.DeliverPolicy.ALL,
        on_invalid: Callable[[InvalidEvent], None] | None = None,
        max_ack_pending: int | None = None,
    ) -> Consumer:
        """Start a durable pull consumer; return its handle (``await consumer.stop()`` to end it).

        Exactly one of ``handler`` (one event at a time) or ``batch_handler``
        (all valid events of a fetch at once, e.g. one database transaction)
        is given. Acknowledgement follows the handler's return. ``on_invalid`` is called for each
        invalid message (after it is terminated and counted), e.g. for a service's own counter.
        """
        if (handler is None) == (batch_handler is None):
            raise ValueError("give exactly one of handler or batch_handler")
        config = js_api.ConsumerConfig(
            durable_name=durable,
            ack_policy=js_api.AckPolicy.EXPLICIT,
            ack_wait=ack_wait_s,
            max_deliver=max_deliver,
            deliver_policy=deliver_policy,
            filter_subjects=list(subjects) if len(subjects) > 1 else None,
            filter_subject=subjects[0] if len(subjects) == 1 else None,
            # max_ack_pending=1 makes delivery strictly ordered even across redeliveries.
            max_ack_pending=max_ack_pending if max_ack_pending is not None else max(batch * 4, 1000),
        )
        await self.js.add_consumer(stream, config)
        sub = _PullFeed(self.nc, stream, durable)
        await sub.start()
        consumer = Consumer(self, sub, durable, handler, batch_handler, expected, batch, on_invalid=on_invalid)
        consumer.start()
        self._consumers.append(consumer)
        return consumer


class _PullFeed:
    """Pull requests for one durable consumer, answered into one callback subscription.

    nats-py's ``PullSubscription.fetch`` waits for every message with its own timeout task, which
    costs more than handling the message; here deliveries land in a buffer from one subscription
    callback. A fetch takes what is buffered; else asks for what is available now (``no_wait``);
    else waits (``expires``) until something arrives. Messages of an answered request that arrive
    after a fetch returned stay buffered, in order, for the next one.
    """

    def __init__(self, nc: NatsClient, stream: str, durable: str) -> None:
        self.nc = nc
        self.subject = f"$JS.API.CONSUMER.MSG.NEXT.{stream}.{durable}"
        self.inbox = nc.new_inbox()
        self._buffer: list[Msg] = []
        self._arrived = asyncio.Event()
        self._request_over = asyncio.Event()
        self._sub: Any = None

    async def start(self) -> None:
        self._sub = await self.nc.subscribe(self.inbox, cb=self._on_msg)
        await self.nc.flush()

    async def _on_msg(self, msg: Msg) -> None:
        if not msg.data and msg.headers and msg.headers.get("Status"):
            if msg.headers["Status"] != "100":  # 404 no messages, 408 expired, 409 …: the request is over
                self._request_over.set()
            return
        self._buffer.append(msg)
        self._arrived.set()

    def _take(self, batch: int) -> list[Msg]:
        taken, self._buffer = self._buffer[:batch], self._buffer[batch:]
        if not self._buffer:
            self._arrived.clear()
        return taken

    async def _ask(self, request: dict[str, Any]) -> None:
        self._request_over.clear()
        await self.nc.publish(self.subject, json.dumps(request).encode(), reply=self.inbox)

    async def fetch(self, batch: int, timeout: float) -> list[Msg]:
        if self._buffer:
            return self._take(batch)
        await self._ask({"batch": batch, "no_wait": True})
        await _first_of(self._request_over, self._arrived, timeout)
        if self._buffer:
            await asyncio.sleep(0)  # let the rest of the burst land
            return self._take(batch)
        await self._ask({"batch": batch, "expires": int(timeout * 1e9)})
        await _first_of(self._request_over, self._arrived, timeout + 0.5)
        if not self._buffer:
            raise nats.errors.TimeoutError
        await asyncio.sleep(0)
        return self._take(batch)

    async def unsubscribe(self) -> None:
        if self._sub is not None:
            await self._sub.unsubscribe()


async def _first_of(a: asyncio.Event, b: asyncio.Event, timeout: float) -> None:
    if a.is_set() or b.is_set():
        return
    waits = [asyncio.ensure_future(a.wait()), asyncio.ensure_future(b.wait())]
    try:
        await asyncio.wait(waits, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for w in waits:
            w.cancel()


def _reject(consumer: str, exc: InvalidEvent) -> None:
    m.EVENTS_REJECTED.labels(exc.reason).inc()
    log.warning("rejected invalid event on %s: %s", consumer, exc, extra={"reason": exc.reason})


@dataclass
class Consumer:
    """A running durable pull consumer (see :meth:`Bus.consume`)."""

    bus: Bus
    sub: _PullFeed
    name: str
    handler: Handler | None
    batch_handler: BatchHandler | None
    expected: ExpectedTypes
    batch: int
    fetch_timeout_s: float = 0.5
    on_invalid: Callable[[InvalidEvent], None] | None = None
    _task: asyncio.Task[None] | None = None
    _stopping: asyncio.Event = field(default_factory=asyncio.Event)
    handled: int = 0

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name=f"consumer:{self.name}")

    async def stop(self, timeout: float = 10.0) -> None:
        """Finish the in-flight batch (handle and acknowledge it), then stop."""
        self._stopping.set()
        if self._task is not None:
            with contextlib.suppress(asyncio.CancelledError, TimeoutError):
                await asyncio.wait_for(asyncio.shield(self._task), timeout)
            if not self._task.done():
                self._task.cancel()
        with contextlib.suppress(Exception):
            await self.sub.unsubscribe()
        if self in self.bus._consumers:
            self.bus._consumers.remove(self)

    async def _run(self) -> None:
        # Batch mode pipelines one batch deep: the next fetch from NATS overlaps the handling (e.g. the
        # database commit) of the previous batch; batches are still handled and acknowledged in order.
        # Per-event handlers stay strictly sequential.
        in_flight: asyncio.Task[None] | None = None
        try:
            while not self._stopping.is_set():
                try:
                    msgs = await self.sub.fetch(self.batch, timeout=self.fetch_timeout_s)
                except (TimeoutError, nats.errors.TimeoutError):
                    continue
                except asyncio.CancelledError:
                    raise
                except Exception as exc:  # noqa: BLE001 - connection trouble: wait and fetch again
                    log.warning("fetch on %s failed: %s", self.name, exc)
                    await asyncio.sleep(0.5)
                    continue
                if self.batch_handler is None:
                    await self._handle(msgs)
                    continue
                if in_flight is not None:
                    await in_flight
                in_flight = asyncio.create_task(self._handle(msgs))
        finally:
            if in_flight is not None and not in_flight.done():
                await asyncio.shield(in_flight)

    async def _handle(self, msgs: list[Msg]) -> None:
        timer = m.HANDLE_SECONDS.labels(self.name).time()
        timer.__enter__()
        valid: list[tuple[Envelope[Any], Msg]] = []
        for msg in msgs:
            try:
                valid.append((decode(msg.data, self.expected), msg))
            except InvalidEvent as exc:
                _reject(self.name, exc)
                await _quiet(msg.term())
                if self.on_invalid is not None:
                    self.on_invalid(exc)
        if not valid:
            timer.__exit__(None, None, None)
            return
        tr = self.bus._tracer
        if self.batch_handler is not None:
            # One span per event, each a child of the span that published it (so a beat's trace shows
            # where each of its events was handled, e.g. appended to the ledger), all covering the batch.
            per_event = [
                tr.start_span(f"{self.name} {m.kind_of(msg.subject)}", context=extract_context(msg.headers),
                              kind=SpanKind.CONSUMER,
                              attributes={"messaging.message.id": event.id, "messaging.batch.message_count": len(valid)})
                for event, msg in valid
            ]
            try:
                await self.batch_handler([event for event, _ in valid])
            except Exception as exc:
                m.HANDLER_ERRORS.labels(self.name).inc()
                log.exception("batch handler %s failed on %d events; will be redelivered", self.name, len(valid))
                for span in per_event:
                    span.record_exception(exc)
                    span.end()
                for _, msg in valid:
                    await _quiet(msg.nak(delay=1.0))
                timer.__exit__(None, None, None)
                return
            for _, msg in valid:
                await _quiet(msg.ack())
            for span in per_event:
                span.end()
            m.EVENTS_CONSUMED.labels(self.name).inc(len(valid))
            self.handled += len(valid)
        else:
            assert self.handler is not None
            for event, msg in valid:
                with tr.start_as_current_span(
                    f"consume {m.kind_of(msg.subject)}", context=extract_context(msg.headers), kind=SpanKind.CONSUMER
                ):
                    try:
                        await self.handler(event)
                    except Exception:
                        m.HANDLER_ERRORS.labels(self.name).inc()
                        log.exception("handler %s failed on event %s; will be redelivered", self.name, event.id)
                        await _quiet(msg.nak(delay=1.0))
                        continue
                await _quiet(msg.ack())
                m.EVENTS_CONSUMED.labels(self.name).inc()
                self.handled += 1
        timer.__exit__(None, None, None)


async def _quiet(aw: Awaitable[Any]) -> None:
    """Acknowledgement calls: a failure (connection lost) means redelivery, which is safe."""
    try:
        await aw
    except Exception as exc:  # noqa: BLE001
        log.debug("ack/nak/term failed (message will be redelivered): %s", exc)
