"""``venom benchmark``: a measured wave speed-up beside Amdahl's prediction (F-HW-4, F-MATH-5).

The honest version of seed 004's speed-up table. The workload is real CPU-bound Python
(:func:`venom_omega.workloads.spin`) shaped as three waves:

    wave 0   one "prepare" task   (serial)
    wave 1   ``parallel_tasks`` independent tasks   (the parallel part)
    wave 2   one "reduce" task    (serial)

It runs through :class:`~venom_omega.waves.WaveExecutor` (worker processes, warmed up before
timing) with 1, 2, …, ``max_workers`` workers, ``repeats`` times each; the figure per worker
count is the median wall time. From the 1-worker run:

    P_measured = (time of wave 1) / (total time)          — the parallel fraction measured
    S_measured(n) = T(1) / T(n)
    S_Amdahl(n)   = 1 / ((1 − P_measured) + P_measured / n)

Dispatch overhead is counted where it happens (in the wave's time). Beyond the machine's
cores the processes share CPUs (oversubscription) and the measured speed-up stops growing.
No Θ or Λ enters here: those are the seed's model factors (``venom compress``), not measured.
"""

from __future__ import annotations

import os
import platform
import statistics
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime

from venom_omega.mobius import amdahl_speedup
from venom_omega.waves import ProgressEvent, WaveExecutor, WaveInputError, WaveReport, WaveTask, default_workers
from venom_omega.workloads import spin


@dataclass(frozen=True)
class BenchmarkPoint:
    workers: int
    wall_s: float
    wall_runs_s: list[float]
    speedup_measured: float
    speedup_amdahl: float
    efficiency: float
    oversubscribed: bool


@dataclass(frozen=True)
class BenchmarkResult:
    date: str
    host: str
    cpus: int
    parallel_tasks: int
    task_iterations: int
    repeats: int
    parallel_fraction_measured: float
    #: the host's 1-minute load average at the start (other work shares the CPUs)
    load_avg_1m_before: float | None
    points: list[BenchmarkPoint] = field(default_factory=list)
    kind: str = "measurement"

    def to_json(self) -> dict[str, object]:
        return asdict(self)


def wave_workload(parallel_tasks: int, iterations: int) -> list[WaveTask]:
    tasks = [WaveTask("prepare", spin, (iterations,))]
    tasks += [WaveTask(f"part-{i}", spin, (iterations,), depends_on=("prepare",)) for i in range(parallel_tasks)]
    tasks.append(WaveTask("reduce", spin, (iterations,), depends_on=tuple(f"part-{i}" for i in range(parallel_tasks))))
    return tasks


def _timed_run(executor: WaveExecutor, tasks: list[WaveTask],
               progress: Callable[[ProgressEvent], None] | None) -> tuple[float, WaveReport]:
    start = time.perf_counter()
    report = executor.run(tasks, progress=progress)
    wall = time.perf_counter() - start
    if not report.ok:
        raise RuntimeError(f"benchmark workload failed: {report.failed}")
    return wall, report


def run_benchmark(
    *, max_workers: int | None = None, parallel_tasks: int = 8, iterations: int = 2_000_000, repeats: int = 3,
    on_point: Callable[[BenchmarkPoint], None] | None = None,
    progress: Callable[[ProgressEvent], None] | None = None,
) -> BenchmarkResult:
    """Run the workload with 1..max_workers workers; ``progress`` is called for every task of every run."""
    cpus = default_workers()
    load_before = os.getloadavg()[0] if hasattr(os, "getloadavg") else None
    top = max_workers if max_workers is not None else cpus
    if top < 1 or parallel_tasks < 1 or iterations < 1 or repeats < 1:
        raise WaveInputError("max_workers, parallel_tasks, iterations and repeats must all be ≥ 1")
    tasks = wave_workload(parallel_tasks, iterations)
    points: list[BenchmarkPoint] = []
    t1 = p_measured = 0.0
    for n in range(1, top + 1):
        with WaveExecutor(n, kind="process") as executor:
            executor.warm_up()
            runs = [_timed_run(executor, tasks, progress) for _ in range(repeats)]
        walls = [w for w, _ in runs]
        wall = statistics.median(walls)
        if n == 1:
            t1 = wall
            # the parallel part's share of the 1-worker run, median over the repeats
            p_measured = statistics.median(r.waves[1].duration_s / w for w, r in runs)
            p_measured = min(1.0, max(0.0, p_measured))
        s_meas = t1 / wall
        point = BenchmarkPoint(
            workers=n, wall_s=wall, wall_runs_s=walls, speedup_measured=s_meas,
            speedup_amdahl=amdahl_speedup(p_measured, n), efficiency=s_meas / n, oversubscribed=n > cpus,
        )
        points.append(point)
        if on_point is not None:
            on_point(point)
    return BenchmarkResult(
        date=datetime.now(UTC).isoformat(timespec="seconds"), host=f"{platform.machine()} {platform.system()}",
        cpus=cpus, parallel_tasks=parallel_tasks, task_iterations=iterations, repeats=repeats,
        parallel_fraction_measured=p_measured, load_avg_1m_before=load_before, points=points,
    )


def cpu_model() -> str | None:
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as fh:
            for line in fh:
                if line.lower().startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        return None
    return os.uname().machine if hasattr(os, "uname") else None
