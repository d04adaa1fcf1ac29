"""Helpers shared by the ledger integration tests (no tests here): run a LedgerService in-process, make events."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from venom_common.embedded import free_port
from venom_common.events import Envelope, make_event, subjects
from venom_common.events.payloads import PulseV1, Vitals
from venom_common.runner import serve
from venom_ledger.service import LedgerService
from venom_ledger.settings import LedgerSettings


def pulse_event(node: str, beat: int) -> Envelope[PulseV1]:
    payload = PulseV1(node=node, beat=beat, t_lambda_s=0.004211, period_s=1.0, started_at=datetime.now(UTC),
                      vitals=Vitals(beat_count=beat, cycle_time_ms=1.5, avg_beat_time_ms=1.0, min_beat_time_ms=0.5,
                                    max_beat_time_ms=2.0, missed_deadlines=0))
    return make_event(payload, source=f"/venom/{node}/arbiter", subject=subjects.beat(node))


def ledger_settings(nats_url: str, database_url: str, chain: str, state_dir: Path, **extra: Any) -> LedgerSettings:
    values: dict[str, Any] = dict(
        nats_url=nats_url, database_url=database_url, port=free_port(), node_id="test", log_json=False,
        ledger_chain=chain, ledger_state_dir=state_dir, ledger_ack_wait_s=2.0, ledger_standby_poll_s=0.2,
        ledger_checkpoint_every=50, ledger_checkpoint_interval_s=0.5, shutdown_grace_s=10.0,
    )
    values.update(extra)
    return LedgerSettings(**values)


@dataclass
class Running:
    service: LedgerService
    settings: LedgerSettings
    stop: asyncio.Event
    task: asyncio.Task[None]

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.settings.port}"

    async def shutdown(self) -> None:
        self.stop.set()
        await asyncio.wait_for(self.task, 30)


async def start_ledger(settings: LedgerSettings) -> Running:
    service = LedgerService(settings)
    stop = asyncio.Event()
    task = asyncio.create_task(serve(service, settings, stop=stop))
    return Running(service, settings, stop, task)


@contextlib.asynccontextmanager
async def running_ledger(settings: LedgerSettings) -> AsyncIterator[Running]:
    run = await start_ledger(settings)
    try:
        yield run
    finally:
        if not run.task.done():
            await run.shutdown()


async def wait_until(predicate: Callable[[], Any], timeout: float = 30.0, what: str = "condition") -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        value = predicate()
        if asyncio.iscoroutine(value):
            value = await value
        if value:
            return
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"{what} not met within {timeout:.0f}s")
        await asyncio.sleep(0.05)
