"""The hardware agent's streaming anomaly detector: metric samples in, anoms per beat out (F-ML-3).

Per metric, pieces of evidence are ranked against their own last ``history`` values:

- the value itself (a spike, a new level, a value never seen);
- the shape of the last ``shape_width`` samples: distance to the nearest past stretch (a new rhythm);
- optionally (``season`` > 0), its change against the samples one season ago (a break in a daily
  pattern; off by default, it measured no gain on NAB).

Daily patterns need no model of their own: the history spans several days, so the daily range is
part of what is usual.

Each evidence's tail surprise (-log10 of its tail probability, rank-based, so free of the metric's
unit, scale and distribution) becomes a severity level: 0 below ``threshold``, then one more per
decade of rarity. Levels accumulate in a sum that halves every ``half_life`` samples and loses
``allowance`` per sample (floored at 0). That sum is the metric's anomaly level (a float, the
detector's graded output); its integer part is the metric's anoms (the count the seed's payloads carry).
The memory keeps a detected event visible for a while, so anoms ranks the samples after an event
above quiet ones and grades events by size; the histories absorb a sustained level shift and the
allowance drains the chance exceedances, so anoms returns to 0.

No look-ahead: a sample's anoms uses that sample and earlier ones only. Memory per metric is
bounded by the config (about 8 x (history x (shape_width + 4) + season) bytes).
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Mapping

from .config import MetricConfig
from .shape import WindowDiscord
from .tail import RankedWindow


# Samples either side of "one season ago" that the seasonal reference takes the median of.
SEASON_SPREAD = 2


class TooManyMetrics(ValueError):
    """More distinct metric names than ``max_metrics``: refuse rather than grow without bound."""


class MetricState:
    """One metric's detector state."""

    def __init__(self, config: MetricConfig) -> None:
        self.config = config
        self.values = RankedWindow(config.history)
        self.seasonal = RankedWindow(config.history) if config.season else None
        self._lagged: deque[float] = deque(maxlen=config.season) if config.season else deque()
        self.shape = (
            WindowDiscord(
                config.shape_width,
                config.history,
                min_neighbours=min(config.warmup, config.history - config.shape_width),
            )
            if config.shape_width
            else None
        )
        self.distances = RankedWindow(config.history) if config.shape_width else None
        self.seen = 0
        self.memory = 0.0
        self._decay = 0.5 ** (1.0 / config.half_life)

    def _level(self, window: RankedWindow, value: float, *, upper_only: bool = False) -> int:
        """Severity of one evidence: 0 below the threshold, +1 per decade of rarity above it."""
        cfg = self.config
        if len(window) < cfg.warmup:
            return 0
        s = window.surprise(value, cap=cfg.max_surprise)
        if s < cfg.threshold or (upper_only and value <= window.median()):
            return 0
        return int(math.floor(s - cfg.threshold)) + 1

    def levels(self, value: float) -> int:
        """Score one sample against the past, then add it to the past."""
        warm = self.seen >= self.config.warmup
        level = self._level(self.values, value) if warm else 0
        self.values.push(value)
        if self.seasonal is not None:
            if len(self._lagged) == self._lagged.maxlen:
                change = value - self._season_reference()
                level += self._level(self.seasonal, change) if warm else 0
                self.seasonal.push(change)
            self._lagged.append(value)
        if self.shape is not None and self.distances is not None:
            distance = self.shape.push(value)
            if distance is not None:
                # Only an unusually FAR window is news; an unusually close one is a repetition.
                level += self._level(self.distances, distance, upper_only=True) if warm else 0
                self.distances.push(distance)
        self.seen += 1
        return level

    def _season_reference(self) -> float:
        """The median of the samples one season ago (the oldest 2 x SEASON_SPREAD + 1 of the lag buffer), so
        a lone spike yesterday does not echo as an anomaly today."""
        k = min(2 * SEASON_SPREAD + 1, len(self._lagged))
        around = sorted(self._lagged[i] for i in range(k))
        return around[k // 2]

    def update(self, value: float) -> int:
        """Add one sample; return the metric's anoms (the integer part of its anomaly level, ``memory``)."""
        level = self.levels(value)
        self.memory = max(0.0, self.memory * self._decay + level - self.config.allowance)
        return int(math.floor(self.memory))

    def size(self) -> int:
        """Values held (bounded by the config)."""
        n = len(self.values) + len(self._lagged)
        if self.seasonal is not None:
            n += len(self.seasonal)
        if self.shape is not None and self.distances is not None:
            n += len(self.shape) * self.shape.width + len(self.distances)
        return n


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
        self.level = 0.0  # after the latest update: sum of its metrics' memories (F-ML-3)

    def config_for(self, metric: str) -> MetricConfig:
        return self.configs.get(metric, self.default)

    def update(self, series: dict[str, float]) -> int:
        total = 0
        level = 0.0
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
            level += state.memory
        self.level = level  # over the same metrics as the returned anoms, so level >= anoms
        return total

    def state_size(self) -> int:
        """Values held across all metrics (bounded by the configs)."""
        return sum(s.size() for s in self._states.values())
