"""The drift-free tick grid (F-HW-2): missed ticks are skipped and counted, the grid never moves."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from venom_hardware_agent.domain.schedule import next_tick


def test_on_time_work_waits_for_the_next_grid_point() -> None:
    nxt = next_tick(start=100.0, done_tick=0, now=100.003, interval=0.01)
    assert (nxt.tick, nxt.missed) == (1, 0) and nxt.due == pytest.approx(100.01)


def test_overrun_skips_and_counts_the_missed_ticks() -> None:
    # tick 0 started at 100.0 and its work took 0.12 s with a 0.05 s interval: ticks 1 and 2 are gone
    nxt = next_tick(start=100.0, done_tick=0, now=100.12, interval=0.05)
    assert (nxt.tick, nxt.missed) == (3, 2) and nxt.due == pytest.approx(100.15)


def test_no_drift_over_many_ticks() -> None:
    # every tick's work takes 3 ms; after 1000 ticks the schedule is still on the grid
    start, interval, tick, due = 50.0, 0.01, 0, 50.0
    for _ in range(1000):
        nxt = next_tick(start=start, done_tick=tick, now=due + 0.003, interval=interval)
        assert nxt.missed == 0
        tick, due = nxt.tick, nxt.due
    assert tick == 1000 and due == pytest.approx(start + 1000 * interval)


@given(st.floats(0.01, 10), st.integers(0, 10_000), st.floats(0, 100))
def test_next_due_is_on_the_grid_and_in_the_future(interval: float, done: int, late: float) -> None:
    start = 1000.0
    now = start + done * interval + late
    nxt = next_tick(start=start, done_tick=done, now=now, interval=interval)
    assert nxt.tick == done + 1 + nxt.missed
    assert nxt.due == start + nxt.tick * interval
    assert nxt.due >= now - 1e-9 * max(1.0, now)
    assert nxt.due - interval <= now + 1e-9 * max(1.0, now) or nxt.missed == 0
