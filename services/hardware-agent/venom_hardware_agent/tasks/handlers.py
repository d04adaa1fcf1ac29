"""Task types and their handlers (issue 5 item 3).

A handler is an ``async`` callable taking the task's validated parameters (a pydantic model) and
returning a flat result dict. Register your own with :meth:`TaskRegistry.register`::

    class Echo(BaseModel):
        model_config = ConfigDict(extra="forbid")
        text: str = Field(max_length=1000)

    async def echo(params: Echo) -> dict[str, ResultValue]:
        return {"text": params.text}

    registry = default_registry()
    registry.register("echo", Echo, echo)
    TaskWorker(bus, node, source, registry=registry)

Built-in types: ``ping`` (health check; its result is not published as an event), ``sleep``,
``hash`` and ``cpu``, and ``wave`` (the Ω wave executor, ``tasks/wave.py``) when venom_omega is
installed — see :data:`RESERVED`.
"""

from __future__ import annotations

import asyncio
import hashlib
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

ResultValue = float | int | str | bool | None | list[float | int | str]
Result = dict[str, ResultValue]

#: Types a later issue fills in; until then a task of this type fails with "unknown task type".
RESERVED = ("wave",)


class TaskFailed(Exception):
    """A handler's failure with a reason meant for the caller (becomes ``TaskResultV1.error``)."""


class _Params(BaseModel):
    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)


class PingParams(_Params):
    pass


class SleepParams(_Params):
    seconds: float = Field(ge=0, le=3600, description="how long to sleep")


class HashParams(_Params):
    data: str = Field(max_length=1_000_000, description="text to hash (UTF-8)")
    algorithm: str = Field("sha256", pattern=r"^(sha256|sha3_256|blake2b|md5)$")
    rounds: int = Field(1, ge=1, le=100_000, description="hash the digest again this many times")


class CpuParams(_Params):
    iterations: int = Field(ge=1, le=50_000_000, description="SHA-256 rounds of CPU work (in a worker thread)")


async def _ping(_: PingParams) -> Result:
    return {"pong": True}


async def _sleep(p: SleepParams) -> Result:
    await asyncio.sleep(p.seconds)
    return {"slept_s": p.seconds}


def _hash_sync(p: HashParams) -> str:
    digest = p.data.encode()
    for _ in range(p.rounds):
        digest = hashlib.new(p.algorithm, digest).digest()
    return digest.hex()


async def _hash(p: HashParams) -> Result:
    hexdigest = _hash_sync(p) if p.rounds <= 100 and len(p.data) <= 65_536 else await asyncio.to_thread(_hash_sync, p)
    return {"algorithm": p.algorithm, "rounds": p.rounds, "digest": hexdigest}


def _cpu_sync(iterations: int) -> tuple[str, float]:
    start = time.perf_counter()
    h = b"venom"
    for _ in range(iterations):
        h = hashlib.sha256(h).digest()
    return h.hex(), time.perf_counter() - start


async def _cpu(p: CpuParams) -> Result:
    digest, seconds = await asyncio.to_thread(_cpu_sync, p.iterations)
    return {"iterations": p.iterations, "digest": digest, "cpu_s": seconds}


@dataclass(frozen=True)
class TaskHandler:
    task_type: str
    params: type[BaseModel]
    run: Callable[[Any], Awaitable[Result]]
    publish_result: bool = True


class TaskRegistry:
    """Task type → handler. Unknown types and invalid parameters fail the task, naming why."""

    def __init__(self) -> None:
        self._handlers: dict[str, TaskHandler] = {}

    def register(self, task_type: str, params: type[BaseModel], run: Callable[[Any], Awaitable[Result]], *,
                 publish_result: bool = True, replace: bool = False) -> None:
        if task_type in self._handlers and not replace:
            raise ValueError(f"task type {task_type!r} is already registered (pass replace=True)")
        self._handlers[task_type] = TaskHandler(task_type, params, run, publish_result)

    def types(self) -> list[str]:
        return sorted(self._handlers)

    def get(self, task_type: str) -> TaskHandler:
        handler = self._handlers.get(task_type)
        if handler is None:
            hint = " (arrives with the wave executor)" if task_type in RESERVED else ""
            raise TaskFailed(f"unknown task type {task_type!r}{hint}; known: {', '.join(self.types())}")
        return handler

    async def run(self, task_type: str, payload: dict[str, Any]) -> Result:
        handler = self.get(task_type)
        try:
            params = handler.params.model_validate(payload)
        except ValidationError as exc:
            reasons = "; ".join(f"{'.'.join(map(str, e['loc'])) or 'payload'}: {e['msg']}" for e in exc.errors())
            raise TaskFailed(f"invalid payload for {task_type}: {reasons}") from None
        return await handler.run(params)


def default_registry() -> TaskRegistry:
    registry = TaskRegistry()
    registry.register("ping", PingParams, _ping, publish_result=False)
    registry.register("sleep", SleepParams, _sleep)
    registry.register("hash", HashParams, _hash)
    registry.register("cpu", CpuParams, _cpu)
    try:  # the Ω wave executor (F-HW-3), when venom_omega is installed
        import venom_omega.waves  # noqa: F401
    except ImportError:
        return registry
    from venom_hardware_agent.tasks.wave import WaveParams, run_wave

    registry.register("wave", WaveParams, run_wave)
    return registry
