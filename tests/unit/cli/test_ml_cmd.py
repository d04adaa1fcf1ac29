"""`venom eval nab` and `venom train` on a small NAB-layout directory made here."""

from __future__ import annotations

import csv
import json
import math
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from typer.testing import CliRunner

from venom_cli.main import app


def make_nab(root: Path) -> None:
    start = datetime(2024, 1, 1)
    windows = {}
    for name, spike_at in (("a.csv", 400), ("b.csv", 500)):
        rows = []
        for i in range(700):
            value = 10.0 + (i % 5) * 0.3
            if spike_at <= i < spike_at + 6:
                value = 90.0
            rows.append((start + timedelta(minutes=5 * i), value))
        path = root / "data" / "cat" / name
        path.parent.mkdir(parents=True, exist_ok=True)
        with open(path, "w", newline="") as fh:
            w = csv.writer(fh)
            w.writerow(["timestamp", "value"])
            for ts, v in rows:
                w.writerow([ts.strftime("%Y-%m-%d %H:%M:%S"), v])
            if name == "b.csv":  # a duplicate timestamp: skipped, kept in --out with empty scores
                w.writerow([rows[-1][0].strftime("%Y-%m-%d %H:%M:%S"), 11.0])
        lo = start + timedelta(minutes=5 * (spike_at - 2))
        hi = start + timedelta(minutes=5 * (spike_at + 20))
        windows[f"cat/{name}"] = [[lo.strftime("%Y-%m-%d %H:%M:%S.000000"), hi.strftime("%Y-%m-%d %H:%M:%S.000000")]]
    (root / "labels").mkdir()
    (root / "labels" / "combined_windows.json").write_text(json.dumps(windows))


def test_eval_nab_reports_auc_and_writes_one_row_per_input_row(tmp_path: Path) -> None:
    make_nab(tmp_path / "nab")
    result = CliRunner().invoke(app, ["eval", "nab", "--data", str(tmp_path / "nab"), "--out", str(tmp_path / "out"),
                                      "--json"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout.strip().splitlines()[-1])
    assert {f["file"] for f in report["files"]} == {"cat/a.csv", "cat/b.csv"}
    assert report["mean_auc"] > 0.8  # an obvious spike inside each window
    assert set(report["categories"]) == {"cat"} and report["model_version"] == "seed"
    assert report["skipped_rows"] == 1
    for name, rows in (("a.csv", 700), ("b.csv", 701)):
        with open(tmp_path / "out" / "cat" / name) as fh:
            out = list(csv.reader(fh))
        assert out[0] == ["timestamp", "value", "anoms", "anomaly_level", "threat_score"]
        assert len(out) - 1 == rows
        for row in out[1:]:
            if row[2]:  # anoms is the level's integer part; the seed model scores the level
                level = float(row[3])
                assert int(row[2]) == math.floor(level)
                assert float(row[4]) == pytest.approx(1 / (1 + math.exp(-0.12 * level)), abs=2e-6)
    assert out[-1][2:] == ["", "", ""]  # the skipped duplicate


def test_eval_nab_reports_nabs_standard_score_with_its_threshold_and_counts(tmp_path: Path) -> None:
    make_nab(tmp_path / "nab")
    result = CliRunner().invoke(app, ["eval", "nab", "--data", str(tmp_path / "nab"), "--json"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout.strip().splitlines()[-1])
    nab = report["nab"]
    assert nab["profile"] == "standard" and "same files" in nab["threshold_chosen_on"]
    assert nab["windows"] == 2 and (nab["null"], nab["perfect"]) == (-2.0, 2.0)
    assert 0.0 <= nab["threshold"] <= 1.0
    assert nab["score"] == pytest.approx(100 * (nab["raw"] - nab["null"]) / (nab["perfect"] - nab["null"]))
    assert nab["windows_detected"] == 2 and nab["score"] > 50  # the spikes open each window
    assert set(nab["categories"]) == {"cat"} and nab["categories"]["cat"]["score"] == pytest.approx(nab["score"])
    assert sum(f["nab"]["raw"] for f in report["files"]) == pytest.approx(nab["raw"])
    assert {k: nab[k] for k in ("tp", "fp", "fn")} == {
        k: sum(f["nab"][k] for f in report["files"]) for k in ("tp", "fp", "fn")}
    table = CliRunner().invoke(app, ["eval", "nab", "--data", str(tmp_path / "nab")])
    assert table.exit_code == 0, table.output
    text = " ".join(table.stdout.split())  # rich wraps long lines
    assert "NAB standard-profile score" in text and "chosen on these same files" in text


def test_train_saves_a_version_the_organ_would_serve(tmp_path: Path) -> None:
    make_nab(tmp_path / "nab")
    models = tmp_path / "models"
    result = CliRunner().invoke(app, ["train", "--data", str(tmp_path / "nab"), "--model-dir", str(models),
                                      "--epochs", "200", "--json"])
    assert result.exit_code == 0, result.output
    trained = json.loads(result.stdout.strip().splitlines()[-1])
    assert trained["version"] == "v1" and trained["weight"] > 0 and trained["loss_last"] < trained["loss_first"]
    assert 0.5 < trained["auc"] <= 1.0
    from venom_organs.adapters.model_store import ModelStore

    assert ModelStore(models).latest().version == "v1"
    again = CliRunner().invoke(app, ["eval", "nab", "--data", str(tmp_path / "nab"), "--model-dir", str(models),
                                     "--json"])
    assert json.loads(again.stdout.strip().splitlines()[-1])["model_version"] == "v1"


def test_eval_refuses_a_directory_without_nab_layout(tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    result = CliRunner().invoke(app, ["eval", "nab", "--data", str(tmp_path / "empty")])
    assert result.exit_code == 2
