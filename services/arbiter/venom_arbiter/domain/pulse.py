"""F-PULSE-1 vitals and F-PULSE-2 adaptive cycle (seed 000 "Pulse Fractal")."""

from __future__ import annotations

import math
from dataclasses import dataclass, field

CYCLE_MIN_S = 0.0005
CYCLE_MAX_S = 0.01
PERIOD_MIN_S = 0.001


def adaptive_cycle(cycle_s: float, compression: float = 1.0) -> float:
    """F-PULSE-2: cycle / compression^0.1, clamped to [0.5 ms, 10 ms]."""
    if not (math.isfinite(cycle_s) and cycle_s > 0):
        raise ValueError(f"cycle must be a positive number of seconds, got {cycle_s!r}")
    if not (math.isfinite(compression) and compression > 0):
        raise ValueError(f"compression must be a positive number, got {compression!r}")
    return max(CYCLE_MIN_S, min(cycle_s / compression**0.1, CYCLE_MAX_S))


@dataclass
class VitalsTracker:
    """Beat statistics: count, average / min / max beat time, missed deadlines."""

    cycle_time_s: float
    beat_count: int = 0
    missed_deadlines: int = 0
    _total_s: float = 0.0
    _min_s: float = field(default=math.inf)
    _max_s: float = 0.0

    def record(self, beat_time_s: float, missed_deadline: bool) -> None:
        self.beat_count += 1
        self._total_s += beat_time_s
        self._min_s = min(self._min_s, beat_time_s)
        self._max_s = max(self._max_s, beat_time_s)
        if missed_deadline:
            self.missed_deadlines += 1

    def snapshot(self) -> dict[str, float | int]:
        n = self.beat_count
        return {
            "beat_count": n,
            "cycle_time_ms": self.cycle_time_s * 1000,
            "avg_beat_time_ms": (self._total_s / n * 1000) if n else 0.0,
            "min_beat_time_ms": (self._min_s * 1000) if n else 0.0,
            "max_beat_time_ms": self._max_s * 1000,
            "missed_deadlines": self.missed_deadlines,
        }
