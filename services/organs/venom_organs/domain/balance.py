"""F-ORG-B Balance: stabilise → conserve → maintain (seed 000), with the PID gains (seed 001 §2).

The conserve score is the conservation level as a number: aggressive 1.0
(battery < 20 %), moderate 0.5 (< 50 %), normal 0.0 (no battery: mains power).
"""

from __future__ import annotations

from venom_common.events.payloads import BalanceResult, GenomeView, OrganFeatures

KP, KI, KD = 0.6, 0.1, 0.05
_CONSERVE_SCORE = {"aggressive_conservation": 1.0, "moderate_conservation": 0.5, "normal_operation": 0.0}


def stabilize(theta: float | None) -> str:
    """The system mode for θ (unknown θ: the balance mode)."""
    if theta is None:
        return "balance_mode"
    if theta < 0.3:
        return "unwrap_mode"
    if theta < 0.5:
        return "transition_mode"
    if theta < 0.7:
        return "balance_mode"
    if theta < 0.9:
        return "wrap_mode"
    return "optimize_mode"


def conserve(battery_percent: float | None) -> str:
    if battery_percent is None:
        return "normal_operation"
    if battery_percent < 20:
        return "aggressive_conservation"
    if battery_percent < 50:
        return "moderate_conservation"
    return "normal_operation"


def maintain() -> str:
    return "homeostasis_active"


def run_balance(features: OrganFeatures, genome: GenomeView) -> BalanceResult:
    conservation = conserve(features.battery_percent)
    maintain()
    return BalanceResult(
        mode=stabilize(features.theta),
        conservation=conservation,
        conserve=_CONSERVE_SCORE[conservation],
        kp=KP,
        ki=KI,
        kd=KD,
    )
