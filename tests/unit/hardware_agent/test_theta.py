"""θ = 0.3·H_CPU + 0.3·H_MEM + 0.4·H_TERM with renormalisation (F-HW-2)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from venom_hardware_agent.domain import theta as th


def test_theta_with_thermal_sensor_uses_the_seed_weights() -> None:
    # CPU 40 % busy → 0.6; 8 of 16 GiB available → 0.5; 67.5 °C with T_crit 95 → 1 − 27.5/55 = 0.5
    hc = th.h_cpu(40.0)
    hm = th.h_mem(8 * 2**30, 16 * 2**30)
    ht = th.h_term(67.5, critical_c=95.0)
    assert (hc, hm, ht) == pytest.approx((0.6, 0.5, 0.5))
    t = th.theta(hc, hm, ht)
    assert t.theta == pytest.approx(0.3 * 0.6 + 0.3 * 0.5 + 0.4 * 0.5)  # 0.53
    assert t.weights == {"h_cpu": 0.3, "h_mem": 0.3, "h_term": 0.4}
    assert t.thermal_sensor is True


def test_theta_without_thermal_sensor_renormalises_and_says_so() -> None:
    t = th.theta(0.6, 0.5, None)
    assert t.h_term is None and t.thermal_sensor is False
    assert t.theta == pytest.approx((0.3 * 0.6 + 0.3 * 0.5) / 0.6)  # 0.55, not 0.33 (no invented 0 °C/0 headroom)
    assert t.weights == pytest.approx({"h_cpu": 0.5, "h_mem": 0.5})
    assert "h_term" not in t.weights


def test_theta_over_one_h_is_that_h() -> None:
    t = th.theta(0.25, None, None)
    assert t.theta == pytest.approx(0.25) and t.weights == {"h_cpu": 1.0}


def test_theta_with_no_h_is_unknown_not_zero() -> None:
    t = th.theta(None, None, None)
    assert t.theta is None and t.weights == {}


@pytest.mark.parametrize(
    ("temp", "crit", "high", "expected"),
    [
        (20.0, None, None, 1.0),  # below 40 °C: full headroom
        (40.0, None, None, 1.0),
        (95.0, None, None, 0.0),  # default T_crit 95
        (120.0, None, None, 0.0),  # above critical: clamped, never negative
        (67.5, None, None, 0.5),
        (70.0, 100.0, 80.0, 0.5),  # critical wins over high
        (60.0, None, 80.0, 0.5),  # high when no critical
        (60.0, 30.0, None, 1 - 20 / 55),  # a limit ≤ 40 °C cannot scale: 95 used
    ],
)
def test_h_term_formula_and_bounds(temp: float, crit: float | None, high: float | None, expected: float) -> None:
    assert th.h_term(temp, crit, high) == pytest.approx(expected)


@given(
    st.floats(-60, 200), st.one_of(st.none(), st.floats(-60, 250)), st.one_of(st.none(), st.floats(-60, 250))
)
def test_h_term_stays_in_unit_interval(temp: float, crit: float | None, high: float | None) -> None:
    assert 0.0 <= th.h_term(temp, crit, high) <= 1.0


@given(
    st.one_of(st.none(), st.floats(0, 1)), st.one_of(st.none(), st.floats(0, 1)), st.one_of(st.none(), st.floats(0, 1))
)
def test_theta_is_a_weighted_mean_of_the_hs_present(hc: float | None, hm: float | None, ht: float | None) -> None:
    t = th.theta(hc, hm, ht)
    present = [h for h in (hc, hm, ht) if h is not None]
    if not present:
        assert t.theta is None
        return
    assert t.theta is not None
    assert min(present) - 1e-12 <= t.theta <= max(present) + 1e-12
    assert sum(t.weights.values()) == pytest.approx(1.0)


def test_h_cpu_and_h_mem_edges() -> None:
    assert th.h_cpu(0.0) == 1.0 and th.h_cpu(100.0) == 0.0
    assert th.h_mem(0, 0) is None  # unknown total: absent, not 0
    assert th.h_mem(5, 10) == 0.5
    assert th.h_mem_from_percent(75.0) == pytest.approx(0.25)
