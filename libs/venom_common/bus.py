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
import inspect
import json
import logging
import uuid
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import nats
import nats.errors
import nats.js.errors
from nats.aio.client import Client as NatsClient
from nats.aio.msg import Msg
from nats.js import JetStreamContext
from nats.js import api as js_api
from nats.js.errors import NotFoundError
from opentelemetry.trace import SpanKind

from venom_common.events.envelope import Envelope, InvalidEvent, decode, encode
from venom_common.events.payloads import Payload
from venom_common.settings import VenomSettings
from venom_common.streams import ALL_STREAMS, StreamSpec
from venom_common.telemetry import metrics as m
from venom_common.telemetry.tracing import extract_context, inject_headers, spans_may_record, tracer

log = logging.getLogger("venom.bus")

#: A per-message handler: do the work, return when it is committed.
Handler = Callable[[Envelope[Any]], Awaitable[None]]
#: A batch handler: commit all of them, return when committed (one transaction).
BatchHandler = Callable[[list[Envelope[Any]]], Awaitable[None]]
ExpectedTypes = type[Payload] | tuple[type[Payload], ...] | None
#: The most messages nats-server accepts in one atomic batch (its limit; more is refused, err_code 10199).
MAX_BATCH = 1000


class Bus:
    def __init__(self, nc: NatsClient, service: str) -> None:
        self.nc = nc
        self.js: JetStreamContext = nc.jetstream()
        self.service = service
        self._consumers: list[Consumer] = []
        self._closing: list[bool] = []
        self._tracer = tracer("venom.bus")
        self._ack_inbox: str | None = None  # send_many's and send_batch's acks arrive on <inbox>.<token>
        self._ack_token = 0
        self._acks: dict[str, asyncio.Future[js_api.PubAck]] = {}

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
                allow_atomic=spec.allow_atomic or None,
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

    def _publish_span(self, subject: str, event: Envelope[Any]) -> Any:
        """The producer span of one JetStream publish (a context manager yielding the span)."""
        return self._tracer.start_as_current_span(
            f"publish {m.kind_of(subject)}", kind=SpanKind.PRODUCER,
            attributes={"messaging.system": "nats", "messaging.destination.name": subject,
                        "messaging.message.id": event.id})

    def _headers(self, event: Envelope[Any]) -> dict[str, str]:
        headers: dict[str, str] = {"Nats-Msg-Id": event.id}
        inject_headers(headers)
        return headers

    async def publish(self, subject: str, event: Envelope[Any], *, timeout: float = 5.0) -> js_api.PubAck:
        """Publish to JetStream and wait until the stream stored it."""
        with self._publish_span(subject, event):
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
        self.count_stored(items)
        return acks

    @staticmethod
    def count_stored(items: Sequence[tuple[str, Envelope[Any]]]) -> None:
        """Count events JetStream acknowledged (for callers of :meth:`send_many`, once all acks are in)."""
        for subject, _ in items:
            m.EVENTS_PUBLISHED.labels(m.kind_of(subject)).inc()

    async def send_many(self, items: Sequence[tuple[str, Envelope[Any]]], *,
                        only_recorded_spans: bool = False) -> list[asyncio.Future[js_api.PubAck]]:
        """Send several events to JetStream without waiting for the stream: one ack future per event, in order.

        The caller awaits the futures (all of them: an event is stored only once its ack arrived) and
        sends the same events again if any failed; their ids make JetStream drop the copies it has.
        ``only_recorded_spans``: see :func:`_untraced`.
        """
        traced = not _untraced(only_recorded_spans)
        futures = []
        for subject, event in items:
            future, reply = await self._ack_future()
            with self._publish_span(subject, event) if traced else contextlib.nullcontext():
                headers = self._headers(event) if traced else {"Nats-Msg-Id": event.id}
                await self.nc.publish(subject, encode(event), reply=reply, headers=headers)
            futures.append(future)
        return futures

    async def send_batch(self, items: Sequence[tuple[str, Envelope[Any]]], *,
                         only_recorded_spans: bool = False) -> asyncio.Future[js_api.PubAck]:
        """Send events to JetStream as one atomic batch (ADR-50; the stream needs ``allow_atomic``): the
        stream stores all of them or none, and acknowledges the batch once. Returns that ack's future.

        The ack's ``seq`` is the last event's stream sequence and ``batch_size`` the count; the batch's
        events have consecutive sequences. Only the last message asks for an answer (the others go
        without a reply subject). The future fails (``nats.js.errors.APIError``) when the server refused the
        batch and stored none of it, among others: one of its ``Nats-Msg-Id`` values is already stored
        (``err_code`` 10201: the whole batch is refused, not only the copy dropped), the batch is incomplete
        (10176: a message of it was lost or dropped, e.g. over the server's limit of open batches), more than
        :data:`MAX_BATCH` messages (10199), the stream does not allow atomic publish (10174). So a batch is
        no retry after a lost ack: send the same events again with :meth:`send_many`, whose duplicates the
        stream drops (and acknowledges with the stored copy's sequence). Every call uses a fresh batch id:
        the server keeps an unfinished batch open across a disconnect (tests/integration/test_atomic_batch.py).
        ``only_recorded_spans``: see :func:`_untraced`.
        """
        if not items or len(items) > MAX_BATCH:
            raise ValueError(f"an atomic batch holds 1 to {MAX_BATCH} events, not {len(items)}")
        batch_id = uuid.uuid4().hex
        traced = not _untraced(only_recorded_spans)
        last = len(items)
        for n, (subject, event) in enumerate(items, 1):
            headers = {"Nats-Msg-Id": event.id, "Nats-Batch-Id": batch_id, "Nats-Batch-Sequence": str(n)}
            if n == last:
                headers["Nats-Batch-Commit"] = "1"
            with self._publish_span(subject, event) if traced else contextlib.nullcontext() as span:
                if span is not None:
                    inject_headers(headers)
                if n < last:
                    await self.nc.publish(subject, encode(event), headers=headers)
                else:
                    future, reply = await self._ack_future()
                    await self.nc.publish(subject, encode(event), reply=reply, headers=headers)
                    return future
        raise AssertionError("unreachable")

    async def _ack_future(self) -> tuple[asyncio.Future[js_api.PubAck], str]:
        """A future for one JetStream publish's ack (an event's, or an atomic batch's) and the reply
        subject it arrives on. Not ``js.publish_async``: nats-py 2.16 raises a refused publish's error
        inside its reply callback (``APIError.from_error`` raises rather than returns), so that future
        never completes, the error goes to ``error_cb``, and the caller waits for its timeout."""
        if self._ack_inbox is None:
            self._ack_inbox = self.nc.new_inbox()
            await self.nc.subscribe(f"{self._ack_inbox}.*", cb=self._on_ack)
        self._ack_token += 1
        token = str(self._ack_token)
        future: asyncio.Future[js_api.PubAck] = asyncio.get_running_loop().create_future()
        self._acks[token] = future
        future.add_done_callback(lambda _: self._acks.pop(token, None))
        return future, f"{self._ack_inbox}.{token}"

    async def _on_ack(self, msg: Msg) -> None:
        future = self._acks.get(msg.subject.rsplit(".", 1)[-1])
        if future is None or future.done():
            return  # given up on (timed out) or answered already
        if not msg.data and msg.headers and msg.headers.get("Status") == "503":
            future.set_exception(nats.js.errors.NoStreamResponseError())
            return
        try:
            answer = json.loads(msg.data)
            if "error" in answer:
                nats.js.errors.APIError.from_error(answer["error"])  # raises the error's class
            future.set_result(js_api.PubAck.from_response(answer))
        except nats.js.errors.APIError as exc:
            future.set_exception(exc)
        except (ValueError, TypeError, KeyError) as exc:
            future.set_exception(nats.errors.Error(f"unreadable batch ack: {exc}"))

    async def publish_core(self, subject: str, event: Envelope[Any], *, reply: str = "",
                           only_recorded_spans: bool = False) -> None:
        """Publish on core NATS (not stored): requests, replies and ephemeral notices.
        ``only_recorded_spans``: see :func:`_untraced`."""
        if _untraced(only_recorded_spans):
            await self.nc.publish(subject, encode(event), reply=reply)
        else:
            with self._tracer.start_as_current_span(f"publish {m.kind_of(subject)}", kind=SpanKind.PRODUCER) as span:
                span.set_attribute("messaging.destination.name", subject)
                await self.nc.publish(subject, encode(event), reply=reply, headers=self._headers(event))
        m.EVENTS_PUBLISHED.labels(m.kind_of(subject)).inc()

    async def request(
        self, subject: str, event: Envelope[Any], *, timeout: float, expected: ExpectedTypes = None,
        only_recorded_spans: bool = False,
    ) -> Envelope[Any]:
        """Core NATS request/reply; the reply must be a valid event (else :class:`InvalidEvent`).
        ``only_recorded_spans``: see :func:`_untraced`."""
        if _untraced(only_recorded_spans):
            msg = await self.nc.request(subject, encode(event), timeout=timeout)
        else:
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
        only_recorded_spans: bool = False,
    ) -> Any:
        """A core NATS subscription (optionally in a queue group). Invalid events are counted and dropped.
        ``only_recorded_spans``: see :func:`_untraced` (decided once, when subscribing)."""
        label = name or subject
        consumed = m.EVENTS_CONSUMED.labels(label)
        traced = not _untraced(only_recorded_spans)

        async def _handle(event: Envelope[Any], msg: Msg) -> None:
            try:
                await handler(event, msg)
            except Exception:
                m.HANDLER_ERRORS.labels(label).inc()
                log.exception("handler for %s failed on event %s", label, event.id)
                return
            consumed.inc()

        async def _on_msg(msg: Msg) -> None:
            try:
                event = decode(msg.data, expected)
            except InvalidEvent as exc:
                _reject(label, exc)
                return
            if not traced:
                await _handle(event, msg)
                return
            with self._tracer.start_as_current_span(f"consume {m.kind_of(msg.subject)}",
                                                    context=extract_context(msg.headers), kind=SpanKind.CONSUMER):
                await _handle(event, msg)

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
        decode_batch: DecodeBatch | None = None,
    ) -> Consumer:
        """Start a durable pull consumer; return its handle (``await consumer.stop()`` to end it).

        Exactly one of ``handler`` (one event at a time) or ``batch_handler``
        (all valid events of a fetch at once, e.g. one database transaction)
        is given. Acknowledgement follows the handler's return. ``on_invalid`` is called for each
        invalid message (after it is terminated and counted), e.g. for a service's own counter.

        ``decode_batch`` (batch mode only; instead of ``expected``) takes over decoding:
        an async function from a fetch's raw payloads to one result per payload, in order: what
        ``batch_handler`` receives for that message, or :class:`Rejected` for an invalid one (which is
        terminated and counted like any invalid event). It may do its work off the event loop, e.g. in
        a worker process, while the previous batch is handled. If it raises, the fetch is negatively
        acknowledged and redelivered.
        """
        if decode_batch is not None and (batch_handler is None or expected is not None):
            raise ValueError("decode_batch needs a batch_handler and replaces expected")
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
        consumer = Consumer(self, sub, durable, handler, batch_handler, expected, batch, on_invalid=on_invalid,
                            decode_batch=decode_batch)
        consumer.start()
        self._consumers.append(consumer)
        return consumer


class _Delivery:
    """One message a pull feed received: subject, ack subject (``reply``), data, and headers parsed
    only when asked for (a consumer needs them only for a recorded span's trace context).

    ``ack``/``nak``/``term`` behave as nats-py's ``Msg`` methods (a message published to the reply
    subject); :func:`_ack_all` acknowledges a whole batch in one write.
    """

    __slots__ = ("_nc", "subject", "reply", "data", "_raw_headers", "_headers")

    def __init__(self, nc: NatsClient, subject: str, reply: bytes, data: bytes, raw_headers: bytes | None,
                 headers: dict[str, str] | None = None) -> None:
        self._nc = nc
        self.subject = subject
        self.reply = reply
        self.data = data
        self._raw_headers = raw_headers
        self._headers = headers

    @property
    def headers(self) -> dict[str, str] | None:
        if self._headers is None and self._raw_headers:
            self._headers = _parse_headers(self._raw_headers)
        return self._headers

    async def ack(self) -> None:
        await self._nc.publish(self.reply.decode(), b"")

    async def nak(self, delay: float | None = None) -> None:
        payload = b"-NAK" + (b" " + json.dumps({"delay": int(delay * 1e9)}).encode() if delay else b"")
        await self._nc.publish(self.reply.decode(), payload)

    async def term(self) -> None:
        await self._nc.publish(self.reply.decode(), b"+TERM")


def _parse_headers(raw: bytes) -> dict[str, str]:
    """``NATS/1.0\\r\\nName: value\\r\\n…\\r\\n\\r\\n`` → ``{name: value}`` (the first line is the version)."""
    out: dict[str, str] = {}
    for line in raw.split(b"\r\n")[1:]:
        name, sep, value = line.partition(b":")
        name = name.strip()
        if sep and name and not any(c in b" \t" for c in name):
            out[name.decode("ascii", "replace")] = value.strip().decode("utf-8", "replace")
    return out


_TAP_ATTR = "_venom_pull_feeds"


def _tap(nc: NatsClient) -> dict[int, _PullFeed] | None:
    """Route the protocol parser's messages for pull-feed inboxes straight to their feed.

    nats-py turns every received message into a ``Msg`` (parsing its headers into a dict), queues it
    and awaits the subscription callback for it: more work per message than the ledger's whole
    append. The parser hands each message to ``Client._process_msg(sid, subject, reply, data,
    headers)``; this wraps that method on one client instance so messages of a feed's subscription
    id become :class:`_Delivery` objects in the feed's buffer, and everything else goes on as before.
    Returns ``None`` (feeds then use an ordinary subscription callback) when the client does not have
    that method with that signature, e.g. a future nats-py.
    """
    table = nc.__dict__.get(_TAP_ATTR)
    if table is not None:
        return table
    original = getattr(nc, "_process_msg", None)
    if original is None or not asyncio.iscoroutinefunction(original):
        return None
    try:
        params = list(inspect.signature(original).parameters)
    except (TypeError, ValueError):
        return None
    if params != ["sid", "subject", "reply", "data", "headers"]:
        return None
    feeds: dict[int, _PullFeed] = {}
    stats = getattr(nc, "stats", None)

    async def _process_msg(sid: int, subject: bytes, reply: bytes, data: bytes, headers: bytes | None) -> None:
        feed = feeds.get(sid)
        if feed is None:
            await original(sid, subject, reply, data, headers)
            return
        if stats is not None:
            stats["in_msgs"] += 1
            stats["in_bytes"] += len(data)
        feed._raw(subject, reply, data, headers)

    nc._process_msg = _process_msg  # type: ignore[method-assign]
    setattr(nc, _TAP_ATTR, feeds)
    return feeds


async def _ack_all(nc: NatsClient, deliveries: Sequence[_Delivery]) -> None:
    """Acknowledge ``deliveries`` (after their work committed): one write of one PUB per message,
    byte for byte what ``Msg.ack`` sends, instead of one publish call each. A failure means
    redelivery, which is safe."""
    send = getattr(nc, "_send_command", None)
    flush = getattr(nc, "_flush_pending", None)
    if send is None or flush is None or not asyncio.iscoroutinefunction(send):
        for d in deliveries:
            await _quiet(d.ack())
        return
    if nc.is_closed or not deliveries:
        return
    try:
        await send(b"".join([b"PUB %s 0\r\n\r\n" % d.reply for d in deliveries]))
        stats = getattr(nc, "stats", None)
        if stats is not None:
            stats["out_msgs"] += len(deliveries)
        await flush()
    except Exception as exc:  # noqa: BLE001
        log.debug("ack of %d messages failed (they will be redelivered): %s", len(deliveries), exc)


class _PullFeed:
    """Pull requests for one durable consumer, answered into one buffer.

    nats-py's ``PullSubscription.fetch`` waits for every message with its own timeout task, which
    costs more than handling the message; here deliveries land in a buffer (through :func:`_tap`,
    or a subscription callback where the tap is not available). A fetch takes a full batch when one
    is buffered; otherwise it asks for what is available now (``no_wait``: the server sends up to
    ``batch`` messages, then a ``404`` status if it had fewer) and waits for that answer to end, so a
    backlog is taken in full batches; when nothing is available it waits (``expires``) until
    something arrives and returns it at once. At most one request is outstanding; messages of an
    answered request that arrive after a fetch returned stay buffered, in order, for the next one.
    """

    def __init__(self, nc: NatsClient, stream: str, durable: str) -> None:
        self.nc = nc
        self.subject = f"$JS.API.CONSUMER.MSG.NEXT.{stream}.{durable}"
        self.inbox = nc.new_inbox()
        self._buffer: list[_Delivery] = []
        self._arrived = asyncio.Event()
        self._over = asyncio.Event()
        self._open: str | None = None  # "no_wait" or "expires" while a pull request is outstanding
        self._wanted = 0  # messages the outstanding request may still deliver
        self._last_status = ""  # how the last request ended: 404 none, 408 expired, 409 refused, …
        self._sub: Any = None
        self._feeds: dict[int, _PullFeed] | None = None
        self.tapped = False  # True when deliveries come straight from the protocol parser

    async def start(self) -> None:
        self._sub = await self.nc.subscribe(self.inbox, cb=self._on_msg)
        feeds = _tap(self.nc)
        sid = getattr(self._sub, "_id", None)
        if feeds is not None and isinstance(sid, int):
            feeds[sid] = self
            self._feeds = feeds
            self.tapped = True
        await self.nc.flush()

    async def _on_msg(self, msg: Msg) -> None:
        """Subscription callback: used only when the tap is not installed."""
        if not msg.data and msg.headers and msg.headers.get("Status"):
            self._status(msg.headers["Status"])
            return
        self._deliver(_Delivery(self.nc, msg.subject, (msg.reply or "").encode(), msg.data, None, msg.headers))

    def _raw(self, subject: bytes, reply: bytes, data: bytes, headers: bytes | None) -> None:
        """A message straight from the protocol parser (see :func:`_tap`)."""
        if not data and headers and headers[8:9] == b" ":  # b"NATS/1.0 404 No Messages\r\n\r\n"
            self._status(headers[9:12].decode("ascii", "replace"))
            return
        self._deliver(_Delivery(self.nc, subject.decode(), reply, data, headers))

    def _status(self, code: str) -> None:
        if code != "100":  # 404 no messages, 408 expired, 409 …: the request is over (100 = heartbeat)
            self._last_status = code
            self._open = None
            self._wanted = 0
            self._over.set()

    def _deliver(self, delivery: _Delivery) -> None:
        self._buffer.append(delivery)
        self._arrived.set()
        if self._wanted > 0:
            self._wanted -= 1
            if self._wanted == 0:  # the request is answered in full
                self._open = None
                self._over.set()

    def _take(self, batch: int) -> list[_Delivery]:
        taken = self._buffer[:batch]
        del self._buffer[:batch]
        if not self._buffer:
            self._arrived.clear()
        return taken

    async def _ask(self, request: dict[str, Any], kind: str, count: int) -> None:
        self._over.clear()
        self._open, self._wanted = kind, count
        await self.nc.publish(self.subject, json.dumps(request).encode(), reply=self.inbox)

    async def _answered(self, timeout: float) -> None:
        """Wait for the outstanding no_wait request to end; forget it if no answer comes (reconnect)."""
        try:
            await asyncio.wait_for(self._over.wait(), timeout)
        except TimeoutError:
            self._open, self._wanted = None, 0

    async def fetch(self, batch: int, timeout: float) -> list[_Delivery]:
        if len(self._buffer) < batch and self._open == "no_wait":
            await self._answered(timeout)
        if self._buffer:
            return self._take(batch)
        if self._open is None:
            await self._ask({"batch": batch, "no_wait": True}, "no_wait", batch)
            await self._answered(timeout)
            if self._buffer:
                return self._take(batch)
        if self._open is None:
            await self._ask({"batch": batch, "expires": int(timeout * 1e9)}, "expires", batch)
        await _first_of(self._over, self._arrived, timeout + 0.5)
        if not self._buffer:
            if not self._over.is_set():
                self._open, self._wanted = None, 0  # no answer at all: the request was lost; ask afresh
            elif self._last_status not in ("404", "408"):
                # Refused (e.g. 409): do not spin on it. An expired request (408) is asked again at once,
                # or an event arriving just after it expired would wait here for nothing.
                await asyncio.sleep(timeout / 2)
            raise nats.errors.TimeoutError
        await asyncio.sleep(0)  # let the rest of the burst land
        return self._take(batch)

    async def unsubscribe(self) -> None:
        if self._feeds is not None and self._sub is not None:
            self._feeds.pop(getattr(self._sub, "_id", None), None)  # type: ignore[arg-type]
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


@dataclass(frozen=True, slots=True)
class Rejected:
    """A ``decode_batch`` result: the message is not a valid event (reason and detail as
    :class:`InvalidEvent`'s)."""

    reason: str
    detail: str


#: In ``decode_batch`` mode, how many fetched batches may be decoding while the oldest is handled
#: (with the one handled and the one being fetched, ``DECODE_AHEAD + 2`` batches are unacknowledged:
#: within the consumer's default ``max_ack_pending`` of four batches).
DECODE_AHEAD = 2

#: See :meth:`Bus.consume`: raw payloads → one result per payload (the handler's item or :class:`Rejected`).
DecodeBatch = Callable[[list[bytes]], Awaitable[list[Any]]]


def _untraced(only_recorded_spans: bool) -> bool:
    """Whether a call asked for ``only_recorded_spans`` and no span can be recorded (no exporter,
    :func:`spans_may_record`): then it makes no span and sends no trace context. A JetStream publish
    still carries ``Nats-Msg-Id`` (the stream's duplicate window needs it); a core message goes
    without headers. For the hot paths (a beat's messages, task requests), where an unrecorded span
    and its ``traceparent`` cost a measurable share of each message. Without the flag a call makes
    its span and sends ``traceparent`` (not sampled) whether or not anything records it."""
    return only_recorded_spans and not spans_may_record()


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
    decode_batch: DecodeBatch | None = None
    _task: asyncio.Task[None] | None = None
    _stopping: asyncio.Event = field(default_factory=asyncio.Event)
    handled: int = 0

    def start(self) -> None:
        run = self._run_offloaded if self.decode_batch is not None else self._run
        self._task = asyncio.create_task(run(), name=f"consumer:{self.name}")

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

    async def _fetch(self) -> list[_Delivery]:
        """The next fetch; empty when none came in time or the connection is in trouble (after a pause)."""
        try:
            return await self.sub.fetch(self.batch, timeout=self.fetch_timeout_s)
        except (TimeoutError, nats.errors.TimeoutError):
            return []
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # noqa: BLE001 - connection trouble: wait and fetch again
            log.warning("fetch on %s failed: %s", self.name, exc)
            await asyncio.sleep(0.5)
            return []

    async def _run(self) -> None:
        # Batch mode pipelines one batch deep: the next batch is fetched and decoded while the previous
        # one is handled (e.g. its database commit); batches are still handled and acknowledged in order.
        # Per-event handlers stay strictly sequential.
        in_flight: asyncio.Task[None] | None = None
        try:
            while not self._stopping.is_set():
                msgs = await self._fetch()
                if not msgs:
                    continue
                valid = await self._decode(msgs)
                if not valid:
                    continue
                if self.batch_handler is None:
                    await self._handle_each(valid)
                    continue
                delivered: list[tuple[str | None, _Delivery]] = [(event.id, msg) for event, msg in valid]
                if in_flight is not None:
                    await in_flight
                in_flight = asyncio.create_task(self._handle_batch(delivered, [event for event, _ in valid]))
        finally:
            if in_flight is not None and not in_flight.done():
                await asyncio.shield(in_flight)

    async def _run_offloaded(self) -> None:
        """``decode_batch`` mode: fetching, decoding and handling overlap. Each fetch goes to
        ``decode_batch`` at once (it may run elsewhere, e.g. on a worker process); up to
        ``DECODE_AHEAD`` fetches are being decoded while the handler works on the oldest one.
        Batches are still handled and acknowledged in fetch order, each as soon as it is decoded."""
        decoded: asyncio.Queue[asyncio.Task[Any] | None] = asyncio.Queue(maxsize=DECODE_AHEAD)
        handling = asyncio.create_task(self._handle_decoded(decoded), name=f"consumer:{self.name}:handle")
        try:
            while not self._stopping.is_set():
                msgs = await self._fetch()
                if not msgs:
                    continue
                await decoded.put(asyncio.create_task(self._decode_batch(msgs)))
        finally:
            try:
                await decoded.put(None)  # the fetched batches are handled, then the handler ends
                await asyncio.shield(handling)
            except asyncio.CancelledError:  # stop() gave up waiting: unhandled batches are redelivered
                handling.cancel()
                raise

    async def _handle_decoded(self, decoded: asyncio.Queue[asyncio.Task[Any] | None]) -> None:
        while (task := await decoded.get()) is not None:
            delivered, prepared, failure = await task
            if delivered:
                await self._handle_batch(delivered, prepared, failure)

    async def _decode(self, msgs: list[_Delivery]) -> list[tuple[Envelope[Any], _Delivery]]:
        """Valid events of a fetch; each invalid message is terminated, counted and logged."""
        valid: list[tuple[Envelope[Any], _Delivery]] = []
        expected = self.expected
        for msg in msgs:
            try:
                valid.append((decode(msg.data, expected), msg))
            except InvalidEvent as exc:
                await self._refuse(msg, exc)
        return valid

    async def _refuse(self, msg: _Delivery, exc: InvalidEvent) -> None:
        """An invalid message: counted and logged, terminated (never redelivered), reported to ``on_invalid``."""
        _reject(self.name, exc)
        await _quiet(msg.term())
        if self.on_invalid is not None:
            self.on_invalid(exc)

    async def _decode_batch(self, msgs: list[_Delivery]) -> tuple[list[tuple[str | None, _Delivery]], list[Any],
                                                                   Exception | None]:
        """``decode_batch`` on a fetch: the valid messages (their event ids unknown here: a span takes
        the message id header), their results (what the batch handler gets), or the failure that fails
        the whole fetch."""
        assert self.decode_batch is not None
        try:
            results = await self.decode_batch([msg.data for msg in msgs])
            if len(results) != len(msgs):
                raise RuntimeError(f"decode_batch returned {len(results)} results for {len(msgs)} messages")
        except Exception as exc:  # noqa: BLE001 - the fetch is redelivered (negative acknowledgement)
            return [(None, msg) for msg in msgs], [], exc
        delivered: list[tuple[str | None, _Delivery]] = []
        prepared: list[Any] = []
        for msg, result in zip(msgs, results, strict=True):
            if isinstance(result, Rejected):
                await self._refuse(msg, InvalidEvent(result.reason, result.detail))
            else:
                delivered.append((None, msg))
                prepared.append(result)
        return delivered, prepared, None

    async def _handle_batch(self, valid: list[tuple[str | None, _Delivery]], prepared: Any,
                            failure: Exception | None = None) -> None:
        assert self.batch_handler is not None
        with m.HANDLE_SECONDS.labels(self.name).time():
            per_event: list[Any] = []
            if spans_may_record():
                # One span per event, each a child of the span that published it (so a beat's trace shows
                # where each of its events was handled, e.g. appended to the ledger), all covering the batch.
                tr = self.bus._tracer
                per_event = [
                    tr.start_span(f"{self.name} {m.kind_of(msg.subject)}", context=extract_context(msg.headers),
                                  kind=SpanKind.CONSUMER,
                                  attributes={"messaging.message.id": event_id if event_id is not None
                                              else (msg.headers or {}).get("Nats-Msg-Id", ""),
                                              "messaging.batch.message_count": len(valid)})
                    for event_id, msg in valid
                ]
            try:
                if failure is not None:
                    raise failure
                await self.batch_handler(prepared)
            except Exception as exc:
                m.HANDLER_ERRORS.labels(self.name).inc()
                log.exception("batch handler %s failed on %d events; will be redelivered", self.name, len(valid))
                for span in per_event:
                    span.record_exception(exc)
                    span.end()
                for _, msg in valid:
                    await _quiet(msg.nak(delay=1.0))
                return
            # Acknowledged only now: the handler returned, i.e. its work is committed.
            await _ack_all(self.bus.nc, [msg for _, msg in valid])
            for span in per_event:
                span.end()
            m.EVENTS_CONSUMED.labels(self.name).inc(len(valid))
            self.handled += len(valid)

    async def _handle_each(self, valid: list[tuple[Envelope[Any], _Delivery]]) -> None:
        assert self.handler is not None
        tr = self.bus._tracer
        with m.HANDLE_SECONDS.labels(self.name).time():
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


async def _quiet(aw: Awaitable[Any]) -> None:
    """Acknowledgement calls: a failure (connection lost) means redelivery, which is safe."""
    try:
        await aw
    except Exception as exc:  # noqa: BLE001
        log.debug("ack/nak/term failed (message will be redelivered): %s", exc)
