"""OmegaArbiter (seed 004): runs waves of tasks, through the wave executor when Ω is enabled.

A library class (the running arbiter service, services/arbiter, is not changed). With
``enable_omega=False`` — the backward-compatible path — tasks still run in dependency order,
but one at a time in this process (no pool, no throttling). With ``enable_omega=True`` each
call runs the waves in parallel through :func:`venom_omega.waves.WaveExecutor` with N
workers (default: this host's N from the hardware profile's capacity model, i.e. its
usable CPUs), throttled by θ — a fixed ``theta`` or ``theta_source()`` (e.g. a running
:class:`~venom_omega.monitor.ThetaMonitor`) read before each wave.

Bad input (cycle, unknown dependency, workers < 1, θ outside [0, 1]) raises
:class:`~venom_omega.waves.WaveInputError` before anything runs, on both paths.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from venom_omega.waves import (
    ExecutorKind,
    ProgressEvent,
    WaveExecutor,
    WaveReport,
    WaveTask,
    default_workers,
    require_theta,
    require_workers,
)


@dataclass(frozen=True)
class OmegaStatus:
    enable_omega: bool
    workers: int
    kind: ExecutorKind
    runs: int
    tasks_ok: int
    tasks_failed: int
    tasks_skipped: int
    last_theta: float | None


class OmegaArbiter:
    def __init__(
        self, *, enable_omega: bool = False, workers: int | None = None, kind: ExecutorKind = "process",
        theta: float | None = None, theta_source: Callable[[], float | None] | None = None,
    ) -> None:
        self.enable_omega = enable_omega
        self.workers = require_workers(workers if workers is not None else default_workers())
        self.kind: ExecutorKind = kind
        self.theta = require_theta(theta)
        self.theta_source = theta_source
        self._runs = 0
        self._counts = {"ok": 0, "failed": 0, "skipped": 0}
        self._last_theta: float | None = self.theta

    def execute_waves(
        self, tasks: Sequence[WaveTask], *, progress: Callable[[ProgressEvent], None] | None = None,
    ) -> WaveReport:
        """Run ``tasks`` wave by wave; the report holds every task's outcome."""
        if self.enable_omega:
            workers, kind, source = self.workers, self.kind, self.theta_source
        else:
            workers, kind, source = 1, "thread", None  # in order, one at a time
        with WaveExecutor(min(workers, max(1, len(tasks))), kind=kind) as executor:
            report = executor.run(tasks, self.theta if self.enable_omega else None,
                                  progress=progress, theta_source=source)
        self._runs += 1
        for outcome in report.outcomes.values():
            self._counts[outcome.status] += 1
        if report.waves:
            self._last_theta = report.waves[-1].theta
        return report

    def status(self) -> OmegaStatus:
        return OmegaStatus(
            enable_omega=self.enable_omega, workers=self.workers if self.enable_omega else 1,
            kind=self.kind if self.enable_omega else "thread", runs=self._runs,
            tasks_ok=self._counts["ok"], tasks_failed=self._counts["failed"], tasks_skipped=self._counts["skipped"],
            last_theta=self._last_theta,
        )
