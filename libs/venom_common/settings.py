"""Settings base (pydantic-settings, ``VENOM_`` prefix).

Every default works on one machine: the NATS and PostgreSQL URLs point at
the servers ``venom up`` starts, everything binds 127.0.0.1, and secrets are
read only from the environment (never from a file in the repository).
"""

from __future__ import annotations

import socket
from typing import Literal

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

DEFAULT_NATS_URL = "nats://127.0.0.1:4222"
DEFAULT_DATABASE_URL = "postgresql://postgres@127.0.0.1:5432/venom"

LogLevel = Literal["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"]


def default_node_id() -> str:
    """The node id when none is configured: the host name, made subject-safe."""
    return sanitize_token(socket.gethostname()) or "node"


def sanitize_token(value: str) -> str:
    """Make ``value`` usable as one NATS subject token: no dots, spaces or wildcards."""
    out = []
    for ch in value.strip():
        out.append(ch if ch.isalnum() or ch in "-_" else "-")
    return "".join(out).strip("-")


class VenomSettings(BaseSettings):
    """What every service reads. Subclasses add their own fields and a default port."""

    model_config = SettingsConfigDict(env_prefix="VENOM_", extra="ignore", frozen=True)

    nats_url: str = Field(DEFAULT_NATS_URL, description="NATS server URL(s), comma separated")
    nats_user: str | None = Field(None, description="NATS user (secret: environment only)")
    nats_password: str | None = Field(None, description="NATS password (secret: environment only)")
    nats_token: str | None = Field(None, description="NATS token (secret: environment only)")
    database_url: str = Field(DEFAULT_DATABASE_URL, description="PostgreSQL URL (used by the ledger only)")
    node_id: str = Field(default_factory=default_node_id, description="this node's id; default: host name")
    otlp_endpoint: str | None = Field(None, description="OTLP/HTTP endpoint, e.g. http://127.0.0.1:4318")
    log_level: LogLevel = "INFO"
    log_json: bool = Field(True, description="JSON log lines (false: plain text)")
    bind_host: str = Field("127.0.0.1", description="address the service's HTTP port binds")
    port: int = Field(9100, ge=0, le=65535, description="the service's HTTP port (health, metrics, API)")
    shutdown_grace_s: float = Field(10.0, gt=0, le=300, description="time allowed for in-flight work at stop")
    uvloop: bool = Field(True, description="run the service on uvloop's event loop when it is installed (it is by default)")

    @field_validator("node_id")
    @classmethod
    def _node_id_is_a_subject_token(cls, value: str) -> str:
        clean = sanitize_token(value)
        if not clean or clean != value:
            raise ValueError(
                f"node id {value!r} must be letters, digits, '-' or '_' (it is a NATS subject token); "
                f"try {clean or 'node-1'!r}"
            )
        return value

    @property
    def nats_servers(self) -> list[str]:
        return [s.strip() for s in self.nats_url.split(",") if s.strip()]
