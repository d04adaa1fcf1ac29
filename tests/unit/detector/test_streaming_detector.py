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


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_an_injected_spike_raises_anoms_which_then_fade(seed: int) -> None:
    x = noisy_daily(1700, seed=seed)
    det = TailSurpriseDetector()
    before = run(det, x[:1200])
    assert before[-1] <= 2
    spike = det.update({"cpu": 400.0})
    assert spike >= 8, spike
    # The memory keeps the event visible after it (the shape evidence adds while the spike is in the
    # last 12 samples), so following samples rank above quiet ones; then it fades.
    after = run(det, x[1201:1700])
    assert after[10] >= 15
    assert np.median(after[300:]) <= 2


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_level_shift_is_detected_then_absorbed(seed: int) -> None:
    x = noisy_daily(3500, seed=seed)
    x[1500:] += 60.0  # sustained shift, far beyond the daily range
    out = np.array(run(TailSurpriseDetector(), x))
    assert out[1000:1500].mean() <= 1.5  # chance exceedances of noise leave a small, mostly-zero floor
    assert out[1500:1520].max() >= 30
    # The history (1008 samples) absorbs the new level and the allowance drains the memory:
    # anoms is back to 0 within 800 samples and mostly 0 afterwards.
    assert (out[1500:2300] == 0).any()
    assert (out[2500:] == 0).mean() >= 0.5


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_step_on_a_steady_metric_returns_to_zero(seed: int) -> None:
    rng = np.random.default_rng(seed)
    x = np.r_[np.full(1200, 20.0), np.full(2000, 70.0)] + rng.uniform(-0.5, 0.5, 3200)
    out = np.array(run(TailSurpriseDetector(), x))
    assert out[1000:1200].max() <= 3
    assert out[1200:1210].max() >= 30
    assert (out[1200:2000] == 0).any()
    assert (out[-500:] == 0).mean() >= 0.5 and out[-500:].max() <= 8


def test_level_is_the_graded_sum_behind_anoms() -> None:
    # F-ML-3: anoms is the integer part of each metric's memory; the node's level is their unfloored sum,
    # so it orders samples that share an anoms value (the quiet floor and the fading tail of an event).
    x = noisy_daily(1500, seed=0)
    x[1200] = 400.0
    det = TailSurpriseDetector()
    anoms, levels = [], []
    for v in x:
        anoms.append(det.update({"cpu": float(v), "mem": float(v) / 2}))
        levels.append(det.level)
        assert det.level >= anoms[-1] and det.level < anoms[-1] + 2  # two metrics, each < 1 above its floor
    tail_levels = levels[1210:1500]
    assert len(set(tail_levels)) > len(set(anoms[1210:1500]))
    assert np.mean(np.diff(tail_levels) < 0) > 0.8  # it fades, apart from the noise's chance exceedances
    assert det.update({}) == 0 and det.level == 0.0  # the level covers the sample's metrics, as anoms does


def test_no_look_ahead() -> None:
    x = noisy_daily(800, seed=1)
    y = x.copy()
    y[500:] = y[500:] * 5 + 100  # the future differs wildly
    a = run(TailSurpriseDetector(), x)
    b = run(TailSurpriseDetector(), y)
    assert a[:500] == b[:500]
    assert a[500:] != b[500:]
    da, db = TailSurpriseDetector(), TailSurpriseDetector()
    la = [(da.update({"cpu": float(v)}), da.level)[1] for v in x]
    lb = [(db.update({"cpu": float(v)}), db.level)[1] for v in y]
    assert la[:500] == lb[:500] and la[500:] != lb[500:]


def test_memory_is_bounded() -> None:
    cfg = MetricConfig(history=200, warmup=20, shape_width=8, season=50)
    det = TailSurpriseDetector(cfg)
    rng = np.random.default_rng(3)
    sizes = []
    for i in range(3000):
        det.update({"a": float(rng.normal()), "b": float(rng.exponential())})
        if i in (1000, 2999):
            sizes.append(det.state_size())
    # per metric: values 200 + seasonal changes 200 + lag 50 + shape ring 200 x 8 + distances 200
    assert sizes == [2 * (200 + 200 + 50 + 200 * 8 + 200)] * 2
    st = det._states["a"]
    assert len(st.values._fifo) == len(st.values._sorted) == 200


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
        MetricConfig(history=64, warmup=100)
    with pytest.raises(ValidationError, match="shape_width"):
        MetricConfig(shape_width=1)
    with pytest.raises(ValidationError):
        MetricConfig(half_life=0)


def test_window_discord_finds_a_new_shape_among_repetitions() -> None:
    from venom_hardware_agent.detector.shape import WindowDiscord

    wd = WindowDiscord(width=4, capacity=100, min_neighbours=8)
    pattern = [0.0, 1.0, 0.0, -1.0]
    distances = [wd.push(pattern[i % 4]) for i in range(60)]
    assert distances[:14] == [None] * 14  # 4 to fill the first window, then 8 past windows beyond the 4 overlapping
    assert max(d for d in distances[14:] if d is not None) == pytest.approx(0.0)
    d = wd.push(5.0)  # a window never seen
    assert d is not None and d > 4.0
    assert len(wd) == 61 - 3


def test_config_for_another_interval_keeps_durations_and_bounds_memory() -> None:
    every_minute = MetricConfig.for_interval(60.0)
    assert every_minute.history == 5040 and every_minute.half_life == pytest.approx(720.0)
    every_second = MetricConfig.for_interval(1.0)
    assert every_second.history == 20_160  # clamped
    assert MetricConfig.for_interval(300.0) == MetricConfig()


def test_detector_by_name() -> None:
    from venom_hardware_agent.detector import UnknownDetector, detector_by_name, detector_names

    assert detector_names() == ["tail-surprise"]
    assert detector_by_name("tail-surprise").default == MetricConfig()
    assert detector_by_name("tail-surprise", interval_s=60.0).default.history == 5040
    with pytest.raises(UnknownDetector, match="known: tail-surprise"):
        detector_by_name("zscore")
