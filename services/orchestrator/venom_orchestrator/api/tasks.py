"""/tasks: dispatch a task to a peer, read its state (F-ORCH-2, F-ORCH-3)."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Annotated

from fastapi import APIRouter, Depends, HTTPException, Path, Query, Response
from pydantic import BaseModel, ConfigDict, Field

from venom_orchestrator.api.auth import token_check
from venom_orchestrator.domain.tasks import ResultValue, TaskRecord

if TYPE_CHECKING:
    from venom_orchestrator.service import OrchestratorService


class TaskRequest(BaseModel):
    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)

    task_type: str = Field(min_length=1, max_length=64, pattern=r"^[a-z][a-z0-9_.-]*$",
                           description="sleep, hash, cpu, or a type registered on the workers")
    payload: dict[Annotated[str, Field(max_length=128)], ResultValue] = Field(
        default_factory=dict, max_length=256, description="the type's parameters; the worker validates them")
    deadline_s: float = Field(30.0, gt=0, le=3600, description="the worker stops the task after this long")
    node: str | None = Field(None, min_length=1, max_length=128, pattern=r"^[A-Za-z0-9_-]+$",
                             description="run on this peer only (it must be healthy and not quarantined)")


def router(service: OrchestratorService) -> APIRouter:
    r = APIRouter(tags=["tasks"])
    auth = Depends(token_check(service.settings.api_token))

    @r.post("/tasks", response_model=TaskRecord, status_code=202, dependencies=[auth],
            responses={200: {"model": TaskRecord, "description": "finished (wait=true)"}, 401: {}})
    async def create_task(body: TaskRequest, response: Response,
                          wait: Annotated[bool, Query(description="answer when the task has finished")] = False,
                          ) -> TaskRecord:
        """Dispatch a task to the least-loaded healthy unquarantined peer (power of two choices)."""
        record, runner = service.submit(body.task_type, dict(body.payload), body.deadline_s, body.node)
        if wait:
            await asyncio.shield(runner)
            response.status_code = 200
        return record

    @r.get("/tasks/{task_id}", response_model=TaskRecord, responses={404: {}})
    async def get_task(task_id: Annotated[str, Path(max_length=64)]) -> TaskRecord:
        record = service.tasks.get(task_id)
        if record is None:
            raise HTTPException(404, f"no task {task_id!r} (unknown, or finished long enough ago to be forgotten)")
        return record

    return r
