"""The Möbius model (F-MATH-5): Amdahl, Θ(θ) through the seed's three examples, the strategies, bad input."""

from __future__ import annotations

import math

import pytest
from venom_omega.mobius import (
    Mode,
    MobiusDomainError,
    amdahl_speedup,
    estimate_compression,
    mode_for,
    theta_compression,
    total_speedup,
)


def test_amdahl_edges_and_a_value() -> None:
    assert amdahl_speedup(0.0, 64) == 1.0
    assert amdahl_speedup(1.0, 8) == pytest.approx(8.0)
    assert amdahl_speedup(0.8, 8) == pytest.approx(1 / (0.2 + 0.1))
    assert amdahl_speedup(0.95, 1) == pytest.approx(1.0)


@pytest.mark.parametrize(("theta", "lam", "p", "n", "seed_figure"), [
    (0.61, 50, 0.65, 4, 151),       # Raspberry Pi 4
    (0.77, 400, 0.80, 8, 2900),     # laptop
    (0.915, 832, 0.95, 32, 31322),  # cloud server
])
def test_theta_compression_reproduces_the_seed_examples(theta: float, lam: float, p: float, n: int,
                                                       seed_figure: int) -> None:
    assert int(total_speedup(theta, lam, p, n)) == seed_figure


@pytest.mark.parametrize(("theta", "mode"), [
    (0.0, Mode.UNWRAP), (0.299, Mode.UNWRAP), (0.3, Mode.TRANSITION), (0.5, Mode.BALANCE),
    (0.7, Mode.WRAP), (0.899, Mode.WRAP), (0.9, Mode.OPTIMIZE), (1.0, Mode.OPTIMIZE),
])
def test_mode_bands(theta: float, mode: Mode) -> None:
    assert mode_for(theta) is mode


def test_theta_compression_is_in_range_continuous_inside_bands_and_monotone() -> None:
    values = [theta_compression(i / 1000) for i in range(1001)]
    assert min(values) == 0.5 and max(values) == 3.0
    assert all(b >= a for a, b in zip(values, values[1:], strict=False))
    assert theta_compression(0.3) == pytest.approx(0.5) and theta_compression(0.5) == pytest.approx(1.0)
    assert theta_compression(0.7) == pytest.approx(2.0) and theta_compression(0.8999) == pytest.approx(2.5, abs=1e-3)


def test_strategies() -> None:
    assert theta_compression(0.77, "conservative") == 1.0
    assert theta_compression(0.2, "conservative") == 0.5
    assert theta_compression(0.77, "aggressive") == 2.5
    assert theta_compression(0.61, "aggressive") == 2.0
    assert theta_compression(0.77, "conservative") <= theta_compression(0.77) <= theta_compression(0.77, "aggressive")
    with pytest.raises(MobiusDomainError, match="strategy"):
        theta_compression(0.5, "reckless")  # type: ignore[arg-type]


def test_estimate_is_labelled_a_model() -> None:
    est = estimate_compression(840, theta=0.77, lambda_wrap=400, parallel_fraction=0.8, workers_n=8)
    assert est.kind == "model" and "not a measurement" in est.note
    assert est.hours_estimated == pytest.approx(840 / 2900)
    assert est.to_json()["mode"] == "WRAP"


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"theta": 1.2}, "θ"), ({"theta": -0.1}, "θ"), ({"theta": math.nan}, "θ"),
    ({"parallel_fraction": 1.5}, "P"), ({"parallel_fraction": -0.01}, "P"),
    ({"workers_n": 0}, "N"), ({"workers_n": 0.5}, "N"),
    ({"lambda_wrap": 5}, "Λ"), ({"lambda_wrap": 1000}, "Λ"),
])
def test_bad_input_is_refused(kwargs: dict[str, float], message: str) -> None:
    args: dict[str, float] = {"theta": 0.5, "lambda_wrap": 100, "parallel_fraction": 0.5, "workers_n": 2}
    args.update(kwargs)
    with pytest.raises(MobiusDomainError, match=message):
        estimate_compression(10, **args)  # type: ignore[arg-type]
    with pytest.raises(MobiusDomainError):
        estimate_compression(-1, theta=0.5, lambda_wrap=100, parallel_fraction=0.5, workers_n=2)
