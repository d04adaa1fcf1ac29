"""F-ARB-4 with the seed's numbers."""

import math

import pytest

from venom_arbiter.domain.pid import GenomicPid, PidGains
from venom_common.maths import time_wrap

T_LAMBDA = time_wrap(4, 5, math.exp(4), 0.001)


def test_seed_first_beat_delta_t_and_delta_v() -> None:
    # seed 001 "Validation Results": ΔT = −0.015789, ΔV = −0.015789 (ΔV < 0)
    step = GenomicPid().step(T_LAMBDA, dt_s=T_LAMBDA)
    assert step.error == pytest.approx(-0.015789, abs=1e-6)
    assert step.delta_v == pytest.approx(-0.015789, abs=1e-6)
    assert step.stable


def test_negative_feedback_and_limit() -> None:
    step = GenomicPid().step(T_LAMBDA, dt_s=T_LAMBDA)
    # output = 0.6·ΔT + 0.1·(ΔT·dt) + 0 (no previous error) → ΔO = −output > 0
    expected = -(0.6 * step.error + 0.1 * step.error * T_LAMBDA)
    assert step.delta_o == pytest.approx(expected)
    big = GenomicPid().step(5.0, dt_s=1.0)  # a huge error is limited to ±0.05 per beat
    assert big.delta_o == -0.05


def test_anti_windup_clamps_integral() -> None:
    pid = GenomicPid()
    for _ in range(200):
        step = pid.step(10.0, dt_s=1.0)
    assert step.integral == 1.0
    pid = GenomicPid()
    for _ in range(200):
        step = pid.step(1e-6, dt_s=1.0)
    assert step.integral == -1.0


def test_epsilon_reset() -> None:
    pid = GenomicPid(integral=0.7)
    step = pid.step(0.02 + 5e-5, dt_s=1.0)  # |ΔT| < 1e-4
    assert step.integral == 0.0


def test_history_bounded_to_1000() -> None:
    pid = GenomicPid()
    for _ in range(1500):
        pid.step(T_LAMBDA, dt_s=T_LAMBDA)
    assert len(pid.history) == 1000


def test_derivative_uses_previous_error() -> None:
    pid = GenomicPid()
    pid.step(0.01, dt_s=1.0)
    step = pid.step(0.03, dt_s=1.0)
    assert step.previous_error == pytest.approx(-0.01)
    assert step.delta_v == pytest.approx(0.02)
    assert not step.stable


@pytest.mark.parametrize("bad", [0.0, -1.0, math.nan, math.inf])
def test_refuses_bad_inputs(bad: float) -> None:
    with pytest.raises(ValueError):
        GenomicPid().step(bad, dt_s=1.0)
    with pytest.raises(ValueError):
        GenomicPid().step(0.01, dt_s=bad)


def test_gains_validated() -> None:
    with pytest.raises(ValueError):
        PidGains(kp=math.nan)
