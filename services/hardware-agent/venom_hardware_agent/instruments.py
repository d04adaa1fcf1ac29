"""The hardware agent's Prometheus metrics (F-HW-2, F-PLAT-5). One agent per process: no node label."""

from __future__ import annotations

from prometheus_client import Counter, Gauge

SAMPLES_PUBLISHED = Counter("venom_hw_samples_published_total", "Metrics samples published", ["source"])
SAMPLE_OVERRUNS = Counter(
    "venom_hw_sample_overruns_total", "Ticks skipped because sampling and publishing took longer than the interval"
)
PUBLISH_FAILURES = Counter("venom_hw_publish_failures_total", "Samples or profiles whose publish failed")
REPLAY_ROWS_SKIPPED = Counter("venom_hw_replay_rows_skipped_total", "Replay rows skipped as bad input", ["reason"])
REPLAY_GAPS = Counter("venom_hw_replay_gaps_total", "Gaps in a replay file played over (no rows invented)")
ANOMALIES = Counter("venom_hw_anomalies_total", "Anomalies counted by the agent's detector")
THETA = Gauge("venom_hw_theta", "θ of the latest sample (NaN when unknown)")
HEADROOM = Gauge("venom_hw_headroom", "H_CPU, H_MEM, H_TERM of the latest sample (NaN when absent)", ["component"])
