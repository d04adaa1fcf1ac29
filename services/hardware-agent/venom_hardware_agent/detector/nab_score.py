"""The Numenta Anomaly Benchmark's own score, standard profile — pure functions, no I/O (F-ML-2, F-ML-3).

Followed (numenta/NAB on GitHub, read for this module, not recalled):

- ``nab/sweeper.py`` — ``scaledSigmoid``, ``Sweeper._getProbationaryLength``, ``Sweeper.calcSweepScore``
  (the weight each row would add if it were the detection that counts) and
  ``Sweeper.calcScoreByThreshold`` (one pass down the rows sorted by anomaly score gives the total at
  every threshold);
- ``nab/optimizer.py`` — ``optimizeThreshold``: the rows of *every* file go into one sweep and the
  threshold of the highest total wins. NAB chooses the threshold on the data it then scores; so does
  this module (``nab_score``), and every report of the figure must say so;
- ``nab/scorer.py`` — ``scoreCorpus``/``Sweeper.scoreDataSet``: each file is scored at that threshold
  (a row is a detection when its anomaly score is ≥ the threshold);
- ``nab/runner.py`` — ``Runner.normalize``: 100 × (score − null) / (perfect − null), where null is the
  null detector's score (it detects nothing, so every window is missed) and perfect is the number of
  windows × tpWeight;
- ``config/profiles.json`` — ``standard``: tpWeight 1.0, fpWeight 0.11, fnWeight 1.0, tnWeight 1.0.

The rules, per file (rows in time order, windows as row index spans):

- the first ``min(floor(0.15 × rows), 0.15 × 5000)`` rows are probationary and never scored (NAB caps the
  probation at 750 rows; every file here is shorter than 5000 rows, so it is the first 15 %);
- a window with a detection adds tpWeight × S(−(right − i + 1) / width) / S(−1) for its *earliest*
  detection i only (S is the scaled sigmoid 2·sigmoid(−5x) − 1; a detection on the window's first row
  adds exactly tpWeight), a window without one adds −fnWeight;
- a detection outside every window adds fpWeight × S(|i − right| / (width − 1)), measured from the end
  of the window before it (so it costs little just after a window and fpWeight from three widths on),
  or −fpWeight when no window comes before it;
- true negatives add nothing (tnWeight is part of the profile but NAB does not use it).

Where this differs from NAB's code, on purpose:

- windows are the rows whose timestamps lie inside ``[start, end]`` (NAB looks the two limits up as
  exact row timestamps and fails when one is missing); on realAWSCloudwatch every limit is a row;
- after a window of a single row NAB's sweeper divides by zero (width − 1); here the distance is
  taken as 2.0, as NAB's earlier ``scorer.py`` did for windows of length ≤ 1;
- a file scored at a threshold below all of its scores gets every row detected (NAB's
  ``scoreDataSet`` returns no row there);
- the perfect score is that of the perfect detector (every window row detected, nothing else) on the
  same rows; it equals NAB's windows × tpWeight whenever no window reaches into the probation.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import TypeVar

PROBATION_FRACTION = 0.15
PROBATION_CAP_ROWS = 5000  # NAB: the probation is at most PROBATION_FRACTION × 5000 rows
NO_DETECTION_THRESHOLD = 1.1  # NAB's first sweep threshold: above every score in [0, 1]
SINGLE_ROW_WINDOW_DISTANCE = 2.0  # NAB's earlier scorer.py, for an FP after a window of one row


@dataclass(frozen=True)
class CostMatrix:
    """A NAB application profile (config/profiles.json "CostMatrix")."""

    tp: float
    fp: float
    fn: float
    tn: float  # in the profile, unused by NAB's scoring (true negatives add nothing)


STANDARD = CostMatrix(tp=1.0, fp=0.11, fn=1.0, tn=1.0)

WindowId = tuple[str, int]  # (file key, window number in the file): unique over a corpus


@dataclass(frozen=True)
class SweepRow:
    """One row as NAB's sweep sees it (nab/sweeper.py AnomalyPoint)."""

    score: float  # the detector's anomaly score in [0, 1]
    weight: float  # what the row adds if it is the detection that counts (calcSweepScore's sweepScore)
    window: WindowId | None  # the window the row lies in; None outside every window
    probationary: bool


@dataclass(frozen=True)
class Tally:
    """A NAB score and its counts. tp/fp/fn/tn count scored rows (as NAB's score files do);
    windows / windows_detected count windows."""

    threshold: float
    score: float
    tp: int
    tn: int
    fp: int
    fn: int
    windows: int
    windows_detected: int


@dataclass(frozen=True)
class NabScore:
    """A NAB score at one threshold with the null and perfect detectors' scores on the same rows."""

    profile: str
    threshold: float
    raw: float
    null: float
    perfect: float
    tp: int
    fp: int
    fn: int
    tn: int
    windows: int
    windows_detected: int

    @property
    def normalised(self) -> float | None:
        """NAB's reported score (nab/runner.py Runner.normalize); None when there is no window
        (perfect and null are then both 0 and the ratio is undefined)."""
        return normalise(self.raw, self.null, self.perfect)


@dataclass(frozen=True)
class ScoredFile:
    """What NAB needs of one file: its key, one anomaly score per row and its windows as row spans."""

    key: str  # "<category>/<file>.csv"
    scores: Sequence[float]
    spans: Sequence[tuple[int, int]]  # (first row, last row) of each window, inclusive, in time order

    @property
    def category(self) -> str:
        return self.key.split("/", 1)[0]


@dataclass(frozen=True)
class NabScoring:
    """The corpus' NAB score at the threshold NAB's optimizer picks, and the same threshold's score
    per category and per file."""

    overall: NabScore
    categories: dict[str, NabScore]
    files: dict[str, NabScore]


def scaled_sigmoid(position: float) -> float:
    """NAB's scaledSigmoid: 2·sigmoid(−5·position) − 1, and −1 beyond 3 (an FP far after a window).

    −1 (a window's first row) gives 0.98661, 0 (just after its last row) gives 0, 1 gives −0.98661.
    """
    if position > 3.0:
        return -1.0
    return 2.0 * (1.0 / (1.0 + math.exp(5.0 * position))) - 1.0


def probationary_rows(n_rows: int, fraction: float = PROBATION_FRACTION) -> int:
    """How many leading rows NAB leaves unscored: min(floor(fraction × rows), fraction × 5000)."""
    if n_rows < 0 or not 0.0 <= fraction <= 1.0:
        raise ValueError(f"need rows ≥ 0 and a fraction in [0, 1], got {n_rows} and {fraction}")
    # NAB compares "row index >= length", so a fractional cap leaves ceil(length) rows in probation.
    return math.ceil(min(math.floor(fraction * n_rows), fraction * PROBATION_CAP_ROWS))


T = TypeVar("T")


def window_spans(times: Sequence[T], windows: Iterable[tuple[T, T]]) -> list[tuple[int, int]]:
    """Row spans of windows given by their limits: the first and last row whose time lies in
    [start, end] (ends included). ``times`` must be increasing. A window that holds no row is dropped;
    overlapping windows are refused (NAB's windows never overlap)."""
    spans: list[tuple[int, int]] = []
    for start, end in sorted(windows, key=lambda w: w[0]):  # type: ignore[arg-type,return-value]
        inside = [i for i, t in enumerate(times) if start <= t <= end]  # type: ignore[operator]
        if not inside:
            continue
        span = (inside[0], inside[-1])
        if spans and span[0] <= spans[-1][1]:
            raise ValueError(f"windows overlap: rows {spans[-1]} and {span}")
        spans.append(span)
    return spans


def _check_spans(n_rows: int, spans: Sequence[tuple[int, int]]) -> None:
    previous_end = -1
    for left, right in spans:
        if not previous_end < left <= right < n_rows:
            raise ValueError(f"window rows ({left}, {right}) are not in order inside 0..{n_rows - 1}")
        previous_end = right


def sweep_rows(
    key: str,
    scores: Sequence[float],
    spans: Sequence[tuple[int, int]],
    cost: CostMatrix = STANDARD,
    *,
    probation_fraction: float = PROBATION_FRACTION,
) -> list[SweepRow]:
    """NAB's Sweeper.calcSweepScore for one file: each row's score, weight, window and probation."""
    _check_spans(len(scores), spans)
    max_tp = scaled_sigmoid(-1.0)
    probation = probationary_rows(len(scores), probation_fraction)
    starts = {left: (k, right) for k, (left, right) in enumerate(spans)}
    current: tuple[int, int, int] | None = None  # (window number, right row, width)
    previous: tuple[int, int] | None = None  # (right row, width) of the last window left behind
    rows: list[SweepRow] = []
    for i, raw in enumerate(scores):
        score = float(raw)
        if not (math.isfinite(score) and 0.0 <= score <= 1.0):
            raise ValueError(f"{key} row {i}: NAB scores an anomaly score in [0, 1], got {raw!r}")
        if i in starts:
            k, right = starts[i]
            current = (k, right, right - i + 1)
        if current is not None:
            k, right, width = current
            weight = scaled_sigmoid(-(right - i + 1) / width) * cost.tp / max_tp
            window: WindowId | None = (key, k)
        else:
            window = None
            if previous is None:
                weight = -1.0 * cost.fp  # no window before this row: as far from one as can be
            else:
                prev_right, prev_width = previous
                distance = (
                    abs(prev_right - i) / (prev_width - 1) if prev_width > 1 else SINGLE_ROW_WINDOW_DISTANCE
                )
                weight = scaled_sigmoid(distance) * cost.fp
        rows.append(SweepRow(score, weight, window, i < probation))
        if current is not None and i == current[1]:
            previous = (current[1], current[2])
            current = None
    return rows


def scores_by_threshold(rows: Iterable[SweepRow], cost: CostMatrix = STANDARD) -> list[Tally]:
    """NAB's Sweeper.calcScoreByThreshold: the total score at every distinct anomaly score, highest
    threshold first, starting from 1.1 (nothing detected). At a threshold t every row scoring ≥ t is a
    detection; a window counts its best (= earliest) detection, an FP row adds its own weight."""
    scorable = sorted((r for r in rows if not r.probationary), key=lambda r: r.score, reverse=True)
    windows = {r.window: -cost.fn for r in scorable if r.window is not None}
    fp_total = 0.0
    detected: set[WindowId] = set()
    fn = sum(1 for r in scorable if r.window is not None)
    tn = len(scorable) - fn
    tp = fp = 0
    threshold = NO_DETECTION_THRESHOLD
    out: list[Tally] = []

    def record() -> None:
        total = fp_total + sum(windows.values())
        out.append(Tally(threshold, total, tp, tn, fp, fn, len(windows), len(detected)))

    for row in scorable:
        if row.score != threshold:
            record()
            threshold = row.score
        if row.window is None:
            fp += 1
            tn -= 1
            fp_total += row.weight
        else:
            tp += 1
            fn -= 1
            windows[row.window] = max(windows[row.window], row.weight)
            detected.add(row.window)
    record()
    return out


def best_threshold(tallies: Sequence[Tally]) -> Tally:
    """NAB's optimizer: the highest total; among equal totals the first, i.e. the highest threshold."""
    if not tallies:
        raise ValueError("no threshold to choose from")
    return max(tallies, key=lambda t: t.score)


def tally(
    rows: Sequence[SweepRow], detected: Callable[[SweepRow], bool], cost: CostMatrix = STANDARD,
    *, threshold: float = math.nan,
) -> Tally:
    """The NAB score when exactly the rows ``detected`` picks are detections (probationary rows ignored)."""
    windows: dict[WindowId, float] = {}
    found: set[WindowId] = set()
    fp_total = 0.0
    tp = tn = fp = fn = 0
    for row in rows:
        if row.probationary:
            continue
        hit = detected(row)
        if row.window is None:
            if hit:
                fp += 1
                fp_total += row.weight
            else:
                tn += 1
            continue
        windows.setdefault(row.window, -cost.fn)
        if hit:
            tp += 1
            windows[row.window] = max(windows[row.window], row.weight)
            found.add(row.window)
        else:
            fn += 1
    total = fp_total + sum(windows.values())
    return Tally(threshold, total, tp, tn, fp, fn, len(windows), len(found))


def score_at_threshold(rows: Sequence[SweepRow], threshold: float, cost: CostMatrix = STANDARD) -> Tally:
    """NAB's scoreDataSet at a given threshold: a row is a detection when its score is ≥ the threshold."""
    return tally(rows, lambda r: r.score >= threshold, cost, threshold=threshold)


def normalise(raw: float, null: float, perfect: float) -> float | None:
    """100 × (raw − null) / (perfect − null) (nab/runner.py Runner.normalize); None when perfect = null."""
    if perfect == null:
        return None
    return 100.0 * (raw - null) / (perfect - null)


def _nab_score(profile: str, rows: Sequence[SweepRow], threshold: float, cost: CostMatrix) -> NabScore:
    at = score_at_threshold(rows, threshold, cost)
    null = tally(rows, lambda r: False, cost)
    perfect = tally(rows, lambda r: r.window is not None, cost)
    return NabScore(profile, threshold, at.score, null.score, perfect.score, at.tp, at.fp, at.fn, at.tn,
                    at.windows, at.windows_detected)


def nab_score(
    files: Sequence[ScoredFile],
    cost: CostMatrix = STANDARD,
    *,
    profile: str = "standard",
    probation_fraction: float = PROBATION_FRACTION,
) -> NabScoring:
    """NAB's optimise-then-score over a corpus: one sweep over the rows of all files picks the threshold
    with the highest total (nab/optimizer.py) — on the very files it then scores, as NAB does —, and
    the corpus, each category and each file are scored at that threshold and normalised against the
    null and perfect detectors on the same rows."""
    if not files:
        raise ValueError("no file to score")
    per_file = {f.key: sweep_rows(f.key, f.scores, f.spans, cost, probation_fraction=probation_fraction)
                for f in files}
    if len(per_file) != len(files):
        raise ValueError("file keys must be unique")
    every_row = [r for rows in per_file.values() for r in rows]
    threshold = best_threshold(scores_by_threshold(every_row, cost)).threshold
    by_category: dict[str, list[SweepRow]] = {}
    for f in files:
        by_category.setdefault(f.category, []).extend(per_file[f.key])
    return NabScoring(
        overall=_nab_score(profile, every_row, threshold, cost),
        categories={c: _nab_score(profile, rows, threshold, cost) for c, rows in sorted(by_category.items())},
        files={key: _nab_score(profile, rows, threshold, cost) for key, rows in per_file.items()},
    )
