"""Reading the Numenta Anomaly Benchmark layout and scoring a streaming detector on it (F-ML-2, F-ML-3).

Layout: ``<root>/data/<category>/<file>.csv`` with a ``timestamp,value`` header and
``<root>/labels/combined_windows.json`` mapping ``"<category>/<file>.csv"`` to a list of
``[start, end]`` windows; a row whose timestamp lies inside a window (ends included) is positive.

Every file is streamed row by row through a fresh detector built by ``detector_factory`` —
the same object the hardware agent runs — so a row's score uses that row and the past only.
"""

from __future__ import annotations

import csv
import json
import math
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Literal, Protocol

import numpy as np

from venom_common.evaluation import AucUndefined, roc_auc

from .nab_score import STANDARD, CostMatrix, NabScoring, ScoredFile, nab_score, window_spans

LABELS_FILE = Path("labels") / "combined_windows.json"
# An interval longer than this many times the file's median interval is reported as a gap.
GAP_FACTOR = 1.5


class StreamingDetector(Protocol):
    """The seam the hardware agent calls once per sample (F-ML-3).

    A detector may also expose ``level``: a float anomaly level after the latest update (≥ anoms,
    graded, without the integer count's ties). When it does, the level is what gets scored.
    """

    name: str

    def update(self, series: dict[str, float]) -> int: ...


def anomaly_level(detector: StreamingDetector, anoms: int) -> float:
    """The detector's graded level after its latest update, or its anoms when it has none."""
    level = getattr(detector, "level", None)
    return float(anoms) if level is None else float(level)


class NabFormatError(ValueError):
    """The benchmark directory or one of its files cannot be read; the message names the file and line."""


@dataclass(frozen=True)
class SkippedRow:
    line: int  # 1-based line number in the CSV file (the header is line 1)
    reason: str


@dataclass(frozen=True)
class Series:
    """One benchmark file, cleaned: rows in time order, skipped rows listed with their reason."""

    key: str  # "<category>/<file>.csv", the key of the labels file
    timestamps: list[datetime]
    values: np.ndarray
    lines: list[int]  # source line of each kept row
    skipped: list[SkippedRow]
    gaps: int  # intervals longer than GAP_FACTOR x the median interval (kept; the detector sees them as-is)

    @property
    def category(self) -> str:
        return self.key.split("/", 1)[0]


@dataclass(frozen=True)
class ScoredRow:
    line: int  # source line in the CSV (skipped lines are listed in FileResult.skipped)
    timestamp: datetime
    value: float
    anoms: int
    level: float  # the detector's anomaly level (its anoms when it has no level)
    score: float  # the level, or threat_fn(level) when a threat function is given
    label: bool


@dataclass
class FileResult:
    key: str
    rows: int
    positives: int
    auc: float | None  # None when the file has no labelled window (AUC undefined)
    skipped: list[SkippedRow]
    gaps: int
    scored: list[ScoredRow] = field(default_factory=list, repr=False)
    # The score of every kept row, in order (always kept: NAB's scoring needs it), and the labelled
    # windows as (first row, last row) spans of those rows.
    scores: np.ndarray = field(default_factory=lambda: np.empty(0), repr=False)
    spans: list[tuple[int, int]] = field(default_factory=list)

    @property
    def category(self) -> str:
        return self.key.split("/", 1)[0]


@dataclass
class NabReport:
    detector: str
    files: list[FileResult]

    @property
    def scored_files(self) -> list[FileResult]:
        return [f for f in self.files if f.auc is not None]

    @property
    def mean_auc(self) -> float:
        """Mean of the per-file AUCs over files that have both classes."""
        aucs = [f.auc for f in self.scored_files if f.auc is not None]
        if not aucs:
            raise AucUndefined("no file has a labelled window")
        return float(np.mean(aucs))

    def category_auc(self) -> dict[str, float]:
        by_cat: dict[str, list[float]] = {}
        for f in self.scored_files:
            assert f.auc is not None
            by_cat.setdefault(f.category, []).append(f.auc)
        return {c: float(np.mean(v)) for c, v in sorted(by_cat.items())}

    @property
    def skipped_rows(self) -> int:
        return sum(len(f.skipped) for f in self.files)

    def nab_score(self, cost: CostMatrix = STANDARD, *, profile: str = "standard") -> NabScoring:
        """NAB's own score of the rows' scores (which must lie in [0, 1], e.g. the threat score), over
        every file including those without a window: the threshold is chosen on these same files, as
        NAB's optimizer does (see nab_score.py).

        The rows are those the reader kept. NAB keeps a repeated timestamp, so for a file with skipped
        rows its probation can be a row or two longer than here (two realAWSCloudwatch files skip 11
        rows each: 709 against 707 probationary rows, all far before their windows)."""
        return nab_score([ScoredFile(f.key, f.scores.tolist(), f.spans) for f in self.files], cost,
                         profile=profile)


def parse_timestamp(text: str) -> datetime:
    return datetime.fromisoformat(text.strip())


def read_windows(root: Path) -> dict[str, list[tuple[datetime, datetime]]]:
    path = root / LABELS_FILE
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise NabFormatError(f"{path}: labels file not found (expected NAB layout <root>/labels/...)") from exc
    except json.JSONDecodeError as exc:
        raise NabFormatError(f"{path}: not valid JSON at line {exc.lineno}: {exc.msg}") from exc
    if not isinstance(raw, dict):
        raise NabFormatError(f"{path}: expected an object mapping file keys to windows")
    windows: dict[str, list[tuple[datetime, datetime]]] = {}
    for key, wins in raw.items():
        parsed: list[tuple[datetime, datetime]] = []
        for w in wins:
            try:
                start, end = parse_timestamp(w[0]), parse_timestamp(w[1])
            except (TypeError, ValueError, IndexError) as exc:
                raise NabFormatError(f"{path}: bad window {w!r} for {key}") from exc
            if end < start:
                raise NabFormatError(f"{path}: window {w!r} for {key} ends before it starts")
            parsed.append((start, end))
        windows[key] = parsed
    return windows


def read_series(
    path: Path,
    key: str,
    *,
    on_bad_value: Literal["skip", "error"] = "skip",
    on_duplicate: Literal["skip", "error"] = "skip",
) -> Series:
    """Read one ``timestamp,value`` CSV.

    - bad timestamp, or time going backwards: NabFormatError naming the line (order cannot be guessed);
    - missing / non-numeric / non-finite value: skipped and listed (or an error with on_bad_value="error");
    - repeated timestamp: the first row is kept, later ones skipped and listed (or an error);
    - gaps are counted, not filled: the detector sees the samples that exist.
    """
    timestamps: list[datetime] = []
    values: list[float] = []
    lines: list[int] = []
    skipped: list[SkippedRow] = []
    with path.open(newline="", encoding="utf-8") as fh:
        reader = csv.reader(fh)
        header = next(reader, None)
        if header is None or [h.strip() for h in header[:2]] != ["timestamp", "value"]:
            raise NabFormatError(f"{path}:1: expected header 'timestamp,value', got {header!r}")
        for row in reader:
            line = reader.line_num
            if not row or all(not c.strip() for c in row):
                skipped.append(SkippedRow(line, "empty line"))
                continue
            try:
                ts = parse_timestamp(row[0])
            except ValueError as exc:
                raise NabFormatError(f"{path}:{line}: bad timestamp {row[0]!r}") from exc
            if timestamps and ts < timestamps[-1]:
                raise NabFormatError(f"{path}:{line}: timestamp {row[0]} is earlier than the previous row's")
            if timestamps and ts == timestamps[-1]:
                if on_duplicate == "error":
                    raise NabFormatError(f"{path}:{line}: duplicate timestamp {row[0]}")
                skipped.append(SkippedRow(line, f"duplicate timestamp {row[0]}"))
                continue
            raw_value = row[1].strip() if len(row) > 1 else ""
            try:
                value = float(raw_value)
            except ValueError:
                value = math.nan
            if not math.isfinite(value):
                reason = "missing value" if raw_value == "" else f"non-numeric value {raw_value!r}"
                if on_bad_value == "error":
                    raise NabFormatError(f"{path}:{line}: {reason}")
                skipped.append(SkippedRow(line, reason))
                continue
            timestamps.append(ts)
            values.append(value)
            lines.append(line)
    gaps = 0
    if len(timestamps) > 2:
        secs = np.diff(np.array([t.timestamp() for t in timestamps]))
        gaps = int(np.sum(secs > GAP_FACTOR * float(np.median(secs))))
    return Series(key, timestamps, np.asarray(values, dtype=np.float64), lines, skipped, gaps)


def labels_for(timestamps: list[datetime], windows: list[tuple[datetime, datetime]]) -> np.ndarray:
    labels = np.zeros(len(timestamps), dtype=bool)
    for start, end in windows:
        for i, t in enumerate(timestamps):
            if start <= t <= end:
                labels[i] = True
    return labels


def iter_benchmark(root: Path, *, categories: list[str] | None = None,
                   windows: dict[str, list[tuple[datetime, datetime]]] | None = None,
                   ) -> Iterator[tuple[Series, np.ndarray]]:
    """Each labelled file under root/data, in sorted order, with its per-row labels (``windows``:
    ``read_windows(root)`` when the caller has read them already)."""
    if windows is None:
        windows = read_windows(root)
    data_dir = root / "data"
    if not data_dir.is_dir():
        raise NabFormatError(f"{data_dir}: not a directory (expected NAB layout <root>/data/<category>/*.csv)")
    for path in sorted(data_dir.glob("*/*.csv")):
        key = f"{path.parent.name}/{path.name}"
        if categories is not None and path.parent.name not in categories:
            continue
        if key not in windows:
            # A file the labels do not mention cannot be scored; refusing beats a silent 0-positive file.
            raise NabFormatError(f"{path}: no entry '{key}' in {root / LABELS_FILE}")
        series = read_series(path, key)
        yield series, labels_for(series.timestamps, windows[key])


def score_series(
    series: Series,
    labels: np.ndarray,
    detector: StreamingDetector,
    *,
    metric: str = "value",
    threat_fn: Callable[[float], float] | None = None,
    keep_rows: bool = False,
    spans: list[tuple[int, int]] | None = None,
) -> FileResult:
    """Stream one file through the detector, one update per row, and compute the AUC of the score
    (the detector's anomaly level, or ``threat_fn`` of it). ``spans`` are the file's windows as row
    spans (``window_spans``), carried for NAB's scoring."""
    scores = np.empty(len(series.values), dtype=np.float64)
    scored: list[ScoredRow] = []
    for i, value in enumerate(series.values):
        anoms = int(detector.update({metric: float(value)}))
        level = anomaly_level(detector, anoms)
        score = float(threat_fn(level)) if threat_fn is not None else level
        scores[i] = score
        if keep_rows:
            scored.append(
                ScoredRow(series.lines[i], series.timestamps[i], float(value), anoms, level, score, bool(labels[i]))
            )
    positives = int(labels.sum())
    auc = roc_auc(scores, labels) if 0 < positives < len(labels) else None
    return FileResult(series.key, len(labels), positives, auc, series.skipped, series.gaps, scored, scores,
                      list(spans or []))


def evaluate_nab(
    root: Path,
    detector_factory: Callable[[], StreamingDetector],
    *,
    threat_fn: Callable[[float], float] | None = None,
    keep_rows: bool = False,
    categories: list[str] | None = None,
    on_file: Callable[[FileResult], None] | None = None,
) -> NabReport:
    """Score a fresh detector per file over a NAB-layout directory (root holds data/ and labels/).

    The score of a row is the detector's anomaly level (``anomaly_level``: its ``level`` attribute, or
    its anoms when it has none); ``threat_fn`` maps that level to the threat score (the entropy model).
    With ``keep_rows`` every FileResult carries its (line, timestamp, value, anoms, level, score, label) rows;
    together with ``FileResult.skipped`` they account for every data line of the file.
    ``on_file`` is called after each file (a progress bar hook).
    """
    files: list[FileResult] = []
    name = ""
    windows = read_windows(root)
    for series, labels in iter_benchmark(root, categories=categories, windows=windows):
        detector = detector_factory()
        name = detector.name
        spans = window_spans(series.timestamps, windows[series.key])
        result = score_series(series, labels, detector, threat_fn=threat_fn, keep_rows=keep_rows, spans=spans)
        files.append(result)
        if on_file is not None:
            on_file(result)
    if not files:
        raise NabFormatError(f"{root / 'data'}: no CSV files found")
    return NabReport(name, files)
