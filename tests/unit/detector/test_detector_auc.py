"""ROC AUC by ranks, checked against hand-computed cases and a brute-force pair count (F-ML-2)."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from venom_hardware_agent.detector import AucUndefined, roc_auc


def brute_force_auc(scores: list[float], labels: list[bool]) -> float:
    pos = [s for s, y in zip(scores, labels, strict=True) if y]
    neg = [s for s, y in zip(scores, labels, strict=True) if not y]
    wins = sum(1.0 if p > n else 0.5 if p == n else 0.0 for p, n in itertools.product(pos, neg))
    return wins / (len(pos) * len(neg))


@pytest.mark.parametrize(
    ("scores", "labels", "expected"),
    [
        ([0.1, 0.4, 0.35, 0.8], [0, 0, 1, 1], 0.75),  # 3 of 4 pairs ordered
        ([0, 1, 2, 3], [0, 0, 1, 1], 1.0),
        ([3, 2, 1, 0], [0, 0, 1, 1], 0.0),
        ([5, 5, 5, 5], [0, 1, 0, 1], 0.5),  # all tied
        ([1, 1, 0, 0], [1, 0, 1, 0], 0.5),  # pairs: .5, 1, 0, .5
        ([0, 1, 1, 2], [0, 0, 1, 1], 0.875),  # pairs: 1, .5, 1, 1
        ([0, 0, 0, 1], [0, 0, 1, 1], 0.75),  # the 0/1 count problem: ties halve the credit
    ],
)
def test_hand_computed_cases(scores: list[float], labels: list[int], expected: float) -> None:
    assert roc_auc(scores, [bool(y) for y in labels]) == pytest.approx(expected)


def test_matches_pair_count_on_random_integer_scores_with_many_ties() -> None:
    rng = np.random.default_rng(7)
    for _ in range(50):
        n = int(rng.integers(2, 40))
        scores = rng.integers(0, 4, size=n).astype(float).tolist()
        labels = rng.random(n) < 0.3
        labels[0], labels[1] = True, False
        assert roc_auc(scores, labels) == pytest.approx(brute_force_auc(scores, labels.tolist()))


def test_invariant_under_a_monotonic_map_of_the_scores() -> None:
    # The entropy model is sigmoid(w * anoms + b) with w > 0: its AUC is the AUC of anoms.
    anoms = np.array([0, 0, 3, 1, 7, 0, 2, 2])
    labels = np.array([0, 0, 1, 0, 1, 0, 1, 0], dtype=bool)
    threat = 1 / (1 + np.exp(-(0.12 * anoms)))
    assert roc_auc(threat, labels) == pytest.approx(roc_auc(anoms, labels))


def test_single_class_is_refused() -> None:
    with pytest.raises(AucUndefined, match="both classes"):
        roc_auc([1, 2, 3], [False, False, False])


def test_mismatched_lengths_and_non_finite_scores_are_refused() -> None:
    with pytest.raises(ValueError, match="same length"):
        roc_auc([1, 2], [True])
    with pytest.raises(ValueError, match="finite"):
        roc_auc([1, float("nan")], [True, False])
