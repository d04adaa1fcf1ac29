"""Per-metric settings of the streaming detector (F-ML-3). One set for every metric unless overridden."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, model_validator


class MetricConfig(BaseModel):
    """How one metric's samples turn into anoms.

    Defaults were chosen by measurement on NAB realAWSCloudwatch (docs/DETECTOR.md). They count
    samples, not seconds, so they assume a regular sampling interval; at NAB's 5 minutes,
    history 1008 = 3.5 days, half_life 144 = 12 hours (season 288 = 1 day when enabled). An agent sampling at
    another interval should scale them (``MetricConfig.for_interval``).
    """

    model_config = ConfigDict(frozen=True, extra="forbid", allow_inf_nan=False)

    enabled: bool = True
    # Past samples each evidence is ranked against (bounded memory).
    history: int = Field(default=1008, ge=64, le=100_000)
    # Samples seen before any anoms are reported (an empty history makes every value look new).
    warmup: int = Field(default=36, ge=1)
    # Surprise = -log10(tail probability within the history); an evidence counts from this level.
    threshold: float = Field(default=2.0, gt=0.0)
    # Upper bound of one evidence's surprise, so one absurd value cannot dominate for hours.
    max_surprise: float = Field(default=8.0, gt=0.0)
    # Half-life, in samples, of the memory of past exceedances: anoms = floor(decayed sum of severity levels).
    half_life: float = Field(default=144.0, gt=0.0)
    # Subtracted from the decayed sum at every sample, floored at 0 (as in CUSUM): the chance exceedances
    # of a quiet metric (about 2 % of samples per evidence at threshold 2) drain away and anoms returns to 0.
    allowance: float = Field(default=0.05, ge=0.0)
    # Seasonal evidence: the change against the median of the samples one period ago (0 disables it).
    # Off by default: on NAB it measured no gain once a lone spike's echo a period later was removed.
    season: int = Field(default=0, ge=0, le=100_000)
    # Shape evidence: distance of the last `shape_width` samples to their nearest past window (0 disables it).
    shape_width: int = Field(default=12, ge=0, le=256)

    @model_validator(mode="after")
    def _consistent(self) -> MetricConfig:
        if self.warmup > self.history:
            raise ValueError(f"warmup ({self.warmup}) must not exceed history ({self.history})")
        if self.max_surprise < self.threshold:
            raise ValueError(f"max_surprise ({self.max_surprise}) must be at least threshold ({self.threshold})")
        if self.shape_width == 1:
            raise ValueError("shape_width must be 0 (off) or at least 2")
        if self.shape_width >= self.history:
            raise ValueError(f"shape_width ({self.shape_width}) must be below history ({self.history})")
        return self

    @classmethod
    def for_interval(cls, seconds: float, *, max_history: int = 20_160, **overrides: object) -> MetricConfig:
        """The defaults rescaled from NAB's 5-minute samples to another sampling interval (same durations:
        3.5 days of history, a 12-hour half-life, 3 h of warm-up), with history
        clamped to ``max_history`` samples because memory grows with them (about
        8 x (history x (shape_width + 4) + season) bytes per metric)."""
        if seconds <= 0:
            raise ValueError("interval must be positive")
        k = 300.0 / seconds
        history = min(max_history, max(64, round(1008 * k)))
        scaled: dict[str, object] = {
            "history": history,
            "half_life": 144.0 * k,
            "warmup": min(history, max(1, round(36 * k))),
        }
        scaled.update(overrides)
        return cls(**scaled)  # type: ignore[arg-type]
