"""The ``wave`` task type: a dependency graph of CPU work run by the Ω wave executor (F-HW-3).

A task payload is flat (scalars and lists of scalars), so the graph travels as strings, one per
task: ``"<id>=<iterations>"`` or ``"<id>=<iterations><-<dep>,<dep>"``. Each task spins
``iterations`` steps of pure-Python CPU work (``venom_omega.workloads.spin``) in a worker process.
``fail`` names tasks that raise instead (to see failures skip their dependents). A cycle, an
unknown dependency or a bad spec fails the task with the reason and runs nothing.
"""

from __future__ import annotations

import asyncio
import re

from pydantic import Field, field_validator

from venom_hardware_agent.tasks.handlers import Result, TaskFailed, _Params

_SPEC = re.compile(r"^(?P<id>[A-Za-z0-9_.-]{1,64})=(?P<n>\d{1,9})(?:<-(?P<deps>[A-Za-z0-9_.,-]{1,4096}))?$")


class WaveParams(_Params):
    tasks: list[str] = Field(min_length=1, max_length=1000, description='"id=iterations" or "id=iterations<-dep,dep"')
    workers: int = Field(2, ge=1, le=64, description="worker processes")
    theta: float | None = Field(None, ge=0.0, le=1.0, description="θ for throttling (None: no throttle)")
    fail: list[str] = Field(default_factory=list, max_length=1000, description="ids of tasks that raise instead")

    @field_validator("tasks")
    @classmethod
    def _specs(cls, specs: list[str]) -> list[str]:
        for spec in specs:
            if not _SPEC.match(spec):
                raise ValueError(f"{spec!r} is not 'id=iterations' or 'id=iterations<-dep,dep'")
        return specs


async def run_wave(p: WaveParams) -> Result:
    from venom_omega import workloads
    from venom_omega.waves import WaveInputError, WaveTask, execute

    tasks = []
    for spec in p.tasks:
        m = _SPEC.match(spec)
        assert m is not None
        deps = tuple(d for d in (m.group("deps") or "").split(",") if d)
        if m.group("id") in p.fail:
            tasks.append(WaveTask(m.group("id"), workloads.fail, (f"{m.group('id')} failed on request",),
                                  depends_on=deps))
        else:
            tasks.append(WaveTask(m.group("id"), workloads.spin, (int(m.group("n")),), depends_on=deps))
    try:
        report = await asyncio.to_thread(execute, tasks, p.workers, p.theta)
    except WaveInputError as exc:
        raise TaskFailed(f"wave refused, nothing run: {exc}") from None
    return {
        "ok": report.ok,
        "waves": len(report.waves),
        "succeeded": sorted(report.with_status("ok")),
        "failed": sorted(report.with_status("failed")),
        "skipped": sorted(report.with_status("skipped")),
        "elapsed_s": round(report.elapsed_s, 4),
    }
