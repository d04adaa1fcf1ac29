"""F-ARB-5 genome evolution, F-ARB-6 adaptive modes by θ, F-MESH-3 inject_data.

The genome holds the four organ weights (R, B, E, O), the risk anoms and the
ML weight the entropy model reads, the θ mode, and the E-feedback clock.
Everything here is pure: a new genome comes back, the old one is unchanged.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from typing import Literal

Mode = Literal["unwrap", "transition", "balance", "wrap", "optimize"]

O_MIN, O_MAX = 0.1, 0.9
E_MIN, E_MAX = 0.05, 0.30
E_LOW_THREAT = 0.10
E_DECAY_BEATS = 50.0
MAX_RISK_ANOMS = 10_000
ML_WEIGHT_MAX = 10.0


class InvalidInjection(ValueError):
    """inject_data refused a value; the message says which and why."""


@dataclass(frozen=True)
class Genome:
    R: float = 0.25
    B: float = 0.25
    E: float = 0.15
    O: float = 0.35  # noqa: E741 - the seed's base letter
    risk_anoms: int = 0
    ml_weight: float = 0.12
    mode: Mode = "balance"
    #: F-ARB-5: beats since the E hybrid feedback last saw threat > 0.5 begin (t in e^(−t/50)).
    e_feedback_t: int = 0

    def weights(self) -> dict[str, float]:
        return {"R": self.R, "B": self.B, "E": self.E, "O": self.O}


#: F-ARB-5: the seed's initial weights.
INITIAL = Genome()

#: F-ARB-6: weight tables per θ mode (seed 000 "Adaptive Genome Modes"). The seed gives
#: unwrap, balance and optimize; transition and wrap, which it leaves out, are the means
#: of their two neighbours. The seed's Λ coefficient is not an organ weight and is left
#: out; each table is renormalised over R, B, E, O.
_SEED_TABLES: dict[str, dict[str, float]] = {
    "unwrap": {"R": 0.40, "B": 0.30, "E": 0.10, "O": 0.15},
    "balance": {"R": 0.20, "B": 0.35, "E": 0.15, "O": 0.25},
    "optimize": {"R": 0.10, "B": 0.20, "E": 0.10, "O": 0.50},
}


def _mean(a: dict[str, float], b: dict[str, float]) -> dict[str, float]:
    return {k: (a[k] + b[k]) / 2 for k in a}


def _normalised(table: dict[str, float]) -> dict[str, float]:
    total = sum(table.values())
    return {k: v / total for k, v in table.items()}


MODE_TABLES: dict[Mode, dict[str, float]] = {
    "unwrap": _normalised(_SEED_TABLES["unwrap"]),
    "transition": _normalised(_mean(_SEED_TABLES["unwrap"], _SEED_TABLES["balance"])),
    "balance": _normalised(_SEED_TABLES["balance"]),
    "wrap": _normalised(_mean(_SEED_TABLES["balance"], _SEED_TABLES["optimize"])),
    "optimize": _normalised(_SEED_TABLES["optimize"]),
}


def mode_for_theta(theta: float) -> Mode:
    """F-ARB-6 (seed 000 BALANCE.stabilize): θ < 0.3 unwrap, < 0.5 transition, < 0.7 balance, < 0.9 wrap, else optimize."""
    if not (math.isfinite(theta) and 0.0 <= theta <= 1.0):
        raise ValueError(f"theta must be in [0, 1], got {theta!r}")
    if theta < 0.3:
        return "unwrap"
    if theta < 0.5:
        return "transition"
    if theta < 0.7:
        return "balance"
    if theta < 0.9:
        return "wrap"
    return "optimize"


def apply_mode(genome: Genome, theta: float | None) -> Genome:
    """F-ARB-6: when θ moves the node into another mode, the weights take that mode's table.

    Within a mode the weights keep evolving beat by beat (PID and E feedback);
    only a change of mode resets them, so the evolution is not overwritten every beat.
    With no θ (no sample yet) the genome is unchanged.
    """
    if theta is None:
        return genome
    mode = mode_for_theta(theta)
    if mode == genome.mode:
        return genome
    table = MODE_TABLES[mode]
    return replace(genome, mode=mode, R=table["R"], B=table["B"], E=table["E"], O=table["O"])


def evolve(genome: Genome, delta_o: float, threat: float) -> Genome:
    """F-ARB-5: O ← O + ΔO in [0.1, 0.9]; E hybrid feedback in [0.05, 0.30]; renormalise to sum 1.

    E feedback: threat > 0.5 → E = 0.15·threat·e^(−t/50)·(1 − O/0.3), else 0.10,
    where t counts the beats of the current run of threat > 0.5 (0 on its first beat).
    Note that with O > 0.3 the seed's factor (1 − O/0.3) is negative, so sustained
    threat drives E to its 0.05 floor: that is the seed's formula, kept as written.
    """
    if not (math.isfinite(delta_o) and math.isfinite(threat)):
        raise ValueError("delta_o and threat must be finite")
    o = min(O_MAX, max(O_MIN, genome.O + delta_o))
    if threat > 0.5:
        t = genome.e_feedback_t
        e = 0.15 * threat * math.exp(-t / E_DECAY_BEATS) * (1 - o / 0.3)
        next_t = t + 1
    else:
        e = E_LOW_THREAT
        next_t = 0
    e = min(E_MAX, max(E_MIN, e))
    total = genome.R + genome.B + e + o
    return replace(genome, R=genome.R / total, B=genome.B / total, E=e / total, O=o / total, e_feedback_t=next_t)


def inject_data(genome: Genome, anoms: int | None = None, ml_weight: float | None = None) -> Genome:
    """F-MESH-3: set the genome's risk anoms and ML weight; out-of-range values are refused."""
    if anoms is not None:
        if isinstance(anoms, bool) or not isinstance(anoms, int):
            raise InvalidInjection(f"anoms must be a whole number, got {anoms!r}")
        if not 0 <= anoms <= MAX_RISK_ANOMS:
            raise InvalidInjection(f"anoms must be in [0, {MAX_RISK_ANOMS}], got {anoms}")
    if ml_weight is not None:
        if isinstance(ml_weight, bool) or not isinstance(ml_weight, (int, float)) or not math.isfinite(ml_weight):
            raise InvalidInjection(f"ml_weight must be a finite number, got {ml_weight!r}")
        if not 0 < ml_weight <= ML_WEIGHT_MAX:
            raise InvalidInjection(f"ml_weight must be in (0, {ML_WEIGHT_MAX}], got {ml_weight}")
    return replace(
        genome,
        risk_anoms=genome.risk_anoms if anoms is None else anoms,
        ml_weight=genome.ml_weight if ml_weight is None else float(ml_weight),
    )
