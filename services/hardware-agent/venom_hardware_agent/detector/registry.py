"""Detectors by name, for the agent's ``VENOM_DETECTOR`` setting (F-ML-3)."""

from __future__ import annotations

from .config import MetricConfig
from .streaming import TailSurpriseDetector

# Sampling interval the default parameters were measured at (NAB realAWSCloudwatch: 5 minutes).
MEASURED_INTERVAL_S = 300.0


class UnknownDetector(ValueError):
    """The name matches no detector; the message lists the known ones."""


def detector_names() -> list[str]:
    return [TailSurpriseDetector.name]


def detector_by_name(name: str, *, interval_s: float | None = None) -> TailSurpriseDetector:
    """A fresh detector for one node.

    Without ``interval_s`` the parameters are the measured defaults, in samples (as on NAB's
    5-minute data). With it, their durations are kept (``MetricConfig.for_interval``).
    """
    if name != TailSurpriseDetector.name:
        raise UnknownDetector(f"unknown detector {name!r}; known: {', '.join(detector_names())}")
    if interval_s is None or interval_s == MEASURED_INTERVAL_S:
        return TailSurpriseDetector()
    return TailSurpriseDetector(MetricConfig.for_interval(interval_s))
