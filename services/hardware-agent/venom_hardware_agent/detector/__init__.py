"""Streaming anomaly detection for the hardware agent (F-ML-3) and its evaluation on NAB (F-ML-2).

The agent's seam: ``detector.update({metric: value}) -> anoms`` and ``detector.name``.
"""

from venom_common.evaluation import AucUndefined, roc_auc
from .config import MetricConfig
from .registry import UnknownDetector, detector_by_name, detector_names
from .streaming import MetricState, TailSurpriseDetector, TooManyMetrics

__all__ = [
    "AucUndefined",
    "MetricConfig",
    "MetricState",
    "TailSurpriseDetector",
    "TooManyMetrics",
    "UnknownDetector",
    "detector_by_name",
    "detector_names",
    "roc_auc",
]
