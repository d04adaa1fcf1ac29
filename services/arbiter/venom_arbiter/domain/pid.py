"""F-ARB-4: the genomic PID controller (seed 001 §4).

Error ΔT = T_Λ − T_threshold (0.02 s). output = Kp·ΔT + Ki·∫ΔT dt + Kd·dΔT/dt with
the gains Balance proposes (Kp 0.6, Ki 0.1, Kd 0.05). Anti-windup clamps the
integral to [−1, 1]; an ε-reset zeroes it when |ΔT| < 1e-4. The genome moves by
ΔO = −output, limited to [−0.05, 0.05] per beat (negative feedback).

ΔV is reported as the seed computes it: the change of the error between two
beats, ΔV = ΔT_k − ΔT_{k−1}, with ΔT_{−1} = 0 — so the first beat of the seed's
parameters gives ΔV = ΔT = −0.015789 (< 0). It is the seed's stability signal,
not a Lyapunov proof.
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass

T_THRESHOLD_S = 0.02
INTEGRAL_LIMIT = 1.0
EPSILON = 1e-4
DELTA_O_LIMIT = 0.05
HISTORY_LIMIT = 1000


@dataclass(frozen=True)
class PidGains:
    kp: float = 0.6
    ki: float = 0.1
    kd: float = 0.05

    def __post_init__(self) -> None:
        for name in ("kp", "ki", "kd"):
            value = getattr(self, name)
            if not math.isfinite(value) or not 0 <= value <= 10:
                raise ValueError(f"PID gain {name} must be in [0, 10], got {value!r}")


@dataclass(frozen=True)
class PidStep:
    """What one beat's recalibration computed."""

    error: float
    integral: float
    previous_error: float | None
    output: float
    delta_o: float
    delta_v: float

    @property
    def stable(self) -> bool:
        return self.delta_v < 0


def _clamp(value: float, low: float, high: float) -> float:
    return max(low, min(high, value))


class GenomicPid:
    """The PID's state: integral, previous error and a bounded error history."""

    def __init__(self, integral: float = 0.0, previous_error: float | None = None,
                 history: list[float] | None = None) -> None:
        self.integral = _clamp(integral, -INTEGRAL_LIMIT, INTEGRAL_LIMIT)
        self.previous_error = previous_error
        self.history: deque[float] = deque(history or (), maxlen=HISTORY_LIMIT)

    def step(self, t_lambda_s: float, dt_s: float, gains: PidGains = PidGains(),
             t_threshold_s: float = T_THRESHOLD_S) -> PidStep:
        """One recalibration: update the state and return ΔO and ΔV."""
        if not (math.isfinite(t_lambda_s) and t_lambda_s > 0):
            raise ValueError(f"T_Λ must be a positive number of seconds, got {t_lambda_s!r}")
        if not (math.isfinite(dt_s) and dt_s > 0):
            raise ValueError(f"dt must be a positive number of seconds, got {dt_s!r}")
        error = t_lambda_s - t_threshold_s
        if abs(error) < EPSILON:
            self.integral = 0.0  # F-ARB-4: ε-reset
        else:
            self.integral = _clamp(self.integral + error * dt_s, -INTEGRAL_LIMIT, INTEGRAL_LIMIT)  # anti-windup
        previous = self.previous_error
        derivative = 0.0 if previous is None else (error - previous) / dt_s
        output = gains.kp * error + gains.ki * self.integral + gains.kd * derivative
        delta_o = _clamp(-output, -DELTA_O_LIMIT, DELTA_O_LIMIT)
        delta_v = error - (previous if previous is not None else 0.0)
        self.previous_error = error
        self.history.append(error)
        return PidStep(error=error, integral=self.integral, previous_error=previous, output=output,
                       delta_o=delta_o, delta_v=delta_v)
