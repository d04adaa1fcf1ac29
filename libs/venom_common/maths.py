"""Core maths of the seeds (F-MATH-1..4), pure functions.

Seed 000 "Core Engine" and seed 001 §3. These are the formulas as the seeds
give them; what they *mean* is a model (the pulse period, a state's flow),
never a measured speedup.
"""

from __future__ import annotations

import math
from typing import Literal

#: F-MATH-1: the result is floored here "for numerical stability" (seed 001 §3).
T_LAMBDA_FLOOR = 1e-6

StateName = Literal["Regen", "Neutral", "Entropy"]
GravName = Literal["Accelerare", "Stagnare", "Frânare"]


class MathDomainError(ValueError):
    """An input outside the domain where a seed formula is defined."""


def _require_finite(**values: float) -> None:
    for name, value in values.items():
        if not math.isfinite(value):
            raise MathDomainError(f"{name} must be a finite number, got {value!r}")


def time_wrap(k: float, p: float, u: float, t1: float = 0.001) -> float:
    """F-MATH-1: T_Λ = T1·ln(U) / (1 − 1/(kP)), floored at 1e-6 s.

    k = parallel flows, p = nodes, u = the U of the seed (ln U = 4 for U = e⁴),
    t1 = base time in seconds. kP == 1 divides by zero and kP < 1 gives a
    negative period (the seed's stability condition is kP > 1): both are refused.
    """
    _require_finite(k=k, p=p, u=u, t1=t1)
    kp = k * p
    if kp == 1:
        raise MathDomainError("k·P must not equal 1 (the denominator 1 − 1/(kP) is zero)")
    if kp <= 1:
        raise MathDomainError(f"k·P must be > 1 for a stable pulse (got k·P = {kp}); raise k or P")
    if u <= 1:
        raise MathDomainError(f"U must be > 1 so that ln(U) > 0 (got U = {u})")
    if t1 <= 0:
        raise MathDomainError(f"T1 must be > 0 seconds (got {t1})")
    return max(T_LAMBDA_FLOOR, (t1 * math.log(u)) / (1 - 1 / kp))


_STATE_MAP: dict[int, tuple[StateName, tuple[str, ...]]] = {
    1: ("Regen", ("Scan", "Detect", "Quarantine", "Heal", "Improve", "Reinvest")),
    0: ("Neutral", ("Scan", "Detect", "Quarantine", "Heal", "Neutralize", "Stabilize")),
    -1: ("Entropy", ("Reinvest_neg", "Degrade", "Infect", "Spread", "Ignore", "Blind")),
}


def state_from_theta(theta: float) -> int:
    """The fall-back state for s = +inf (F-MATH-2), derived from θ.

    The seed calls ``fallback(theta)`` without defining it; VENOM reads θ with
    the same bands as the genome modes (F-ARB-6): θ ≥ 0.7 (wrap/optimize) is a
    healthy, regenerating node (1), θ < 0.3 (unwrap) an entropic one (−1), and
    the middle bands neutral (0).
    """
    _require_theta(theta)
    if theta >= 0.7:
        return 1
    if theta < 0.3:
        return -1
    return 0


def _require_theta(theta: float) -> None:
    if not (isinstance(theta, (int, float)) and math.isfinite(theta) and 0.0 <= theta <= 1.0):
        raise MathDomainError(f"theta must be in [0, 1], got {theta!r}")


def _resolve_state(s: float, theta: float) -> int:
    if s == math.inf:
        return state_from_theta(theta)
    if s in _STATE_MAP:
        return int(s)
    raise MathDomainError(f"state s must be 1 (Regen), 0 (Neutral), -1 (Entropy) or +inf, got {s!r}")


def fractal_total(s: float, theta: float) -> tuple[StateName, list[str]]:
    """F-MATH-2: the state's name and its six-step flow; s = +inf falls back on θ."""
    name, flow = _STATE_MAP[_resolve_state(s, theta)]
    return name, list(flow)


def mobius_time(s: float, k: float, p: float, u: float, theta: float, t1: float = 0.001) -> float:
    """F-MATH-3: time scaling per state.

    Regen → T_Λ; Neutral → ln(U); Entropy → Σ_{i<10} (kP)^i · ln(U) (the seed's
    unbounded growth for a degrading node).
    """
    _require_finite(k=k, p=p, u=u)
    state = _resolve_state(s, theta)
    if state == 1:
        return time_wrap(k, p, u, t1)
    if u <= 0:
        raise MathDomainError(f"U must be > 0 for ln(U) (got U = {u})")
    if state == 0:
        return math.log(u)
    return sum((k * p) ** i * math.log(u) for i in range(10))


def grav_mode(s: float, theta: float, k: float, p: float, u: float, t1: float = 0.001) -> tuple[GravName, float]:
    """F-MATH-4: Accelerare (+T_Λ) / Stagnare (ln U) / Frânare (−T_Λ)."""
    _require_finite(k=k, p=p, u=u)
    state = _resolve_state(s, theta)
    if state == 1:
        return "Accelerare", time_wrap(k, p, u, t1)
    if state == 0:
        if u <= 0:
            raise MathDomainError(f"U must be > 0 for ln(U) (got U = {u})")
        return "Stagnare", math.log(u)
    return "Frânare", -time_wrap(k, p, u, t1)
