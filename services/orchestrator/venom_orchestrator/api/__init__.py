"""REST API of the orchestrator (F-ORCH-3), one module per resource."""

from __future__ import annotations

from typing import TYPE_CHECKING

from fastapi import FastAPI

from venom_orchestrator.api import maths, peers, tasks

if TYPE_CHECKING:
    from venom_orchestrator.service import OrchestratorService


def install_routes(app: FastAPI, service: OrchestratorService) -> None:
    app.include_router(tasks.router(service))
    app.include_router(peers.router(service))
    app.include_router(maths.router())
