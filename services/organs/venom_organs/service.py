"""The organ service: answers the arbiter's requests for one organ, in a queue group (F-ORG-5).

Every replica of an organ subscribes, in the queue group ``organ-<organ>``, to two subjects, so
NATS hands each request to exactly one replica of each organ:

* ``venom.organs`` — one request per beat for several organs (``venom.organs.request.v1``); every
  organ service receives it (one queue group per organ) and answers if its organ is named in it;
* ``venom.organ.<organ>`` — a request for this organ alone (``venom.organ.request.v1``).

The reply is a ``venom.flow.v1`` event (FlowResultV1) sent to the request's
reply subject; the arbiter records it. A request that does not validate is
counted and dropped (the arbiter then records an error result at its deadline).

Per request the organ decodes and validates the request, runs the rules, validates the typed
result and replies. A consumer span (child of the arbiter's pulse, from the message's
``traceparent``) is made only when spans can be recorded (``Bus.subscribe(only_recorded_spans=True)``:
an OTLP exporter is configured); otherwise the request is answered without one. After start-up the objects made so
far (torch's, in the entropy organ) are moved out of the garbage collector's view (``gc.freeze``)
so its full collections do not walk them again and again.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import os
import time
from typing import Any

from nats.aio.msg import Msg
from prometheus_client import Counter, Gauge, Histogram

from venom_common.events import Envelope, encode, make_event, subjects
from venom_common.events.payloads import FlowResultV1, OrganBeatRequestV1, OrganError, OrganRequestV1
from venom_common.runner import ServiceContext

from venom_organs.adapters.model_store import ModelStore
from venom_organs.domain.balance import run_balance
from venom_organs.domain.entropy import EntropyMemory, run_entropy
from venom_organs.domain.entropy_model import ThreatScorer
from venom_organs.domain.optimize import run_optimize
from venom_organs.domain.regen import run_regen
from venom_organs.settings import OrganSettings

log = logging.getLogger("venom.organs")

ANSWERED = Counter("venom_organ_requests_total", "Requests answered", ["organ", "outcome"])
COMPUTE = Histogram("venom_organ_compute_seconds", "Time to compute one result", ["organ"],
                    buckets=(0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.05))
MODEL_VERSION = Gauge("venom_entropy_model_info", "Entropy model version served (1 for the current one)", ["version"])


class OrganService:
    def __init__(self, settings: OrganSettings) -> None:
        self.settings = settings
        self.organ = settings.organ
        self.name = f"organ-{settings.organ}"
        self.replica = settings.replica or f"{settings.node_id}-{os.getpid()}"
        self.memory = EntropyMemory()
        self.store = ModelStore(settings.model_dir)
        self.scorer = ThreatScorer()
        self._sub: Any = None
        self._shared_sub: Any = None
        self._reload_task: asyncio.Task[None] | None = None
        self._ctx: ServiceContext | None = None
        self.answered = 0
        # Labelled metric children bound once (a label lookup per request is measurable here).
        self._compute_seconds = COMPUTE.labels(self.organ)
        self._answered = ANSWERED.labels(self.organ, "answered")
        self._flow_subjects: dict[str, str] = {}

    # --- the rules ---------------------------------------------------------------------------

    def compute(self, request: OrganRequestV1 | OrganBeatRequestV1) -> FlowResultV1:
        started = time.perf_counter()
        try:
            if self.organ == "regen":
                result: Any = run_regen(request.features, request.genome)
            elif self.organ == "balance":
                result = run_balance(request.features, request.genome)
            elif self.organ == "entropy":
                result = run_entropy(request.features, request.genome, self.memory, self.scorer)
            else:
                result = run_optimize(request.features, request.genome)
        except Exception as exc:  # noqa: BLE001 - a rule failure is reported as an error result, not a crash
            log.exception("%s failed on beat %d", self.organ, request.beat)
            result = OrganError(error=f"{type(exc).__name__}: {exc}")
        elapsed = time.perf_counter() - started
        self._compute_seconds.observe(elapsed)
        return FlowResultV1(node=request.node, beat=request.beat, organ=self.organ, replica=self.replica,
                            elapsed_ms=elapsed * 1000, result=result)

    # --- the adapter -------------------------------------------------------------------------

    async def start(self, ctx: ServiceContext) -> None:
        self._ctx = ctx
        if self.organ == "entropy":
            self._load_newer_model()
            self._reload_task = asyncio.create_task(self._watch_models(), name="model-reload")
        self._sub = await ctx.bus.subscribe(
            subjects.organ_request(self.organ), self._on_request, queue=f"organ-{self.organ}",
            expected=OrganRequestV1, name=self.name, only_recorded_spans=True,
        )
        self._shared_sub = await ctx.bus.subscribe(
            subjects.ORGANS_REQUEST, self._on_beat_request, queue=f"organ-{self.organ}",
            expected=OrganBeatRequestV1, name=self.name, only_recorded_spans=True,
        )
        gc.freeze()

    def _flow_subject(self, node: str) -> str:
        subject = self._flow_subjects.get(node)
        if subject is None:
            if len(self._flow_subjects) >= 1024:
                self._flow_subjects.clear()
            subject = self._flow_subjects[node] = subjects.flow(node, self.organ)
        return subject

    async def _on_request(self, event: Envelope[Any], msg: Msg) -> None:
        request: OrganRequestV1 = event.data
        if request.organ != self.organ:
            ANSWERED.labels(self.organ, "wrong_organ").inc()
            log.warning("request for organ %s reached %s; ignored", request.organ, self.organ)
            return
        await self._answer(request, msg)

    async def _on_beat_request(self, event: Envelope[Any], msg: Msg) -> None:
        """One request for several organs: answered if this organ is one of them (else not ours)."""
        request: OrganBeatRequestV1 = event.data
        if self.organ not in request.organs:
            return
        await self._answer(request, msg)

    async def _answer(self, request: OrganRequestV1 | OrganBeatRequestV1, msg: Msg) -> None:
        if not msg.reply:
            ANSWERED.labels(self.organ, "no_reply_subject").inc()
            return
        flow = self.compute(request)
        assert self._ctx is not None
        reply = make_event(flow, source=self._ctx.source, subject=self._flow_subject(request.node))
        await msg.respond(encode(reply))
        self.answered += 1
        self._answered.inc()

    def _load_newer_model(self) -> None:
        latest = self.store.latest()
        if latest is not None and latest.version != self.scorer.version:
            self.scorer = ThreatScorer(latest)
            MODEL_VERSION.clear()
            MODEL_VERSION.labels(latest.version).set(1)
            log.info("entropy model %s loaded (w=%.4f, b=%.4f)", latest.version, latest.weight, latest.bias)
        elif latest is None:
            MODEL_VERSION.labels(self.scorer.version).set(1)

    async def _watch_models(self) -> None:
        """F-ML-2: a newer version is served without a restart."""
        while True:
            await asyncio.sleep(self.settings.model_reload_s)
            try:
                self._load_newer_model()
            except Exception:  # noqa: BLE001 - a bad model file never stops the organ
                log.exception("model reload failed; keeping %s", self.scorer.version)

    async def stop(self) -> None:
        if self._reload_task is not None:
            self._reload_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._reload_task
        for sub in (self._shared_sub, self._sub):
            if sub is not None:
                with contextlib.suppress(Exception):
                    await sub.drain()  # answers the requests already received, then unsubscribes

    def ready(self) -> bool:
        return self._sub is not None and self._shared_sub is not None
