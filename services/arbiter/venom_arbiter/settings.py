"""Arbiter settings (VENOM_ prefix). Defaults follow seed 001: k=4, P=5, T1=1 ms, U=e⁴, T_threshold=0.02 s."""

from __future__ import annotations

import math
from typing import Literal

from pydantic import Field

from venom_common.settings import VenomSettings


class ArbiterSettings(VenomSettings):
    port: int = Field(9102, ge=0, le=65535)
    k_flows: float = Field(4.0, gt=0, le=1e6, description="k of T_Λ: parallel flows")
    p_nodes: float = Field(5.0, gt=0, le=1e6, description="P of T_Λ: nodes")
    u: float = Field(math.exp(4), gt=1, le=1e300, description="U of T_Λ (ln U = 4 by default)")
    t1_s: float = Field(0.001, gt=0, le=60, description="T1 of T_Λ, seconds")
    t_threshold_s: float = Field(0.02, gt=0, le=60, description="PID set point T_threshold, seconds")
    period_s: float | None = Field(
        None, ge=0.001, le=3600,
        description="beat period; unset: the T_Λ cadence (adaptive cycle clamped to [0.5 ms, 10 ms])",
    )
    drive: Literal["clock", "metrics"] = Field(
        "clock",
        description="clock: beat every period on the latest metrics; metrics: one beat per metrics sample, "
        "in order (deterministic on a replay)",
    )
    metrics_node: str | None = Field(
        None, pattern=r"^[A-Za-z0-9_-]+$",
        description="node whose metrics drive this arbiter (default: its own node id); lets `venom run` beat "
        "as its own node on this host's metrics",
    )
    beats: int = Field(-1, ge=-1, description="stop after this many beats of this process (-1: run until stopped)")
    organ_deadline_ms: float = Field(50.0, gt=0, le=60_000, description="how long a beat waits for the organs")
    snapshot_every: int = Field(100, ge=1, le=1_000_000, description="beats between state snapshots (JetStream KV)")
    publish_timeout_s: float = Field(5.0, gt=0, le=120)
    atomic_batches: bool = Field(
        False,
        description="store each beat's events as one JetStream atomic batch (one ack) instead of one publish "
        "and ack per event; off by default: on a single nats-server 2.15 a batch costs the server several times "
        "the CPU of its publishes and caps one stream at a few hundred batches/s (docs/BENCHMARKS.md)",
    )
    pipeline_depth: int = Field(
        8, ge=1, le=1024,
        description="clock drive: beats whose events may still be on their way to JetStream while the next beat "
        "runs (1: each beat waits until its events are stored); the metrics drive always runs one at a time",
    )
