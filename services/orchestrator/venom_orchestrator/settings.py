from __future__ import annotations

from typing import Literal

from pydantic import Field, SecretStr

from venom_common.settings import VenomSettings


class OrchestratorSettings(VenomSettings):
    """Environment ``VENOM_…``. Secrets (the API token) come from the environment only."""

    port: int = Field(8000, ge=0, le=65535, description="HTTP port: REST API, /docs, health, metrics (F-ORCH-3)")
    api_token: SecretStr | None = Field(
        None, description="bearer token for mutating calls (VENOM_API_TOKEN); unset: mutating calls are refused")
    grpc_port: int = Field(50051, ge=0, le=65535, description="gRPC VenomService port on bind_host; 0 picks a free one")
    grpc_enabled: bool = Field(True, description="serve gRPC VenomService (F-ORCH-4)")
    ema_tau_s: float = Field(10.0, gt=0, le=3600, description="EMA time constant τ: w = e^(−Δt/τ) (F-ORCH-1)")
    dispatch_policy: Literal["p2c_delay", "p2c", "least_loaded", "round_robin", "random"] = Field(
        "p2c_delay", description="how a peer is chosen: p2c_delay (power of two choices among the 4 peers with the "
        "shortest expected delay) unless benchmarking; docs/ORCHESTRATOR.md")
    health_interval_s: float = Field(2.0, gt=0, le=600, description="seconds between health pings of each peer")
    health_timeout_s: float = Field(1.0, gt=0, le=60, description="a ping unanswered this long fails")
    health_failures: int = Field(2, ge=1, le=100, description="failed pings in a row that make a peer unhealthy")
    max_attempts: int = Field(3, ge=1, le=10, description="peers a task is tried on when its peer vanishes")
    reply_grace_s: float = Field(2.0, gt=0, le=60, description="wait this long past a task's deadline for its result")
    task_history: int = Field(100_000, ge=100, le=10_000_000, description="finished tasks kept for GET /tasks/{id}")
    self_peer: bool = Field(True, description="count this node as a peer (its hardware agent runs a worker)")
    rest_fast_path: bool = Field(
        True, description="answer well-formed POST /tasks without FastAPI's per-request layers (api/fast_tasks.py)")
    peer_consumer: str = Field("orchestrator-peers", description="durable consumer name on venom.mesh.peer.*")
