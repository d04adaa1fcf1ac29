"""The parallel wave executor (F-HW-3, seed 004 "ParallelWaveExecutor").

Tasks with dependencies form a directed acyclic graph (networkx); its topological
*generations* are the waves: wave 0 holds the tasks without dependencies, wave k the tasks
whose last dependency is in wave k − 1. The tasks of one wave run in parallel — in worker
processes for CPU-bound Python (``kind="process"``, the default), or threads for I/O-bound
work (``kind="thread"``) — and a wave starts when the previous one has finished.

Public API (used by :class:`~venom_omega.omega_arbiter.OmegaArbiter`, ``venom benchmark`` and
the orchestrator's ``wave`` task type)::

    execute(tasks: list[WaveTask], workers: int, theta: float | None = None, *,
            kind="process", progress=None, theta_source=None) -> WaveReport
    plan_waves(tasks) -> list[list[str]]          # validation + waves, nothing run
    throttled_workers(workers, theta) -> int      # the θ throttle
    WaveExecutor(workers, kind=...)               # a reusable pool: .run(tasks, theta) -> WaveReport

* **Bad input** (checked before anything runs; nothing is run half-way): duplicate task id,
  a dependency on an unknown task, a cycle (named), workers < 1, θ outside [0, 1], a
  function that cannot be sent to a worker process → :class:`WaveInputError` (subclasses
  :class:`UnknownDependencyError`, :class:`DependencyCycleError`).
* **Throttling by θ**: the worker count used for a wave is ``throttled_workers(workers, θ)``
  (θ ≥ 0.7 all, BALANCE ¾, TRANSITION ½, UNWRAP 1 — rounded up, at least 1). θ is the
  ``theta`` argument, or read from ``theta_source()`` before every wave (e.g. a
  :class:`~venom_omega.monitor.ThetaMonitor`); θ unknown (None) means no throttling.
* **Failure**: a task that raises is ``failed`` (its error in the report); every task that
  depends on it, directly or not, is ``skipped`` (never run) with the failed task named.
  Independent tasks go on.
* **Progress**: ``progress(event)`` is called after each task finishes or is skipped.
"""

from __future__ import annotations

import math
import multiprocessing
import os
import pickle
import sys
import time
import traceback
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import FIRST_COMPLETED, Executor, Future, ProcessPoolExecutor, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from typing import Any, Literal

import networkx as nx

ExecutorKind = Literal["process", "thread"]
TaskStatus = Literal["ok", "failed", "skipped"]


class WaveInputError(ValueError):
    """The task graph or a parameter cannot be executed; nothing was run."""


class UnknownDependencyError(WaveInputError):
    pass


class DependencyCycleError(WaveInputError):
    pass


@dataclass(frozen=True)
class WaveTask:
    """One task: ``fn(*args, **kwargs)`` after every task in ``depends_on`` succeeded.

    For ``kind="process"`` the function must be importable by name (a module-level function),
    and its arguments and result picklable.
    """

    id: str
    fn: Callable[..., Any]
    args: tuple[Any, ...] = ()
    kwargs: Mapping[str, Any] = field(default_factory=dict)
    depends_on: tuple[str, ...] = ()


@dataclass(frozen=True)
class TaskOutcome:
    id: str
    status: TaskStatus
    wave: int
    result: Any = None
    error: str | None = None
    #: the failed task that caused a skip
    skipped_because: str | None = None
    duration_s: float = 0.0


@dataclass(frozen=True)
class WaveTiming:
    index: int
    tasks: tuple[str, ...]
    workers: int
    theta: float | None
    duration_s: float


@dataclass(frozen=True)
class WaveReport:
    outcomes: dict[str, TaskOutcome]
    waves: list[WaveTiming]
    workers_requested: int
    kind: ExecutorKind
    elapsed_s: float

    @property
    def ok(self) -> bool:
        return all(o.status == "ok" for o in self.outcomes.values())

    def with_status(self, status: TaskStatus) -> list[str]:
        return [tid for tid, o in self.outcomes.items() if o.status == status]

    @property
    def failed(self) -> list[str]:
        return self.with_status("failed")

    @property
    def skipped(self) -> list[str]:
        return self.with_status("skipped")

    def to_json(self) -> dict[str, object]:
        return {
            "ok": self.ok, "kind": self.kind, "workers_requested": self.workers_requested,
            "elapsed_s": self.elapsed_s,
            "waves": [{"index": w.index, "tasks": list(w.tasks), "workers": w.workers, "theta": w.theta,
                       "duration_s": w.duration_s} for w in self.waves],
            "tasks": {tid: {"status": o.status, "wave": o.wave, "error": o.error,
                            "skipped_because": o.skipped_because, "duration_s": o.duration_s}
                      for tid, o in self.outcomes.items()},
        }


@dataclass(frozen=True)
class ProgressEvent:
    task: TaskOutcome
    done: int
    total: int


# --- validation and planning (pure) -----------------------------------------------------------


def require_workers(workers: int) -> int:
    if isinstance(workers, bool) or not isinstance(workers, int) or workers < 1:
        raise WaveInputError(f"workers (N) must be an integer ≥ 1, got {workers!r}")
    return workers


def require_theta(theta: float | None) -> float | None:
    if theta is None:
        return None
    if isinstance(theta, bool) or not isinstance(theta, (int, float)) or not math.isfinite(theta) \
            or not 0.0 <= theta <= 1.0:
        raise WaveInputError(f"θ (theta) must be in [0, 1], got {theta!r}")
    return float(theta)


def build_graph(tasks: Sequence[WaveTask]) -> nx.DiGraph:
    """The dependency DAG (edge dependency → dependent); refuses duplicates, unknown ids, cycles."""
    graph: nx.DiGraph = nx.DiGraph()
    for task in tasks:
        if not isinstance(task, WaveTask):
            raise WaveInputError(f"expected WaveTask, got {type(task).__name__}")
        if not isinstance(task.id, str) or not task.id:
            raise WaveInputError(f"task id must be a non-empty string, got {task.id!r}")
        if task.id in graph:
            raise WaveInputError(f"duplicate task id {task.id!r}")
        if not callable(task.fn):
            raise WaveInputError(f"task {task.id!r}: fn is not callable")
        graph.add_node(task.id)
    for task in tasks:
        for dep in task.depends_on:
            if dep not in graph:
                raise UnknownDependencyError(f"task {task.id!r} depends on unknown task {dep!r}")
            graph.add_edge(dep, task.id)
    try:
        cycle = nx.find_cycle(graph)
    except nx.NetworkXNoCycle:
        return graph
    names = " → ".join([u for u, _ in cycle] + [cycle[0][0]])
    raise DependencyCycleError(f"dependency cycle: {names}")


def plan_waves(tasks: Sequence[WaveTask]) -> list[list[str]]:
    """The waves (topological generations) in task order within a wave; nothing is run."""
    graph = build_graph(tasks)
    order = {t.id: i for i, t in enumerate(tasks)}
    return [sorted(gen, key=order.__getitem__) for gen in nx.topological_generations(graph)]


def throttled_workers(workers: int, theta: float | None) -> int:
    """Workers for a wave at health θ: all from θ ≥ 0.7 (WRAP/OPTIMIZE), ¾ in BALANCE
    (0.5–0.7), ½ in TRANSITION (0.3–0.5), 1 in UNWRAP (< 0.3); θ None: all."""
    n = require_workers(workers)
    t = require_theta(theta)
    if t is None or t >= 0.7:
        return n
    if t >= 0.5:
        return max(1, math.ceil(0.75 * n))
    if t >= 0.3:
        return max(1, math.ceil(0.5 * n))
    return 1


def _check_picklable(tasks: Sequence[WaveTask]) -> None:
    for task in tasks:
        try:
            pickle.dumps((task.fn, task.args, dict(task.kwargs)))
        except Exception as exc:  # noqa: BLE001 — any pickling failure is the same bad input
            raise WaveInputError(
                f"task {task.id!r} cannot be sent to a worker process ({exc}); use a module-level "
                "function with picklable arguments, or kind='thread'") from exc


# --- running -----------------------------------------------------------------------------------


def _timed_call(fn: Callable[..., Any], args: tuple[Any, ...], kwargs: Mapping[str, Any]) -> tuple[Any, float]:
    start = time.perf_counter()
    result = fn(*args, **kwargs)
    return result, time.perf_counter() - start


def _mp_context() -> multiprocessing.context.BaseContext:
    # fork is unsafe in a process with threads (an asyncio loop, NATS clients); forkserver on
    # Linux starts each worker from a clean server process, spawn elsewhere.
    method = "forkserver" if sys.platform.startswith("linux") else "spawn"
    return multiprocessing.get_context(method)


class WaveExecutor:
    """A pool of ``workers`` processes (or threads) reused across :meth:`run` calls."""

    def __init__(self, workers: int, *, kind: ExecutorKind = "process") -> None:
        self.workers = require_workers(workers)
        if kind not in ("process", "thread"):
            raise WaveInputError(f"kind must be 'process' or 'thread', got {kind!r}")
        self.kind: ExecutorKind = kind
        self._pool: Executor | None = None

    def __enter__(self) -> WaveExecutor:
        self._ensure_pool()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _ensure_pool(self) -> Executor:
        if self._pool is None:
            if self.kind == "process":
                self._pool = ProcessPoolExecutor(max_workers=self.workers, mp_context=_mp_context())
            else:
                self._pool = ThreadPoolExecutor(max_workers=self.workers, thread_name_prefix="venom-wave")
        return self._pool

    def warm_up(self) -> None:
        """Start every worker now (so a timed run does not pay for process start-up)."""
        pool = self._ensure_pool()
        list(pool.map(time.sleep, [0.05] * self.workers))

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None

    def run(
        self, tasks: Sequence[WaveTask], theta: float | None = None, *,
        progress: Callable[[ProgressEvent], None] | None = None,
        theta_source: Callable[[], float | None] | None = None,
    ) -> WaveReport:
        tasks = list(tasks)
        waves = plan_waves(tasks)  # validates: unknown dependency, cycle, duplicates
        theta = require_theta(theta)
        if self.kind == "process":
            _check_picklable(tasks)
        by_id = {t.id: t for t in tasks}
        position = {t.id: i for i, t in enumerate(tasks)}
        graph = build_graph(tasks)
        outcomes: dict[str, TaskOutcome] = {}
        timings: list[WaveTiming] = []
        total = len(tasks)
        started = time.perf_counter()

        def record(outcome: TaskOutcome) -> None:
            outcomes[outcome.id] = outcome
            if progress is not None:
                progress(ProgressEvent(outcome, len(outcomes), total))

        pool = self._ensure_pool() if tasks else None
        for index, wave in enumerate(waves):
            wave_theta = theta
            if theta_source is not None:
                read = theta_source()
                wave_theta = require_theta(read) if read is not None else theta
            n = throttled_workers(self.workers, wave_theta)
            runnable = [tid for tid in wave if tid not in outcomes]  # skipped ones are already recorded
            wave_start = time.perf_counter()
            self._run_wave(pool, [by_id[t] for t in runnable], n, index, record)
            timings.append(WaveTiming(index, tuple(wave), n, wave_theta, time.perf_counter() - wave_start))
            for tid in runnable:
                if outcomes[tid].status == "failed":
                    for dependent in sorted(nx.descendants(graph, tid), key=position.__getitem__):
                        if dependent not in outcomes:
                            record(TaskOutcome(dependent, "skipped", _wave_of(waves, dependent),
                                               skipped_because=tid))
        ordered = {t.id: outcomes[t.id] for t in tasks}
        return WaveReport(ordered, timings, self.workers, self.kind, time.perf_counter() - started)

    @staticmethod
    def _run_wave(pool: Executor | None, wave: list[WaveTask], n: int, index: int,
                  record: Callable[[TaskOutcome], None]) -> None:
        """Run the wave with at most ``n`` tasks in flight (the θ throttle)."""
        assert pool is not None or not wave
        pending = list(wave)
        in_flight: dict[Future[tuple[Any, float]], WaveTask] = {}
        while pending or in_flight:
            while pending and len(in_flight) < n:
                task = pending.pop(0)
                in_flight[pool.submit(_timed_call, task.fn, task.args, dict(task.kwargs))] = task  # type: ignore[union-attr]
            done, _ = wait(in_flight, return_when=FIRST_COMPLETED)
            for fut in done:
                task = in_flight.pop(fut)
                try:
                    result, duration = fut.result()
                except Exception as exc:  # noqa: BLE001 — a task's own failure is reported, not raised
                    detail = "".join(traceback.format_exception_only(type(exc), exc)).strip()
                    record(TaskOutcome(task.id, "failed", index, error=detail))
                else:
                    record(TaskOutcome(task.id, "ok", index, result=result, duration_s=duration))


def _wave_of(waves: list[list[str]], task_id: str) -> int:
    return next(i for i, wave in enumerate(waves) if task_id in wave)


def execute(
    tasks: Sequence[WaveTask], workers: int, theta: float | None = None, *,
    kind: ExecutorKind = "process",
    progress: Callable[[ProgressEvent], None] | None = None,
    theta_source: Callable[[], float | None] | None = None,
) -> WaveReport:
    """Run ``tasks`` wave by wave with up to ``workers`` in parallel (a pool for this call only).

    Everything is validated before the pool starts: a bad graph or parameter raises
    :class:`WaveInputError` and nothing runs.
    """
    require_workers(workers)
    require_theta(theta)
    tasks = list(tasks)
    plan_waves(tasks)
    if kind == "process":
        _check_picklable(tasks)
    with WaveExecutor(min(workers, max(1, len(tasks))), kind=kind) as executor:
        report = executor.run(tasks, theta, progress=progress, theta_source=theta_source)
    return WaveReport(report.outcomes, report.waves, workers, report.kind, report.elapsed_s)


def default_workers() -> int:
    """This process's usable CPUs (affinity), else the CPU count."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:
        return max(1, os.cpu_count() or 1)
