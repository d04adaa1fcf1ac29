"""Reading NAB-layout data and scoring a detector on it, on small synthetic benchmarks (F-ML-2)."""

from __future__ import annotations

import json
import math
from datetime import datetime, timedelta
from pathlib import Path

import pytest

from venom_hardware_agent.detector import TailSurpriseDetector
from venom_hardware_agent.detector.nab import NabFormatError, evaluate_nab, read_series

T0 = datetime(2014, 1, 1)


def ts(i: int) -> str:
    return (T0 + timedelta(minutes=5 * i)).strftime("%Y-%m-%d %H:%M:%S")


def write_benchmark(root: Path, files: dict[str, list[str]], windows: dict[str, list[list[str]]]) -> Path:
    for key, lines in files.items():
        path = root / "data" / key
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("timestamp,value\n" + "\n".join(lines) + "\n", encoding="utf-8")
    (root / "labels").mkdir(parents=True, exist_ok=True)
    (root / "labels" / "combined_windows.json").write_text(json.dumps(windows), encoding="utf-8")
    return root


class SpikeFlag:
    """A fake detector through the seam: anoms = 2 when the value exceeds 50."""

    name = "spike-flag"

    def update(self, series: dict[str, float]) -> int:
        return 2 if series["value"] > 50 else 0


def test_bad_rows_are_skipped_and_listed_with_their_line(tmp_path: Path) -> None:
    csv = tmp_path / "f.csv"
    csv.write_text(
        "timestamp,value\n"
        f"{ts(0)},1.0\n"
        f"{ts(1)},abc\n"  # line 3: non-numeric
        f"{ts(2)},\n"  # line 4: missing
        f"{ts(2)},2.0\n"  # line 5: kept (line 4 was skipped, so this is the first row at ts(2))
        f"{ts(2)},3.0\n"  # line 6: duplicate
        f"{ts(3)},nan\n"  # line 7: non-finite
        f"{ts(9)},4.0\n",  # a gap
        encoding="utf-8",
    )
    s = read_series(csv, "c/f.csv")
    assert s.values.tolist() == [1.0, 2.0, 4.0]
    assert s.lines == [2, 5, 8]
    assert [(r.line, r.reason.split()[0]) for r in s.skipped] == [
        (3, "non-numeric"),
        (4, "missing"),
        (6, "duplicate"),
        (7, "non-numeric"),
    ]
    assert s.gaps == 1


def test_strict_mode_names_the_line(tmp_path: Path) -> None:
    csv = tmp_path / "f.csv"
    csv.write_text(f"timestamp,value\n{ts(0)},1\n{ts(1)},x\n", encoding="utf-8")
    with pytest.raises(NabFormatError, match=r"f\.csv:3: non-numeric value 'x'"):
        read_series(csv, "c/f.csv", on_bad_value="error")
    csv.write_text(f"timestamp,value\n{ts(0)},1\n{ts(0)},2\n", encoding="utf-8")
    with pytest.raises(NabFormatError, match=r"f\.csv:3: duplicate timestamp"):
        read_series(csv, "c/f.csv", on_duplicate="error")


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (f"time,val\n{ts(0)},1\n", r":1: expected header"),
        (f"timestamp,value\n{ts(0)},1\nyesterday,2\n", r":3: bad timestamp 'yesterday'"),
        (f"timestamp,value\n{ts(5)},1\n{ts(4)},2\n", r":3: timestamp .* earlier than the previous"),
    ],
)
def test_unrecoverable_rows_are_errors_naming_the_line(tmp_path: Path, body: str, message: str) -> None:
    csv = tmp_path / "f.csv"
    csv.write_text(body, encoding="utf-8")
    with pytest.raises(NabFormatError, match=message):
        read_series(csv, "c/f.csv")


def test_evaluate_scores_each_file_and_category(tmp_path: Path) -> None:
    # File a: spikes at rows 10..14, labelled window rows 8..16 -> the fake scores positives 10..14 only.
    a = [f"{ts(i)},{100 if 10 <= i <= 14 else 1}" for i in range(40)]
    b = [f"{ts(i)},{100 if i == 30 else 1}" for i in range(40)]  # spike outside its window
    c = [f"{ts(i)},1" for i in range(20)]  # no window: AUC undefined, reported as such
    root = write_benchmark(
        tmp_path,
        {"cat1/a.csv": a, "cat1/b.csv": b, "cat2/c.csv": c},
        {"cat1/a.csv": [[ts(8), ts(16)]], "cat1/b.csv": [[ts(0), ts(4)]], "cat2/c.csv": []},
    )
    seen: list[str] = []
    report = evaluate_nab(root, SpikeFlag, keep_rows=True, on_file=lambda f: seen.append(f.key))
    assert seen == ["cat1/a.csv", "cat1/b.csv", "cat2/c.csv"]
    by_key = {f.key: f for f in report.files}
    # a: 9 positives (5 score 2, 4 score 0), 31 negatives all 0 -> (5 + 4 * 0.5) / 9
    assert by_key["cat1/a.csv"].auc == pytest.approx((5 + 4 * 0.5) / 9)
    # b: 5 positives all 0; negatives: 34 at 0, 1 at 2 -> 0.5 * 34/35
    assert by_key["cat1/b.csv"].auc == pytest.approx(0.5 * 34 / 35)
    assert by_key["cat2/c.csv"].auc is None
    assert report.category_auc() == {"cat1": pytest.approx((7 / 9 + 17 / 35) / 2)}
    assert report.mean_auc == pytest.approx((7 / 9 + 17 / 35) / 2)
    rows = by_key["cat1/a.csv"].scored
    assert len(rows) == 40 and rows[10].anoms == 2 and rows[10].label and not rows[0].label
    assert rows[10].timestamp == T0 + timedelta(minutes=50) and rows[10].value == 100.0
    assert rows[10].line == 12  # header is line 1


def test_threat_function_is_applied_to_anoms(tmp_path: Path) -> None:
    lines = [f"{ts(i)},{100 if i == 5 else 1}" for i in range(10)]
    root = write_benchmark(tmp_path, {"k/f.csv": lines}, {"k/f.csv": [[ts(4), ts(6)]]})
    report = evaluate_nab(
        root, SpikeFlag, keep_rows=True, threat_fn=lambda n: 1 / (1 + math.exp(-0.12 * n))
    )
    row = report.files[0].scored[5]
    assert row.anoms == 2 and row.score == pytest.approx(1 / (1 + math.exp(-0.24)))


class GradedSpike(SpikeFlag):
    """A fake with a graded level: anoms 2 and level 2.75 on a spike, level 0.25 otherwise."""

    name = "graded-spike"
    level = 0.0

    def update(self, series: dict[str, float]) -> int:
        anoms = super().update(series)
        self.level = anoms + 0.75 if anoms else 0.25
        return anoms


def test_a_detector_with_a_level_is_scored_by_its_level(tmp_path: Path) -> None:
    lines = [f"{ts(i)},{100 if i == 5 else 1}" for i in range(10)]
    root = write_benchmark(tmp_path, {"k/f.csv": lines}, {"k/f.csv": [[ts(4), ts(6)]]})
    report = evaluate_nab(root, GradedSpike, keep_rows=True, threat_fn=lambda x: 1 / (1 + math.exp(-0.12 * x)))
    spike, quiet = report.files[0].scored[5], report.files[0].scored[0]
    assert (spike.anoms, spike.level) == (2, 2.75) and spike.score == pytest.approx(1 / (1 + math.exp(-0.33)))
    assert (quiet.anoms, quiet.level) == (0, 0.25)


def test_a_file_missing_from_the_labels_is_an_error(tmp_path: Path) -> None:
    root = write_benchmark(tmp_path, {"k/f.csv": [f"{ts(0)},1"]}, {"k/other.csv": []})
    with pytest.raises(NabFormatError, match="no entry 'k/f.csv'"):
        evaluate_nab(root, TailSurpriseDetector)


def test_missing_labels_file_is_an_error(tmp_path: Path) -> None:
    (tmp_path / "data").mkdir()
    with pytest.raises(NabFormatError, match="labels file not found"):
        evaluate_nab(tmp_path, TailSurpriseDetector)
