"""The wave executor (F-HW-3): waves, parallelism, throttling by θ, failures, bad input."""

from __future__ import annotations

import threading
import time

import pytest
from venom_omega.waves import (
    DependencyCycleError,
    ProgressEvent,
    UnknownDependencyError,
    WaveExecutor,
    WaveInputError,
    WaveTask,
    execute,
    plan_waves,
    throttled_workers,
)
from venom_omega.workloads import add, fail, spin


def diamond() -> list[WaveTask]:
    return [
        WaveTask("a", spin, (1000,)),
        WaveTask("b", spin, (1000,), depends_on=("a",)),
        WaveTask("c", spin, (1000,), depends_on=("a",)),
        WaveTask("d", add, (1, 2), depends_on=("b", "c")),
    ]


def test_plan_is_topological_generations() -> None:
    assert plan_waves(diamond()) == [["a"], ["b", "c"], ["d"]]


def test_process_execution_runs_every_task_with_results() -> None:
    report = execute(diamond(), workers=2, theta=None)
    assert report.ok and report.kind == "process"
    assert report.outcomes["d"].result == 3 and report.outcomes["a"].result == spin(1000)
    assert [w.tasks for w in report.waves] == [("a",), ("b", "c"), ("d",)]


def test_failure_skips_dependents_transitively_and_independent_tasks_go_on() -> None:
    tasks = [
        WaveTask("root", spin, (10,)),
        WaveTask("bad", fail, ("boom",), depends_on=("root",)),
        WaveTask("child", spin, (10,), depends_on=("bad",)),
        WaveTask("grandchild", spin, (10,), depends_on=("child",)),
        WaveTask("independent", spin, (10,), depends_on=("root",)),
        WaveTask("after-independent", spin, (10,), depends_on=("independent",)),
    ]
    report = execute(tasks, workers=2)
    assert not report.ok
    assert report.failed == ["bad"] and "RuntimeError: boom" in (report.outcomes["bad"].error or "")
    assert report.skipped == ["child", "grandchild"]
    assert all(report.outcomes[t].skipped_because == "bad" for t in ("child", "grandchild"))
    assert report.outcomes["after-independent"].status == "ok"


def test_tasks_of_a_wave_run_concurrently() -> None:
    """Two threads meet at a barrier: only possible if both run at once."""
    barrier = threading.Barrier(2, timeout=5)
    tasks = [WaveTask("x", barrier.wait), WaveTask("y", barrier.wait)]
    report = execute(tasks, workers=2, kind="thread")
    assert report.ok


def test_theta_throttle_limits_tasks_in_flight() -> None:
    lock = threading.Lock()
    state = {"now": 0, "peak": 0, "gave_up": 0}

    def track() -> None:
        with lock:
            state["now"] += 1
            state["peak"] = max(state["peak"], state["now"])
        time.sleep(0.02)
        with lock:
            state["now"] -= 1

    def track_until_two() -> None:
        # Waits until a second task is in flight, instead of sleeping 20 ms and hoping a second worker
        # thread started meanwhile (on a CPU-starved machine it may not have): with several workers, two are
        # in flight at once for certain; with one, never: the first task gives up after 30 s, the rest at once.
        with lock:
            state["now"] += 1
            state["peak"] = max(state["peak"], state["now"])
            two.notify_all()
            if not two.wait_for(lambda: state["peak"] >= 2 or state["gave_up"], timeout=30):
                state["gave_up"] = 1
            state["now"] -= 1

    two = threading.Condition(lock)
    tasks = [WaveTask(f"t{i}", track) for i in range(8)]
    report = execute(tasks, workers=4, theta=0.1, kind="thread")  # UNWRAP → 1 worker
    assert report.ok and report.waves[0].workers == 1 and state["peak"] == 1
    state["peak"] = 0
    report = execute([WaveTask(f"t{i}", track_until_two) for i in range(8)], workers=4, theta=0.95, kind="thread")
    assert report.ok and report.waves[0].workers == 4 and state["peak"] >= 2


@pytest.mark.parametrize(("theta", "expected"), [(None, 8), (1.0, 8), (0.7, 8), (0.6, 6), (0.4, 4), (0.29, 1)])
def test_throttled_workers(theta: float | None, expected: int) -> None:
    assert throttled_workers(8, theta) == expected
    assert throttled_workers(1, theta) == 1


def test_theta_source_is_read_before_each_wave() -> None:
    readings = iter([0.95, 0.1, 0.6])
    report = execute(diamond(), workers=4, kind="thread", theta_source=lambda: next(readings))
    assert [w.workers for w in report.waves] == [4, 1, 3]
    assert [w.theta for w in report.waves] == [0.95, 0.1, 0.6]


def test_progress_is_reported_for_every_task() -> None:
    events: list[ProgressEvent] = []
    tasks = [*diamond(), WaveTask("e", fail, (), depends_on=("a",)), WaveTask("f", spin, (1,), depends_on=("e",))]
    execute(tasks, workers=2, kind="thread", progress=events.append)
    assert [e.done for e in events] == list(range(1, 7)) and all(e.total == 6 for e in events)
    assert {e.task.id for e in events} == {"a", "b", "c", "d", "e", "f"}


def _ran_nothing(tasks_factory) -> tuple[list[WaveTask], list[str]]:  # noqa: ANN001
    ran: list[str] = []
    return tasks_factory(ran), ran


@pytest.mark.parametrize(("mutate", "error", "message"), [
    (lambda ran: [WaveTask("a", ran.append, ("a",)), WaveTask("b", ran.append, ("b",), depends_on=("zzz",))],
     UnknownDependencyError, "unknown task 'zzz'"),
    (lambda ran: [WaveTask("a", ran.append, ("a",)), WaveTask("b", ran.append, ("b",), depends_on=("c",)),
                  WaveTask("c", ran.append, ("c",), depends_on=("b",))],
     DependencyCycleError, "cycle"),
    (lambda ran: [WaveTask("a", ran.append, ("a",)), WaveTask("a", ran.append, ("a",))],
     WaveInputError, "duplicate"),
])
def test_bad_graphs_raise_before_anything_runs(mutate, error: type[Exception], message: str) -> None:  # noqa: ANN001
    tasks, ran = _ran_nothing(mutate)
    with pytest.raises(error, match=message):
        execute(tasks, workers=2, kind="thread")
    assert ran == []


@pytest.mark.parametrize(("workers", "theta", "message"), [
    (0, None, "workers"), (-1, None, "workers"), (1.5, None, "workers"),
    (2, 1.5, "θ"), (2, -0.2, "θ"), (2, float("nan"), "θ"),
])
def test_bad_parameters_raise_before_anything_runs(workers: int, theta: float | None, message: str) -> None:
    ran: list[str] = []
    with pytest.raises(WaveInputError, match=message):
        execute([WaveTask("a", ran.append, ("a",))], workers=workers, theta=theta, kind="thread")
    assert ran == []


def test_unpicklable_task_is_refused_for_processes() -> None:
    ran: list[str] = []
    with pytest.raises(WaveInputError, match="cannot be sent to a worker process"):
        execute([WaveTask("ok", spin, (1,)), WaveTask("lambda", lambda: ran.append("x"))], workers=2)
    assert ran == []


def test_executor_pool_is_reused_across_runs() -> None:
    with WaveExecutor(2) as executor:
        executor.warm_up()
        first = executor.run(diamond())
        second = executor.run(diamond(), theta=0.2)
    assert first.ok and second.ok and second.waves[1].workers == 1
