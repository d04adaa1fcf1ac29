"""/peers: the peer table, and lifting a quarantine (F-ORCH-1, F-ORCH-3)."""

from __future__ import annotations

import time
from datetime import datetime
from typing import TYPE_CHECKING, Annotated

from fastapi import APIRouter, Depends, HTTPException, Path
from pydantic import BaseModel

from venom_orchestrator.api.auth import token_check
from venom_orchestrator.domain.peers import Peer

if TYPE_CHECKING:
    from venom_orchestrator.service import OrchestratorService

NodePath = Annotated[str, Path(min_length=1, max_length=128, pattern=r"^[A-Za-z0-9_-]+$")]


class PeerView(BaseModel):
    node: str
    present: bool
    healthy: bool | None
    quarantined: bool
    quarantine: dict[str, str | float | int | bool | None] | None
    load: float
    cpu_ema_percent: float | None
    in_flight: int
    addresses: list[str]
    version: str
    capabilities: list[str]
    role: str
    via: str
    last_seen: datetime | None
    last_ping_ms: float | None
    tasks_succeeded: int
    tasks_failed: int
    tasks_lost: int


class Released(BaseModel):
    node: str
    released: bool


def view(peer: Peer, now: float) -> PeerView:
    q = peer.quarantine
    return PeerView(
        node=peer.node, present=peer.present, healthy=peer.healthy, quarantined=peer.quarantined,
        quarantine={k: v if isinstance(v, (str, float, int, bool)) or v is None else str(v) for k, v in q.items()}
        if q is not None else None,
        load=peer.load(now), cpu_ema_percent=peer.cpu.value_at(now) if peer.cpu.value is not None else None,
        in_flight=peer.in_flight, addresses=peer.addresses, version=peer.version, capabilities=peer.capabilities,
        role=peer.role, via=peer.via, last_seen=peer.last_seen, last_ping_ms=peer.last_ping_ms,
        tasks_succeeded=peer.tasks_succeeded, tasks_failed=peer.tasks_failed, tasks_lost=peer.tasks_lost,
    )


def router(service: OrchestratorService) -> APIRouter:
    r = APIRouter(tags=["peers"])
    auth = Depends(token_check(service.settings.api_token))

    @r.get("/peers", response_model=list[PeerView])
    async def list_peers() -> list[PeerView]:
        now = time.monotonic()
        return [view(p, now) for p in service.peers.all()]

    @r.get("/peers/{node}", response_model=PeerView, responses={404: {}})
    async def get_peer(node: NodePath) -> PeerView:
        peer = service.peers.get(node)
        if peer is None:
            raise HTTPException(404, f"no peer {node!r}")
        return view(peer, time.monotonic())

    @r.post("/peers/{node}/release", response_model=Released, dependencies=[auth], responses={401: {}, 404: {}})
    async def release_peer(node: NodePath) -> Released:
        """Lift the arbiter's quarantine of a node: deletes its key in the VENOM_QUARANTINE bucket."""
        if not await service.release(node):
            raise HTTPException(404, f"node {node!r} is not quarantined")
        return Released(node=node, released=True)

    return r
