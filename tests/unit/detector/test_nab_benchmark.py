"""The chosen detector on NAB realAWSCloudwatch (F-ML-3); figures documented in docs/DETECTOR.md.

Needs ../shared/data/nab beside the repository (or VENOM_NAB_DIR); skipped otherwise.
"""

from __future__ import annotations

import json
import math
import os
from pathlib import Path

import numpy as np
import pytest

from venom_hardware_agent.detector import TailSurpriseDetector, roc_auc
from venom_hardware_agent.detector.nab import NabReport, evaluate_nab

NAB = Path(os.environ.get("VENOM_NAB_DIR", Path(__file__).resolve().parents[3].parent / "shared" / "data" / "nab"))

pytestmark = pytest.mark.skipif(
    not (NAB / "labels" / "combined_windows.json").is_file(),
    reason=f"NAB data not found at {NAB} (set VENOM_NAB_DIR to a directory with data/ and labels/)",
)

# Documented figures (docs/DETECTOR.md): mean per-file ROC AUC of the default detector's anomaly level
# (what is scored) and of its integer anoms, streaming. The goal is 0.80; it is not reached
# (see the doc for why), so this guards the measured figures.
DOCUMENTED_MEAN_AUC = 0.775
DOCUMENTED_ANOMS_AUC = 0.769


@pytest.fixture(scope="module")
def report() -> NabReport:
    return evaluate_nab(NAB, TailSurpriseDetector, keep_rows=True)


def test_default_detector_reaches_the_documented_mean_auc(report: NabReport) -> None:
    assert len(report.files) == 17
    assert len(report.scored_files) == 16  # ec2_cpu_utilization_c6585a has no labelled window
    assert report.mean_auc >= DOCUMENTED_MEAN_AUC - 0.005
    assert report.category_auc() == {"realAWSCloudwatch": pytest.approx(report.mean_auc)}
    assert report.skipped_rows == 22  # the repeated 03:00 timestamps of two files (DST change)


def test_threat_score_of_the_entropy_model_ranks_like_the_level(report: NabReport) -> None:
    # F-ML-1: threat = sigmoid(w * level + b), w > 0 -> the same per-file AUC as the level.
    for f in report.scored_files:
        threat = np.array([1 / (1 + math.exp(-0.12 * r.level)) for r in f.scored])
        labels = np.array([r.label for r in f.scored])
        assert roc_auc(threat, labels) == pytest.approx(f.auc)


def test_the_integer_anoms_rank_worse_than_the_level_because_of_ties(report: NabReport) -> None:
    aucs = []
    for f in report.scored_files:
        assert all(r.anoms == math.floor(r.level) for r in f.scored)
        aucs.append(roc_auc([r.anoms for r in f.scored], [r.label for r in f.scored]))
    assert float(np.mean(aucs)) == pytest.approx(DOCUMENTED_ANOMS_AUC, abs=0.001)
    assert report.mean_auc > float(np.mean(aucs))


# The NAB standard-profile score of `venom eval nab` (the threat score of the default detector and the
# seed entropy model), measured 2026-11-22 and recorded in docs/BENCHMARKS.md and docs/DETECTOR.md.
DOCUMENTED_NAB_STANDARD = 26.6


def test_eval_nab_command_reports_the_documented_auc_and_nab_score() -> None:
    from typer.testing import CliRunner

    from venom_cli.main import app

    result = CliRunner().invoke(app, ["eval", "nab", "--data", str(NAB), "--json"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout.strip().splitlines()[-1])
    assert report["mean_auc"] >= DOCUMENTED_MEAN_AUC - 0.005  # AUC stays the primary figure
    nab = report["nab"]
    assert nab["profile"] == "standard" and "same files" in nab["threshold_chosen_on"]
    assert nab["windows"] == 30 and (nab["null"], nab["perfect"]) == (-30.0, 30.0)
    assert 0.5 <= nab["threshold"] <= 1.0  # the seed model's threat score is sigmoid(0.12 × level ≥ 0)
    assert nab["score"] == pytest.approx(DOCUMENTED_NAB_STANDARD, abs=0.5)
    assert nab["categories"]["realAWSCloudwatch"]["score"] == pytest.approx(nab["score"])
    quiet = next(f for f in report["files"] if f["file"].endswith("c6585a.csv"))
    assert quiet["nab"]["windows"] == 0 and quiet["nab"]["score"] is None  # no window: undefined
