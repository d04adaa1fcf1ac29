"""Task records kept for ``GET /tasks/{id}`` (F-ORCH-2)."""

from __future__ import annotations

from collections import OrderedDict
from datetime import datetime
from typing import Literal

from pydantic import BaseModel, Field

TaskStatus = Literal["pending", "running", "succeeded", "failed", "lost"]
FINAL: frozenset[str] = frozenset({"succeeded", "failed", "lost"})
ResultValue = float | int | str | bool | None | list[float | int | str]


class Attempt(BaseModel):
    node: str
    outcome: Literal["running", "succeeded", "failed", "no_responders", "timed_out"]


class TaskRecord(BaseModel):
    """One task. ``lost``: no peer answered (each attempt vanished or there was no eligible peer);
    ``failed``: a worker ran it and reported the failure in ``error``."""

    task_id: str
    task_type: str
    payload: dict[str, ResultValue]
    deadline_s: float
    status: TaskStatus = "pending"
    node: str | None = None
    attempts: list[Attempt] = Field(default_factory=list)
    result: dict[str, ResultValue] | None = None
    error: str | None = None
    created_at: datetime
    finished_at: datetime | None = None
    elapsed_ms: float | None = Field(None, description="from dispatch to result, as seen by the orchestrator")

    @property
    def final(self) -> bool:
        return self.status in FINAL


class TaskBook:
    """Tasks by id; running ones kept always, finished ones up to ``keep`` (oldest evicted first)."""

    def __init__(self, keep: int) -> None:
        self.keep = keep
        self._tasks: OrderedDict[str, TaskRecord] = OrderedDict()

    def add(self, record: TaskRecord) -> None:
        self._tasks[record.task_id] = record
        while len(self._tasks) > self.keep:
            oldest_id, oldest = next(iter(self._tasks.items()))
            if not oldest.final:
                break
            del self._tasks[oldest_id]

    def get(self, task_id: str) -> TaskRecord | None:
        return self._tasks.get(task_id)

    def __len__(self) -> int:
        return len(self._tasks)
