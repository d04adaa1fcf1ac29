"""Task functions for the wave executor that a worker *process* can import by name.

A process pool sends a task's function by reference (module + name), so it must live in an
importable module; these are the ones the benchmark, the CLI and the tests use.
"""

from __future__ import annotations

import time


def spin(iterations: int) -> int:
    """Pure-Python CPU work: an integer recurrence over ``iterations`` steps (holds the GIL)."""
    acc = 0
    for i in range(iterations):
        acc = (acc * 31 + i) % 1_000_003
    return acc


def fail(message: str = "task failed") -> None:
    """A task that raises (to exercise failure handling)."""
    raise RuntimeError(message)


def pause(seconds: float) -> float:
    """Wait without using the CPU; returns the seconds waited."""
    start = time.perf_counter()
    time.sleep(seconds)
    return time.perf_counter() - start


def add(*values: float) -> float:
    return sum(values)
