"""Reproduce the detector comparison in docs/DETECTOR.md (F-ML-3) on NAB realAWSCloudwatch.

    nice -n 10 .venv/bin/python bench/detector_experiments.py --data ../shared/data/nab

Every method is a streaming object with the agent's seam, ``update({metric: value}) -> int``,
scored by ``evaluate_nab`` (fresh detector per file, one update per row, ROC AUC of anoms against
the labelled windows, mean over the files that have a window). Then a parameter grid for the
chosen method, with 2-fold and leave-one-file-out estimates (parameters picked on the other files).
"""

from __future__ import annotations

import argparse
import itertools
import math
import time
from collections import deque
from collections.abc import Callable
from pathlib import Path

import numpy as np

from venom_hardware_agent.detector import MetricConfig, TailSurpriseDetector, roc_auc
from venom_hardware_agent.detector.nab import NabReport, StreamingDetector, evaluate_nab, iter_benchmark
from venom_hardware_agent.detector.tail import RankedWindow

# --------------------------------------------------------------------------- baselines (bench only)


class EwmaZ:
    """z = |x - EWMA mean| / EWMA std; anoms = floor(z) (optionally summed over the last `window` samples)."""

    def __init__(self, alpha: float = 0.01, window: int = 1, warmup: int = 12) -> None:
        self.name = f"ewma-z a={alpha} window={window}"
        self.alpha, self.warmup = alpha, warmup
        self.mean: float | None = None
        self.var = 0.0
        self.n = 0
        self.recent: deque[int] = deque(maxlen=window)

    def update(self, series: dict[str, float]) -> int:
        x = next(iter(series.values()))
        if self.mean is None:
            self.mean = x
        z = abs(x - self.mean) / math.sqrt(self.var + 1e-12) if self.n >= self.warmup else 0.0
        d = x - self.mean
        self.mean += self.alpha * d
        self.var = (1 - self.alpha) * (self.var + self.alpha * d * d)
        self.n += 1
        self.recent.append(min(int(z), 50))
        return sum(self.recent)


class RobustZ:
    """z = |x - median| / (1.4826 MAD) over the last `history` samples; anoms = levels crossed
    (3, 5, 8, 13, 21) summed over the last `window` samples (window=1: the sample's own levels)."""

    LEVELS = (3.0, 5.0, 8.0, 13.0, 21.0)

    def __init__(self, history: int = 1000, window: int = 1, warmup: int = 12) -> None:
        self.name = f"robust-z history={history} window={window}"
        self.buf: deque[float] = deque(maxlen=history)
        self.recent: deque[int] = deque(maxlen=window)
        self.warmup = warmup

    def update(self, series: dict[str, float]) -> int:
        x = next(iter(series.values()))
        level = 0
        if len(self.buf) >= self.warmup:
            b = np.fromiter(self.buf, dtype=np.float64)
            med = float(np.median(b))
            dev = np.abs(b - med)
            scale = 1.4826 * float(np.median(dev)) or 1.2533 * float(dev.mean())
            z = abs(x - med) / (scale + 1e-9 * abs(med) + 1e-12)
            level = sum(z > k for k in self.LEVELS)
        self.buf.append(x)
        self.recent.append(level)
        return sum(self.recent)


class TailWindowCount:
    """Tail-surprise levels summed over a uniform window of `window` samples instead of a decaying sum."""

    def __init__(self, window: int = 144, cfg: MetricConfig | None = None) -> None:
        self.name = f"tail-surprise, uniform window={window}"
        self.inner = TailSurpriseDetector(cfg or MetricConfig(half_life=1e-9))
        self.recent: deque[int] = deque(maxlen=window)

    def update(self, series: dict[str, float]) -> int:
        state_level = 0
        for metric, value in series.items():
            st = self.inner._states.get(metric)
            if st is None:
                self.inner.update({metric: value})
                continue
            state_level += st.level(value)
            st.window.push(value)
            st.seen += 1
        self.recent.append(state_level)
        return sum(self.recent)


class SeasonalTail:
    """Tail surprise of x plus that of the daily difference x[t] - x[t - period] (period in samples),
    levels decayed as in the chosen detector."""

    def __init__(self, period: int = 288, cfg: MetricConfig | None = None) -> None:
        self.cfg = cfg or MetricConfig()
        self.name = f"tail-surprise + seasonal difference (period={period})"
        self.period = period
        self.past: deque[float] = deque(maxlen=period)
        self.x = RankedWindow(self.cfg.history)
        self.diff = RankedWindow(self.cfg.history)
        self.memory = 0.0
        self.decay = 0.5 ** (1 / self.cfg.half_life)
        self.n = 0

    def _level(self, w: RankedWindow, v: float) -> int:
        if len(w) < self.cfg.warmup:
            return 0
        s = w.surprise(v, cap=self.cfg.max_surprise)
        return 0 if s < self.cfg.threshold else int(s - self.cfg.threshold) + 1

    def update(self, series: dict[str, float]) -> int:
        x = next(iter(series.values()))
        level = self._level(self.x, x)
        self.x.push(x)
        if len(self.past) == self.period:
            d = x - self.past[0]
            level += self._level(self.diff, d)
            self.diff.push(d)
        self.past.append(x)
        self.memory = self.memory * self.decay + level
        return int(self.memory)


# --------------------------------------------------------------------------- runs


def run(root: Path, factory: Callable[[], StreamingDetector]) -> NabReport:
    return evaluate_nab(root, factory)


def reactive_ceiling(root: Path) -> float:
    """AUC of an oracle that scores 1 from each window's centre (the labelled anomaly) to its end, 0 elsewhere:
    the best a detector can do if it reacts perfectly to the labelled event but sees no precursor."""
    aucs = []
    for _series, labels in iter_benchmark(root):
        if not labels.any():
            continue
        idx = np.flatnonzero(labels)
        score = np.zeros(labels.size)
        for seg in np.split(idx, np.flatnonzero(np.diff(idx) > 1) + 1):
            score[(seg[0] + seg[-1]) // 2 : seg[-1] + 1] = 1.0
        aucs.append(roc_auc(score, labels))
    return float(np.mean(aucs))


GRID = {
    "history": (1008, 2016, 4032),
    "threshold": (1.5, 2.0, 2.5),
    "half_life": (36.0, 72.0, 144.0),
}


def grid_search(root: Path) -> tuple[list[dict[str, float]], np.ndarray, list[str]]:
    """AUC per (config, file): rows = configs of GRID, columns = labelled files."""
    configs = [dict(zip(GRID, vals, strict=True)) for vals in itertools.product(*GRID.values())]
    table = []
    keys: list[str] = []
    for params in configs:
        cfg = MetricConfig(**params)  # type: ignore[arg-type]  # allowance stays at its default
        report = run(root, lambda cfg=cfg: TailSurpriseDetector(cfg))
        keys = [f.key for f in report.scored_files]
        table.append([f.auc for f in report.scored_files])
    return configs, np.array(table, dtype=np.float64), keys


def held_out(table: np.ndarray, folds: list[np.ndarray]) -> tuple[float, list[int]]:
    """Mean AUC on each fold's files with the config that is best on the other files."""
    n_files = table.shape[1]
    scores = np.full(n_files, np.nan)
    picks = []
    for test in folds:
        train = np.setdiff1d(np.arange(n_files), test)
        best = int(np.argmax(table[:, train].mean(axis=1)))
        picks.append(best)
        scores[test] = table[best, test]
    return float(np.nanmean(scores)), picks


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", type=Path, default=Path(__file__).resolve().parents[2] / "shared" / "data" / "nab")
    ap.add_argument("--skip-grid", action="store_true")
    args = ap.parse_args()
    root: Path = args.data

    methods: list[tuple[str, Callable[[], StreamingDetector]]] = [
        ("EWMA z-score, anoms = floor(z)", lambda: EwmaZ(0.01, 1)),
        ("EWMA z-score, floor(z) summed over 144 samples", lambda: EwmaZ(0.003, 144)),
        ("robust z (median/MAD of last 1000), levels crossed", lambda: RobustZ(1000, 1)),
        ("robust z (median/MAD of last 1000), levels summed over 144", lambda: RobustZ(1000, 144)),
        (
            "tail surprise, sample's own level only",
            lambda: TailSurpriseDetector(MetricConfig(half_life=1e-9, allowance=0.0)),
        ),
        ("tail surprise, levels summed over 144 samples", lambda: TailWindowCount(144)),
        ("tail surprise + seasonal daily difference, decayed", lambda: SeasonalTail(288)),
        ("tail surprise, decayed sum, no allowance", lambda: TailSurpriseDetector(MetricConfig(allowance=0.0))),
        ("**tail surprise, decayed sum with allowance (chosen, defaults)**", TailSurpriseDetector),
    ]
    print("| method | mean AUC (16 files) | seconds |")
    print("|---|---|---|")
    for label, factory in methods:
        t0 = time.perf_counter()
        report = run(root, factory)
        print(f"| {label} | {report.mean_auc:.3f} | {time.perf_counter() - t0:.1f} |", flush=True)
    print(f"| reference: oracle reacting at each window's centre, no precursor | {reactive_ceiling(root):.3f} | - |")

    chosen = run(root, TailSurpriseDetector)
    print("\nPer file, chosen detector (defaults):\n")
    print("| file | rows | positives | AUC |")
    print("|---|---|---|---|")
    for f in chosen.files:
        auc = "undefined (no window)" if f.auc is None else f"{f.auc:.3f}"
        print(f"| {f.key} | {f.rows} | {f.positives} | {auc} |")
    for cat, auc in chosen.category_auc().items():
        print(f"\ncategory {cat}: mean AUC {auc:.3f}; rows skipped {chosen.skipped_rows}; "
              f"gaps {sum(f.gaps for f in chosen.files)}")

    if args.skip_grid:
        return
    configs, table, keys = grid_search(root)
    means = table.mean(axis=1)
    default = MetricConfig()
    d_idx = next(i for i, c in enumerate(configs)
                 if c == {"history": default.history, "threshold": default.threshold, "half_life": default.half_life})
    n = table.shape[1]
    two_fold = [np.arange(0, n, 2), np.arange(1, n, 2)]
    loo = [np.array([i]) for i in range(n)]
    tf, tf_picks = held_out(table, two_fold)
    lo, lo_picks = held_out(table, loo)
    print(f"\nGrid {GRID} ({len(configs)} configs):")
    print(f"- best config on all 16 files (in-sample): {configs[int(np.argmax(means))]} -> {means.max():.3f}")
    print(f"- worst config: {configs[int(np.argmin(means))]} -> {means.min():.3f}; median {np.median(means):.3f}")
    print(f"- defaults {configs[d_idx]} -> {means[d_idx]:.3f}")
    print(f"- 2-fold (alternate files; pick on one half, score the other): {tf:.3f}; picks "
          f"{[configs[p] for p in tf_picks]}")
    print(f"- leave-one-file-out: {lo:.3f}; distinct picks {sorted({str(configs[p]) for p in lo_picks})}")


if __name__ == "__main__":
    main()
