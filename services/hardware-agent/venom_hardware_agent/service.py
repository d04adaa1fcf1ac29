"""The hardware agent (F-HW-1, F-HW-2): samples the host (or replays a recorded CSV),
publishes ``MetricsV1`` on ``venom.metrics.<node>`` every interval and the hardware
profile on ``venom.hardware.<node>`` at start and on request.

The tick loop is scheduled on monotonic time (tick k is due at start + k·interval), so
it does not drift; when sampling and publishing overrun, the ticks already missed are
skipped and counted (``venom_hw_sample_overruns_total``). In replay mode an overrun
delays the next row instead of dropping it: every playable row of the file is
published once per pass, in order, and a row whose publish failed is retried as it
was built, so two replays of one file publish the same series.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
from collections import deque
from datetime import datetime, timedelta
from typing import Any, Protocol

from fastapi import HTTPException
from nats.aio.msg import Msg
from pydantic import BaseModel

from venom_common.events import Envelope, encode, make_event, subjects
from venom_common.events.payloads import HardwareProfileV1, MetricsV1
from venom_common.runner import ServiceContext
from venom_hardware_agent import instruments as ins
from venom_hardware_agent.adapters.profile_scanner import ProfileScanner
from venom_hardware_agent.adapters.psutil_sampler import PsutilSampler
from venom_hardware_agent.adapters.replay_csv import ReplayReport, ReplayTable, read_replay
from venom_hardware_agent.domain.samples import HostReading, host_metrics, replay_metrics
from venom_hardware_agent.domain.schedule import next_tick
from venom_hardware_agent.settings import HardwareAgentSettings
from venom_hardware_agent.tasks import TaskWorker

log = logging.getLogger("venom.hardware")


class AnomalyDetector(Protocol):
    """The seam for the streaming detector (F-ML-3): anomalies counted in one sample's series."""

    name: str

    def update(self, series: dict[str, float]) -> int: ...


class ThetaPoint(BaseModel):
    seq: int
    sampled_at: datetime
    theta: float | None
    h_cpu: float | None
    h_mem: float | None
    h_term: float | None
    anoms: int


class ThetaHistory(BaseModel):
    """GET /theta: the latest sample and the last ``history_size`` θ points (F-HW-2 monitor)."""

    node: str
    source: str
    latest: MetricsV1 | None
    history: list[ThetaPoint]


class ReplayFileSummary(BaseModel):
    """What the replay reader found in the file (docs/HARDWARE.md "Bad input")."""

    format: str
    columns: list[str]
    rows_read: int
    rows_kept: int
    skipped: dict[str, int]
    gaps: int
    step_s: float | None
    summary: str


class ReplayStatus(BaseModel):
    """GET /replay: how far the replay is."""

    file: str
    rows_played: int
    passes_completed: int
    finished: bool
    report: ReplayFileSummary


class HardwareAgent:
    name = "hardware-agent"

    def __init__(
        self,
        settings: HardwareAgentSettings,
        *,
        detector: AnomalyDetector | None = None,
        sampler: PsutilSampler | None = None,
        scanner: ProfileScanner | None = None,
    ) -> None:
        self.settings = settings
        self.node = settings.node_id
        self.detector = detector
        self._sampler = sampler
        self._scanner = scanner or ProfileScanner(probe_torch=settings.probe_torch)
        self._ctx: ServiceContext | None = None
        self._stop = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._request_sub: Any = None
        self.task_worker: TaskWorker | None = None  # issue 5: this peer's task worker on venom.task.<node>
        self._profile_lock = asyncio.Lock()
        self._started = False
        self.history: deque[MetricsV1] = deque(maxlen=settings.history_size)
        # live sampling
        self._previous: HostReading | None = None
        self._seq = 0
        # replay
        self.replay: ReplayTable | None = None
        self._row_index = 0
        self._pass = 0
        self._pending: MetricsV1 | None = None
        self.rows_played = 0
        self.replay_finished = asyncio.Event()
        # counts (also in Prometheus)
        self.published = 0
        self.overruns = 0
        self.publish_failures = 0

    # --- Service protocol ------------------------------------------------------------------------

    async def start(self, ctx: ServiceContext) -> None:
        self._ctx = ctx
        s = self.settings
        if s.replay_file is not None:
            # Read and check the whole file first: a bad file stops the agent here, naming the line.
            self.replay = await asyncio.to_thread(
                read_replay, s.replay_file, fmt=s.replay_format, metric=s.replay_metric,
                on_bad_row=s.replay_bad_rows, step_s=s.replay_step_s, gap_factor=s.replay_gap_factor,
            )
            report = self.replay.report
            for reason, count in report.skipped.items():
                ins.REPLAY_ROWS_SKIPPED.labels(reason).inc(count)
            ins.REPLAY_GAPS.inc(report.gaps)
            log.info("replay loaded: %s", report.summary())
        elif self._sampler is None:
            self._sampler = await asyncio.to_thread(PsutilSampler, s.disk_path)
        if self.detector is None and s.detector:
            # F-ML-3: the detector's windows are durations; a replay's samples are the file's step apart.
            from venom_hardware_agent.detector.registry import detector_by_name

            step = self.replay.report.step_s if self.replay is not None else s.interval_s
            self.detector = detector_by_name(s.detector, interval_s=step)
            log.info("anomaly detector %s on %s-second samples", self.detector.name, step)
        await self.publish_profile()  # F-HW-1: at start
        self._request_sub = await ctx.bus.nc.subscribe(subjects.hardware_request(self.node),
                                                       cb=self._on_profile_request)
        ctx.app.add_api_route("/theta", self.theta_history, methods=["GET"], response_model=ThetaHistory,
                              tags=["hardware"])
        ctx.app.add_api_route("/replay", self.replay_status, methods=["GET"], response_model=ReplayStatus,
                              tags=["hardware"])
        self._task = asyncio.create_task(self._run_ticks(), name="hardware-agent:ticks")
        self.task_worker = TaskWorker(ctx.bus, self.node, ctx.source)
        await self.task_worker.start()
        self._started = True

    async def stop(self) -> None:
        self._stop.set()
        if self._task is not None:
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        if self._request_sub is not None:
            with contextlib.suppress(Exception):
                await self._request_sub.unsubscribe()
        if self.task_worker is not None:
            await self.task_worker.stop(self.settings.shutdown_grace_s / 2)
        self._started = False
        log.info("hardware agent stopped: %d samples published, %d ticks overrun, %d publish failures%s",
                 self.published, self.overruns, self.publish_failures,
                 f"; replay: {self.rows_played} rows played" if self.replay else "")

    def ready(self) -> bool:
        return self._started

    # --- the tick loop ---------------------------------------------------------------------------

    async def _run_ticks(self) -> None:
        loop = asyncio.get_running_loop()
        interval = self.settings.interval_s
        start = loop.time()
        tick = 0
        while not self._stop.is_set():
            try:
                more = await self._emit_one()
            except Exception:  # noqa: BLE001 - the loop outlives one bad sample
                log.exception("sample failed")
                more = True
            if not more:
                return
            nxt = next_tick(start=start, done_tick=tick, now=loop.time(), interval=interval)
            tick, due = nxt.tick, nxt.due
            if nxt.missed:
                self.overruns += nxt.missed
                ins.SAMPLE_OVERRUNS.inc(nxt.missed)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stop.wait(), max(0.0, due - loop.time()))

    async def _emit_one(self) -> bool:
        """Sample (or take the next replay row) and publish. False when a replay has ended."""
        if self.replay is not None:
            return await self._emit_replay_row()
        assert self._sampler is not None
        # Inline, not in a worker thread: a read is well under a millisecond on an idle host, and the
        # thread hand-off cost more than the read itself at 10 ms intervals on a busy 2-core machine.
        reading = self._sampler.read()
        sample = host_metrics(reading, self._previous, node=self.node, seq=self._seq,
                              interval_s=self.settings.interval_s)
        self._previous = reading
        self._seq += 1
        await self._publish_sample(self._with_anomalies(sample))
        return True

    async def _emit_replay_row(self) -> bool:
        assert self.replay is not None
        rows = self.replay.rows
        if self._pending is None:
            if self._row_index >= len(rows):
                self._pass += 1
                log.info("replay pass %d finished: %s", self._pass,
                         _play_summary(self.replay.report, self.rows_played))
                if not self.settings.replay_loop:
                    self.replay_finished.set()
                    return False
                self._row_index = 0
            row = rows[self._row_index]
            # A looping replay shifts each pass by the file's span plus one step, so time keeps going forward.
            step = self.replay.report.step_s or self.settings.interval_s
            span = rows[-1].timestamp - rows[0].timestamp + timedelta(seconds=step)
            sample = replay_metrics(row, node=self.node, seq=self._pass * len(rows) + self._row_index,
                                    interval_s=self.settings.interval_s,
                                    sampled_at=row.timestamp + self._pass * span)
            self._pending = self._with_anomalies(sample)
        if await self._publish_sample(self._pending):
            self._pending = None
            self._row_index += 1
            self.rows_played += 1
        return True

    def _with_anomalies(self, sample: MetricsV1) -> MetricsV1:
        if self.detector is None:
            return sample
        try:
            anoms = int(self.detector.update(dict(sample.series)))
        except Exception:  # noqa: BLE001 - a detector failure must not stop sampling; the sample says no detector
            log.exception("detector %s failed on sample %d", self.detector.name, sample.seq)
            return sample
        ins.ANOMALIES.inc(max(0, anoms))
        level = getattr(self.detector, "level", None)  # graded level behind anoms (F-ML-3), when the detector has one
        return MetricsV1.model_validate({**sample.model_dump(), "anoms": anoms, "detector": self.detector.name,
                                         "anomaly_level": None if level is None else float(level)})

    async def _publish_sample(self, sample: MetricsV1) -> bool:
        assert self._ctx is not None
        subject = subjects.metrics(self.node)
        event = make_event(sample, source=self._ctx.source, subject=subject)
        try:
            await self._ctx.bus.publish(subject, event)
        except Exception as exc:  # noqa: BLE001 - NATS away: count it, the next tick tries again
            self.publish_failures += 1
            ins.PUBLISH_FAILURES.inc()
            log.warning("publishing sample %d failed: %s", sample.seq, exc)
            return False
        self.published += 1
        ins.SAMPLES_PUBLISHED.labels(sample.source).inc()
        self.history.append(sample)
        t = sample.theta
        ins.THETA.set(t.theta if t.theta is not None else math.nan)
        for name, value in (("h_cpu", t.h_cpu), ("h_mem", t.h_mem), ("h_term", t.h_term)):
            ins.HEADROOM.labels(name).set(value if value is not None else math.nan)
        return True

    # --- the profile (F-HW-1) --------------------------------------------------------------------

    async def scan_profile(self) -> Envelope[HardwareProfileV1]:
        assert self._ctx is not None
        async with self._profile_lock:
            profile = await asyncio.to_thread(self._scanner.scan, self.node)
        return make_event(profile, source=self._ctx.source, subject=subjects.hardware(self.node))

    async def publish_profile(self) -> Envelope[HardwareProfileV1]:
        assert self._ctx is not None
        event = await self.scan_profile()
        try:
            await self._ctx.bus.publish(subjects.hardware(self.node), event)
        except Exception as exc:  # noqa: BLE001
            ins.PUBLISH_FAILURES.inc()
            log.warning("publishing the hardware profile failed: %s", exc)
        return event

    async def _on_profile_request(self, msg: Msg) -> None:
        """Any message on ``venom.hardware.<node>.request`` (its body is ignored): publish and reply."""
        try:
            event = await self.publish_profile()
            if msg.reply:
                await msg.respond(encode(event))
        except Exception:  # noqa: BLE001 - one failed request must not end the subscription
            log.exception("answering a hardware profile request failed")

    # --- HTTP ------------------------------------------------------------------------------------

    async def theta_history(self) -> ThetaHistory:
        points = [
            ThetaPoint(seq=m.seq, sampled_at=m.sampled_at, theta=m.theta.theta, h_cpu=m.theta.h_cpu,
                       h_mem=m.theta.h_mem, h_term=m.theta.h_term, anoms=m.anoms)
            for m in self.history
        ]
        return ThetaHistory(node=self.node, source="replay" if self.replay else "psutil",
                            latest=self.history[-1] if self.history else None, history=points)

    async def replay_status(self) -> ReplayStatus:
        if self.replay is None:
            raise HTTPException(status_code=404, detail="not replaying: VENOM_REPLAY_FILE is not set")
        report = self.replay.report
        return ReplayStatus(
            file=report.path, rows_played=self.rows_played, passes_completed=self._pass,
            finished=self.replay_finished.is_set(),
            report=ReplayFileSummary(
                format=report.format, columns=list(report.columns), rows_read=report.rows_read,
                rows_kept=report.rows_kept, skipped=report.skipped, gaps=report.gaps, step_s=report.step_s,
                summary=report.summary(),
            ),
        )


def _play_summary(report: ReplayReport, rows_played: int) -> str:
    return f"{rows_played} rows played in total; file: {report.summary()}"
