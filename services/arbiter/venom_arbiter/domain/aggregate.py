"""F-ARB-2: aggregate_recommendations — the organs' results into the decision vector.

* threat       = Entropy's threat_score (the entropy model's probability)
* repair_score = Regen's urgency
* stability    = Balance's conserve score
* opt_gain     = Optimize's expected_gain
* integrated_score = Σ w_organ · ok_organ / Σ w_organ over the genome weights
  (seed 000 ``recalibrate``: an organ that answered counts 1, an error 0).

The genome weights the organs where the seed puts them: in the integrated score
and inside the organs themselves (Optimize's gain is O·0.12, Entropy reads the
genome's risk anoms and ML weight). The four signals stay on their organs' own
scales so that the seed's thresholds (threat ≥ 0.85, …) keep their meaning; a
missing or failed organ contributes 0 to its signal and is named in the evidence.
"""

from __future__ import annotations

from collections.abc import Mapping

from venom_common.events.payloads import (
    BalanceResult,
    DecisionVector,
    EntropyResult,
    OptimizeResult,
    OrganError,
    RegenResult,
)

from venom_arbiter.domain.genome import Genome

OrganResults = Mapping[str, RegenResult | BalanceResult | EntropyResult | OptimizeResult | OrganError]

_ORGAN_BASE = {"regen": "R", "balance": "B", "entropy": "E", "optimize": "O"}


def aggregate_recommendations(results: OrganResults, genome: Genome) -> DecisionVector:
    regen = results.get("regen")
    balance = results.get("balance")
    entropy = results.get("entropy")
    optimize = results.get("optimize")
    weights = genome.weights()
    total_w = sum(weights[_ORGAN_BASE[o]] for o in _ORGAN_BASE)
    ok_w = sum(
        weights[_ORGAN_BASE[organ]]
        for organ in _ORGAN_BASE
        if results.get(organ) is not None and not isinstance(results.get(organ), OrganError)
    )
    return DecisionVector(
        threat=entropy.threat_score if isinstance(entropy, EntropyResult) else 0.0,
        stability=balance.conserve if isinstance(balance, BalanceResult) else 0.0,
        repair_score=regen.urgency if isinstance(regen, RegenResult) else 0.0,
        opt_gain=optimize.expected_gain if isinstance(optimize, OptimizeResult) else 0.0,
        integrated_score=min(1.0, max(0.0, ok_w / total_w)) if total_w > 0 else 0.0,
    )


def failed_organs(results: OrganResults) -> list[str]:
    """Organs with no usable result this beat (missing, late or failed)."""
    return [organ for organ in _ORGAN_BASE if not results.get(organ) or isinstance(results.get(organ), OrganError)]
