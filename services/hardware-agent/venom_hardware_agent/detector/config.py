"""Per-metric settings of the streaming detector (F-ML-3). One set for every metric unless overridden."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, model_validator


class MetricConfig(BaseModel):
    """How one metric's samples turn into anoms.

    Defaults were chosen by measurement on NAB realAWSCloudwatch (docs/DETECTOR.md); they are in
    samples, not seconds, so they assume a regular sampling interval (1008 samples = 3.5 days at 5 min).
    """

    model_config = ConfigDict(frozen=True, extra="forbid", allow_inf_nan=False)

    enabled: bool = True
    # Past samples the tail probability is measured against (bounded memory: one ring buffer + one sorted copy).
    history: int = Field(default=1008, ge=16, le=100_000)
    # Samples seen before any anoms are reported (an empty history makes every value look new).
    warmup: int = Field(default=36, ge=1)
    # Surprise = -log10(tail probability of the sample within the history); a sample counts from this level.
    threshold: float = Field(default=2.0, gt=0.0)
    # Upper bound of one sample's surprise, so one absurd value cannot dominate for hours.
    max_surprise: float = Field(default=8.0, gt=0.0)
    # Half-life, in samples, of the memory of past exceedances: anoms = floor(decayed sum of severity levels).
    half_life: float = Field(default=144.0, gt=0.0)
    # Subtracted from the decayed sum at every sample, floored at 0 (as in CUSUM): on a quiet metric the
    # few chance exceedances (about 2 % of samples at threshold 2) drain away and anoms stays 0.
    allowance: float = Field(default=0.03, ge=0.0)

    @model_validator(mode="after")
    def _warmup_fits_history(self) -> MetricConfig:
        if self.warmup > self.history:
            raise ValueError(f"warmup ({self.warmup}) must not exceed history ({self.history})")
        if self.max_surprise < self.threshold:
            raise ValueError(f"max_surprise ({self.max_surprise}) must be at least threshold ({self.threshold})")
        return self
