"""The replay source's reader: a recorded series from CSV instead of sampling (F-HW-2).

Two layouts (docs/HARDWARE.md "Replay"):

* ``nab`` — the Numenta Anomaly Benchmark layout, ``timestamp,value``; the value column
  is renamed to the configured metric name (``replay_metric``, e.g. ``cpu_percent``).
* ``columns`` — ``timestamp,<metric>,<metric>,...``; a column named like a MetricsV1
  field (``cpu_percent``, ``mem_available_bytes``, ``temperature_c`` ...) fills that
  field, every column goes into the sample's ``series``.

Timestamps are ISO 8601 (``2014-02-14 14:30:00`` or ``2014-02-14T14:30:00+00:00``);
without a zone they are UTC. The whole file is read and checked before the first row
is played, so a replay is deterministic: the same file and settings always give the
same rows.

Bad input is never turned into a silently wrong series. A bad header or an empty file
is always an error. A bad row (unparseable timestamp, non-numeric or non-finite value,
missing value, wrong number of cells, duplicate or backwards timestamp, value out of
range for its field) is, by policy, either an error naming the file and line
(``error``, the default) or dropped and counted by reason (``skip``); of duplicate
timestamps the first row is kept. A gap (a step longer than ``gap_factor`` × the
expected step, by default the file's most common step) is an error naming the line
after it (``error``) or counted and played over without inventing rows (``skip``).
Blank lines are ignored.
"""

from __future__ import annotations

import csv
import io
import re
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from itertools import pairwise
from pathlib import Path
from typing import Literal

from venom_hardware_agent.domain.samples import ReplayRow, ReplayValueError, replay_metrics

Format = Literal["auto", "nab", "columns"]
Policy = Literal["error", "skip"]

NAB_HEADER = ("timestamp", "value")
COLUMN_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_.-]*$")
#: A plain decimal number: no "nan", "inf", "1_000", hex or blanks inside.
NUMBER = re.compile(r"^[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?$")
#: Reasons a row is refused (the ``reason`` of :class:`ReplayFileError`, keys of ``skipped``).
ROW_REASONS = (
    "bad_timestamp",
    "column_count",
    "missing_value",
    "non_numeric",
    "duplicate_timestamp",
    "out_of_order",
    "out_of_range",
)
LINES_KEPT_PER_REASON = 10


class ReplayFileError(ValueError):
    """A replay file that cannot be played as it is; says where and what to do."""

    def __init__(self, path: str, line: int | None, reason: str, detail: str) -> None:
        where = f"{path}:{line}" if line is not None else path
        hint = ""
        if reason in ROW_REASONS or reason == "gap":
            hint = " (set VENOM_REPLAY_BAD_ROWS=skip to drop bad rows and count them instead)"
        super().__init__(f"{where}: {reason}: {detail}{hint}")
        self.path = path
        self.line = line
        self.reason = reason
        self.detail = detail


@dataclass(frozen=True)
class ReplayReport:
    """What the reader found: kept rows, skipped rows by reason (with their first lines), gaps."""

    path: str
    format: Literal["nab", "columns"]
    columns: tuple[str, ...]
    rows_read: int
    rows_kept: int
    skipped: dict[str, int] = field(default_factory=dict)
    skipped_lines: dict[str, list[int]] = field(default_factory=dict)
    gaps: int = 0
    gap_lines: list[int] = field(default_factory=list)
    step_s: float | None = None
    blank_lines: int = 0

    @property
    def rows_skipped(self) -> int:
        return sum(self.skipped.values())

    def summary(self) -> str:
        parts = [f"{self.path}: {self.rows_kept} of {self.rows_read} rows playable ({self.format}: "
                 f"{', '.join(self.columns)})"]
        for reason, count in sorted(self.skipped.items()):
            parts.append(f"skipped {count} {reason} (lines {_lines(self.skipped_lines.get(reason, []), count)})")
        if self.gaps:
            parts.append(f"{self.gaps} gaps longer than the {self.step_s:g}s step played over, no rows invented "
                         f"(lines {_lines(self.gap_lines, self.gaps)})")
        return "; ".join(parts)


def _lines(lines: list[int], count: int) -> str:
    shown = ", ".join(str(n) for n in lines)
    return shown + (", ..." if count > len(lines) else "")


@dataclass(frozen=True)
class ReplayTable:
    rows: tuple[ReplayRow, ...]
    report: ReplayReport


def parse_timestamp(text: str) -> datetime:
    """ISO 8601; naive means UTC."""
    value = datetime.fromisoformat(text.strip())
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def _most_common_step(rows: list[ReplayRow]) -> float | None:
    steps = Counter(
        (b.timestamp - a.timestamp).total_seconds() for a, b in pairwise(rows)
    )
    if not steps:
        return None
    best = max(steps.values())
    return min(step for step, count in steps.items() if count == best)


def parse_replay(
    lines: Iterable[str],
    *,
    name: str = "<replay>",
    fmt: Format = "auto",
    metric: str = "value",
    on_bad_row: Policy = "error",
    step_s: float | None = None,
    gap_factor: float = 1.5,
) -> ReplayTable:
    """Parse and check a whole replay CSV (see the module docstring)."""
    if not COLUMN_NAME.match(metric):
        raise ValueError(f"replay metric name {metric!r} must match {COLUMN_NAME.pattern}")
    reader = csv.reader(lines)
    header: list[str] | None = None
    header_line = 0
    for cells in reader:
        if cells and any(c.strip() for c in cells):
            header = [c.strip().lstrip("\ufeff").strip() for c in cells]
            header_line = reader.line_num
            break
    if header is None:
        raise ReplayFileError(name, None, "empty", "no header line: expected 'timestamp,value' or "
                                                    "'timestamp,<metric>,...'")
    resolved = _check_header(header, fmt, name, header_line)
    columns = tuple(metric if resolved == "nab" else c for c in header[1:])

    rows: list[ReplayRow] = []
    skipped: Counter[str] = Counter()
    skipped_lines: dict[str, list[int]] = {}
    rows_read = 0
    blank = 0

    def refuse(line: int, reason: str, detail: str) -> None:
        if on_bad_row == "error":
            raise ReplayFileError(name, line, reason, detail)
        skipped[reason] += 1
        kept = skipped_lines.setdefault(reason, [])
        if len(kept) < LINES_KEPT_PER_REASON:
            kept.append(line)

    for cells in reader:
        line = reader.line_num
        if not cells or (len(cells) == 1 and not cells[0].strip()):
            blank += 1
            continue
        rows_read += 1
        if len(cells) != len(header):
            refuse(line, "column_count", f"{len(cells)} cells where the header has {len(header)}")
            continue
        try:
            ts = parse_timestamp(cells[0])
        except ValueError:
            refuse(line, "bad_timestamp", f"{cells[0]!r} is not an ISO 8601 timestamp")
            continue
        values: dict[str, float] = {}
        problem: tuple[str, str] | None = None
        for column, cell in zip(columns, cells[1:], strict=True):
            text = cell.strip()
            if not text:
                problem = ("missing_value", f"no value in column {column!r}")
                break
            if not NUMBER.match(text):
                problem = ("non_numeric", f"{text!r} in column {column!r} is not a finite decimal number")
                break
            values[column] = float(text)
        if problem is not None:
            refuse(line, *problem)
            continue
        if rows:
            previous = rows[-1]
            if ts == previous.timestamp:
                refuse(line, "duplicate_timestamp",
                       f"{cells[0].strip()} repeats the timestamp of line {previous.line}")
                continue
            if ts < previous.timestamp:
                refuse(line, "out_of_order", f"{cells[0].strip()} is earlier than line {previous.line}")
                continue
        row = ReplayRow(line=line, timestamp=ts, values=values)
        try:
            replay_metrics(row, node="replay-check", seq=0, interval_s=1.0)
        except ReplayValueError as exc:
            refuse(line, "out_of_range", str(exc))
            continue
        rows.append(row)

    step = step_s if step_s is not None else _most_common_step(rows)
    gap_lines: list[int] = []
    gaps = 0
    if step is not None:
        for a, b in pairwise(rows):
            delta = (b.timestamp - a.timestamp).total_seconds()
            if delta > gap_factor * step:
                if on_bad_row == "error":
                    raise ReplayFileError(
                        name, b.line, "gap",
                        f"{delta:g}s since line {a.line}, more than {gap_factor:g} × the {step:g}s step",
                    )
                gaps += 1
                if len(gap_lines) < LINES_KEPT_PER_REASON:
                    gap_lines.append(b.line)
    if not rows:
        raise ReplayFileError(name, None, "no_rows", f"no playable row ({rows_read} read, "
                                                     f"{sum(skipped.values())} skipped: {dict(skipped)})")
    report = ReplayReport(
        path=name,
        format=resolved,
        columns=columns,
        rows_read=rows_read,
        rows_kept=len(rows),
        skipped=dict(skipped),
        skipped_lines=skipped_lines,
        gaps=gaps,
        gap_lines=gap_lines,
        step_s=step,
        blank_lines=blank,
    )
    return ReplayTable(rows=tuple(rows), report=report)


def _check_header(header: list[str], fmt: Format, name: str, line: int) -> Literal["nab", "columns"]:
    def bad(detail: str) -> ReplayFileError:
        return ReplayFileError(name, line, "bad_header", detail)

    if header[0].lower() != "timestamp":
        raise bad(f"the first column must be 'timestamp', got {header[0]!r}")
    if len(header) < 2:
        raise bad("no value column after 'timestamp'")
    for column in header[1:]:
        if not COLUMN_NAME.match(column):
            raise bad(f"column name {column!r} must match {COLUMN_NAME.pattern}")
    duplicates = sorted(c for c, n in Counter(header).items() if n > 1)
    if duplicates:
        raise bad(f"duplicate column names {duplicates}")
    is_nab = tuple(c.lower() for c in header) == NAB_HEADER
    if fmt == "nab" and not is_nab:
        raise bad(f"a NAB file's header is 'timestamp,value', got {','.join(header)!r}")
    if fmt == "auto":
        return "nab" if is_nab else "columns"
    return fmt


def read_replay(
    path: Path,
    *,
    fmt: Format = "auto",
    metric: str = "value",
    on_bad_row: Policy = "error",
    step_s: float | None = None,
    gap_factor: float = 1.5,
) -> ReplayTable:
    """Read and check a replay file (UTF-8, optional BOM)."""
    try:
        text = path.read_text(encoding="utf-8-sig")
    except FileNotFoundError as exc:
        raise ReplayFileError(str(path), None, "not_found", "no such file") from exc
    except UnicodeDecodeError as exc:
        raise ReplayFileError(str(path), None, "not_utf8", f"not UTF-8 text ({exc.reason} at byte {exc.start})") \
            from exc
    return parse_replay(
        io.StringIO(text, newline=""),
        name=str(path),
        fmt=fmt,
        metric=metric,
        on_bad_row=on_bad_row,
        step_s=step_s,
        gap_factor=gap_factor,
    )
