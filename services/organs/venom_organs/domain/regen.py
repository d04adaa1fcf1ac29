"""F-ORG-R Regen: detect → quarantine → improve → reinvest 97 % (seed 000, seed 001 §2).

urgency = min(0.9, anoms / 100) over the beat's anoms (seed 001); cost is the
3 % of the freed resources that is not reinvested (100 MB per repaired issue).
"""

from __future__ import annotations

from venom_common.events.payloads import GenomeView, OrganFeatures, RegenResult

MB_PER_REPAIR = 100
REINVEST_SHARE = 0.97
CACHE_BLOAT_BYTES = 1_000_000_000


def detect_damage(f: OrganFeatures) -> list[str]:
    """What needs repair. Unmeasured healths (None) are never read as damage."""
    issues = []
    if f.memory_health is not None and f.memory_health < 0.5:
        issues.append("memory_leak")
    if f.model_corruption:
        issues.append("corrupted_model")
    if f.cache_size_bytes is not None and f.cache_size_bytes > CACHE_BLOAT_BYTES:
        issues.append("cache_bloat")
    if f.thermal_health is not None and f.thermal_health < 0.3:
        issues.append("thermal_damage")
    if f.cpu_health is not None and f.cpu_health < 0.2:
        issues.append("cpu_exhaustion")
    return issues


def quarantine(issues: list[str]) -> list[str]:
    """Every detected issue is isolated for repair."""
    return list(issues)


_REPAIRS = {"memory_leak": "repaired_", "corrupted_model": "regenerated_", "cache_bloat": "cleaned_"}


def improve(quarantined: list[str]) -> list[str]:
    """Repairs the seed knows how to make; thermal damage and CPU exhaustion are not repairable in software."""
    return [f"{_REPAIRS[issue]}{issue}" for issue in quarantined if issue in _REPAIRS]


def reinvest(improved: list[str]) -> int:
    """97 % of the freed resources (100 MB per repair), in MB."""
    return int(len(improved) * MB_PER_REPAIR * REINVEST_SHARE)


def run_regen(features: OrganFeatures, genome: GenomeView) -> RegenResult:
    issues = detect_damage(features)
    quarantined = quarantine(issues)
    improved = improve(quarantined)
    reinvested = reinvest(improved)
    freed = len(improved) * MB_PER_REPAIR
    return RegenResult(
        urgency=min(0.9, features.anoms / 100.0),
        cost=float(freed - reinvested),
        issues=issues,
        quarantined=quarantined,
        improved=improved,
        reinvested_mb=reinvested,
    )
