"""The Möbius engine of seed 004 (F-MATH-5): a *model* of speed-up, never a measurement.

    S_A      = 1 / ((1 − P) + P / N)            Amdahl's law (P parallel fraction, N workers)
    Θ(θ)     = piecewise in θ over five modes   "adaptive compression", range 0.5–3.0
    S_Total  = Θ(θ) · Λ · S_A                   the seed's "total speedup"
    T_est    = T_sequential / S_Total

Only S_A is a law with a meaning (an upper bound on what N workers can do for a job with
parallel fraction P); Θ and Λ are the seed's factors and nothing here has measured them.
``venom benchmark`` measures the wave executor's real speed-up and puts it next to S_A.

**Θ(θ).** Seed 004 names the five modes and the range 0.5–3.0 but gives no formula. The
mode bands are those of seed 000 (``stabilize``): UNWRAP θ < 0.3, TRANSITION 0.3 ≤ θ < 0.5,
BALANCE 0.5 ≤ θ < 0.7, WRAP 0.7 ≤ θ < 0.9, OPTIMIZE θ ≥ 0.9. Its three worked examples fix
Θ at three points once S_A and Λ are taken out (S_Total / (Λ·S_A)):

    Raspberry Pi  N=4,  Λ=50,  P=0.65, θ=0.61  → 151x     → Θ(0.61)  ≈ 1.55
    laptop        N=8,  Λ=400, P=0.80, θ=0.77  → 2,900x   → Θ(0.77)  = 2.175
    cloud server  N=32, Λ=832, P=0.95, θ=0.915 → 31,322x  → Θ(0.915) = 3.0

Linear pieces through those points, continuous at the band edges, give:

    UNWRAP      Θ = 0.5                          (the floor of the range)
    TRANSITION  Θ = 0.5 + 2.5 · (θ − 0.3)        0.5 → 1.0
    BALANCE     Θ = 1.0 + 5.0 · (θ − 0.5)        1.0 → 2.0   (Θ(0.61) = 1.55: 151.2x)
    WRAP        Θ = 2.0 + 2.5 · (θ − 0.7)        2.0 → 2.5   (Θ(0.77) = 2.175: 2,900.0x)
    OPTIMIZE    Θ = 3.0                          (the ceiling; Θ(0.915) = 3.0: 31,322.6x)

The BALANCE and WRAP slopes and the OPTIMIZE value are what the examples force given one
linear piece per band with Θ(0.5) = 1 (neutral) and continuity; UNWRAP and TRANSITION have no
example and are this project's choice (reach the floor 0.5 continuously). There is a jump
2.5 → 3.0 at θ = 0.9: the seed's server point sits at the ceiling just above it.

**Strategies** (the seed's conservative / adaptive / aggressive, defined here):

* ``conservative``: Θ capped at 1 — no credit for "compression" above neutral.
* ``adaptive``: Θ(θ) as above.
* ``aggressive``: Θ at the top of the current mode's band (UNWRAP 0.5, TRANSITION 1.0,
  BALANCE 2.0, WRAP 2.5, OPTIMIZE 3.0).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from enum import StrEnum
from typing import Literal

from venom_common.maths import MathDomainError

Strategy = Literal["conservative", "adaptive", "aggressive"]
STRATEGIES: tuple[Strategy, ...] = ("conservative", "adaptive", "aggressive")

THETA_COMPRESSION_MIN = 0.5
THETA_COMPRESSION_MAX = 3.0
#: Λ's documented range (docs/HARDWARE.md, the capacity model).
LAMBDA_MIN = 10.0
LAMBDA_MAX = 832.0

MODEL_NOTE = ("model estimate (seed 004's S_Total = Θ(θ)·Λ·S_A), not a measurement; "
              "`venom benchmark` measures the real speed-up")


class Mode(StrEnum):
    UNWRAP = "UNWRAP"
    TRANSITION = "TRANSITION"
    BALANCE = "BALANCE"
    WRAP = "WRAP"
    OPTIMIZE = "OPTIMIZE"


#: (mode, lower θ bound inclusive, Θ at the lower bound, slope, Θ at the top of the band)
_PIECES: tuple[tuple[Mode, float, float, float, float], ...] = (
    (Mode.UNWRAP, 0.0, 0.5, 0.0, 0.5),
    (Mode.TRANSITION, 0.3, 0.5, 2.5, 1.0),
    (Mode.BALANCE, 0.5, 1.0, 5.0, 2.0),
    (Mode.WRAP, 0.7, 2.0, 2.5, 2.5),
    (Mode.OPTIMIZE, 0.9, 3.0, 0.0, 3.0),
)


class MobiusDomainError(MathDomainError):
    """An input outside the model's domain (θ, P, N, Λ, hours)."""


def _finite(name: str, value: float) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise MobiusDomainError(f"{name} must be a finite number, got {value!r}")
    return float(value)


def require_theta(theta: float) -> float:
    t = _finite("θ (theta)", theta)
    if not 0.0 <= t <= 1.0:
        raise MobiusDomainError(f"θ (theta) must be in [0, 1], got {theta!r}")
    return t


def require_parallel_fraction(p: float) -> float:
    v = _finite("P (parallel fraction)", p)
    if not 0.0 <= v <= 1.0:
        raise MobiusDomainError(f"P (parallel fraction) must be in [0, 1], got {p!r}")
    return v


def require_workers(n: float) -> float:
    v = _finite("N (workers)", n)
    if v < 1:
        raise MobiusDomainError(f"N (workers) must be ≥ 1, got {n!r}")
    return v


def mode_for(theta: float) -> Mode:
    """The seed's mode band of θ (seed 000 ``stabilize``)."""
    t = require_theta(theta)
    mode = Mode.UNWRAP
    for piece_mode, lower, *_ in _PIECES:
        if t >= lower:
            mode = piece_mode
    return mode


def theta_compression(theta: float, strategy: Strategy = "adaptive") -> float:
    """Θ(θ) in [0.5, 3.0] (see the module docstring for the pieces and the strategies)."""
    if strategy not in STRATEGIES:
        raise MobiusDomainError(f"strategy must be one of {', '.join(STRATEGIES)}, got {strategy!r}")
    t = require_theta(theta)
    mode = mode_for(t)
    _, lower, base, slope, top = next(p for p in _PIECES if p[0] is mode)
    value = base + slope * (t - lower)
    if strategy == "conservative":
        value = min(value, 1.0)
    elif strategy == "aggressive":
        value = top
    return min(THETA_COMPRESSION_MAX, max(THETA_COMPRESSION_MIN, value))


def amdahl_speedup(p: float, n: float) -> float:
    """F-MATH-5: S_A = 1 / ((1 − P) + P / N); 1 ≤ S_A ≤ N."""
    pv = require_parallel_fraction(p)
    nv = require_workers(n)
    return 1.0 / ((1.0 - pv) + pv / nv)


def total_speedup(theta: float, lambda_wrap: float, p: float, n: float, strategy: Strategy = "adaptive") -> float:
    """S_Total = Θ(θ) · Λ · S_A — a model figure."""
    return theta_compression(theta, strategy) * require_lambda(lambda_wrap) * amdahl_speedup(p, n)


def require_lambda(lambda_wrap: float) -> float:
    v = _finite("Λ (lambda_wrap)", lambda_wrap)
    if not LAMBDA_MIN <= v <= LAMBDA_MAX:
        raise MobiusDomainError(f"Λ (lambda_wrap) must be in [{LAMBDA_MIN:g}, {LAMBDA_MAX:g}], got {lambda_wrap!r}")
    return v


@dataclass(frozen=True)
class CompressionEstimate:
    """``venom compress``: what the seed's model says about ``hours`` of sequential work."""

    hours_sequential: float
    hours_estimated: float
    reduction_percent: float
    theta: float
    mode: Mode
    strategy: Strategy
    theta_compression: float
    lambda_wrap: float
    parallel_fraction: float
    workers_n: float
    amdahl_speedup: float
    total_speedup: float
    kind: str = "model"
    note: str = MODEL_NOTE

    def to_json(self) -> dict[str, object]:
        out = asdict(self)
        out["mode"] = str(self.mode)
        return out


def estimate_compression(
    hours: float, *, theta: float, lambda_wrap: float, parallel_fraction: float, workers_n: float,
    strategy: Strategy = "adaptive",
) -> CompressionEstimate:
    """T_est = T_seq / S_Total for each input validated first (a clear error, nothing computed half-way)."""
    h = _finite("hours", hours)
    if h < 0:
        raise MobiusDomainError(f"hours must be ≥ 0, got {hours!r}")
    t = require_theta(theta)
    lam = require_lambda(lambda_wrap)
    p = require_parallel_fraction(parallel_fraction)
    n = require_workers(workers_n)
    big_theta = theta_compression(t, strategy)
    s_a = amdahl_speedup(p, n)
    s_total = big_theta * lam * s_a
    est = h / s_total
    return CompressionEstimate(
        hours_sequential=h, hours_estimated=est,
        reduction_percent=(100.0 * (1 - est / h)) if h > 0 else 0.0,
        theta=t, mode=mode_for(t), strategy=strategy, theta_compression=big_theta, lambda_wrap=lam,
        parallel_fraction=p, workers_n=n, amdahl_speedup=s_a, total_speedup=s_total,
    )
