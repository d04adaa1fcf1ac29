"""F-ORG-E Entropy: self-attack → detect → defend → learn (seed 000), threat score by the model (F-ML-1)."""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field

from venom_common.events.payloads import EntropyResult, GenomeView, OrganFeatures

from venom_organs.domain.entropy_model import ThreatScorer

TEST_ATTACKS = ("memory_overflow", "cpu_spike", "model_poisoning", "cache_corruption")
LEARNED_LIMIT = 100


@dataclass
class EntropyMemory:
    """The threats this organ replica has learned (last 100)."""

    learned: deque[str] = field(default_factory=lambda: deque(maxlen=LEARNED_LIMIT))


def self_attack(memory: EntropyMemory) -> list[str]:
    """Test its own defences: the test attacks it has not learned yet are vulnerabilities."""
    return [attack for attack in TEST_ATTACKS if attack not in memory.learned]


def detect_threats(f: OrganFeatures) -> list[str]:
    threats = []
    if f.cpu_health is not None and f.cpu_health < 0.1:
        threats.append("cpu_spike")
    if f.memory_health is not None and f.memory_health < 0.2:
        threats.append("memory_attack")
    if f.thermal_health is not None and f.thermal_health < 0.3:
        threats.append("thermal_attack")
    return threats


def defend(threats: list[str], memory: EntropyMemory) -> int:
    """Known threats are defended fully (1), new ones partly (0.5)."""
    return int(sum(1.0 if t in memory.learned else 0.5 for t in threats))


def learn(threats: list[str], memory: EntropyMemory) -> None:
    for threat in threats:
        if threat not in memory.learned:
            memory.learned.append(threat)  # deque(maxlen=100): the oldest falls out


def run_entropy(features: OrganFeatures, genome: GenomeView, memory: EntropyMemory, scorer: ThreatScorer) -> EntropyResult:
    vulnerabilities = self_attack(memory)
    threats = detect_threats(features)
    defended = defend(threats, memory)
    learn(threats, memory)
    # F-ML-1: total anoms = observed + genome risk. "Observed" is the detector's graded anomaly level when
    # the metrics carried it (anoms is its integer part; the level ranks samples without ties), else anoms.
    observed = features.anomaly_level if features.anomaly_level is not None else features.anoms
    total = observed + genome.risk_anoms
    score = scorer.score(total, genome.ml_weight)
    explanation = (
        f"threat {score:.4f} from {total:g} anoms ({observed:g} observed + {genome.risk_anoms} genome risk) "
        f"by model {scorer.version}"
        + (f"; threats: {', '.join(threats)}" if threats else "")
    )
    return EntropyResult(
        threat_score=score,
        explanation=explanation,
        model_version=scorer.version,
        threats=threats,
        vulnerabilities=vulnerabilities,
        defended=defended,
    )
