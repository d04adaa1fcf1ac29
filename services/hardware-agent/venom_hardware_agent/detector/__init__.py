"""Streaming anomaly detection for the hardware agent (F-ML-3) and its evaluation on NAB (F-ML-2)."""

from .auc import AucUndefined, roc_auc
from .config import MetricConfig
from .streaming import MetricState, TailSurpriseDetector, TooManyMetrics

__all__ = [
    "AucUndefined",
    "MetricConfig",
    "MetricState",
    "TailSurpriseDetector",
    "TooManyMetrics",
    "roc_auc",
]
