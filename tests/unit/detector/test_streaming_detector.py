"""The streaming detector behind the hardware agent's seam (F-ML-3), on synthetic series."""

from __future__ import annotations

import numpy as np
import pytest
from pydantic import ValidationError

from venom_hardware_agent.detector import MetricConfig, TailSurpriseDetector, TooManyMetrics
from venom_hardware_agent.detector.tail import RankedWindow


def noisy_daily(n: int, seed: int = 0, level: float = 40.0) -> np.ndarray:
    """5-minute samples: a daily cycle (288 samples) plus noise, like a server's CPU."""
    rng = np.random.default_rng(seed)
    t = np.arange(n)
    return level + 10 * np.sin(2 * np.pi * t / 288) + rng.normal(0, 2, n)


def run(det: TailSurpriseDetector, values: np.ndarray, metric: str = "cpu") -> list[int]:
    return [det.update({metric: float(v)}) for v in values]


def test_seam_name_and_integer_anoms() -> None:
    det = TailSurpriseDetector()
    assert isinstance(det.name, str) and det.name
    out = det.update({"cpu": 1.0, "mem": 2.0})
    assert isinstance(out, int) and out == 0


def test_quiet_series_gives_little_and_an_injected_spike_raises_anoms() -> None:
    x = noisy_daily(1500)
    det = TailSurpriseDetector()
    before = run(det, x[:1200])
    typical = float(np.median(before[600:]))
    assert typical <= 1
    previous = before[-1]
    spike = det.update({"cpu": 400.0})
    assert spike >= previous + 4, (previous, spike)
    # The memory keeps the event visible for a while after it (so following samples rank high), then fades.
    after = run(det, x[1200:1700])
    assert after[10] >= previous + 3
    assert np.median(after[-100:]) <= typical + 1


def test_level_shift_is_detected_then_absorbed() -> None:
    x = noisy_daily(3500)
    x[1500:] += 60.0  # sustained shift, far beyond the daily range
    det = TailSurpriseDetector()
    out = run(det, x)
    quiet = out[1000:1500]
    assert max(quiet) <= 6  # chance exceedances of Gaussian noise (about 2 % of samples) leave a small floor
    assert max(out[1500:1520]) >= 3 * max(quiet) + 5
    # The history (1008 samples) absorbs the new level and the allowance drains the memory:
    # anoms reaches 0 within 1000 samples and settles back to the pre-shift floor.
    assert 0 in out[1500:2500]
    assert np.mean(out[-500:]) <= np.mean(quiet) + 1.0


def test_step_on_a_steady_metric_returns_to_zero() -> None:
    rng = np.random.default_rng(2)
    x = np.r_[np.full(1200, 20.0), np.full(2000, 70.0)] + rng.uniform(-0.5, 0.5, 3200)
    out = run(TailSurpriseDetector(), x)
    floor = max(out[1000:1200])  # chance exceedances: the tail test fires on ~2 % of any stationary series
    assert max(out[1200:1210]) >= floor + 5
    assert 0 in out[1200:1900]  # absorbed within 700 samples
    assert max(out[-500:]) <= floor and out[-500:].count(0) >= 250


def test_no_look_ahead() -> None:
    x = noisy_daily(800, seed=1)
    y = x.copy()
    y[500:] = y[500:] * 5 + 100  # the future differs wildly
    a = run(TailSurpriseDetector(), x)
    b = run(TailSurpriseDetector(), y)
    assert a[:500] == b[:500]
    assert a[500:] != b[500:]


def test_memory_is_bounded() -> None:
    cfg = MetricConfig(history=200, warmup=20)
    det = TailSurpriseDetector(cfg)
    rng = np.random.default_rng(3)
    sizes = []
    for i in range(3000):
        det.update({"a": float(rng.normal()), "b": float(rng.exponential())})
        if i in (500, 2999):
            sizes.append(det.state_size())
    assert sizes == [400, 400]
    st = det._states["a"]
    assert len(st.window._fifo) == len(st.window._sorted) == 200


def test_ranked_window_keeps_the_last_values_sorted() -> None:
    w = RankedWindow(3)
    for v in [5.0, 1.0, 3.0, 2.0, 2.0]:
        w.push(v)
    assert w._sorted == [2.0, 2.0, 3.0]
    assert w.surprise(2.5, cap=8.0) == pytest.approx(-np.log10(1 / 3))
    assert w.surprise(1000.0, cap=8.0) == 8.0  # far beyond the seen range: capped


def test_per_metric_config_and_disabled_metrics() -> None:
    spike_metric = noisy_daily(600)
    det = TailSurpriseDetector(
        MetricConfig(),
        {"noisy_counter": MetricConfig(enabled=False), "disk": MetricConfig(threshold=6.0, max_surprise=8.0)},
    )
    for v in spike_metric[:500]:
        det.update({"cpu": float(v), "noisy_counter": float(v), "disk": float(v)})
    det.update({"cpu": 500.0, "noisy_counter": 500.0, "disk": float(spike_metric[500])})
    assert det.last["cpu"] >= 3
    assert "noisy_counter" not in det.last  # disabled: no state, no anoms
    assert det.config_for("disk").threshold == 6.0
    assert det.config_for("cpu") == MetricConfig()


def test_total_is_the_sum_over_metrics() -> None:
    det = TailSurpriseDetector()
    x = noisy_daily(400)
    for v in x:
        det.update({"a": float(v), "b": float(v)})
    total = det.update({"a": 900.0, "b": 900.0})
    assert total == det.last["a"] + det.last["b"] and det.last["a"] == det.last["b"] > 0


def test_non_finite_values_are_ignored() -> None:
    det = TailSurpriseDetector()
    for v in noisy_daily(100):
        det.update({"cpu": float(v)})
    size = det.state_size()
    assert det.update({"cpu": float("nan")}) == 0
    assert det.update({"cpu": float("inf")}) == 0
    assert det.state_size() == size


def test_metric_count_is_bounded() -> None:
    det = TailSurpriseDetector(max_metrics=2)
    det.update({"a": 1.0, "b": 1.0})
    with pytest.raises(TooManyMetrics, match="max_metrics"):
        det.update({"c": 1.0})


def test_config_is_validated() -> None:
    with pytest.raises(ValidationError, match="warmup"):
        MetricConfig(history=20, warmup=30)
    with pytest.raises(ValidationError):
        MetricConfig(half_life=0)
