"""The task worker: core NATS request/reply on ``venom.task.<node>`` (issue 5 item 3; F-ORCH-2).

Transport, chosen for latency: the orchestrator sends a ``TaskV1`` event as a core NATS
*request* to ``venom.task.<node>`` (outside every stream, see ``streams.py``). The worker runs the
task in its own asyncio task (so a ``sleep`` does not hold up the next message), answers the
request with the ``TaskResultV1`` event, then publishes the same event to JetStream on
``venom.task.<node>.result`` (stream VENOM_EVENTS), so results and failures are recorded facts
any service can consume. ``ping`` tasks (health checks) are answered but not published.

Recording a result does not hold up anything: the record is sent with the worker's *acknowledgement
inbox* as its reply subject (one subscription for all results, made at start) instead of as a
JetStream request of its own, so there is no future, timer or span per result and the task is done
once its reply and record are sent. Every acknowledgement is still read: a stored record is counted
in ``venom_events_published_total{kind="task"}``, a refused one (JetStream's error, or no stream for
the subject) in ``venom_task_results_unrecorded_total{reason}`` and logged. Measured under ``venom
bench dispatch``, the workers' CPU per task fell by about a third with this and the orchestrator's
header-less requests (docs/BENCHMARKS.md, "Dispatch: CPU per task cut").

Nothing is queued for a peer that is gone: a request to a vanished worker gets "no responders" at
once or times out, and the orchestrator moves the task to another peer. A task therefore runs at
least once, maybe twice (a worker that was slow rather than gone) — handlers should be idempotent.

Failures are results too: an unknown type, an invalid payload, a task addressed to another node,
the deadline passing (``deadline_s``, enforced here), a handler raising or returning a result that
is not flat end as ``status="failed"`` with the reason in ``error``. Only a message that is not a ``TaskV1`` event at
all is dropped (counted in ``venom_events_rejected_total``), with a failed reply if it had a reply
subject.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from typing import Any

from nats.aio.msg import Msg
from prometheus_client import Counter
from pydantic import ValidationError

from venom_common.bus import Bus
from venom_common.events import InvalidEvent, decode, encode, make_event, subjects
from venom_common.events.payloads import TaskResultV1, TaskV1
from venom_common.telemetry import metrics as m
from venom_common.telemetry.tracing import inject_headers
from venom_hardware_agent.tasks.handlers import Result, TaskFailed, TaskRegistry, default_registry

log = logging.getLogger("venom.tasks")

TASKS_DONE = Counter("venom_tasks_total", "tasks run by this node's worker", ["task_type", "status"])
TASKS_REJECTED = Counter("venom_tasks_rejected_total", "messages on the task subject that were not a TaskV1 event",
                         ["reason"])
RESULTS_UNRECORDED = Counter("venom_task_results_unrecorded_total",
                             "task results JetStream did not store (the caller had its reply)", ["reason"])


class TaskWorker:
    def __init__(self, bus: Bus, node: str, source: str, *, registry: TaskRegistry | None = None,
                 max_concurrency: int = 256) -> None:
        self.bus = bus
        self.node = node
        self.source = source
        self.registry = registry or default_registry()
        self._slots = asyncio.Semaphore(max_concurrency)
        self._running: set[asyncio.Task[None]] = set()
        self._sub: Any = None
        self._ack_sub: Any = None
        self._ack_inbox = ""
        self._result_subject = subjects.task_result(node)
        self._stored = m.EVENTS_PUBLISHED.labels(m.kind_of(self._result_subject))
        self._done: dict[tuple[str, str], Any] = {}  # (task type, status) -> its TASKS_DONE child
        self.done = 0
        self.failed = 0
        self.records_sent = 0
        self.records_stored = 0
        self.records_refused = 0

    async def start(self) -> None:
        nc = self.bus.nc
        self._ack_inbox = nc.new_inbox()
        self._ack_sub = await nc.subscribe(self._ack_inbox, cb=self._on_record_ack)
        self._sub = await nc.subscribe(subjects.task(self.node), cb=self._on_msg)
        await nc.flush()

    async def stop(self, timeout: float = 10.0) -> None:
        if self._sub is not None:
            with contextlib.suppress(Exception):
                await self._sub.unsubscribe()
            self._sub = None
        if self._running:
            _, pending = await asyncio.wait(set(self._running), timeout=timeout)
            for task in pending:
                task.cancel()
        if self._ack_sub is not None:
            with contextlib.suppress(Exception):
                await self.bus.nc.flush(timeout=min(timeout, 2.0))  # the last records' acknowledgements
                await self._ack_sub.unsubscribe()
            self._ack_sub = None

    async def _on_msg(self, msg: Msg) -> None:
        try:
            task = decode(msg.data, TaskV1).data
        except InvalidEvent as exc:
            TASKS_REJECTED.labels(exc.reason).inc()
            log.warning("dropped a message on %s: %s", msg.subject, exc)
            if msg.reply:
                failure = TaskResultV1(task_id="invalid", node=self.node, status="failed",
                                       error=f"not a valid task event ({exc.reason}): {exc}"[:2000], elapsed_ms=0.0)
                await self._respond(msg, failure)
            return
        runner = asyncio.create_task(self._run(task, msg), name=f"task:{task.task_id}")
        self._running.add(runner)
        runner.add_done_callback(self._running.discard)

    async def _run(self, task: TaskV1, msg: Msg) -> None:
        async with self._slots:
            start = time.perf_counter()
            result = await self.execute(task)
            elapsed_ms = (time.perf_counter() - start) * 1000.0
        try:
            outcome = TaskResultV1(task_id=task.task_id, node=self.node, status=result[0], result=result[1],
                                   error=result[2], elapsed_ms=elapsed_ms)
        except ValidationError as exc:  # a handler's result that is not flat: the task's failure, answered
            reasons = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors()[:5])
            outcome = TaskResultV1(task_id=task.task_id, node=self.node, status="failed", elapsed_ms=elapsed_ms,
                                   error=f"the {task.task_type} handler returned an invalid result: {reasons}"[:2000])
        self._count(task.task_type, outcome.status)
        event = make_event(outcome, source=self.source, subject=self._result_subject)
        data = encode(event)
        nc = self.bus.nc
        if msg.reply:
            with contextlib.suppress(Exception):
                await nc.publish(msg.reply, data)
        if self._publishes(task.task_type):
            try:  # to JetStream; its acknowledgement arrives at _on_record_ack
                await nc.publish(self._result_subject, data, reply=self._ack_inbox,
                                 headers=inject_headers({"Nats-Msg-Id": event.id}))
                self.records_sent += 1
            except Exception as exc:  # noqa: BLE001 - the caller has its reply; the record is what is lost
                RESULTS_UNRECORDED.labels("not_sent").inc()
                log.warning("publishing the result of task %s failed: %s", task.task_id, exc)

    def _count(self, task_type: str, status: str) -> None:
        if status == "succeeded":
            self.done += 1
        else:
            self.failed += 1
        child = self._done.get((task_type, status))
        if child is None:
            child = self._done[(task_type, status)] = TASKS_DONE.labels(task_type, status)
        child.inc()

    async def _on_record_ack(self, msg: Msg) -> None:
        """JetStream's answer to a result record: ``{"stream":…,"seq":…}`` stored, ``{"error":…}`` refused,
        or an empty 503 status message when no stream takes the subject."""
        if msg.data and b'"error"' not in msg.data:
            self.records_stored += 1
            self._stored.inc()
            return
        self.records_refused += 1
        status = (msg.headers or {}).get("Status", "")
        reason = "no_stream" if status == "503" else "refused"
        RESULTS_UNRECORDED.labels(reason).inc()
        log.warning("JetStream did not store a task result on %s: %s", self._result_subject,
                    msg.data[:300].decode(errors="replace") or f"status {status or 'unknown'}")

    def _publishes(self, task_type: str) -> bool:
        try:
            return self.registry.get(task_type).publish_result
        except TaskFailed:
            return True

    async def execute(self, task: TaskV1) -> tuple[str, Result | None, str | None]:
        """Run one task: ``(status, result, error)``; never raises."""
        if task.node != self.node:
            return "failed", None, f"task addressed to node {task.node!r}, this worker is {self.node!r}"
        try:
            async with asyncio.timeout(task.deadline_s):  # no extra asyncio task per run, unlike wait_for
                result = await self.registry.run(task.task_type, dict(task.payload))
        except TaskFailed as exc:
            return "failed", None, str(exc)[:2000]
        except TimeoutError:
            return "failed", None, f"deadline exceeded: the task ran longer than {task.deadline_s:g} s"
        except Exception as exc:  # noqa: BLE001 - a handler's bug is the task's failure, not the worker's
            log.exception("task %s (%s) failed", task.task_id, task.task_type)
            return "failed", None, f"{type(exc).__name__}: {exc}"[:2000]
        return "succeeded", result, None

    async def _respond(self, msg: Msg, outcome: TaskResultV1) -> None:
        event = make_event(outcome, source=self.source, subject=subjects.task_result(self.node))
        with contextlib.suppress(Exception):
            await self.bus.nc.publish(msg.reply, encode(event))
