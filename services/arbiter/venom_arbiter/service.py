"""The arbiter service: one beat = pulse → organs in parallel → decision → PID → genome (seed 001 "Execution Flow").

Per beat it publishes, to JetStream, the pulse, the four flow results (an
organ that is missing, late or failed is recorded as an error result), the
decision and the genome; QUARANTINE and ALERT also publish an alert, and
QUARANTINE marks the node in the ``VENOM_QUARANTINE`` key-value bucket (who,
since when, why), which the orchestrator follows. The beat's events carry ids
derived from the pulse id, so a beat re-run after a crash republishes the same
ids and nothing is recorded twice. State is committed only after every event of
the beat was stored; a beat that could not be published is retried, never skipped.

A beat's events (pulse first) are sent together once the beat's outcome is known, one JetStream
publish and ack each (``Bus.send_many``). With ``VENOM_ATOMIC_BATCHES`` they go as one atomic batch
instead (``Bus.send_batch``): stored all or none, one acknowledgement. A batch that is refused or
whose ack does not come is followed by the same events one by one, whose copies JetStream drops by
their ids; a batch is never resent, because the server refuses a whole batch holding an id it has
stored (see ``finish_beat`` and tests/integration/test_atomic_batch.py). Batches are off by default:
measured on one nats-server 2.15 they cost the server more CPU than the acks they save.

When no span can be recorded (no OTLP exporter: ``spans_may_record``) a beat makes no spans and its
messages carry no trace headers: JetStream publishes carry only ``Nats-Msg-Id`` (the duplicate
window needs it) and organ requests none. With tracing on, the pulse span and the bus's spans and
``traceparent`` headers are made as before. After start-up the objects made so far are moved out
of the garbage collector's view (``gc.freeze``).
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
import gc
import logging
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import nats.errors
import nats.js.errors
from nats.aio.msg import Msg
from opentelemetry.trace import SpanKind
from prometheus_client import Counter, Gauge, Histogram

from venom_common.canonical import canonical_dumps, strict_loads
from venom_common.events import Envelope, InvalidEvent, decode, make_event, subjects
from venom_common.events.payloads import (
    AlertV1,
    BalanceResult,
    DecisionV1,
    FlowResultV1,
    GenomeV1,
    GenomeView,
    GenomeWeights,
    InjectDataV1,
    MetricsV1,
    OrganError,
    OrganBeatRequestV1,
    OrganFeatures,
    OrganRequestV1,
    PidState,
    PulseV1,
    Vitals,
)
from venom_common.ids import derived_event_id, new_event_id
from venom_common.maths import time_wrap
from venom_common.runner import ServiceContext
from venom_common.streams import EVENTS, METRICS
from venom_common.telemetry.tracing import spans_may_record, tracer

from venom_arbiter.adapters.state_store import QUARANTINE_BUCKET, StateStore, kv_bucket
from venom_arbiter.domain.aggregate import aggregate_recommendations, failed_organs
from venom_arbiter.domain.decide import decide
from venom_arbiter.domain.genome import InvalidInjection, apply_mode, evolve, inject_data
from venom_arbiter.domain.pid import GenomicPid, PidGains
from venom_arbiter.domain.pulse import VitalsTracker, adaptive_cycle
from venom_arbiter.domain.state import ArbiterState
from venom_arbiter.settings import ArbiterSettings

log = logging.getLogger("venom.arbiter")

ORGANS = subjects.ORGANS
BEATS = Counter("venom_beats_total", "Beats completed")
BEAT_SECONDS = Histogram("venom_beat_seconds", "Pulse → every event of the beat stored",
                         buckets=(0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 1))
DECISIONS = Counter("venom_decisions_total", "Decisions by action", ["action"])
ORGAN_ERRORS = Counter("venom_organ_errors_total", "Organ results recorded as errors", ["organ", "why"])
RESULTS_IGNORED = Counter("venom_organ_results_ignored_total",
                          "Organ replies ignored (invalid, unknown or stale beat, duplicate)", ["why"])
PUBLISH_FAILURES = Counter("venom_beat_publish_failures_total", "Beats whose events could not be stored (retried)")
INJECTIONS = Counter("venom_inject_total", "inject_data commands", ["outcome"])
THETA = Gauge("venom_theta", "θ of the node's latest sample")
GENOME_WEIGHT = Gauge("venom_genome_weight", "Genome weights", ["base"])


#: After an organ failed to answer the one request of a beat, for how many beats it is asked alone.
SOLO_BEATS = 100

#: For how many beats after its own a beat's organ answers stay registered, so that a second or late
#: answer is counted as a duplicate or late (not as unknown) while beats run faster than answers arrive.
ANSWERS_KEPT_BEATS = 32

#: Failures of the bus (NATS away or slow): the beat is sent again with the same ids, never skipped.
BUS_ERRORS: tuple[type[BaseException], ...] = (TimeoutError, ConnectionError, OSError, nats.errors.Error)


@dataclass
class BeatOutcome:
    beat: int
    action: str
    delta_v: float
    delta_t: float


@dataclass
class PendingBeat:
    """A beat whose events are sent and not yet known to be stored."""

    started: float
    items: list[tuple[str, Envelope[Any]]]  # the pulse first, then flows, decision, genome (alert)
    #: The batch's one ack (``batched``), or after a failed batch one JetStream ack per item.
    futures: list[asyncio.Future[Any]]
    genome: GenomeV1
    decision_event: Envelope[Any]
    injections: list[tuple[InjectDataV1, asyncio.Future[bool]]]
    theta: float | None
    metrics_seq: int | None
    committed: asyncio.Future[BeatOutcome]
    batched: bool = True

    #: Where the genome event stands in ``items``: pulse, four flows, decision, genome.
    GENOME_INDEX = 1 + len(ORGANS) + 1

    @property
    def beat(self) -> int:
        return self.genome.beat

    def genome_seq(self, acks: list[Any]) -> int:
        """The genome event's stream sequence: from the batch's ack (its events have consecutive
        sequences ending at the ack's), or from the genome's own ack."""
        if not self.batched:
            return int(acks[self.GENOME_INDEX].seq)
        ack = acks[0]
        if ack.batch_size != len(self.items):
            raise nats.errors.Error(f"batch ack counts {ack.batch_size} events, the beat has {len(self.items)}")
        return int(ack.seq) - (len(self.items) - 1 - self.GENOME_INDEX)

    @property
    def decision(self) -> DecisionV1:
        return self.decision_event.data  # type: ignore[no-any-return]


def _cancel(futures: list[asyncio.Future[Any]]) -> None:
    for future in futures:
        if not future.done():
            future.cancel()  # frees the ack slot; an ack arriving later is ignored


class ArbiterService:
    name = "arbiter"

    def __init__(self, settings: ArbiterSettings) -> None:
        self.settings = settings
        self.node = settings.node_id
        self.metrics_node = settings.metrics_node or settings.node_id
        #: The stored state: what the events in JetStream say (snapshots are taken of it).
        self.state = ArbiterState()
        #: The working state: ahead of ``state`` by the beats sent and not yet stored.
        self._work = ArbiterState()
        self.t_lambda_s = time_wrap(settings.k_flows, settings.p_nodes, settings.u, settings.t1_s)
        # F-PULSE-1/2: a configured period (settings bound it to ≥ 1 ms), else T_Λ through the adaptive cycle.
        self.period_s = settings.period_s if settings.period_s is not None else adaptive_cycle(self.t_lambda_s)
        self.vitals = VitalsTracker(cycle_time_s=self.period_s)
        self.latest: MetricsV1 | None = None
        self.latest_id: str | None = None
        self.beats_done = 0
        self.beats_started = 0
        #: Beats that may be sent and not yet stored (the metrics drive runs one at a time).
        self._depth = settings.pipeline_depth if settings.drive == "clock" else 1
        self.decision_counts: dict[str, int] = {}
        self.last_outcome: BeatOutcome | None = None
        #: Σ ΔV over this process's beats = the error's change over the run (the per-beat ΔV telescopes).
        self.delta_v_total = 0.0
        #: When a list, the id of every event this process stored (``venom run`` checks the ledger has them).
        self.stored_event_ids: list[str] | None = None
        #: When a list, (beat, action, metrics seq) of every beat (``venom run --replay`` maps them to the file).
        self.beat_log: list[tuple[int, str, int | None]] | None = None
        self.finished = asyncio.Event()
        self._ctx: ServiceContext | None = None
        self._store: StateStore | None = None
        self._quarantine_kv: Any = None
        self._pending: dict[tuple[int, str], asyncio.Future[FlowResultV1]] = {}
        #: Organs asked alone (venom.organ.<organ>) and for how many more answered beats; the others are
        #: asked together (venom.organs). Which organs each recent beat asked together.
        self._alone: dict[str, int] = {}
        self._asked_together: dict[int, list[str]] = {}
        self._inbox = ""
        self._subs: list[Any] = []
        self._injections: list[tuple[InjectDataV1, asyncio.Future[bool]]] = []
        self._loop_task: asyncio.Task[None] | None = None
        self._consumers: list[Any] = []
        self._metrics_queue: asyncio.Queue[tuple[Envelope[Any], asyncio.Future[None]]] = asyncio.Queue()
        #: Pulse id and time of every beat sent and not yet stored (a retry or a restart reuses them).
        self._pulse_ids: dict[int, tuple[str, datetime]] = {}
        self._commit_queue: asyncio.Queue[PendingBeat | None] = asyncio.Queue()
        self._metrics_in_flight: set[str] = set()
        self._stopping = False
        self.failed = False
        self._wake = asyncio.Event()  # interrupts the wait between beats at stop
        self._tracer = tracer("venom.arbiter")
        self._traced = False  # set at start: spans_may_record()
        #: A beat's events go as one atomic batch when configured (turned off if the stream refuses them).
        self._atomic = settings.atomic_batches
        # Subjects and labelled metric children of this node, made once rather than on every beat.
        self._beat_subject = subjects.beat(self.node)
        self._flow_subjects = {organ: subjects.flow(self.node, organ) for organ in ORGANS}
        self._request_subjects = {organ: subjects.organ_request(organ) for organ in ORGANS}
        self._decision_subject = subjects.decision(self.node)
        self._genome_subject = subjects.genome(self.node)
        self._alert_subject = subjects.alert(self.node)
        self._decisions: dict[str, Any] = {}
        self._genome_weights = {base: GENOME_WEIGHT.labels(base) for base in ("R", "B", "E", "O")}
        self._ready = False

    # --- lifecycle ---------------------------------------------------------------------------

    async def start(self, ctx: ServiceContext) -> None:
        self._ctx = ctx
        bus = ctx.bus
        self._store = StateStore(bus, self.node)
        await self._store.open()
        self._quarantine_kv = await kv_bucket(bus, QUARANTINE_BUCKET, history=10)
        self.state = await self._store.load()
        self._work = copy.deepcopy(self.state)
        self._pulse_ids = await self._store.unstored_pulses(self.state)
        if self._pulse_ids:
            log.warning("beats %s were interrupted after their pulse: re-running them with the same event ids",
                        sorted(self._pulse_ids))
        self._inbox = f"_INBOX.arbiter.{self.node}.{new_event_id()[-12:]}"
        self._subs.append(await bus.nc.subscribe(f"{self._inbox}.>", cb=self._on_reply))
        self._consumers.append(await bus.consume(
            stream=EVENTS.name, durable=f"arbiter-inject-{self.node}", subjects=[subjects.command(self.node, "inject")],
            handler=self._on_inject, expected=InjectDataV1, batch=10,
        ))
        if self.settings.drive == "metrics":
            self._consumers.append(await bus.consume(
                stream=METRICS.name, durable=f"arbiter-metrics-{self.node}", subjects=[subjects.metrics(self.metrics_node)],
                # A short ack wait: after a crash the sample in flight comes back within 2 s. A beat that
                # takes longer sees its sample redelivered meanwhile; the in-flight guard beats it once.
                handler=self._on_metrics_lockstep, expected=MetricsV1, batch=1, max_ack_pending=1, ack_wait_s=2.0,
            ))
        else:
            await self._load_latest_metrics()
            self._subs.append(await bus.subscribe(subjects.metrics(self.metrics_node), self._on_metrics, expected=MetricsV1,
                                                  name="arbiter-metrics"))
        self._traced = spans_may_record()
        gc.freeze()
        self._loop_task = asyncio.create_task(self._run(), name="pulse")
        self._ready = True
        log.info("arbiter for %s: beat %d, T_Λ %.6f s, period %.6f s, drive %s", self.node, self.state.beat,
                 self.t_lambda_s, self.period_s, self.settings.drive)

    async def stop(self) -> None:
        """Graceful: the beat in flight completes (all its events stored), then the pulse stops."""
        self._ready = False
        self._stopping = True
        if self._loop_task is not None:
            self._wake.set()
            try:
                await asyncio.wait_for(asyncio.shield(self._loop_task), self.settings.shutdown_grace_s / 2)
            except (TimeoutError, asyncio.CancelledError):
                # A beat that cannot be stored in time is re-run with the same ids at the next start.
                self._loop_task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await self._loop_task
        for consumer in self._consumers:
            await consumer.stop()
        for sub in self._subs:
            with contextlib.suppress(Exception):
                await sub.unsubscribe()
        if self._store is not None and self._ctx is not None and self._ctx.bus.connected:
            with contextlib.suppress(Exception):
                await self._store.save(self.state)

    def ready(self) -> bool:
        return self._ready

    # --- inputs --------------------------------------------------------------------------------

    async def _load_latest_metrics(self) -> None:
        assert self._ctx is not None
        with contextlib.suppress(Exception):
            last = await self._ctx.bus.js.get_last_msg(METRICS.name, subjects.metrics(self.metrics_node))
            event = decode(last.data, MetricsV1)
            self.latest, self.latest_id = event.data, event.id

    async def _on_metrics(self, event: Envelope[Any], msg: Msg) -> None:
        self.latest, self.latest_id = event.data, event.id

    async def _on_metrics_lockstep(self, event: Envelope[Any]) -> None:
        """Lockstep drive: the consumer hands over one sample and waits until its beat is stored."""
        if self.state.last_metrics_id is not None and event.id <= self.state.last_metrics_id:
            return  # already beaten before a restart (UUIDv7 ids sort by time)
        if event.id in self._metrics_in_flight:
            return  # redelivered while its beat is still being stored (a slow publish): beat it once
        self._metrics_in_flight.add(event.id)
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        await self._metrics_queue.put((event, done))
        await done  # acked by the consumer only after the beat's events are stored

    async def _on_inject(self, event: Envelope[Any]) -> None:
        """F-MESH-3: applied at the next beat and acknowledged once that beat's genome is stored."""
        command: InjectDataV1 = event.data
        try:
            inject_data(self.state.genome, anoms=command.anoms, ml_weight=command.ml_weight)
        except InvalidInjection as exc:
            INJECTIONS.labels("refused").inc()
            log.warning("inject_data refused: %s", exc, extra={"event_id": event.id})
            return
        done: asyncio.Future[bool] = asyncio.get_running_loop().create_future()
        self._injections.append((command, done))
        await done

    async def _on_reply(self, msg: Msg) -> None:
        # The reply subject is <inbox>.<beat> for the one request of a beat, <inbox>.<beat>.<organ> for an
        # organ asked alone.
        asked = msg.subject[len(self._inbox) + 1:]
        if not msg.data and msg.headers and msg.headers.get("Status") == "503":
            self._no_responders(asked)
            return
        try:
            event = decode(msg.data, FlowResultV1)
        except InvalidEvent as exc:
            RESULTS_IGNORED.labels("invalid").inc()
            log.warning("invalid organ result ignored: %s", exc)
            return
        flow: FlowResultV1 = event.data
        key = (flow.beat, flow.organ)
        beat, _, organ = asked.partition(".")
        if flow.node != self.node or beat != str(flow.beat) or organ not in ("", flow.organ):
            RESULTS_IGNORED.labels("mismatch").inc()
            return
        future = self._pending.get(key)
        if future is None:
            RESULTS_IGNORED.labels("unknown_or_stale").inc()
            return
        if future.cancelled():
            RESULTS_IGNORED.labels("late").inc()
            return
        if future.done():
            RESULTS_IGNORED.labels("duplicate").inc()
            return
        future.set_result(flow)

    def _no_responders(self, asked: str) -> None:
        """NATS says nothing listens (to an organ asked alone: no replica of it; to the one request of a
        beat: no organ service at all): record the errors now rather than at the deadline."""
        beat_text, _, alone = asked.partition(".")
        try:
            beat = int(beat_text)
        except ValueError:
            RESULTS_IGNORED.labels("mismatch").inc()
            return
        for organ in (alone,) if alone else self._asked_together.get(beat, ()):
            future = self._pending.get((beat, organ))
            if future is not None and not future.done():
                ORGAN_ERRORS.labels(organ, "no_responders").inc()
                future.set_result(FlowResultV1(node=self.node, beat=beat, organ=organ, replica=None,  # type: ignore[arg-type]
                                               elapsed_ms=0.0, result=OrganError(error=f"no {organ} organ is running")))

    # --- the pulse -----------------------------------------------------------------------------

    async def _run(self) -> None:
        try:
            await self._pulse()
        except asyncio.CancelledError:
            raise
        except Exception:
            # A beat that fails for a reason other than the bus would fail again on retry: stop the
            # service (its supervisor restarts it; the state resumes from the last stored beat).
            log.exception("beat %d failed; stopping the arbiter", self.state.beat)
            self.failed = True
            if self._ctx is not None:
                self._ctx.stopping.set()
        finally:
            self.finished.set()

    async def _pulse(self) -> None:
        """The beat loop. Clock drive pipelines: beat n+1 starts while beat n's events are still
        being stored (at most ``pipeline_depth`` beats unstored); a committer task commits them in order."""
        slots = asyncio.Semaphore(self._depth)
        committer = asyncio.create_task(self._commit_in_order(slots), name="commit")
        next_at = time.monotonic()
        try:
            while (self.settings.beats < 0 or self.beats_started < self.settings.beats) and not self._stopping:
                if committer.done():
                    break  # the committer failed: _run reports it below
                if self.settings.drive == "metrics":
                    got = asyncio.ensure_future(self._metrics_queue.get())
                    woke = asyncio.ensure_future(self._wake.wait())
                    await asyncio.wait({got, woke}, return_when=asyncio.FIRST_COMPLETED)
                    woke.cancel()
                    if not got.done():
                        got.cancel()
                        break
                    event, done = got.result()
                    self.latest, self.latest_id = event.data, event.id
                    await slots.acquire()
                    pending = await self._start_until_sent(metrics_id=event.id)
                    await self._commit_queue.put(pending)
                    await asyncio.shield(pending.committed)  # lockstep: the sample is acked after its beat is stored
                    self._metrics_in_flight.discard(event.id)
                    done.set_result(None)
                else:
                    delay = next_at - time.monotonic()
                    if delay > 0:
                        with contextlib.suppress(TimeoutError):
                            await asyncio.wait_for(self._wake.wait(), delay)
                        if self._stopping:
                            break
                    await slots.acquire()
                    pending = await self._start_until_sent(metrics_id=None)
                    await self._commit_queue.put(pending)
                    next_at += self.period_s
                    behind = time.monotonic() - next_at
                    if behind > self.period_s:  # overran: skip the missed ticks (counted), never pile up
                        missed = int(behind // self.period_s)
                        self.vitals.missed_deadlines += missed
                        next_at += missed * self.period_s
        finally:
            # Every beat started is stored and committed before the loop ends (graceful stop).
            await self._commit_queue.put(None)
            try:
                await committer
            except asyncio.CancelledError:
                committer.cancel()
                raise

    async def _start_until_sent(self, metrics_id: str | None) -> PendingBeat:
        delay = 0.1
        while True:
            try:
                return await self.start_beat(metrics_id)
            except BUS_ERRORS as exc:
                # NATS away or slow: the beat is retried with the same ids, never skipped. Anything else
                # is a fault in the beat itself: it propagates and stops the service (see _run).
                PUBLISH_FAILURES.inc()
                log.warning("beat %d not sent (%s); retrying with the same ids", self._work.beat, exc)
                await asyncio.sleep(delay)
                delay = min(delay * 2, 5.0)

    async def _commit_in_order(self, slots: asyncio.Semaphore) -> None:
        while (pending := await self._commit_queue.get()) is not None:
            try:
                await self.finish_beat(pending)
            except BaseException as exc:
                if not pending.committed.done():
                    pending.committed.set_exception(exc)
                raise
            finally:
                slots.release()

    def _features(self) -> OrganFeatures:
        m = self.latest
        if m is None:
            return OrganFeatures()
        return OrganFeatures(
            theta=m.theta.theta, cpu_health=m.theta.h_cpu, memory_health=m.theta.h_mem, thermal_health=m.theta.h_term,
            battery_percent=m.battery_percent, anoms=m.anoms, anomaly_level=m.anomaly_level, cpu_cores=m.cpu_count,
            metrics_seq=m.seq,
        )

    async def _ask_organs(self, beat: int, features: OrganFeatures, genome: GenomeView,
                          source: str) -> dict[str, FlowResultV1]:
        """F-ARB-1: the four organs in parallel, gathered with a deadline.

        One request on ``venom.organs`` asks every organ at once (each organ's replicas share it in their
        queue group, each organ replies). An organ that did not answer it (no replica, late, or an organ
        service that does not listen there) is asked alone on ``venom.organ.<organ>`` for the next
        ``SOLO_BEATS`` beats, where NATS answers "no responders" at once when no replica runs."""
        assert self._ctx is not None
        loop = asyncio.get_running_loop()
        futures: dict[str, asyncio.Future[FlowResultV1]] = {}
        for organ in ORGANS:
            fut: asyncio.Future[FlowResultV1] = loop.create_future()
            self._pending[(beat, organ)] = fut
            futures[organ] = fut
        together = [organ for organ in ORGANS if organ not in self._alone]
        if together:
            self._asked_together[beat] = together
            request = make_event(
                OrganBeatRequestV1(node=self.node, beat=beat, organs=together, features=features, genome=genome,
                                   deadline_ms=self.settings.organ_deadline_ms),
                source=source,
            )
            await self._ctx.bus.publish_core(subjects.ORGANS_REQUEST, request, reply=f"{self._inbox}.{beat}",
                                             only_recorded_spans=True)
        for organ in self._alone:
            request = make_event(
                OrganRequestV1(node=self.node, beat=beat, organ=organ, features=features, genome=genome,
                               deadline_ms=self.settings.organ_deadline_ms),
                source=source,
            )
            await self._ctx.bus.publish_core(self._request_subjects[organ], request,
                                             reply=f"{self._inbox}.{beat}.{organ}", only_recorded_spans=True)
        await asyncio.wait(futures.values(), timeout=self.settings.organ_deadline_ms / 1000)
        results: dict[str, FlowResultV1] = {}
        for organ, fut in futures.items():
            if fut.done():
                results[organ] = fut.result()
            else:
                ORGAN_ERRORS.labels(organ, "deadline").inc()
                results[organ] = FlowResultV1(
                    node=self.node, beat=beat, organ=organ, replica=None, elapsed_ms=self.settings.organ_deadline_ms,
                    result=OrganError(error=f"no answer within {self.settings.organ_deadline_ms:g} ms"),
                )
            # Keep the future registered as done: a late or second answer is then counted, not taken.
            if not fut.done():
                fut.cancel()
        for organ, flow in results.items():
            if isinstance(flow.result, OrganError) and flow.replica is not None:
                ORGAN_ERRORS.labels(organ, "failed").inc()
            if flow.replica is None:  # no answer: ask it alone for a while
                self._alone[organ] = SOLO_BEATS
            elif organ in self._alone:
                self._alone[organ] -= 1
                if self._alone[organ] <= 0:
                    del self._alone[organ]
        # forget older beats (answers for them are counted as unknown or stale)
        for key in [k for k in self._pending if k[0] < beat - ANSWERS_KEPT_BEATS]:
            del self._pending[key]
        for old in [b for b in self._asked_together if b < beat - ANSWERS_KEPT_BEATS]:
            del self._asked_together[old]
        return results

    async def run_beat(self, metrics_id: str | None) -> BeatOutcome:
        """One beat, start to commit (no pipelining)."""
        pending = await self.start_beat(metrics_id)
        return await self.finish_beat(pending)

    async def start_beat(self, metrics_id: str | None) -> PendingBeat:
        """Run beat ``self._work.beat`` up to its events being sent (not yet stored) and advance the
        working state, so the next beat can start while this one's events are being stored."""
        assert self._ctx is not None
        source = self._ctx.source
        state = self._work
        beat = state.beat
        started = time.perf_counter()
        resumed = self._pulse_ids.get(beat)
        pulse_id, pulse_time = resumed if resumed is not None else (new_event_id(), datetime.now(UTC))
        with (self._tracer.start_as_current_span("pulse", kind=SpanKind.INTERNAL) if self._traced
              else contextlib.nullcontext()) as span:
            if span is not None:
                span.set_attribute("venom.node", self.node)
                span.set_attribute("venom.beat", beat)
            features = self._features()
            injections = list(self._injections)
            genome = state.genome
            for command, _ in injections:
                genome = inject_data(genome, anoms=command.anoms, ml_weight=command.ml_weight)
            genome = apply_mode(genome, features.theta)  # F-ARB-6
            view = GenomeView(R=genome.R, B=genome.B, E=genome.E, O=genome.O, risk_anoms=genome.risk_anoms,
                              ml_weight=genome.ml_weight)
            pulse = PulseV1(
                node=self.node, beat=beat, t_lambda_s=self.t_lambda_s, period_s=self.period_s, started_at=pulse_time,
                theta=features.theta, metrics_seq=features.metrics_seq, vitals=Vitals(**self.vitals.snapshot()),
            )
            pulse_event = make_event(pulse, source=source, subject=self._beat_subject, event_id=pulse_id,
                                     time=pulse_time)
            # Until the beat is stored, a retry (or a restart) reuses the pulse id, so every event id of the
            # beat stays the same. The pulse is sent with the rest of the beat once its outcome is known.
            self._pulse_ids[beat] = (pulse_id, pulse_time)
            pulse_item = (self._beat_subject, pulse_event)
            flows = await self._ask_organs(beat, features, view, source)
            vector = aggregate_recommendations({o: f.result for o, f in flows.items()}, genome)  # F-ARB-2
            decision = decide(vector)  # F-ARB-3
            balance = flows["balance"].result
            gains = PidGains(balance.kp, balance.ki, balance.kd) if isinstance(balance, BalanceResult) else PidGains()
            # F-ARB-4 on a scratch copy of the PID: the state changes from the genome event.
            scratch = GenomicPid(state.pid.integral, state.pid.previous_error)
            step = scratch.step(self.t_lambda_s, self.period_s, gains, self.settings.t_threshold_s)
            evolved = evolve(genome, step.delta_o, vector.threat)  # F-ARB-5
            failed = failed_organs({o: f.result for o, f in flows.items()})
            adjustments: list[str] = []
            if decision.action == "APPLY_OPTIMIZE":
                adjustments = list(getattr(flows["optimize"].result, "adjustments", []))
            elif decision.action == "APPLY_BALANCE":
                b = flows["balance"].result
                adjustments = [b.mode, b.conservation] if isinstance(b, BalanceResult) else []
            decision_payload = DecisionV1(
                node=self.node, beat=beat, action=decision.action, vector=vector, reason=decision.reason,
                evidence={"anoms": features.anoms, "anomaly_level": features.anomaly_level,
                          "risk_anoms": genome.risk_anoms, "theta": features.theta,
                          "failed_organs": ",".join(failed) or None,
                          "model_version": getattr(flows["entropy"].result, "model_version", None)},
                adjustments=adjustments,
            )
            decision_event = make_event(decision_payload, source=source, subject=self._decision_subject,
                                        event_id=derived_event_id(pulse_id, "decision"), time=pulse_time)
            genome_payload = GenomeV1(
                node=self.node, beat=beat,
                weights=GenomeWeights(R=evolved.R, B=evolved.B, E=evolved.E, O=evolved.O), mode=evolved.mode,
                risk_anoms=evolved.risk_anoms, ml_weight=evolved.ml_weight,
                pid=PidState(error=step.error, integral=step.integral, previous_error=step.previous_error,
                             output=step.output, delta_o=step.delta_o, delta_v=step.delta_v),
                e_feedback_t=evolved.e_feedback_t, metrics_id=metrics_id,
            )
            items: list[tuple[str, Envelope[Any]]] = [pulse_item] + [
                (self._flow_subjects[organ],
                 make_event(flows[organ], source=source, subject=self._flow_subjects[organ],
                            event_id=derived_event_id(pulse_id, f"flow.{organ}"), time=pulse_time))
                for organ in ORGANS
            ]
            items.append((self._decision_subject, decision_event))
            items.append((self._genome_subject,
                          make_event(genome_payload, source=source, subject=self._genome_subject,
                                     event_id=derived_event_id(pulse_id, "genome"), time=pulse_time)))
            if decision.action in ("QUARANTINE", "ALERT"):  # F-ARB-8
                alert = AlertV1(node=self.node, beat=beat, action=decision.action, threat=vector.threat,
                                reason=decision.reason, decision_id=decision_event.id)
                items.append((self._alert_subject,
                              make_event(alert, source=source, subject=self._alert_subject,
                                         event_id=derived_event_id(pulse_id, "alert"), time=pulse_time)))
            batched = self._atomic
            futures = [await self._send_batch(items)] if batched else await self._send(items)
        # The next beat starts from this one's outcome; the stored state (self.state) follows at commit.
        state.apply(genome_payload, 0)
        del self._injections[: len(injections)]
        self.beats_started += 1
        return PendingBeat(
            started=started, items=items, futures=futures, genome=genome_payload,
            decision_event=decision_event, injections=injections, theta=features.theta,
            metrics_seq=features.metrics_seq, committed=asyncio.get_running_loop().create_future(),
            batched=batched,
        )

    async def _send_batch(self, items: list[tuple[str, Envelope[Any]]]) -> asyncio.Future[Any]:
        """Send a beat's events as one JetStream atomic batch (one ack: stored all or none, see
        ``Bus.send_batch``); without tracing, without spans."""
        assert self._ctx is not None
        return await self._ctx.bus.send_batch(items, only_recorded_spans=True)

    async def _send(self, items: list[tuple[str, Envelope[Any]]]) -> list[asyncio.Future[Any]]:
        """Send events to JetStream (one ack future each, see ``Bus.send_many``); without tracing, without
        a span each and with ``Nats-Msg-Id`` as their only header."""
        assert self._ctx is not None
        return await self._ctx.bus.send_many(items, only_recorded_spans=True)

    async def finish_beat(self, pending: PendingBeat) -> BeatOutcome:
        """Wait until every event of the beat is stored, then commit: the stored state, the quarantine
        mark, metrics and snapshot.

        With atomic batches on, the beat was sent as one batch. If its ack does not come (NATS away, a lost ack) or the
        batch is refused, the same events are sent again one by one (``send_many``), never as a batch:
        the server refuses a whole batch holding a message id it has stored, whereas one by one it
        drops each copy it has and acks it with the stored sequence. So the events end up stored once,
        whether the first batch was stored, refused, or is stored while the resend is under way (then
        the resent copies are duplicates; or a resent copy is stored first and the batch is refused)."""
        assert self._ctx is not None and self._quarantine_kv is not None
        bus = self._ctx.bus
        decision, genome = pending.decision, pending.genome
        delay = 0.1
        while True:
            try:
                if not pending.futures:  # the last resend could not be sent (NATS away): send again
                    pending.futures = await self._send(pending.items)
                acks = await asyncio.wait_for(asyncio.gather(*pending.futures), self.settings.publish_timeout_s)
                genome_seq = pending.genome_seq(acks)
                if decision.action == "QUARANTINE":
                    await self._mark_quarantined(decision.beat, decision.vector.threat, decision.reason,
                                                 pending.decision_event.id)
                break
            except BUS_ERRORS as exc:
                _cancel(pending.futures)
                PUBLISH_FAILURES.inc()
                refused = isinstance(exc, nats.js.errors.APIError)
                if refused and pending.batched:
                    # The server answered (it is there): resend one by one at once. A stream not allowing
                    # atomic publish (err_code 10174) would refuse every batch: stop sending batches.
                    if exc.err_code == 10174 and self._atomic:
                        self._atomic = False
                        log.warning("stream %s refuses atomic batches; sending events one by one", EVENTS.name)
                    log.info("beat %d: batch refused (%s); sending its events one by one", pending.beat, exc)
                else:
                    log.warning("beat %d not stored (%s); sending the same events again", pending.beat, exc)
                    await asyncio.sleep(delay)
                    delay = min(delay * 2, 5.0)
                pending.batched = False
                pending.futures = []
        bus.count_stored(pending.items)
        # --- commit -----------------------------------------------------------------------------
        self.state.apply(genome, genome_seq)
        self._pulse_ids.pop(pending.beat, None)
        for _, done in pending.injections:
            INJECTIONS.labels("applied").inc()
            if not done.done():
                done.set_result(True)
        elapsed = time.perf_counter() - pending.started
        self.vitals.record(elapsed, missed_deadline=elapsed > self.period_s * self._depth)
        self.beats_done += 1
        BEATS.inc()
        BEAT_SECONDS.observe(elapsed)
        counter = self._decisions.get(decision.action)
        if counter is None:
            counter = self._decisions[decision.action] = DECISIONS.labels(decision.action)
        counter.inc()
        if pending.theta is not None:
            THETA.set(pending.theta)
        weights = genome.weights
        for base, gauge in self._genome_weights.items():
            gauge.set(getattr(weights, base))
        if self.state.beat % self.settings.snapshot_every == 0 and self._store is not None:
            await self._store.save(self.state)
        outcome = BeatOutcome(beat=genome.beat, action=decision.action, delta_v=genome.pid.delta_v,
                              delta_t=genome.pid.error)
        self.decision_counts[decision.action] = self.decision_counts.get(decision.action, 0) + 1
        self.last_outcome = outcome
        self.delta_v_total += genome.pid.delta_v
        if self.beat_log is not None:
            self.beat_log.append((genome.beat, decision.action, pending.metrics_seq))
        if self.stored_event_ids is not None:
            self.stored_event_ids.extend(e.id for subj, e in pending.items if not subj.startswith("venom.alert."))
        if not pending.committed.done():
            pending.committed.set_result(outcome)
        return outcome

    async def _mark_quarantined(self, beat: int, threat: float, reason: str, decision_id: str) -> None:
        """F-ARB-8: the node is quarantined until a person releases it (the first decision's time is kept)."""
        try:
            await self._quarantine_kv.get(self.node)
            return
        except Exception:  # noqa: BLE001 - KeyNotFoundError: not quarantined yet
            pass
        record = {"node": self.node, "since": datetime.now(UTC).isoformat(), "beat": beat, "threat": threat,
                  "reason": reason, "decision_id": decision_id}
        await self._quarantine_kv.put(self.node, canonical_dumps(record))
        log.warning("node %s quarantined at beat %d: %s", self.node, beat, reason)


async def quarantine_status(bus: Any, node: str) -> dict[str, Any] | None:
    """Is node X quarantined, since when, why (None when it is not)."""
    kv = await kv_bucket(bus, QUARANTINE_BUCKET, history=10)
    try:
        entry = await kv.get(node)
    except Exception:  # noqa: BLE001
        return None
    if not entry.value:  # a released node's key is deleted
        return None
    value = strict_loads(entry.value)
    return value if isinstance(value, dict) else None
