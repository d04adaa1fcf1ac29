"""NAB's own score, standard profile (nab_score.py), against hand-computed small cases.

The expected values use 2·sigmoid(x) − 1 = tanh(x / 2), so NAB's scaled sigmoid at a position p is
−tanh(2.5 p) and a true positive at p is worth tanh(−2.5 p) / tanh(2.5) (tpWeight 1). Cases marked
"NAB's test" restate numbers from numenta/NAB tests/integration/sweeper_test.py and true_positive_test.py.
"""

from __future__ import annotations

import json
import math
import random
from datetime import datetime, timedelta
from pathlib import Path

import pytest

from venom_hardware_agent.detector.nab import evaluate_nab
from venom_hardware_agent.detector.nab_score import (
    STANDARD,
    CostMatrix,
    ScoredFile,
    SweepRow,
    Tally,
    best_threshold,
    nab_score,
    normalise,
    probationary_rows,
    scaled_sigmoid,
    score_at_threshold,
    scores_by_threshold,
    sweep_rows,
    window_spans,
)

FP = 0.11  # the standard profile's fpWeight
MAX_TP = math.tanh(2.5)  # scaledSigmoid(-1): a detection on a window's first row


def detections(n: int, at: list[int]) -> list[float]:
    return [1.0 if i in at else 0.0 for i in range(n)]


def score_one(n: int, spans: list[tuple[int, int]], at: list[int], *, probation: float = 0.0) -> Tally:
    rows = sweep_rows("c/f.csv", detections(n, at), spans, probation_fraction=probation)
    return score_at_threshold(rows, 0.5)


# One window of 5 rows, rows 5..9, in a file of 30 rows, no probation.
WINDOW = [(5, 9)]


def test_a_detection_on_the_windows_first_row_earns_the_full_tp_weight() -> None:
    t = score_one(30, WINDOW, [5])
    assert t.score == pytest.approx(1.0, abs=1e-15)
    assert (t.tp, t.fp, t.fn, t.tn, t.windows, t.windows_detected) == (1, 0, 4, 25, 1, 1)


def test_a_detection_on_the_windows_last_row_earns_less() -> None:
    # position −(9 − 9 + 1) / 5 = −0.2 → tanh(0.5) / tanh(2.5) ≈ 0.4684
    t = score_one(30, WINDOW, [9])
    assert t.score == pytest.approx(math.tanh(0.5) / MAX_TP, abs=1e-12)
    assert t.score == pytest.approx(0.468387, abs=1e-6)
    assert (t.tp, t.fn, t.windows_detected) == (1, 4, 1)


def test_a_detection_after_the_window_is_a_false_positive_weighted_by_its_distance() -> None:
    # Row 11: distance |9 − 11| / (5 − 1) = 0.5 → 0.11 × −tanh(1.25); the window is missed (−1).
    t = score_one(30, WINDOW, [11])
    assert t.score == pytest.approx(-1.0 - FP * math.tanh(1.25), abs=1e-12)
    assert t.score == pytest.approx(-1.0933112, abs=1e-7)
    assert (t.tp, t.fp, t.fn, t.tn, t.windows_detected) == (0, 1, 5, 24, 0)
    # Row 10, just after the window, costs little; from three widths on an FP costs the full fpWeight.
    assert score_one(30, WINDOW, [10]).score == pytest.approx(-1.0 - FP * math.tanh(2.5 * 0.25), abs=1e-12)
    assert score_one(30, WINDOW, [22]).score == pytest.approx(-1.0 - FP, abs=1e-15)  # distance 13/4 > 3


def test_a_detection_before_any_window_costs_the_full_fp_weight() -> None:
    t = score_one(30, WINDOW, [2])
    assert t.score == pytest.approx(-1.0 - FP, abs=1e-15)
    assert (t.fp, t.fn, t.windows_detected) == (1, 5, 0)


def test_only_the_first_detection_in_a_window_counts() -> None:
    # Rows 6 and 8: row 6 at position −(9 − 6 + 1) / 5 = −0.8 counts; row 8 adds nothing.
    both = score_one(30, WINDOW, [6, 8])
    assert both.score == pytest.approx(math.tanh(2.0) / MAX_TP, abs=1e-12)
    assert both.score == score_one(30, WINDOW, [6]).score
    assert (both.tp, both.fn, both.windows_detected) == (2, 3, 1)


def test_the_sweep_replaces_a_later_detection_by_an_earlier_one_as_the_threshold_falls() -> None:
    scores = [0.0] * 30
    scores[8], scores[6] = 0.9, 0.6
    rows = sweep_rows("c/f.csv", scores, WINDOW, probation_fraction=0.0)
    by_t = {t.threshold: t.score for t in scores_by_threshold(rows)}
    assert by_t[1.1] == -1.0  # nothing detected: the window is missed
    assert by_t[0.9] == pytest.approx(math.tanh(1.0) / MAX_TP, abs=1e-12)  # row 8, position −0.4
    assert by_t[0.6] == pytest.approx(math.tanh(2.0) / MAX_TP, abs=1e-12)  # row 6 is now the first
    assert by_t[0.0] < by_t[0.6]  # every other row is a false positive


def test_a_file_without_windows_has_only_false_positives_and_no_normalised_score() -> None:
    t = score_one(10, [], [3])
    assert t.score == pytest.approx(-FP, abs=1e-15)
    assert (t.tp, t.fp, t.fn, t.tn, t.windows) == (0, 1, 0, 9, 0)
    s = nab_score([ScoredFile("c/quiet.csv", detections(10, [3]), [])], probation_fraction=0.0)
    assert (s.overall.null, s.overall.perfect) == (0.0, 0.0)
    assert s.overall.normalised is None


def test_probationary_rows_are_never_scored() -> None:
    # 100 rows → 15 probationary (rows 0..14); window rows 40..49.
    ignored = score_one(100, [(40, 49)], [10, 14], probation=0.15)
    assert ignored.score == -1.0
    assert (ignored.tp, ignored.fp, ignored.fn, ignored.tn) == (0, 0, 10, 100 - 15 - 10)
    counted = score_one(100, [(40, 49)], [15], probation=0.15)
    assert counted.score == pytest.approx(-1.0 - FP, abs=1e-15)
    assert counted.fp == 1


def test_a_window_reaching_into_the_probation_is_scored_from_its_first_scored_row() -> None:
    # Window rows 10..19 (width 10); rows 0..14 probationary. Row 15 is at −(19 − 15 + 1)/10 = −0.5.
    rows = sweep_rows("c/f.csv", detections(100, [15]), [(10, 19)], probation_fraction=0.15)
    t = score_at_threshold(rows, 0.5)
    assert t.score == pytest.approx(math.tanh(1.25) / MAX_TP, abs=1e-12)
    assert (t.tp, t.fn) == (1, 4)
    # The perfect detector can do no better here than that same row (NAB's windows × tpWeight assumes 1).
    s = nab_score([ScoredFile("c/f.csv", detections(100, list(range(10, 20))), [(10, 19)])])
    assert s.overall.perfect == pytest.approx(t.score, abs=1e-15)
    assert s.overall.normalised == pytest.approx(100.0)


@pytest.mark.parametrize(
    ("rows", "fraction", "expected"),
    [(100, 0.0, 0), (100, 1.0, 100), (100, 0.15, 15), (4032, 0.15, 604), (5000, 0.1, 500), (6000, 0.1, 500),
     (6000, 0.15, 750), (0, 0.15, 0)],  # from NAB's testGetProbationaryLength, plus this corpus' 4032 rows
)
def test_probationary_length_is_15_percent_capped_at_750_rows(rows: int, fraction: float, expected: int) -> None:
    assert probationary_rows(rows, fraction) == expected


def test_a_false_positive_after_a_single_row_window_uses_distance_two() -> None:
    t = score_one(30, [(5, 5)], [7])
    assert t.score == pytest.approx(-1.0 - FP * math.tanh(5.0), abs=1e-12)  # S(2.0) = −tanh(5)


def test_scaled_sigmoid_matches_nabs_documented_points() -> None:
    assert scaled_sigmoid(-1.0) == pytest.approx(0.98661, abs=1e-5)
    assert scaled_sigmoid(-0.5) == pytest.approx(0.84828, abs=1e-5)
    assert scaled_sigmoid(0.0) == 0.0
    assert scaled_sigmoid(1.0) == pytest.approx(-0.98661, abs=1e-5)
    assert scaled_sigmoid(3.0001) == -1.0


def test_score_by_threshold_reproduces_nabs_sweeper_test() -> None:
    # NAB's testCalcScoreByThresholdReturnsExpectedScores: fnWeight 5, two windows, weights given.
    cost = CostMatrix(tp=1.0, fp=1.0, fn=5.0, tn=1.0)
    a, b = ("f", 0), ("f", 1)
    rows = [
        SweepRow(0.5, -1000, None, True),
        SweepRow(0.5, -1000, None, True),
        SweepRow(0.0, -3, None, False),
        SweepRow(0.2, 20, a, False),
        SweepRow(0.3, 10, a, False),
        SweepRow(0.5, 5, b, False),
        SweepRow(0.5, -3, None, False),
    ]
    got = [(t.threshold, t.score, t.tp, t.tn, t.fp, t.fn) for t in scores_by_threshold(rows, cost)]
    assert got == [
        (1.1, -10.0, 0, 2, 0, 3),
        (0.5, 5 - 3 - 5.0, 1, 1, 1, 2),
        (0.3, 5 - 3 + 10.0, 2, 1, 1, 1),
        (0.2, 5 - 3 + 20.0, 3, 1, 1, 0),
        (0.0, 5 - 3 + 20 - 3.0, 3, 0, 2, 0),
    ]


def test_tp_at_a_windows_right_edge_and_fp_just_after_cancel() -> None:
    # NAB's testTruePositiveAtRightEdgeOfWindow (fpWeight 1): TP + FP + 1 ≈ 0 for a 100-row window.
    cost = CostMatrix(tp=1.0, fp=1.0, fn=1.0, tn=1.0)
    spans = [(450, 549)]
    tp = score_at_threshold(sweep_rows("f", detections(1000, [549]), spans, cost, probation_fraction=0.0), 0.5, cost)
    fp = score_at_threshold(sweep_rows("f", detections(1000, [550]), spans, cost, probation_fraction=0.0), 0.5, cost)
    assert tp.score + fp.score + 1 == pytest.approx(0.0, abs=1e-3)


def test_the_sweep_agrees_with_scoring_each_threshold_directly() -> None:
    rng = random.Random(7)
    scores = [round(rng.random(), 2) for _ in range(400)]
    spans = [(80, 99), (200, 239), (300, 300), (350, 369)]
    rows = sweep_rows("c/r.csv", scores, spans)
    tallies = scores_by_threshold(rows)
    assert [t.threshold for t in tallies] == sorted({1.1, *(r.score for r in rows if not r.probationary)},
                                                    reverse=True)
    for t in tallies:
        direct = score_at_threshold(rows, t.threshold)
        assert (t.tp, t.tn, t.fp, t.fn, t.windows, t.windows_detected) == (
            direct.tp, direct.tn, direct.fp, direct.fn, direct.windows, direct.windows_detected)
        assert t.score == pytest.approx(direct.score, abs=1e-9)


def test_the_threshold_is_the_best_over_the_whole_corpus_and_files_are_scored_at_it() -> None:
    # File a: its window's first row scores 0.9; file b: a lone FP before its window scores 0.8 and its
    # window's first row 0.7. Thresholds: 0.9 → a hit, b missed: 1 − 1 = 0; 0.8 → adds b's FP: −0.11;
    # 0.7 → b hit too: 2 − 0.11 = 1.89 (the best); 0.0 → every other row is an FP.
    a = [0.0] * 100
    a[40] = 0.9
    b = [0.0] * 100
    b[20], b[60] = 0.8, 0.7
    s = nab_score([ScoredFile("x/a.csv", a, [(40, 49)]), ScoredFile("y/b.csv", b, [(60, 69)])])
    assert s.overall.threshold == 0.7
    assert s.overall.raw == pytest.approx(2.0 - FP, abs=1e-12)
    assert (s.overall.null, s.overall.perfect) == (-2.0, 2.0)
    assert s.overall.normalised == pytest.approx(100 * (2.0 - FP + 2.0) / 4.0)
    assert (s.overall.tp, s.overall.fp, s.overall.windows_detected) == (2, 1, 2)
    assert s.files["x/a.csv"].raw == pytest.approx(1.0) and s.files["y/b.csv"].raw == pytest.approx(1.0 - FP)
    assert set(s.categories) == {"x", "y"}
    assert s.categories["x"].normalised == pytest.approx(100.0)
    assert s.categories["y"].normalised == pytest.approx(100 * (1.0 - FP + 1.0) / 2.0)
    rows = [r for k, f in (("x/a.csv", a), ("y/b.csv", b))
            for r in sweep_rows(k, f, [(40, 49)] if k == "x/a.csv" else [(60, 69)])]
    assert best_threshold(scores_by_threshold(rows)).score == pytest.approx(s.overall.raw, abs=1e-12)


def test_edge_the_perfect_detector_scores_100_and_the_null_detector_0() -> None:
    files = [
        ("c/one.csv", 1000, [(300, 349)]),
        ("c/two.csv", 800, [(200, 229), (500, 529), (700, 759)]),
        ("d/none.csv", 600, []),
    ]
    perfect = [ScoredFile(k, [1.0 if any(a <= i <= b for a, b in s) else 0.0 for i in range(n)], s)
               for k, n, s in files]
    null = [ScoredFile(k, [0.0] * n, s) for k, n, s in files]
    constant = [ScoredFile(k, [0.5] * n, s) for k, n, s in files]  # NAB's own null detector outputs 0.5
    p = nab_score(perfect)
    assert p.overall.normalised == pytest.approx(100.0, abs=1e-12)
    assert p.overall.perfect == 4.0  # = windows × tpWeight, NAB's formula (no window in the probation)
    assert p.overall.null == -4.0
    assert p.overall.threshold == 1.0 and p.overall.fp == 0
    assert p.categories["c"].normalised == pytest.approx(100.0) and p.categories["d"].normalised is None
    for corpus in (null, constant):
        n = nab_score(corpus)
        assert n.overall.normalised == 0.0
        assert n.overall.threshold == 1.1 and n.overall.windows_detected == 0


def test_normalise() -> None:
    assert normalise(-4.0, -4.0, 4.0) == 0.0
    assert normalise(4.0, -4.0, 4.0) == 100.0
    assert normalise(-6.0, -4.0, 4.0) == -25.0  # worse than detecting nothing
    assert normalise(0.0, 0.0, 0.0) is None


def test_scores_outside_0_1_are_refused() -> None:
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        sweep_rows("c/f.csv", [0.2, 1.5], [])
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        sweep_rows("c/f.csv", [0.2, math.nan], [])
    with pytest.raises(ValueError, match="not in order"):
        sweep_rows("c/f.csv", [0.0] * 10, [(5, 12)])


def test_window_spans_are_the_rows_inside_the_limits() -> None:
    t = [datetime(2014, 1, 1) + timedelta(minutes=5 * i) for i in range(20)]
    assert window_spans(t, [(t[12], t[15]), (t[2], t[4])]) == [(2, 4), (12, 15)]
    # Limits between rows take the rows inside; a window holding no row is dropped.
    half = timedelta(minutes=2)
    assert window_spans(t, [(t[2] - half, t[4] + half), (t[8] + half, t[9] - half)]) == [(2, 4)]
    with pytest.raises(ValueError, match="overlap"):
        window_spans(t, [(t[2], t[6]), (t[5], t[9])])


def test_evaluate_nab_carries_scores_and_window_spans_for_the_nab_score(tmp_path: Path) -> None:
    start = datetime(2014, 1, 1)
    stamp = [(start + timedelta(minutes=5 * i)).strftime("%Y-%m-%d %H:%M:%S") for i in range(200)]
    values = ["90.0" if 150 <= i < 153 else "10.0" for i in range(200)]
    path = tmp_path / "data" / "cat" / "f.csv"
    path.parent.mkdir(parents=True)
    path.write_text("timestamp,value\n" + "\n".join(f"{s},{v}" for s, v in zip(stamp, values)) + "\n")
    (tmp_path / "labels").mkdir()
    (tmp_path / "labels" / "combined_windows.json").write_text(
        json.dumps({"cat/f.csv": [[stamp[150] + ".000000", stamp[169] + ".000000"]]}))

    class Spike:
        name = "spike"

        def update(self, series: dict[str, float]) -> int:
            return 1 if series["value"] > 50 else 0

    report = evaluate_nab(tmp_path, Spike, threat_fn=lambda level: 0.9 if level else 0.1)
    f = report.files[0]
    assert f.spans == [(150, 169)] and len(f.scores) == 200
    s = report.nab_score()
    assert s.overall.threshold == pytest.approx(0.9)
    assert s.overall.raw == pytest.approx(1.0) and s.overall.normalised == pytest.approx(100.0)
    assert s.overall.profile == "standard" and STANDARD.fp == FP
