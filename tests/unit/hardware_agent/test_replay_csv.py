"""The replay reader (F-HW-2) and its bad-input policy: a clear error naming the line, or a counted skip."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime
from pathlib import Path

import pytest

from venom_hardware_agent.adapters.replay_csv import ReplayFileError, parse_replay, read_replay
from venom_hardware_agent.domain.samples import replay_metrics

NAB_DIR = Path("/work/shared/data/nab/data/realAWSCloudwatch")


def parse(text: str, **kw):  # type: ignore[no-untyped-def]
    return parse_replay(io.StringIO(text), name="t.csv", **kw)


NAB = "timestamp,value\n2014-02-14 14:30:00,0.132\n2014-02-14 14:35:00,0.134\n2014-02-14 14:40:00,12.5\n"


def test_nab_layout_with_the_metric_named() -> None:
    table = parse(NAB, metric="cpu_percent")
    assert table.report.format == "nab" and table.report.columns == ("cpu_percent",)
    assert [r.line for r in table.rows] == [2, 3, 4]
    assert table.rows[0].timestamp == datetime(2014, 2, 14, 14, 30, tzinfo=UTC)
    assert [r.values["cpu_percent"] for r in table.rows] == [0.132, 0.134, 12.5]
    assert table.report.step_s == 300.0 and table.report.rows_skipped == 0 and table.report.gaps == 0
    m = replay_metrics(table.rows[2], node="n1", seq=2, interval_s=0.01)
    assert m.source == "replay" and m.cpu_percent == 12.5 and m.replay_line == 4
    assert m.theta.h_cpu == pytest.approx(0.875) and m.theta.theta == pytest.approx(0.875)
    assert m.theta.weights == {"h_cpu": 1.0} and m.theta.thermal_sensor is False
    assert m.mem_total_bytes is None and m.temperature_c is None  # absent, not zero
    assert m.series == {"cpu_percent": 12.5}


def test_nab_value_without_a_known_metric_name_gives_series_only() -> None:
    m = replay_metrics(parse(NAB).rows[0], node="n1", seq=0, interval_s=1.0)
    assert m.series == {"value": 0.132} and m.theta.theta is None and m.theta.weights == {}


COLUMNS = (
    "timestamp,cpu_percent,mem_available_bytes,mem_total_bytes,temperature_c,temperature_critical_c,queue_depth\n"
    "2024-05-01T10:00:00Z,40,8589934592,17179869184,67.5,95,3\n"
    "2024-05-01T10:00:01Z,80,4294967296,17179869184,40,95,7\n"
)


def test_multi_column_layout_fills_fields_and_all_hs() -> None:
    table = parse(COLUMNS)
    assert table.report.format == "columns" and table.report.step_s == 1.0
    m = replay_metrics(table.rows[0], node="n1", seq=0, interval_s=1.0)
    assert (m.theta.h_cpu, m.theta.h_mem, m.theta.h_term) == pytest.approx((0.6, 0.5, 0.5))
    assert m.theta.theta == pytest.approx(0.53) and m.theta.thermal_sensor is True
    assert m.mem_total_bytes == 17179869184 and isinstance(m.mem_total_bytes, int)
    assert m.series["queue_depth"] == 3.0 and len(m.series) == 6


def test_mem_percent_column_drives_h_mem() -> None:
    table = parse("timestamp,mem_percent\n2024-01-01 00:00:00,75\n")
    m = replay_metrics(table.rows[0], node="n1", seq=0, interval_s=1.0)
    assert m.theta.h_mem == pytest.approx(0.25) and m.theta.weights == {"h_mem": 1.0}


# --- bad input -------------------------------------------------------------------------------

BAD_ROWS = [
    ("non_numeric", "timestamp,value\n2014-01-01 00:00:00,1\n2014-01-01 00:05:00,abc\n2014-01-01 00:10:00,3\n", 3),
    ("non_numeric", "timestamp,value\n2014-01-01 00:00:00,1\n2014-01-01 00:05:00,nan\n2014-01-01 00:10:00,3\n", 3),
    ("missing_value", "timestamp,value\n2014-01-01 00:00:00,1\n2014-01-01 00:05:00,\n2014-01-01 00:10:00,3\n", 3),
    ("duplicate_timestamp",
     "timestamp,value\n2014-01-01 00:00:00,1\n2014-01-01 00:00:00,2\n2014-01-01 00:05:00,3\n", 3),
    ("out_of_order",
     "timestamp,value\n2014-01-01 00:05:00,1\n2014-01-01 00:00:00,2\n2014-01-01 00:10:00,3\n", 3),
    ("bad_timestamp", "timestamp,value\n2014-01-01 00:00:00,1\nyesterday,2\n2014-01-01 00:10:00,3\n", 3),
    ("column_count", "timestamp,value\n2014-01-01 00:00:00,1\n2014-01-01 00:05:00,2,9\n2014-01-01 00:10:00,3\n", 3),
]


@pytest.mark.parametrize(("reason", "text", "line"), BAD_ROWS, ids=[f"{r[0]}-{i}" for i, r in enumerate(BAD_ROWS)])
def test_bad_row_is_an_error_naming_the_line(reason: str, text: str, line: int) -> None:
    with pytest.raises(ReplayFileError) as err:
        parse(text)
    assert err.value.reason == reason and err.value.line == line
    assert f"t.csv:{line}: {reason}" in str(err.value) and "VENOM_REPLAY_BAD_ROWS=skip" in str(err.value)


@pytest.mark.parametrize(("reason", "text", "line"), BAD_ROWS, ids=[f"{r[0]}-{i}" for i, r in enumerate(BAD_ROWS)])
def test_bad_row_is_skipped_and_counted_when_asked(reason: str, text: str, line: int) -> None:
    table = parse(text, on_bad_row="skip")
    assert table.report.skipped == {reason: 1} and table.report.skipped_lines == {reason: [line]}
    assert table.report.rows_read == 3 and table.report.rows_kept == 2
    assert line not in [r.line for r in table.rows]
    assert f"skipped 1 {reason} (lines {line})" in table.report.summary()


def test_duplicate_keeps_the_first_row() -> None:
    table = parse("timestamp,value\n2014-01-01 00:00:00,1\n2014-01-01 00:00:00,2\n", on_bad_row="skip")
    assert [r.values["value"] for r in table.rows] == [1.0]


def test_out_of_range_value_for_its_field() -> None:
    text = "timestamp,cpu_percent\n2014-01-01 00:00:00,50\n2014-01-01 00:05:00,150\n"
    with pytest.raises(ReplayFileError) as err:
        parse(text)
    assert (err.value.reason, err.value.line) == ("out_of_range", 3) and "cpu_percent" in str(err.value)
    assert parse(text, on_bad_row="skip").report.skipped == {"out_of_range": 1}
    frac = "timestamp,mem_total_bytes\n2014-01-01 00:00:00,1.5\n"
    with pytest.raises(ReplayFileError, match="whole number"):
        parse(frac)


GAPPY = "timestamp,value\n2014-01-01 00:00:00,1\n2014-01-01 00:05:00,2\n2014-01-01 00:20:00,3\n" \
        "2014-01-01 00:25:00,4\n2014-01-01 00:30:00,5\n"


def test_gap_is_an_error_naming_the_line_after_it() -> None:
    with pytest.raises(ReplayFileError) as err:
        parse(GAPPY)
    assert (err.value.reason, err.value.line) == ("gap", 4)
    assert "900s since line 3" in str(err.value) and "300s step" in str(err.value)


def test_gap_is_counted_and_played_over_when_skipping() -> None:
    table = parse(GAPPY, on_bad_row="skip")
    assert table.report.gaps == 1 and table.report.gap_lines == [4] and table.report.rows_kept == 5
    assert "1 gaps longer than the 300s step" in table.report.summary()
    assert parse(GAPPY, step_s=900.0).report.gaps == 0  # an explicit step decides what a gap is
    assert parse(GAPPY, gap_factor=4.0).report.gaps == 0


@pytest.mark.parametrize(
    ("text", "fmt", "fragment"),
    [
        ("time,value\n2014-01-01 00:00:00,1\n", "auto", "first column must be 'timestamp'"),
        ("timestamp\n2014-01-01 00:00:00\n", "auto", "no value column"),
        ("timestamp,a,a\n2014-01-01 00:00:00,1,2\n", "auto", "duplicate column names"),
        ("timestamp,cpu %\n2014-01-01 00:00:00,1\n", "auto", "must match"),
        ("timestamp,cpu_percent\n2014-01-01 00:00:00,1\n", "nab", "NAB file's header is 'timestamp,value'"),
    ],
)
def test_bad_header_is_always_an_error(text: str, fmt: str, fragment: str) -> None:
    for policy in ("error", "skip"):
        with pytest.raises(ReplayFileError) as err:
            parse(text, fmt=fmt, on_bad_row=policy)
        assert err.value.reason == "bad_header" and err.value.line == 1 and fragment in str(err.value)


def test_empty_file_and_no_playable_row() -> None:
    with pytest.raises(ReplayFileError, match="empty"):
        parse("\n\n")
    with pytest.raises(ReplayFileError, match="no_rows"):
        parse("timestamp,value\n2014-01-01 00:00:00,x\n", on_bad_row="skip")


def test_blank_lines_are_ignored_and_bom_is_accepted(tmp_path: Path) -> None:
    path = tmp_path / "bom.csv"
    path.write_text("\ufefftimestamp,value\n2014-01-01 00:00:00,1\n\n2014-01-01 00:05:00,2\n\n", encoding="utf-8")
    table = read_replay(path)
    assert table.report.rows_kept == 2 and table.report.blank_lines == 2 and table.rows[1].line == 4


def test_missing_file_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(ReplayFileError, match="not_found"):
        read_replay(tmp_path / "nope.csv")


def test_parsing_is_deterministic(tmp_path: Path) -> None:
    path = tmp_path / "a.csv"
    path.write_text(COLUMNS)
    a, b = read_replay(path), read_replay(path)
    assert a == b


@pytest.mark.skipif(not NAB_DIR.is_dir(), reason="NAB data not present")
def test_real_nab_files_parse_or_name_their_first_problem() -> None:
    for path in sorted(NAB_DIR.glob("*.csv")):
        with path.open(newline="") as fh:
            rows = list(csv.reader(fh))[1:]
        table = read_replay(path, metric="value", on_bad_row="skip")
        report = table.report
        assert report.rows_read == len(rows)
        assert report.rows_kept + report.rows_skipped == report.rows_read
        timestamps = [r.timestamp for r in table.rows]
        assert timestamps == sorted(set(timestamps))  # strictly increasing after the policy
        if report.rows_skipped or report.gaps:
            with pytest.raises(ReplayFileError) as err:
                read_replay(path, metric="value")
            assert err.value.line is not None and err.value.line >= 2
    # one known-clean and one known-dirty file (duplicates and gaps) of the NAB set
    clean = NAB_DIR / "ec2_cpu_utilization_24ae8d.csv"
    assert read_replay(clean, metric="cpu_percent").report.rows_kept == 4032
    dirty = read_replay(NAB_DIR / "ec2_disk_write_bytes_1ef3de.csv", on_bad_row="skip").report
    assert dirty.skipped.get("duplicate_timestamp", 0) > 0 and dirty.gaps > 0
