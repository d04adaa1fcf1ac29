"""F-MATH-1..4 with the seeds' own numbers."""

import math

import pytest

from venom_common.maths import MathDomainError, fractal_total, grav_mode, mobius_time, state_from_theta, time_wrap

E4 = math.exp(4)


def test_time_wrap_seed_value() -> None:
    # seed 001 §3: k=4, P=5, T1=0.001, U=e⁴ → 0.004 / 0.95 ≈ 0.004211 s
    assert time_wrap(4, 5, E4, 0.001) == pytest.approx(0.004 / 0.95, rel=1e-12)
    assert round(time_wrap(4, 5, E4, 0.001), 6) == 0.004211


def test_time_wrap_kp_equal_one_raises() -> None:
    with pytest.raises(MathDomainError, match="must not equal 1"):
        time_wrap(1, 1, E4)
    with pytest.raises(MathDomainError, match="must not equal 1"):
        time_wrap(0.5, 2, E4)


@pytest.mark.parametrize("k,p", [(0.5, 1), (0.1, 0.1), (-4, 5)])
def test_time_wrap_unstable_refused(k: float, p: float) -> None:
    with pytest.raises(MathDomainError, match="stable"):
        time_wrap(k, p, E4)


def test_time_wrap_floor() -> None:
    # a tiny T1 would give a period below the floor: it is floored at 1e-6 s
    assert time_wrap(4, 5, E4, 1e-12) == 1e-6


@pytest.mark.parametrize("bad", [math.nan, math.inf, -math.inf])
def test_time_wrap_refuses_non_finite(bad: float) -> None:
    with pytest.raises(MathDomainError):
        time_wrap(bad, 5, E4)


def test_fractal_total_states() -> None:
    assert fractal_total(1, 0.5) == ("Regen", ["Scan", "Detect", "Quarantine", "Heal", "Improve", "Reinvest"])
    assert fractal_total(0, 0.5)[0] == "Neutral"
    assert fractal_total(-1, 0.5) == ("Entropy", ["Reinvest_neg", "Degrade", "Infect", "Spread", "Ignore", "Blind"])


def test_fractal_total_inf_falls_back_on_theta() -> None:
    assert fractal_total(math.inf, 0.95)[0] == "Regen"
    assert fractal_total(math.inf, 0.5)[0] == "Neutral"
    assert fractal_total(math.inf, 0.1)[0] == "Entropy"
    assert state_from_theta(0.7) == 1 and state_from_theta(0.3) == 0 and state_from_theta(0.29) == -1


@pytest.mark.parametrize("s", [2, -2, 0.5, -math.inf, math.nan])
def test_fractal_total_unknown_state(s: float) -> None:
    with pytest.raises(MathDomainError):
        fractal_total(s, 0.5)


@pytest.mark.parametrize("theta", [-0.1, 1.1, math.nan])
def test_theta_out_of_range(theta: float) -> None:
    with pytest.raises(MathDomainError, match="theta"):
        fractal_total(math.inf, theta)


def test_mobius_time() -> None:
    assert mobius_time(1, 4, 5, E4, 0.5) == pytest.approx(0.004 / 0.95)
    assert mobius_time(0, 4, 5, E4, 0.5) == pytest.approx(4.0)
    # Σ_{i<10} 20^i · 4
    assert mobius_time(-1, 4, 5, E4, 0.5) == pytest.approx(4 * sum(20**i for i in range(10)))


def test_grav_mode() -> None:
    name, value = grav_mode(1, 0.5, 4, 5, E4)
    assert name == "Accelerare" and value == pytest.approx(0.004211, abs=1e-6)
    assert grav_mode(0, 0.5, 4, 5, E4) == ("Stagnare", pytest.approx(4.0))
    name, value = grav_mode(-1, 0.5, 4, 5, E4)
    assert name == "Frânare" and value == pytest.approx(-0.004 / 0.95)
