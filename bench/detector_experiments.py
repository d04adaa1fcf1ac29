"""Reproduce the detector comparison in docs/DETECTOR.md (F-ML-3) on NAB realAWSCloudwatch.

    nice -n 10 .venv/bin/python bench/detector_experiments.py --data ../shared/data/nab

Every method is a streaming object with the agent's seam, ``update({metric: value}) -> int``,
scored by ``evaluate_nab`` (fresh detector per file, one update per row, ROC AUC of the detector's
``level`` when it has one, else of anoms, against the labelled windows, mean over the files that
have a window). Then a parameter grid for the
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

from venom_hardware_agent.detector import MetricConfig, MetricState, TailSurpriseDetector, roc_auc
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
    """Value tail-surprise levels summed over a uniform window of `window` samples instead of a decaying sum."""

    def __init__(self, window: int = 144) -> None:
        self.name = f"tail-surprise, uniform window={window}"
        self.state = MetricState(MetricConfig(shape_width=0))
        self.recent: deque[int] = deque(maxlen=window)

    def update(self, series: dict[str, float]) -> int:
        self.recent.append(self.state.levels(next(iter(series.values()))))
        return sum(self.recent)


class SeasonalTail:
    """Tail surprise of x plus that of the daily difference x[t] - x[t - period] (period in samples),
    levels decayed as in the chosen detector."""

    def __init__(self, period: int = 288, cfg: MetricConfig | None = None) -> None:
        self.cfg = cfg or MetricConfig(allowance=0.0)
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


class IntegerAnoms:
    """The chosen detector scored by its integer anoms only (its output before the graded level was exposed)."""

    def __init__(self, cfg: MetricConfig | None = None) -> None:
        self.inner = TailSurpriseDetector(cfg)
        self.name = "tail-surprise, integer anoms"

    def update(self, series: dict[str, float]) -> int:
        return self.inner.update(series)


class DifferenceState(MetricState):
    """The chosen evidences plus a third: the tail surprise of the first difference x[t] - x[t-1]."""

    def __init__(self, config: MetricConfig) -> None:
        super().__init__(config)
        self.diffs = RankedWindow(config.history)
        self.prev: float | None = None

    def levels(self, value: float) -> int:
        level = 0
        if self.prev is not None:
            change = value - self.prev
            level = self._level(self.diffs, change) if self.seen >= self.config.warmup else 0
            self.diffs.push(change)
        self.prev = value
        return level + super().levels(value)


class WithDifference:
    """One metric through DifferenceState, scored by its level (as the chosen detector)."""

    def __init__(self, cfg: MetricConfig | None = None) -> None:
        self.state = DifferenceState(cfg or MetricConfig())
        self.name = "tail-surprise + first difference"
        self.level = 0.0

    def update(self, series: dict[str, float]) -> int:
        anoms = self.state.update(next(iter(series.values())))
        self.level = self.state.memory
        return anoms


# --------------------------------------------------------------------------- isolation forest (bench only)


def c_n(n):
    return 2*(math.log(n-1)+0.5772156649)-2*(n-1)/n if n>2 else (1.0 if n==2 else 0.0)

class IsoTree:
    def __init__(self, X, rng, max_depth):
        # array-based tree: nodes list of (feat, split, left, right, size)
        self.nodes=[]; self._build(X, 0, rng, max_depth)
    def _build(self, X, d, rng, md):
        idx=len(self.nodes); self.nodes.append(None)
        n=len(X)
        if d>=md or n<=1:
            self.nodes[idx]=(-1,0.0,-1,-1,n); return idx
        lo=X.min(0); hi=X.max(0); cand=np.flatnonzero(hi>lo)
        if cand.size==0:
            self.nodes[idx]=(-1,0.0,-1,-1,n); return idx
        f=int(rng.choice(cand)); sp=float(rng.uniform(lo[f],hi[f]))
        m=X[:,f]<sp
        l=self._build(X[m],d+1,rng,md); r=self._build(X[~m],d+1,rng,md)
        self.nodes[idx]=(f,sp,l,r,n); return idx
    def path(self, x):
        i=0; d=0
        while True:
            f,sp,l,r,n=self.nodes[i]
            if f<0: return d+c_n(n)
            i = l if x[f]<sp else r; d+=1

class StreamingIForest:
    """Isolation forest over sliding windows of the last `w` values, refit every `refit` samples on the
    last `history` windows (bounded: history x w floats + the trees). The IF score is then ranked
    against the recent IF scores (tail surprise) and decayed like the chosen detector."""
    name = "streaming isolation forest"
    def __init__(self, w=12, history=1008, refit=288, trees=50, sub=256, thr=2.0, hl=144, seed=0):
        self.w=w; self.buf=deque(maxlen=w); self.emb=deque(maxlen=history); self.refit=refit
        self.trees=[]; self.ntrees=trees; self.sub=sub; self.rng=np.random.default_rng(seed)
        self.scores=RankedWindow(history); self.thr=thr; self.dec=0.5**(1/hl); self.mem=0.0; self.n=0
    def _fit(self):
        X=np.array(self.emb); psi=min(self.sub,len(X)); md=int(math.ceil(math.log2(max(psi,2))))
        self.trees=[IsoTree(X[self.rng.choice(len(X),psi,replace=False)],self.rng,md) for _ in range(self.ntrees)]
        self.c=c_n(psi)
    def update(self, series):
        x=next(iter(series.values())); self.buf.append(x); self.n+=1
        level=0
        if len(self.buf)==self.w:
            e=np.array(self.buf)
            if self.trees:
                h=np.mean([t.path(e) for t in self.trees]); s=2**(-h/self.c)
                if len(self.scores)>=36:
                    sur=self.scores.surprise(s,cap=8.0)
                    # only unusually HIGH IF scores are anomalous
                    n=len(self.scores)
                    if sur>=self.thr and s>=self.scores._sorted[n//2]: level=int(sur-self.thr)+1
                self.scores.push(s)
            self.emb.append(e)
            if len(self.emb)>=64 and (not self.trees or self.n%self.refit==0): self._fit()
        self.mem=self.mem*self.dec+level
        return int(self.mem)


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


def pre_post(report: NabReport) -> tuple[float, float]:
    """Mean AUC of each window's first half (before the labelled event at its centre) against the negatives,
    and of its second half against the negatives: where a reactive detector wins and where it cannot.
    Needs a report made with keep_rows."""
    pre, post = [], []
    for f in report.scored_files:
        scores = np.array([r.score for r in f.scored])
        labels = np.array([r.label for r in f.scored])
        first = np.zeros(labels.size, dtype=bool)
        idx = np.flatnonzero(labels)
        for seg in np.split(idx, np.flatnonzero(np.diff(idx) > 1) + 1):
            first[seg[0] : (seg[0] + seg[-1]) // 2] = True
        for half, out in ((first, pre), (labels & ~first, post)):
            keep = half | ~labels
            out.append(roc_auc(scores[keep], half[keep]))
    return float(np.mean(pre)), float(np.mean(post))


GRID = {
    "history": (504, 1008, 2016),
    "threshold": (1.5, 2.0, 2.5),
    "half_life": (72.0, 144.0, 288.0),
}


def grid_search(root: Path) -> tuple[list[dict[str, float]], np.ndarray, list[str]]:
    """AUC per (config, file): rows = configs of GRID, columns = labelled files."""
    configs = [dict(zip(GRID, vals, strict=True)) for vals in itertools.product(*GRID.values())]
    table = []
    keys: list[str] = []
    for params in configs:
        cfg = MetricConfig(**params)  # type: ignore[arg-type]  # the other settings stay at their defaults
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
    ap.add_argument("--slow", action="store_true", help="also run the streaming isolation forest (~80 s)")
    args = ap.parse_args()
    root: Path = args.data

    value_only = {"shape_width": 0}
    methods: list[tuple[str, Callable[[], StreamingDetector]]] = [
        ("EWMA z-score, anoms = floor(z)", lambda: EwmaZ(0.01, 1)),
        ("EWMA z-score, floor(z) summed over 144 samples", lambda: EwmaZ(0.003, 144)),
        ("robust z (median/MAD of last 1000), levels crossed", lambda: RobustZ(1000, 1)),
        ("robust z (median/MAD of last 1000), levels summed over 144", lambda: RobustZ(1000, 144)),
        (
            "value tail surprise, the sample's own level only",
            lambda: TailSurpriseDetector(MetricConfig(half_life=1e-9, allowance=0.0, **value_only)),
        ),
        ("value tail surprise, levels summed over 144 samples", lambda: TailWindowCount(144)),
        (
            "value tail surprise, decayed sum, no allowance",
            lambda: TailSurpriseDetector(MetricConfig(allowance=0.0, **value_only)),
        ),
        (
            "value tail surprise, decayed sum, allowance 0.03",
            lambda: TailSurpriseDetector(MetricConfig(allowance=0.03, **value_only)),
        ),
        ("value + raw daily difference (echoes a spike a day later), no allowance", lambda: SeasonalTail(288)),
        (
            "value + shape + daily difference to median of day-ago samples, allowance 0.05",
            lambda: TailSurpriseDetector(MetricConfig(season=288)),
        ),
        ("value + shape (width 6), allowance 0.05", lambda: TailSurpriseDetector(MetricConfig(shape_width=6))),
        ("value + shape (width 24), allowance 0.05", lambda: TailSurpriseDetector(MetricConfig(shape_width=24))),
        ("value + shape (width 12), no allowance", lambda: TailSurpriseDetector(MetricConfig(allowance=0.0))),
        ("value + shape (width 12), allowance 0.05, scored by the integer anoms (before)", IntegerAnoms),
        ("value + shape, no allowance, half-life 72", lambda: TailSurpriseDetector(
            MetricConfig(allowance=0.0, half_life=72.0))),
        ("value + shape + first difference, allowance 0.05", WithDifference),
        ("value + shape + first difference, no allowance, half-life 72", lambda: WithDifference(
            MetricConfig(allowance=0.0, half_life=72.0))),
        ("**value + shape (width 12), allowance 0.05, scored by the level (chosen, defaults)**",
         TailSurpriseDetector),
    ]
    if args.slow:
        methods.append(("streaming isolation forest on 12-sample windows, ranked, decayed (slow)", StreamingIForest))
    print("| method | mean AUC (16 files) | seconds |")
    print("|---|---|---|")
    for label, factory in methods:
        t0 = time.perf_counter()
        report = run(root, factory)
        print(f"| {label} | {report.mean_auc:.3f} | {time.perf_counter() - t0:.1f} |", flush=True)
    print(f"| reference: oracle reacting at each window's centre, no precursor | {reactive_ceiling(root):.3f} | - |")

    chosen = evaluate_nab(root, TailSurpriseDetector, keep_rows=True)
    pre, post = pre_post(chosen)
    print(f"\nChosen detector: first halves of the windows (before the event) {pre:.3f}, "
          f"second halves {post:.3f} (each against all negatives)")
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
