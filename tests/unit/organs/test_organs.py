"""F-ORG-R/B/E/O and F-ML-1 with the seeds' numbers."""

import math

import pytest

from venom_common.events.payloads import GenomeView, OrganFeatures
from venom_organs.domain.balance import run_balance
from venom_organs.domain.entropy import EntropyMemory, run_entropy
from venom_organs.domain.entropy_model import ModelParams, ThreatScorer, evaluate_auc, train
from venom_organs.domain.optimize import run_optimize
from venom_organs.domain.regen import run_regen

G = GenomeView(R=0.25, B=0.25, E=0.15, O=0.35)


def test_regen_detect_quarantine_improve_reinvest() -> None:
    f = OrganFeatures(memory_health=0.4, model_corruption=True, cache_size_bytes=2_000_000_000, thermal_health=0.2,
                      cpu_health=0.1, anoms=30)
    r = run_regen(f, G)
    assert r.issues == ["memory_leak", "corrupted_model", "cache_bloat", "thermal_damage", "cpu_exhaustion"]
    assert r.quarantined == r.issues
    assert r.improved == ["repaired_memory_leak", "regenerated_corrupted_model", "cleaned_cache_bloat"]
    assert r.reinvested_mb == 291  # 97 % of 300 MB
    assert r.cost == 9.0
    assert r.urgency == pytest.approx(0.3)


def test_regen_urgency_capped_and_absent_is_not_damage() -> None:
    assert run_regen(OrganFeatures(anoms=500), G).urgency == 0.9
    r = run_regen(OrganFeatures(thermal_health=None, cpu_health=None), G)
    assert r.issues == [] and r.urgency == 0.0


@pytest.mark.parametrize("battery,conservation,score", [(None, "normal_operation", 0.0), (80, "normal_operation", 0.0),
                                                        (35, "moderate_conservation", 0.5),
                                                        (10, "aggressive_conservation", 1.0)])
def test_balance_conserve(battery: float | None, conservation: str, score: float) -> None:
    r = run_balance(OrganFeatures(battery_percent=battery, theta=0.6), G)
    assert (r.conservation, r.conserve, r.mode) == (conservation, score, "balance_mode")
    assert (r.kp, r.ki, r.kd) == (0.6, 0.1, 0.05)


@pytest.mark.parametrize("theta,mode", [(0.1, "unwrap_mode"), (0.4, "transition_mode"), (0.8, "wrap_mode"),
                                        (0.95, "optimize_mode")])
def test_balance_modes(theta: float, mode: str) -> None:
    assert run_balance(OrganFeatures(theta=theta), G).mode == mode


def test_entropy_model_seed_value() -> None:
    # seed 001: ml_weight 0.12, 5 anoms → 0.6457
    assert ThreatScorer().score(5, 0.12) == pytest.approx(0.6457, abs=5e-5)


def test_entropy_total_anoms_include_genome_risk() -> None:
    mem = EntropyMemory()
    r = run_entropy(OrganFeatures(anoms=2), GenomeView(R=0.25, B=0.25, E=0.15, O=0.35, risk_anoms=3), mem,
                    ThreatScorer())
    assert r.threat_score == pytest.approx(0.6457, abs=5e-5)
    assert r.model_version == "seed" and "5 anoms" in r.explanation


def test_entropy_scores_the_anomaly_level_when_the_metrics_carry_it() -> None:
    # F-ML-1 / F-ML-3: the detector's graded level (anoms is its integer part) replaces anoms; risk still adds.
    genome = GenomeView(R=0.25, B=0.25, E=0.15, O=0.35, risk_anoms=3)
    r = run_entropy(OrganFeatures(anoms=2, anomaly_level=2.5), genome, EntropyMemory(), ThreatScorer())
    assert r.threat_score == pytest.approx(1 / (1 + math.exp(-0.12 * 5.5)), abs=1e-6)
    assert "5.5 anoms (2.5 observed + 3 genome risk)" in r.explanation
    # Without the level (an older agent), anoms is scored as before.
    old = run_entropy(OrganFeatures(anoms=2), genome, EntropyMemory(), ThreatScorer())
    assert old.threat_score == pytest.approx(1 / (1 + math.exp(-0.12 * 5)), abs=1e-6)


def test_entropy_self_attack_detect_defend_learn() -> None:
    mem = EntropyMemory()
    f = OrganFeatures(cpu_health=0.05, memory_health=0.1, thermal_health=0.2)
    first = run_entropy(f, G, mem, ThreatScorer())
    assert first.threats == ["cpu_spike", "memory_attack", "thermal_attack"]
    assert first.defended == 1  # three new threats, 0.5 each → int(1.5)
    assert first.vulnerabilities == ["memory_overflow", "cpu_spike", "model_poisoning", "cache_corruption"]
    second = run_entropy(f, G, mem, ThreatScorer())
    assert second.defended == 3  # now known
    assert "cpu_spike" not in second.vulnerabilities
    for i in range(150):
        mem.learned.append(f"t{i}")
    assert len(mem.learned) == 100


def test_trained_version_ignores_genome_ml_weight() -> None:
    scorer = ThreatScorer(ModelParams("v1", weight=1.0, bias=-3.0))
    assert scorer.score(3, 0.12) == pytest.approx(0.5)
    assert scorer.version == "v1"


def test_training_separates_classes() -> None:
    x = [0, 0, 1, 0, 1, 2, 0, 1] * 20 + [6, 8, 7, 9] * 10
    y = [0] * 160 + [1] * 40
    model, losses = train(x, y, epochs=400)
    assert losses[-1] < losses[0]
    scorer = ThreatScorer(ModelParams("v1", model.weight, model.bias))
    assert scorer.score(8, 0.12) > 0.5 > scorer.score(0, 0.12)


@pytest.mark.parametrize("x,y", [([1.0, float("nan")], [0, 1]), ([1.0], [0, 1]), ([1.0], [2])])
def test_training_refuses_bad_data(x: list, y: list) -> None:
    with pytest.raises(ValueError):
        train(x, y)


def test_optimize() -> None:
    f = OrganFeatures(theta=0.4, model_size_bytes=2_000_000_000, cpu_cores=8, cache_hit_rate=0.5)
    r = run_optimize(f, G)
    assert r.expected_gain == pytest.approx(0.35 * 0.12)
    assert r.targets == ["quantize_model", "increase_threads", "optimize_cache"]
    assert r.adjustments == ["model_quantized_int8", "threads_increased", "cache_optimized"]
    assert r.distribution == {"REGEN": 25, "BALANCE": 35, "ENTROPY": 20, "OPTIMIZE": 20}
    assert run_optimize(OrganFeatures(theta=0.1), G).distribution["REGEN"] == 40
    assert run_optimize(OrganFeatures(theta=0.8), G).distribution["OPTIMIZE"] == 35


def test_evaluation_by_roc_auc() -> None:
    x = [0, 1, 0, 2, 1, 0, 7, 9, 8, 1]
    y = [0, 0, 0, 0, 0, 0, 1, 1, 1, 1]
    model, _ = train(x, y, epochs=300)
    params = ModelParams("v1", model.weight, model.bias)
    # positives 7, 9, 8, 1 against negatives 0, 1, 0, 2, 1, 0: 3 positives beat all 6, the "1" beats 3 and ties 2
    assert evaluate_auc(params, x, y) == pytest.approx((3 * 6 + 3 + 0.5 * 2) / 24)
    inverted = ModelParams("bad", -model.weight, model.bias)
    assert evaluate_auc(inverted, x, y) == pytest.approx(1 - (3 * 6 + 3 + 0.5 * 2) / 24)


def test_memoised_scores_equal_the_models_output_and_skip_its_forward_pass() -> None:
    memo = ThreatScorer()
    inputs = [(5, 0.12), (5.5, 0.12), (0, 0.3), (5, 0.3), (12.25, 0.05)]
    first = [memo.score(x, w) for x, w in inputs]
    assert memo.forward_calls == len(inputs)
    again = [memo.score(x, w) for x, w in inputs]
    assert memo.forward_calls == len(inputs)  # every repeat came from the memo
    for (x, w), a, b in zip(inputs, first, again, strict=True):
        assert a == b == ThreatScorer().score(x, w)  # a fresh scorer's torch pass, bit for bit
        assert a == pytest.approx(1 / (1 + math.exp(-w * x)), abs=1e-6)
    # the seed follows the genome's weight: a different weight is a different entry, not a stale hit
    assert memo.score(5, 0.2) == pytest.approx(1 / (1 + math.exp(-1.0)), abs=1e-6)
    assert memo.forward_calls == len(inputs) + 1


def test_memo_of_a_trained_version_ignores_the_weight_and_is_bounded() -> None:
    scorer = ThreatScorer(ModelParams("v7", weight=1.0, bias=-3.0))
    assert scorer.score(3, 0.12) == scorer.score(3, 0.9) == pytest.approx(0.5)
    assert scorer.forward_calls == 1
    for i in range(ThreatScorer.MEMO_LIMIT + 10):
        scorer.score(float(i), 0.12)
    assert len(scorer._memo) <= ThreatScorer.MEMO_LIMIT
    assert scorer.score(3, 0.12) == pytest.approx(0.5)


def test_a_reloaded_version_does_not_reuse_the_old_versions_scores() -> None:
    old = ThreatScorer(ModelParams("v1", weight=1.0, bias=-3.0))
    assert old.score(3, 0.12) == pytest.approx(0.5)
    new = ThreatScorer(ModelParams("v2", weight=2.0, bias=-3.0))
    assert new.score(3, 0.12) == pytest.approx(1 / (1 + math.exp(-3.0)), abs=1e-6)
    assert new.version == "v2" and new.forward_calls == 1
