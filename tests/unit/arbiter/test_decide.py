"""F-ARB-2, F-ARB-3, F-PULSE-2."""

import pytest

from venom_arbiter.domain.aggregate import aggregate_recommendations, failed_organs
from venom_arbiter.domain.decide import decide
from venom_arbiter.domain.genome import INITIAL
from venom_arbiter.domain.pulse import VitalsTracker, adaptive_cycle
from venom_common.events.payloads import (
    BalanceResult,
    DecisionVector,
    EntropyResult,
    OptimizeResult,
    OrganError,
    RegenResult,
)


def vec(threat: float = 0, stability: float = 0, repair: float = 0, gain: float = 0) -> DecisionVector:
    return DecisionVector(threat=threat, stability=stability, repair_score=repair, opt_gain=gain, integrated_score=1)


@pytest.mark.parametrize(
    "v,action",
    [
        (vec(threat=0.85), "QUARANTINE"),
        (vec(threat=0.8499), "ALERT"),
        (vec(threat=0.60), "ALERT"),
        (vec(threat=0.59, stability=0.26, repair=0.05), "APPLY_BALANCE"),
        (vec(stability=0.25, repair=0.05), "NOOP"),
        (vec(stability=0.5, repair=0.1, gain=0.2), "APPLY_OPTIMIZE"),
        (vec(gain=0.1), "NOOP"),
        (vec(gain=0.1001), "APPLY_OPTIMIZE"),
        (vec(), "NOOP"),
    ],
)
def test_decide_thresholds(v: DecisionVector, action: str) -> None:
    assert decide(v).action == action


def results() -> dict:
    return {
        "regen": RegenResult(urgency=0.05, cost=3, issues=[], quarantined=[], improved=[], reinvested_mb=0),
        "balance": BalanceResult(mode="balance_mode", conservation="moderate_conservation", conserve=0.5, kp=0.6,
                                 ki=0.1, kd=0.05),
        "entropy": EntropyResult(threat_score=0.6457, explanation="x", model_version="seed", threats=[],
                                 vulnerabilities=[], defended=0),
        "optimize": OptimizeResult(expected_gain=0.042, targets=[], adjustments=[], distribution={}),
    }


def test_aggregate_all_ok() -> None:
    v = aggregate_recommendations(results(), INITIAL)
    assert (v.threat, v.stability, v.repair_score, v.opt_gain) == (0.6457, 0.5, 0.05, 0.042)
    assert v.integrated_score == pytest.approx(1.0)


def test_aggregate_with_failed_organs_weights_by_genome() -> None:
    r = results()
    r["entropy"] = OrganError(error="deadline 5 ms exceeded")
    del r["optimize"]
    v = aggregate_recommendations(r, INITIAL)
    assert v.threat == 0.0 and v.opt_gain == 0.0
    assert v.integrated_score == pytest.approx((0.25 + 0.25) / 1.0)
    assert failed_organs(r) == ["entropy", "optimize"]


def test_adaptive_cycle_clamped() -> None:
    assert adaptive_cycle(0.004211) == pytest.approx(0.004211)
    assert adaptive_cycle(0.1) == 0.01
    assert adaptive_cycle(0.0001) == 0.0005
    assert adaptive_cycle(0.004, compression=2.0) == pytest.approx(0.004 / 2**0.1)
    with pytest.raises(ValueError):
        adaptive_cycle(0)


def test_vitals() -> None:
    v = VitalsTracker(cycle_time_s=0.004)
    v.record(0.001, False)
    v.record(0.003, True)
    s = v.snapshot()
    assert s["beat_count"] == 2 and s["missed_deadlines"] == 1
    assert s["avg_beat_time_ms"] == pytest.approx(2.0) and s["min_beat_time_ms"] == pytest.approx(1.0)
    assert s["max_beat_time_ms"] == pytest.approx(3.0) and s["cycle_time_ms"] == pytest.approx(4.0)
