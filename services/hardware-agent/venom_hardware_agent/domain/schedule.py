"""The sampling schedule (F-HW-2): ticks on a fixed grid, so the agent does not drift.

Tick k is due at ``start + k·interval`` (monotonic clock). After the work of a tick,
the next tick is the next one still in the future: ticks whose time has already
passed are skipped and counted as overruns, rather than fired late in a burst or
pushed back (a loop that sleeps ``interval`` after its work would drift by the
work's duration every tick).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class NextTick:
    tick: int
    due: float
    missed: int


def next_tick(*, start: float, done_tick: int, now: float, interval: float) -> NextTick:
    """The tick to wait for after ``done_tick`` finished at ``now``."""
    tick = done_tick + 1
    due = start + tick * interval
    missed = 0
    if now > due:
        missed = int((now - due) // interval) + 1
        tick += missed
        due = start + tick * interval
    return NextTick(tick=tick, due=due, missed=missed)
