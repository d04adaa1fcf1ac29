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
from collections.abc import Callable, Iterable
from pathlib import Path

import numpy as np

from venom_hardware_agent.detector import MetricConfig, MetricState, TailSurpriseDetector, roc_auc
from venom_hardware_agent.detector.nab import NabReport, StreamingDetector, evaluate_nab, iter_benchmark
from venom_hardware_agent.detector.shape import WindowDiscord
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
    return _halves_auc((np.array([r.score for r in f.scored]), np.array([r.label for r in f.scored]))
                       for f in report.scored_files)


def _halves_auc(scored: Iterable[tuple[np.ndarray, np.ndarray]]) -> tuple[float, float]:
    """Mean over files (scores, labels) of the AUC of each window's first half against the negatives, and
    of its second half against the negatives."""
    pre, post = [], []
    for scores, labels in scored:
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



# --------------------------------------------------------------------------- session 3: new directions (issue #7)
#
# Every evidence below is computed streaming (a sample's value uses that sample and earlier ones only) and
# cached per file as a per-sample surprise (-log10 tail probability against the evidence's own past, 0 before
# the warm-up); aggregation variants then run on the cache. Each family is a list of configurations scored per
# file; `three_estimates` gives its in-sample best, 2-fold and leave-one-file-out estimates (configuration
# picked on the other files). A family of one configuration has all three equal (nothing is picked).

WARM, CAP, HIST = 36, 8.0, 1008


def stream_surprises(stream, *, history: int = HIST, upper_only: bool = False) -> np.ndarray:
    """Surprise of each item (None: not available yet) against the evidence's last `history` items."""
    past = RankedWindow(history)
    out = np.zeros(len(stream))
    for i, v in enumerate(stream):
        if v is None:
            continue
        if i >= WARM and len(past) >= WARM:
            s = past.surprise(v, cap=CAP)
            out[i] = 0.0 if upper_only and v <= past.median() else s
        past.push(v)
    return out


def shape_distances(x: np.ndarray, width: int = 12, history: int = HIST) -> list[float | None]:
    d = WindowDiscord(width, history, min_neighbours=min(WARM, history - width))
    return [d.push(float(v)) for v in x]


def znorm_distances(x: np.ndarray, width: int = 12, history: int = HIST) -> list[float | None]:
    """As shape_distances, but each window is z-normalised first (its form, not its level or scale)."""
    ring = np.zeros((history, width))
    written = 0
    recent: deque[float] = deque(maxlen=width)
    out: list[float | None] = []
    for v in x:
        recent.append(float(v))
        if len(recent) < width:
            out.append(None)
            continue
        a = np.fromiter(recent, dtype=np.float64)
        sd = a.std()
        a = (a - a.mean()) / (sd if sd > 0 else 1.0)
        stored = min(written, history)
        dist = None
        if stored - width >= WARM:
            rows = (written - 1 - np.arange(width, stored)) % history
            diff = ring[rows] - a
            dist = float(np.sqrt(np.min(np.einsum("ij,ij->i", diff, diff))))
        ring[written % history] = a
        written += 1
        out.append(dist)
    return out


def rolling_means(x: np.ndarray, w: int) -> list[float | None]:
    c = np.concatenate([[0.0], np.cumsum(x)])
    return [None if t < w - 1 else float(c[t + 1] - c[t + 1 - w]) / w for t in range(len(x))]


def slopes(x: np.ndarray, w: int) -> list[float | None]:
    """Mean of the last w samples minus the mean of the w before them."""
    m = rolling_means(x, w)
    return [None if t < 2 * w - 1 else m[t] - m[t - w] for t in range(len(x))]  # type: ignore[operator]


def past_scaled(x: np.ndarray, history: int = HIST) -> np.ndarray:
    """(x - median) / IQR of the past `history` values (past only), clipped to +-50."""
    past = RankedWindow(history)
    out = np.zeros(len(x))
    for i, v in enumerate(x):
        n = len(past)
        if n >= 8:
            s = past._sorted
            iqr = s[(3 * n) // 4] - s[n // 4]
            out[i] = (v - s[n // 2]) / (iqr if iqr > 0 else (s[-1] - s[0]) or 1.0)
        past.push(float(v))
    return np.clip(out, -50.0, 50.0)


def ar_residuals(z: np.ndarray, order: int, forget: float) -> list[float | None]:
    """One-step residuals of an AR(order) + intercept model fitted online by recursive least squares with a
    forgetting factor: the residual of sample t uses the coefficients fitted on samples before t."""
    theta = np.zeros(order + 1)
    P = np.eye(order + 1) * 100.0
    out: list[float | None] = [None] * len(z)
    for t in range(order, len(z)):
        phi = np.append(z[t - order : t], 1.0)
        e = float(z[t] - phi @ theta)
        out[t] = e
        k = P @ phi / (forget + phi @ P @ phi)
        theta = theta + k * e
        P = (P - np.outer(k, phi @ P)) / forget
    return out


def mlp_residuals(z: np.ndarray, order: int = 24, hidden: int = 16, batch: int = 32, lr: float = 3e-3,
                  seed: int = 0) -> list[float | None]:
    """One-step residuals of a tiny torch MLP (order -> hidden tanh -> 1, predicting the change from the last
    value), trained online: after scoring sample t, one Adam step on the last `batch` (window, next) pairs."""
    import torch

    torch.set_num_threads(1)
    torch.manual_seed(seed)
    net = torch.nn.Sequential(torch.nn.Linear(order, hidden), torch.nn.Tanh(), torch.nn.Linear(hidden, 1))
    opt = torch.optim.Adam(net.parameters(), lr=lr)
    zt = torch.tensor(z, dtype=torch.float32)

    def predict(X: torch.Tensor) -> torch.Tensor:
        return net(X).squeeze(-1) + X[..., -1]

    out: list[float | None] = [None] * len(z)
    for t in range(order, len(z)):
        with torch.no_grad():
            out[t] = float(zt[t] - predict(zt[t - order : t]))
        idx = list(range(max(order, t - batch + 1), t + 1))
        X = torch.stack([zt[i - order : i] for i in idx])
        opt.zero_grad()
        torch.nn.functional.huber_loss(predict(X), zt[idx]).backward()
        opt.step()
    return out


def runs_since_high(x: np.ndarray, q: float = 0.95, history: int = HIST) -> list[float | None]:
    """Samples since the value last exceeded the q-quantile of its past (a missing burst)."""
    past = RankedWindow(history)
    out: list[float | None] = []
    since = 0
    for v in x:
        n = len(past)
        if n >= WARM:
            since = 0 if v > past._sorted[min(n - 1, int(q * n))] else since + 1
            out.append(float(since))
        else:
            out.append(None)
        past.push(float(v))
    return out


def evidence_cache(root: Path, *, slow: bool = False) -> list[dict[str, np.ndarray]]:
    """Per labelled file: labels, values and every evidence's per-sample surprise."""
    files = []
    for series, labels in iter_benchmark(root):
        if not labels.any():
            continue
        x = series.values.astype(np.float64)
        ev: dict[str, np.ndarray] = {"labels": labels, "x": x}
        for h in (504, HIST, 2016):
            sfx = "" if h == HIST else f"@{h}"
            ev["value" + sfx] = stream_surprises(list(x), history=h)
            ev["shape" + sfx] = stream_surprises(shape_distances(x, 12, h), history=h, upper_only=True)
        for w in (6, 24, 72):
            ev[f"slope{w}"] = stream_surprises(slopes(x, w))
            ev[f"mean{w}"] = stream_surprises(rolling_means(x, w))
        for w in (6, 24, 48):
            ev[f"shape{w}"] = stream_surprises(shape_distances(x, w), upper_only=True)
        ev["zshape"] = stream_surprises(znorm_distances(x), upper_only=True)
        ev["silence"] = stream_surprises(runs_since_high(x), upper_only=True)
        mild = np.concatenate([[0.0], np.cumsum(ev["value"] >= 1.0)])
        ev["density"] = stream_surprises([None if t < 36 else float(mild[t + 1] - mild[t - 35]) for t in range(len(x))],
                                         upper_only=True)
        z = past_scaled(x)
        for order in (6, 12, 24):
            for forget in (0.99, 0.999):
                r = ar_residuals(z, order, forget)
                for h in (504, HIST, 2016):
                    ev[f"ar{order}/{forget}" + ("" if h == HIST else f"@{h}")] = stream_surprises(r, history=h)
        if slow:
            ev["mlp"] = stream_surprises(mlp_residuals(z))
        files.append(ev)
    return files


def severity(s: np.ndarray, threshold: float = 2.0) -> np.ndarray:
    return np.where(s >= threshold, np.floor(s - threshold) + 1.0, 0.0)


def decayed(levels: np.ndarray, half_life: float = 144.0, allowance: float = 0.05) -> np.ndarray:
    """The detector's memory: m = max(0, m * 2^(-1/half_life) + level - allowance)."""
    d = 0.5 ** (1.0 / half_life)
    out = np.empty(len(levels))
    m = 0.0
    for i, lv in enumerate(levels):
        m = max(0.0, m * d + lv - allowance)
        out[i] = m
    return out


def recovering(levels: np.ndarray, calm_surprise: np.ndarray, calm_below: float, calm_for: int,
               fast_half_life: float, half_life: float = 144.0, allowance: float = 0.05) -> np.ndarray:
    """The memory, but once every evidence has stayed below `calm_below` for `calm_for` samples (the signal is
    back in its usual range) it decays with `fast_half_life` instead (0: reset to 0)."""
    d = 0.5 ** (1.0 / half_life)
    fast = 0.5 ** (1.0 / fast_half_life) if fast_half_life else 0.0
    out = np.empty(len(levels))
    m, calm = 0.0, 0
    for i, lv in enumerate(levels):
        calm = calm + 1 if calm_surprise[i] < calm_below else 0
        m = max(0.0, m * (fast if calm >= calm_for else d) + lv - allowance)
        out[i] = m
    return out


def ewma(a: np.ndarray, half_life: float) -> np.ndarray:
    d = 0.5 ** (1.0 / half_life)
    out = np.empty(len(a))
    m = 0.0
    for i, v in enumerate(a):
        m = m * d + (1 - d) * v
        out[i] = m
    return out


def past_rank(a: np.ndarray, history: int = HIST) -> np.ndarray:
    """Mid-rank of a[t] among the last `history` values before it, in [0, 1] (0 before the warm-up)."""
    import bisect

    past = RankedWindow(history)
    out = np.zeros(len(a))
    for i, v in enumerate(a):
        n = len(past)
        if n >= WARM:
            lo, hi = bisect.bisect_left(past._sorted, v), bisect.bisect_right(past._sorted, v)
            out[i] = (lo + 0.5 * (hi - lo)) / n
        past.push(float(v))
    return out


def fisher(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Surprise of Fisher's combination of two tail probabilities 10^-a and 10^-b."""
    t = a + b
    return np.maximum(t - np.log10(1.0 + np.log(10.0) * t), 0.0)


Score = Callable[[dict[str, np.ndarray]], np.ndarray]


def score_table(files: list[dict[str, np.ndarray]], family: list[Score]) -> np.ndarray:
    return np.array([[roc_auc(fn(f), f["labels"]) for f in files] for fn in family])


def three_estimates(table: np.ndarray) -> tuple[float, float, float]:
    """In-sample best mean, 2-fold (alternate files) and leave-one-file-out means (pick on the other files)."""
    n = table.shape[1]
    tf, _ = held_out(table, [np.arange(0, n, 2), np.arange(1, n, 2)])
    lo, _ = held_out(table, [np.array([i]) for i in range(n)])
    return float(table.mean(axis=1).max()), tf, lo


def first_second_halves(files: list[dict[str, np.ndarray]], fn: Score) -> tuple[float, float]:
    return _halves_auc((fn(f), f["labels"]) for f in files)


def new_direction_families(slow: bool) -> list[tuple[str, list[Score]]]:
    """(what was tried, its configurations). One configuration = one fixed variant (nothing picked)."""
    def base(f, h=HIST, thr=2.0):
        sfx = "" if h == HIST else f"@{h}"
        return severity(f["value" + sfx], thr) + severity(f["shape" + sfx], thr)

    fams: list[tuple[str, list[Score]]] = [("defaults, recomputed from the cache (value + shape)",
                                           [lambda f: decayed(base(f))])]
    # (a) slow drifts and multi-scale evidence
    for k, what in (("slope6", "slope over 6 samples"), ("slope24", "slope over 24"), ("slope72", "slope over 72"),
                    ("mean24", "mean of the last 24"), ("mean72", "mean of the last 72")):
        fams.append((f"(a) + {what} (mean of last w − mean of the w before) as a third evidence"
                     if k.startswith("slope") else f"(a) + {what} as a third evidence",
                     [lambda f, k=k: decayed(base(f) + severity(f[k]))]))
    fams.append(("(a) + max of the slope surprises (6/24/72) as one third evidence", [lambda f: decayed(
        base(f) + severity(np.maximum.reduce([f["slope6"], f["slope24"], f["slope72"]])))]))
    fams.append(("(a) value evidence = max of the surprises of the value and of the 24/72 means", [lambda f: decayed(
        severity(np.maximum.reduce([f["value"], f["mean24"], f["mean72"]])) + severity(f["shape"]))]))
    fams.append(("(a) shape evidence = max of the surprises at widths 6/12/24", [lambda f: decayed(
        severity(f["value"]) + severity(np.maximum.reduce([f["shape6"], f["shape"], f["shape24"]])))]))
    fams.append(("(a) shape evidence = max at widths 6/12/24/48", [lambda f: decayed(
        severity(f["value"]) + severity(np.maximum.reduce([f["shape6"], f["shape"], f["shape24"], f["shape48"]])))]))
    fams.append(("(a) one evidence = max of value, shape, slopes and means (7 surprises)", [lambda f: decayed(
        severity(np.maximum.reduce([f["value"], f["shape"], f["slope6"], f["slope24"], f["slope72"], f["mean24"],
                                    f["mean72"]])))]))
    fams.append(("(a) + density of mild value surprises (count of s ≥ 1 in the last 36) as a third evidence",
                 [lambda f: decayed(base(f) + severity(f["density"]))]))
    fams.append(("(a) + z-normalised shape (form only, width 12) as a third evidence",
                 [lambda f: decayed(base(f) + severity(f["zshape"]))]))
    fams.append(("(a) + samples since the value last exceeded its past q95 (a missing burst) as a third evidence",
                 [lambda f: decayed(base(f) + severity(f["silence"]))]))
    tie = [(f"ewma {k} hl {hl}", lambda f, k=k, hl=hl: decayed(base(f)) + 1e-6 * ewma(
        {"value": f["value"], "sum": f["value"] + f["shape"], "max": np.maximum(f["value"], f["shape"])}[k], hl))
        for k in ("value", "sum", "max") for hl in (12, 36, 144, 576)]
    tie += [(f"memory at threshold {t} hl {hl}", lambda f, t=t, hl=hl: decayed(base(f)) + 1e-6 * decayed(
        base(f, thr=t), hl, 0.0)) for t in (0.5, 1.0, 1.5) for hl in (36, 144)]
    fams.append(("(a) tie-break of the level by sub-threshold evidence (EWMA of raw surprises, hl 12–576, or a "
                 "memory at threshold 0.5–1.5), 18 variants", [fn for _, fn in tie]))
    # (b) recovery
    rec = [lambda f, c=c, k=k, h=h: recovering(base(f), np.maximum(f["value"], f["shape"]), c, k, h)
           for c in (0.5, 1.0, 1.5) for k in (12, 36, 72) for h in (12, 48, 0)]
    fams.append(("(b) memory decays fast (half-life 12/48 or reset) once both surprises stayed below 0.5/1/1.5 for "
                 "12/36/72 samples, 27 variants", rec))
    # (c) online forecasters
    ar = [(o, g) for o in (6, 12, 24) for g in (0.99, 0.999)]
    fams.append(("(c) + residual of an online AR(6/12/24) (RLS, forgetting 0.99/0.999) as a third evidence, same "
                 "threshold 2, 6 variants", [lambda f, o=o, g=g: decayed(base(f) + severity(f[f"ar{o}/{g}"]))
                                             for o, g in ar]))
    fams.append(("(c) the same, residual threshold 2/2.5/3, 18 variants", [
        lambda f, o=o, g=g, t=t: decayed(base(f) + severity(f[f"ar{o}/{g}"], t)) for o, g in ar for t in (2.0, 2.5, 3.0)]))
    fams.append(("(c) the defaults, or the defaults + an AR residual at threshold 2 (7: not adding it is an "
                 "option, so the held-out estimates test the decision to add it)", [lambda f: decayed(base(f))] + [
        lambda f, o=o, g=g: decayed(base(f) + severity(f[f"ar{o}/{g}"])) for o, g in ar]))
    fams.append(("(c) the same with residual threshold 2/2.5/3 (19)", [lambda f: decayed(base(f))] + [
        lambda f, o=o, g=g, t=t: decayed(base(f) + severity(f[f"ar{o}/{g}"], t)) for o, g in ar for t in (2.0, 2.5, 3.0)]))
    fams.append(("(c) AR(6), forgetting 0.999, residual threshold 3 (the in-sample best of the 18, fixed)", [
        lambda f: decayed(base(f) + severity(f["ar6/0.999"], 3.0))]))
    fams.append(("(c) AR(12) 0.999 residual replaces the shape evidence", [
        lambda f: decayed(severity(f["value"]) + severity(f["ar12/0.999"]))]))
    fams.append(("(c) AR(12) 0.999 residual replaces the value evidence", [
        lambda f: decayed(severity(f["shape"]) + severity(f["ar12/0.999"]))]))
    grid = list(itertools.product((504, HIST, 2016), (1.5, 2.0, 2.5), (72.0, 144.0, 288.0)))
    fams.append(("grid of the defaults (history × threshold × half-life, 27), no residual: the current family", [
        lambda f, h=h, t=t, hl=hl: decayed(base(f, h, t), hl) for h, t, hl in grid]))
    fams.append(("(c) that grid × AR(6/12/24) × forgetting × residual threshold 2/2.5/3 (486) plus the 27 "
                 "without residual", [lambda f, h=h, t=t, hl=hl: decayed(base(f, h, t), hl) for h, t, hl in grid] + [
        lambda f, h=h, t=t, hl=hl, o=o, g=g, rt=rt: decayed(base(f, h, t) + severity(
            f[f"ar{o}/{g}" + ("" if h == HIST else f"@{h}")], rt), hl)
        for h, t, hl in grid for o, g in ar for rt in (2.0, 2.5, 3.0)]))
    if slow:
        fams.append(("(c) + residual of a tiny online torch MLP (24 → 16 tanh → 1, Adam on the last 32 pairs), "
                     "residual threshold 2/2.5/3", [lambda f, t=t: decayed(base(f) + severity(f["mlp"], t))
                                                    for t in (2.0, 2.5, 3.0)]))
    # (d) combining evidences
    fams.append(("(d) one evidence = max of the value and shape surprises", [
        lambda f: decayed(severity(np.maximum(f["value"], f["shape"])))]))
    fams.append(("(d) one evidence = Fisher combination of the two tail probabilities", [
        lambda f: decayed(severity(fisher(f["value"], f["shape"])))]))
    fams.append(("(d) rank average: mean of the two memories' ranks against their own past 1008", [
        lambda f: (past_rank(decayed(severity(f["value"]))) + past_rank(decayed(severity(f["shape"])))) / 2]))
    fams.append(("(d) the default level ranked against its own past 1008", [
        lambda f: past_rank(decayed(base(f)))]))
    fams.append(("(d) max of the two evidences' memories", [
        lambda f: np.maximum(decayed(severity(f["value"])), decayed(severity(f["shape"])))]))
    return fams


def new_directions(root: Path, slow: bool) -> None:
    t0 = time.perf_counter()
    files = evidence_cache(root, slow=slow)
    print(f"\nSession 3 (issue #7): evidences cached in {time.perf_counter() - t0:.0f} s\n")
    print("| what was tried | configurations | in-sample (best) | 2-fold | leave-one-file-out |")
    print("|---|---|---|---|---|")
    tables = []
    for label, family in new_direction_families(slow):
        table = score_table(files, family)
        tables.append(table)
        ins, tf, lo = three_estimates(table)
        print(f"| {label} | {len(family)} | {ins:.3f} | {tf:.3f} | {lo:.3f} |", flush=True)
    union = np.vstack(tables)
    ins, tf, lo = three_estimates(union)
    print(f"| any of the {union.shape[0]} configurations above, picked on the other files | {union.shape[0]} | "
          f"{ins:.3f} | {tf:.3f} | {lo:.3f} |")
    defaults = lambda f: decayed(severity(f["value"]) + severity(f["shape"]))  # noqa: E731
    base_auc = score_table(files, [defaults])[0]
    for label, key, thr in (("AR(6) 0.99, threshold 2", "ar6/0.99", 2.0), ("AR(12) 0.99, threshold 2", "ar12/0.99", 2.0),
                            ("AR(6) 0.999, threshold 3", "ar6/0.999", 3.0)):
        auc = score_table(files, [lambda f, k=key, t=thr: decayed(severity(f["value"]) + severity(f["shape"]) +
                                                                   severity(f[k], t))])[0]
        gain = auc - base_auc
        top = int(np.argmax(gain))
        print(f"\n{label} + the defaults' evidences against the defaults, per file: {int((gain > 1e-9).sum())} better, "
              f"{int((gain < -1e-9).sum())} worse; largest change {gain[top]:+.3f} (file {top + 1} of {gain.size}); "
              f"mean without that file {np.delete(auc, top).mean():.4f} against {np.delete(base_auc, top).mean():.4f}")
    print("\nEach evidence alone (its own decayed memory), first halves / second halves of the windows:")
    for key in ("value", "shape", "slope6", "slope24", "slope72", "mean24", "mean72"):
        pre, post = first_second_halves(files, lambda f, k=key: decayed(severity(f[k])))
        print(f"- {key}: {pre:.3f} / {post:.3f}")
    print("\nFirst halves / second halves:")
    for label, fn in (("defaults", lambda f: decayed(severity(f["value"]) + severity(f["shape"]))),
                      ("AR(6) 0.999 thr 3", lambda f: decayed(severity(f["value"]) + severity(f["shape"]) +
                                                               severity(f["ar6/0.999"], 3.0)))):
        pre, post = first_second_halves(files, fn)
        print(f"- {label}: first halves {pre:.3f}, second halves {post:.3f}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", type=Path, default=Path(__file__).resolve().parents[2] / "shared" / "data" / "nab")
    ap.add_argument("--skip-grid", action="store_true")
    ap.add_argument("--slow", action="store_true",
                    help="also run the streaming isolation forest (~80 s) and, with --new, the torch MLP (~60 s)")
    ap.add_argument("--new", action="store_true",
                    help="only the session-3 directions (issue #7): cached evidences, families, held-out estimates")
    args = ap.parse_args()
    root: Path = args.data
    if args.new:
        new_directions(root, args.slow)
        return

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
