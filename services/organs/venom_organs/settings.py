"""Organ settings: VENOM_ORGAN selects the organ (F-ORG-5: one image, four organs)."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, model_validator

from venom_common.settings import VenomSettings

OrganName = Literal["regen", "balance", "entropy", "optimize"]
ORGAN_PORTS: dict[str, int] = {"regen": 9111, "balance": 9112, "entropy": 9113, "optimize": 9114}


class OrganSettings(VenomSettings):
    organ: OrganName = Field(description="which organ this process is (VENOM_ORGAN)")
    port: int = Field(0, ge=0, le=65535, description="HTTP port; 0 = the organ's default (9111–9114)")
    replica: str | None = Field(None, description="replica name in results (default: node id and pid)")
    model_dir: Path = Field(Path(".venom/models/entropy"), description="versioned entropy model weights (entropy organ)")
    model_reload_s: float = Field(1.0, gt=0, le=3600, description="how often the entropy organ looks for a newer model")

    @model_validator(mode="after")
    def _default_port(self) -> OrganSettings:
        if self.port == 0:
            object.__setattr__(self, "port", ORGAN_PORTS[self.organ])
        return self
