"""F-ORCH-1: load as an exponential moving average with time-based decay.

A sample x arriving Δt seconds after the previous one updates the average as
``ema ← w·ema + (1 − w)·x`` with ``w = e^(−Δt/τ)``: samples far apart weigh the new one more, so the
average means the same thing whatever the sampling rate. ``value_at(t)`` ages the average towards
``rest`` (no news is taken as idle, not as permanently busy).
"""

from __future__ import annotations

import math
from dataclasses import dataclass


@dataclass
class TimeDecayEMA:
    tau_s: float
    value: float | None = None
    at: float | None = None

    def __post_init__(self) -> None:
        if not (self.tau_s > 0 and math.isfinite(self.tau_s)):
            raise ValueError(f"tau must be a positive number of seconds, got {self.tau_s!r}")

    def weight(self, dt: float) -> float:
        """w = e^(−Δt/τ), the weight the old average keeps after Δt seconds."""
        return math.exp(-max(0.0, dt) / self.tau_s)

    def update(self, sample: float, now: float) -> float:
        if not math.isfinite(sample):
            raise ValueError(f"EMA sample must be finite, got {sample!r}")
        if self.value is None or self.at is None:
            self.value = sample
        else:
            w = self.weight(now - self.at)
            self.value = w * self.value + (1.0 - w) * sample
        self.at = now if self.at is None else max(self.at, now)
        return self.value

    def value_at(self, now: float, rest: float = 0.0) -> float:
        if self.value is None or self.at is None:
            return rest
        w = self.weight(now - self.at)
        return w * self.value + (1.0 - w) * rest


@dataclass
class SampleEMA:
    """EMA per sample, ``ema ← (1 − α)·ema + α·x``: for quantities measured once per event (a task's
    service time), where silence says nothing — unlike load, it does not age towards a rest value."""

    alpha: float
    value: float | None = None
    samples: int = 0

    def __post_init__(self) -> None:
        if not (0.0 < self.alpha <= 1.0):
            raise ValueError(f"alpha must be in (0, 1], got {self.alpha!r}")

    def update(self, sample: float) -> float:
        if not math.isfinite(sample):
            raise ValueError(f"EMA sample must be finite, got {sample!r}")
        self.samples += 1
        # the first samples weigh 1/n (a plain mean) until 1/n falls below α: no long bias from the first one
        weight = max(self.alpha, 1.0 / self.samples)
        self.value = sample if self.value is None else (1.0 - weight) * self.value + weight * sample
        return self.value
