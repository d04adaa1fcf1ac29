"""The hardware agent's streaming anomaly detector: metric samples in, anoms per beat out (F-ML-3).

Per metric: the sample's tail surprise against the last ``history`` samples of that metric
(rank-based, so level and scale free) becomes a severity level (0 below ``threshold``, then one
more per decade of rarity); levels accumulate in a sum that halves every ``half_life`` samples,
and the integer part of that sum is the metric's anoms. The sum keeps a detected event visible
for a while (so anoms ranks the samples after an event above quiet ones) and then fades, and the
history absorbs a sustained level shift, after which anoms returns to 0.

No look-ahead: a sample's anoms uses that sample and earlier ones only. Memory per metric is
bounded by ``history`` (two copies of at most ``history`` floats) plus a few scalars.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

from .config import MetricConfig
from .tail import RankedWindow


class TooManyMetrics(ValueError):
    """More distinct metric names than ``max_metrics``: refuse rather than grow without bound."""


class MetricState:
    """One metric's detector state."""

    def __init__(self, config: MetricConfig) -> None:
        self.config = config
        self.window = RankedWindow(config.history)
        self.seen = 0
        self.memory = 0.0
        self._decay = 0.5 ** (1.0 / config.half_life)

    def level(self, value: float) -> int:
        """Severity of one sample: 0 below the threshold, +1 per decade of rarity above it."""
        cfg = self.config
        if self.seen < cfg.warmup:
            return 0
        s = self.window.surprise(value, cap=cfg.max_surprise)
        return 0 if s < cfg.threshold else int(math.floor(s - cfg.threshold)) + 1

    def update(self, value: float) -> int:
        level = self.level(value)
        self.window.push(value)
        self.seen += 1
        self.memory = max(0.0, self.memory * self._decay + level - self.config.allowance)
        return int(math.floor(self.memory))


class TailSurpriseDetector:
    """Detector for all metrics of one node: ``update({metric: value}) -> anoms`` (the agent's seam).

    ``configs`` overrides the ``default`` settings for named metrics (e.g. disable a counter that is
    not meant to be judged). Non-finite values are ignored for that sample (they say nothing about
    the metric) and a metric missing from a sample keeps its state unchanged.
    """

    name = "tail-surprise"

    def __init__(
        self,
        default: MetricConfig | None = None,
        configs: Mapping[str, MetricConfig] | None = None,
        *,
        max_metrics: int = 256,
    ) -> None:
        self.default = default or MetricConfig()
        self.configs = dict(configs or {})
        self.max_metrics = max_metrics
        self._states: dict[str, MetricState] = {}
        self.last: dict[str, int] = {}  # anoms of each metric at its latest sample, for logs and dashboards

    def config_for(self, metric: str) -> MetricConfig:
        return self.configs.get(metric, self.default)

    def update(self, series: dict[str, float]) -> int:
        total = 0
        for metric, value in series.items():
            cfg = self.config_for(metric)
            if not cfg.enabled:
                continue
            value = float(value)
            if not math.isfinite(value):
                continue
            state = self._states.get(metric)
            if state is None:
                if len(self._states) >= self.max_metrics:
                    raise TooManyMetrics(
                        f"metric {metric!r} would be number {len(self._states) + 1}; raise max_metrics "
                        f"({self.max_metrics}) or disable metrics that need no detection"
                    )
                state = self._states[metric] = MetricState(cfg)
            anoms = state.update(value)
            self.last[metric] = anoms
            total += anoms
        return total

    def state_size(self) -> int:
        """Values held across all metrics (bounded by sum of history x 2)."""
        return sum(len(s.window) for s in self._states.values())
