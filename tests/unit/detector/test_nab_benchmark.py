"""The chosen detector on NAB realAWSCloudwatch (F-ML-3); figures documented in docs/DETECTOR.md.

Needs ../shared/data/nab beside the repository (or VENOM_NAB_DIR); skipped otherwise.
"""

from __future__ import annotations

import math
import os
from pathlib import Path

import pytest

from venom_hardware_agent.detector import TailSurpriseDetector
from venom_hardware_agent.detector.nab import evaluate_nab

NAB = Path(os.environ.get("VENOM_NAB_DIR", Path(__file__).resolve().parents[3].parent / "shared" / "data" / "nab"))

pytestmark = pytest.mark.skipif(
    not (NAB / "labels" / "combined_windows.json").is_file(),
    reason=f"NAB data not found at {NAB} (set VENOM_NAB_DIR to a directory with data/ and labels/)",
)

# Documented figure (docs/DETECTOR.md): mean per-file ROC AUC of the default detector, streaming.
# The goal is 0.80; it is not reached (see the doc for why), so this guards the measured figure.
DOCUMENTED_MEAN_AUC = 0.745


def test_default_detector_reaches_the_documented_mean_auc() -> None:
    report = evaluate_nab(NAB, TailSurpriseDetector)
    assert len(report.files) == 17
    assert len(report.scored_files) == 16  # ec2_cpu_utilization_c6585a has no labelled window
    assert report.mean_auc >= DOCUMENTED_MEAN_AUC - 0.005
    assert report.skipped_rows == 22  # the repeated 03:00 timestamps of two files (DST change)


def test_threat_score_of_the_entropy_model_ranks_like_anoms() -> None:
    # F-ML-1: threat = sigmoid(w * anoms + b), w > 0 -> same AUC as anoms.
    plain = evaluate_nab(NAB, TailSurpriseDetector)
    threat = evaluate_nab(NAB, TailSurpriseDetector, threat_fn=lambda n: 1 / (1 + math.exp(-0.12 * n)))
    assert threat.mean_auc == pytest.approx(plain.mean_auc)
