"""F-ORG-O Optimize: detect → adjust → redistribute (seed 000), expected_gain = min(0.5, O·0.12) (seed 001 §2)."""

from __future__ import annotations

from venom_common.events.payloads import GenomeView, OptimizeResult, OrganFeatures

MODEL_QUANTIZE_BYTES = 1_000_000_000


def detect_optimization_targets(f: OrganFeatures) -> list[str]:
    targets = []
    theta = 0.5 if f.theta is None else f.theta
    if theta < 0.5 and f.model_size_bytes is not None and f.model_size_bytes > MODEL_QUANTIZE_BYTES:
        targets.append("quantize_model")
    if f.cpu_cores is not None and f.cpu_cores > 4:
        targets.append("increase_threads")
    if f.cache_hit_rate is not None and f.cache_hit_rate < 0.7:
        targets.append("optimize_cache")
    return targets


_ADJUSTMENTS = {"quantize_model": "model_quantized_int8", "increase_threads": "threads_increased",
                "optimize_cache": "cache_optimized"}


def adjust(targets: list[str]) -> list[str]:
    return [_ADJUSTMENTS[t] for t in targets]


def redistribute(theta: float | None) -> dict[str, int]:
    """Resource shares by θ (percent)."""
    t = 0.5 if theta is None else theta
    if t < 0.3:
        return {"REGEN": 40, "BALANCE": 30, "ENTROPY": 15, "OPTIMIZE": 15}
    if t < 0.7:
        return {"REGEN": 25, "BALANCE": 35, "ENTROPY": 20, "OPTIMIZE": 20}
    return {"REGEN": 20, "BALANCE": 25, "ENTROPY": 20, "OPTIMIZE": 35}


def expected_gain(o_weight: float) -> float:
    return min(0.5, o_weight * 0.12)


def run_optimize(features: OrganFeatures, genome: GenomeView) -> OptimizeResult:
    targets = detect_optimization_targets(features)
    return OptimizeResult(
        expected_gain=expected_gain(genome.O),
        targets=targets,
        adjustments=adjust(targets),
        distribution=redistribute(features.theta),
    )
