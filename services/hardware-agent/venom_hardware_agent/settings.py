"""Settings of the hardware agent (``VENOM_`` environment variables, F-HW-1, F-HW-2)."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field

from venom_common.settings import VenomSettings

ReplayFormat = Literal["auto", "nab", "columns"]
BadRowPolicy = Literal["error", "skip"]


class HardwareAgentSettings(VenomSettings):
    port: int = Field(9101, ge=0, le=65535, description="HTTP port (health, metrics, /theta)")
    interval_s: float = Field(1.0, ge=0.01, le=3600, description="seconds between samples (replay: between rows)")
    disk_path: str = Field("/", description="file system whose usage is reported as disk_percent")
    history_size: int = Field(100, ge=1, le=100_000, description="samples kept for GET /theta (F-HW-2)")
    probe_torch: bool = Field(
        True, description="profile scan: ask torch.cuda for GPUs when torch is installed and no *-smi found one"
    )
    # --- replay (recorded data instead of sampling) ---
    replay_file: Path | None = Field(None, description="CSV to play instead of sampling the host")
    replay_format: ReplayFormat = Field("auto", description="nab (timestamp,value), columns, or auto by header")
    replay_metric: str = Field(
        "value",
        pattern=r"^[A-Za-z_][A-Za-z0-9_.-]*$",
        description="name of a NAB file's value column, e.g. cpu_percent to drive H_CPU",
    )
    replay_loop: bool = Field(False, description="start the file again at its end instead of stopping")
    replay_bad_rows: BadRowPolicy = Field(
        "error", description="error: refuse the file naming the line; skip: drop bad rows, count them by reason"
    )
    replay_step_s: float | None = Field(
        None, gt=0, description="expected time step between rows; default: the file's most common step"
    )
    replay_gap_factor: float = Field(1.5, gt=1.0, description="a step longer than factor × expected step is a gap")
    # --- anomaly detector (F-ML-3), wired by the detector package ---
    detector: str | None = Field(
        "tail-surprise", description="anomaly detector run on each sample's series (F-ML-3); empty: none")
