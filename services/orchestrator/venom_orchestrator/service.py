"""The orchestrator service (F-ORCH-1..4): the adapter between NATS, the domain and the APIs.

* peers (F-ORCH-1): the last ``PeerV1`` event of every node on ``venom.mesh.peer.*`` (durable
  consumer, re-created at start with "last per subject" delivery so the table is rebuilt after a
  restart), plus this node itself; health: a ``ping`` task request to each peer's worker every
  ``health_interval_s``; load: CPU EMA from ``venom.metrics.*`` + tasks in flight;
* quarantine: a watch on the arbiter's ``VENOM_QUARANTINE`` KV bucket; release deletes the key;
* dispatch (F-ORCH-2): a core NATS request of ``TaskV1`` to ``venom.task.<node>``; no responders or
  no reply by deadline + grace → the peer counts as vanished and the task moves to another peer,
  up to ``max_attempts``; then it ends ``lost``. A reply that is not a valid ``TaskResultV1`` event
  ends the task ``failed`` with the reason. Never hangs.

The dispatch path is the orchestrator's hot path (docs/BENCHMARKS.md "Dispatch"): when no span can be
recorded (no OTLP exporter) the request goes out without a span or trace headers, which the worker
does not read (``Bus.request(only_recorded_spans=True)``); with tracing on it has its span and
``traceparent``. After start-up the objects made so far are moved out of the garbage collector's
view (``gc.freeze``) so its full collections do not walk them again and again.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import random
import time
from datetime import UTC, datetime
from typing import Any

import nats.errors
from nats.js import api as js_api
from nats.js.errors import BucketNotFoundError, NotFoundError
from prometheus_client import Counter, Gauge, Histogram

from venom_common.bus import Bus, Consumer
from venom_common.canonical import strict_loads
from venom_common.events import Envelope, InvalidEvent, make_event, subjects
from venom_common.events.payloads import MetricsV1, PeerV1, TaskResultV1, TaskV1
from venom_common.ids import new_event_id
from venom_common.runner import ServiceContext
from venom_common.streams import EVENTS
from venom_orchestrator.domain.dispatch import DispatchPolicy, NoEligiblePeer, eligible, policy_by_name
from venom_orchestrator.domain.peers import PeerTable
from venom_orchestrator.domain.tasks import Attempt, TaskBook, TaskRecord
from venom_orchestrator.settings import OrchestratorSettings

log = logging.getLogger("venom.orchestrator")

QUARANTINE_BUCKET = "VENOM_QUARANTINE"

TASKS = Counter("venom_orchestrator_tasks_total", "tasks by final status", ["status"])
PEER_LOAD = Gauge("venom_orchestrator_peer_load", "Load the dispatcher sees per peer: tasks in flight + CPU EMA / 100",
                  ["peer"])
REDISPATCHED = Counter("venom_orchestrator_redispatched_total", "task attempts moved off a vanished peer", ["why"])
TASK_SECONDS = Histogram("venom_orchestrator_task_seconds", "dispatch to result",
                         buckets=(0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.5, 1, 5, 30))


class OrchestratorService:
    name = "orchestrator"

    def __init__(self, settings: OrchestratorSettings, *, policy: DispatchPolicy | None = None) -> None:
        self.settings = settings
        self.node = settings.node_id
        self.peers = PeerTable(settings.ema_tau_s, failures_to_unhealthy=settings.health_failures)
        self.tasks = TaskBook(settings.task_history)
        self.policy = policy or policy_by_name(settings.dispatch_policy, random.Random())
        self._ctx: ServiceContext | None = None
        self._bus: Bus | None = None
        self._consumer: Consumer | None = None
        self._metrics_sub: Any = None
        self._kv: Any = None
        self._loops: list[asyncio.Task[None]] = []
        self._running: set[asyncio.Task[TaskRecord]] = set()
        self._stop = asyncio.Event()
        self._started = False
        self._finished = {status: TASKS.labels(status) for status in ("succeeded", "failed", "lost")}
        self.grpc_port: int | None = None
        self._grpc: Any = None

    # --- Service protocol ------------------------------------------------------------------------

    async def start(self, ctx: ServiceContext) -> None:
        from venom_orchestrator.api import install_routes

        self._ctx, self._bus = ctx, ctx.bus
        s = self.settings
        if s.self_peer:
            self.peers.joined(self.node, addresses=[], version="", capabilities=["tasks"], role="generic",
                              via="self", last_seen=datetime.now(UTC))
        self._metrics_sub = await ctx.bus.subscribe(subjects.METRICS_ALL, self._on_metrics, expected=MetricsV1,
                                                    name="orchestrator-metrics")
        self._kv = await _kv_bucket(ctx.bus, QUARANTINE_BUCKET)
        watcher = await self._kv.watchall()
        await self._initial_quarantine(watcher)
        self._loops.append(asyncio.create_task(self._watch_quarantine(watcher), name="orchestrator:quarantine"))
        durable = f"{s.peer_consumer}-{self.node}"
        with contextlib.suppress(NotFoundError):
            await ctx.bus.js.delete_consumer(EVENTS.name, durable)  # in-memory table: rebuild from each peer's last
        self._consumer = await ctx.bus.consume(
            stream=EVENTS.name, durable=durable, subjects=[subjects.MESH_PEER_ALL], handler=self._on_peer,
            expected=PeerV1, deliver_policy=js_api.DeliverPolicy.LAST_PER_SUBJECT, batch=100)
        self._loops.append(asyncio.create_task(self._health_loop(), name="orchestrator:health"))
        if s.grpc_enabled:
            from venom_orchestrator.grpc_api.server import start_grpc

            self._grpc, self.grpc_port = await start_grpc(s.bind_host, s.grpc_port)
            log.info("gRPC VenomService on %s:%d", s.bind_host, self.grpc_port)
        install_routes(ctx.app, self)
        if s.rest_fast_path:
            from venom_orchestrator.api import fast_tasks

            ctx.put_in_front(fast_tasks.install(self))
        gc.collect()
        gc.freeze()  # start-up objects (FastAPI, pydantic schemas, ...) out of every later full collection
        self._started = True

    async def stop(self) -> None:
        self._stop.set()
        self._started = False
        if self._running:
            await asyncio.wait(set(self._running), timeout=self.settings.shutdown_grace_s / 2)
        for loop in self._loops:
            loop.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await loop
        if self._consumer is not None:
            with contextlib.suppress(Exception):
                await self._consumer.stop()
        if self._metrics_sub is not None:
            with contextlib.suppress(Exception):
                await self._metrics_sub.unsubscribe()
        if self._grpc is not None:
            await self._grpc.stop(1.0)

    def ready(self) -> bool:
        return self._started

    # --- inputs ----------------------------------------------------------------------------------

    async def _on_peer(self, env: Envelope[PeerV1]) -> None:
        p = env.data
        if p.status == "left":
            self.peers.left(p.node, last_seen=p.last_seen)
            log.info("peer %s left", p.node)
            return
        known = self.peers.get(p.node)
        was_present = known is not None and known.present
        self.peers.joined(p.node, addresses=p.addresses, version=p.version, capabilities=p.capabilities,
                          role=p.role, via=p.via, last_seen=p.last_seen)
        if not was_present:
            log.info("peer %s joined (via %s)", p.node, p.via)
            task = asyncio.create_task(self._ping(p.node))  # check it now rather than at the next round
            self._loops.append(task)
            task.add_done_callback(lambda t: t in self._loops and self._loops.remove(t))

    async def _on_metrics(self, env: Envelope[MetricsV1], _msg: Any) -> None:
        m = env.data
        if m.cpu_percent is not None:
            now = time.monotonic()
            self.peers.metrics(m.node, m.cpu_percent, now)
            peer = self.peers.get(m.node)
            if peer is not None:
                PEER_LOAD.labels(m.node).set(peer.load(now))

    async def _initial_quarantine(self, watcher: Any) -> None:
        while True:
            entry = await watcher.updates(timeout=5.0)
            if entry is None:  # the marker after the bucket's current values
                return
            self._apply_quarantine(entry)

    async def _watch_quarantine(self, watcher: Any) -> None:
        while not self._stop.is_set():
            try:
                entry = await watcher.updates(timeout=1.0)
            except nats.errors.TimeoutError:
                continue
            if entry is not None:
                self._apply_quarantine(entry)

    def _apply_quarantine(self, entry: Any) -> None:
        if entry.operation in ("DEL", "PURGE") or not entry.value:
            self.peers.set_quarantine(entry.key, None)
            log.info("peer %s released from quarantine", entry.key)
            return
        try:
            info = strict_loads(entry.value)
        except Exception:  # noqa: BLE001 - a value we cannot read still quarantines the node
            info = {"reason": "unreadable quarantine record"}
        self.peers.set_quarantine(entry.key, info if isinstance(info, dict) else {"value": str(info)})
        log.info("peer %s quarantined", entry.key)

    # --- health ----------------------------------------------------------------------------------

    async def _health_loop(self) -> None:
        while not self._stop.is_set():
            nodes = [p.node for p in self.peers.all() if p.present]
            if nodes:
                await asyncio.gather(*(self._ping(n) for n in nodes), return_exceptions=True)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stop.wait(), self.settings.health_interval_s)

    async def _ping(self, node: str) -> None:
        assert self._bus is not None and self._ctx is not None
        ping = TaskV1(task_id=f"ping-{new_event_id()}", node=node, task_type="ping", payload={},
                      deadline_s=self.settings.health_timeout_s)
        start = time.perf_counter()
        try:
            reply = await self._bus.request(subjects.task(node), make_event(ping, source=self._ctx.source),
                                            timeout=self.settings.health_timeout_s, expected=TaskResultV1)
        except Exception:  # noqa: BLE001 - no responders, timeout, bad reply: all a failed ping
            self.peers.ping_failed(node)
            return
        if reply.data.status == "succeeded":
            self.peers.ping_ok(node, (time.perf_counter() - start) * 1000.0)
        else:
            self.peers.ping_failed(node)

    # --- dispatch (F-ORCH-2) ---------------------------------------------------------------------

    def submit(self, task_type: str, payload: dict[str, Any], deadline_s: float,
               node: str | None = None) -> tuple[TaskRecord, asyncio.Task[TaskRecord]]:
        record = TaskRecord(task_id=new_event_id(), task_type=task_type, payload=payload, deadline_s=deadline_s,
                            created_at=datetime.now(UTC))
        self.tasks.add(record)
        runner = asyncio.create_task(self._dispatch(record, node), name=f"dispatch:{record.task_id}")
        self._running.add(runner)
        runner.add_done_callback(self._running.discard)
        return record, runner

    def choose_peer(self, exclude: frozenset[str], pinned: str | None = None) -> str:
        candidates = eligible(self.peers.candidates(time.monotonic()), exclude=exclude)
        if pinned is not None:
            candidates = [c for c in candidates if c.node == pinned]
            if not candidates:
                raise NoEligiblePeer(f"peer {pinned!r} is unknown, unhealthy, quarantined or already tried")
        return self.policy.choose(candidates)

    async def _dispatch(self, record: TaskRecord, pinned: str | None) -> TaskRecord:
        assert self._bus is not None and self._ctx is not None
        start = time.perf_counter()
        tried: set[str] = set()
        for attempt in range(1, self.settings.max_attempts + 1):
            try:
                node = self.choose_peer(frozenset(tried), pinned)
            except NoEligiblePeer as exc:
                why = "; ".join(f"{a.node}: {a.outcome}" for a in record.attempts)
                return self._finish(record, "lost", error=f"{exc}" + (f" (tried {why})" if why else ""),
                                    start=start)
            tried.add(node)
            peer = self.peers.ensure(node)
            record.status, record.node = "running", node
            record.attempts.append(Attempt(node=node, outcome="running"))
            task = TaskV1(task_id=record.task_id, node=node, task_type=record.task_type, payload=record.payload,
                          attempt=attempt, deadline_s=record.deadline_s)
            peer.in_flight += 1
            try:
                reply = await self._request(node, task, record.deadline_s + self.settings.reply_grace_s)
            except InvalidEvent as exc:  # the peer answered, but not with a result: its failure, not a vanishing
                record.attempts[-1].outcome = "failed"
                peer.tasks_failed += 1
                return self._finish(record, "failed", error=f"peer {node} answered with an invalid result: {exc}",
                                    start=start)
            except nats.errors.NoRespondersError:
                record.attempts[-1].outcome = "no_responders"
                self.peers.vanished(node)
                REDISPATCHED.labels("no_responders").inc()
                continue
            except (nats.errors.TimeoutError, TimeoutError):
                record.attempts[-1].outcome = "timed_out"
                self.peers.vanished(node)
                REDISPATCHED.labels("timed_out").inc()
                continue
            finally:
                peer.in_flight -= 1
            result = reply.data
            self.peers.served(node, result.elapsed_ms / 1000.0)  # the peer's speed, learnt (dispatch.py)
            record.attempts[-1].outcome = result.status
            if result.status == "succeeded":
                peer.tasks_succeeded += 1
                return self._finish(record, "succeeded", result=result.result, start=start)
            peer.tasks_failed += 1
            return self._finish(record, "failed", error=result.error or "failed without a reason", start=start)
        nodes = ", ".join(f"{a.node} ({a.outcome})" for a in record.attempts)
        return self._finish(record, "lost", error=f"no peer answered in {len(record.attempts)} attempts: {nodes}",
                            start=start)

    async def _request(self, node: str, task: TaskV1, timeout: float) -> Envelope[TaskResultV1]:
        """The task to its peer's worker and the validated reply (raises as ``Bus.request`` does)."""
        assert self._bus is not None and self._ctx is not None
        return await self._bus.request(subjects.task(node), make_event(task, source=self._ctx.source),
                                       timeout=timeout, expected=TaskResultV1, only_recorded_spans=True)

    def _finish(self, record: TaskRecord, status: str, *, start: float, result: dict[str, Any] | None = None,
                error: str | None = None) -> TaskRecord:
        elapsed = time.perf_counter() - start
        record.status = status  # type: ignore[assignment]
        record.result, record.error = result, error
        record.finished_at = datetime.now(UTC)
        record.elapsed_ms = elapsed * 1000.0
        self._finished[status].inc()
        TASK_SECONDS.observe(elapsed)
        return record

    # --- quarantine release ----------------------------------------------------------------------

    async def release(self, node: str) -> bool:
        """Delete the node's quarantine key (a person lifting it). False when it was not quarantined."""
        assert self._kv is not None
        try:
            entry = await self._kv.get(node)
        except (NotFoundError, nats.js.errors.KeyNotFoundError, nats.js.errors.KeyDeletedError):
            return False
        if entry is None or not entry.value:
            return False
        await self._kv.delete(node)
        self.peers.set_quarantine(node, None)
        log.warning("peer %s released from quarantine by an API call", node)
        return True


async def _kv_bucket(bus: Bus, name: str) -> Any:
    try:
        return await bus.js.key_value(name)
    except (BucketNotFoundError, NotFoundError):
        with contextlib.suppress(Exception):
            return await bus.js.create_key_value(js_api.KeyValueConfig(bucket=name, history=10))
        return await bus.js.key_value(name)  # created meanwhile by the arbiter
