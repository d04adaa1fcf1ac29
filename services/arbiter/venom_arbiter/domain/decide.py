"""F-ARB-3: decide — the seed's thresholds, in order."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from venom_common.events.payloads import DecisionVector

Action = Literal["QUARANTINE", "ALERT", "APPLY_BALANCE", "APPLY_OPTIMIZE", "NOOP"]

QUARANTINE_THREAT = 0.85
ALERT_THREAT = 0.60
BALANCE_STABILITY = 0.25
BALANCE_MAX_REPAIR = 0.1
OPTIMIZE_GAIN = 0.1


@dataclass(frozen=True)
class Decision:
    action: Action
    reason: str


def decide(vector: DecisionVector) -> Decision:
    if vector.threat >= QUARANTINE_THREAT:
        return Decision("QUARANTINE", f"threat {vector.threat:.4f} ≥ {QUARANTINE_THREAT}")
    if vector.threat >= ALERT_THREAT:
        return Decision("ALERT", f"threat {vector.threat:.4f} ≥ {ALERT_THREAT}")
    if vector.stability > BALANCE_STABILITY and vector.repair_score < BALANCE_MAX_REPAIR:
        return Decision(
            "APPLY_BALANCE",
            f"stability {vector.stability:.4f} > {BALANCE_STABILITY} and repair {vector.repair_score:.4f} < {BALANCE_MAX_REPAIR}",
        )
    if vector.opt_gain > OPTIMIZE_GAIN:
        return Decision("APPLY_OPTIMIZE", f"opt_gain {vector.opt_gain:.4f} > {OPTIMIZE_GAIN}")
    return Decision("NOOP", "no threshold crossed")
