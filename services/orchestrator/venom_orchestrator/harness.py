"""Run an orchestrator and task workers in this process: for tests and ``venom bench dispatch``."""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass
from datetime import UTC, datetime

from venom_common.bus import Bus
from venom_common.events import make_event, subjects
from venom_common.events.payloads import PeerV1
from venom_common.runner import serve
from venom_common.settings import VenomSettings
from venom_hardware_agent.tasks import TaskRegistry, TaskWorker
from venom_orchestrator.service import OrchestratorService
from venom_orchestrator.settings import OrchestratorSettings


@dataclass
class RunningOrchestrator:
    service: OrchestratorService
    settings: OrchestratorSettings
    stop_event: asyncio.Event
    task: asyncio.Task[None]

    @property
    def base_url(self) -> str:
        return f"http://{self.settings.bind_host}:{self.settings.port}"

    async def stop(self) -> None:
        self.stop_event.set()
        with contextlib.suppress(Exception):
            await asyncio.wait_for(self.task, 15)


async def start_orchestrator(settings: OrchestratorSettings, timeout: float = 15.0) -> RunningOrchestrator:
    service = OrchestratorService(settings)
    stop = asyncio.Event()
    task = asyncio.create_task(serve(service, settings, stop=stop), name="orchestrator")
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not service.ready():
        if task.done():
            task.result()
            raise RuntimeError("the orchestrator stopped while starting")
        if loop.time() > deadline:
            stop.set()
            raise TimeoutError("the orchestrator did not become ready")
        await asyncio.sleep(0.02)
    return RunningOrchestrator(service, settings, stop, task)


@dataclass
class RunningWorker:
    node: str
    bus: Bus
    worker: TaskWorker

    async def stop(self) -> None:
        await self.worker.stop(5)
        with contextlib.suppress(Exception):
            await self.bus.drain()

    async def vanish(self) -> None:
        """Gone without a word: the connection closes, running tasks never answer."""
        for task in list(self.worker._running):
            task.cancel()
        with contextlib.suppress(Exception):
            await self.bus.nc.close()


async def start_worker(nats_url: str, node: str, registry: TaskRegistry | None = None) -> RunningWorker:
    bus = await Bus.connect(VenomSettings(nats_url=nats_url, node_id=node), "task-worker")
    worker = TaskWorker(bus, node, f"/venom/{node}/task-worker", registry=registry)
    await worker.start()
    return RunningWorker(node, bus, worker)


async def announce(bus: Bus, node: str, status: str = "joined") -> None:
    """Publish a PeerV1 event as mesh discovery would."""
    peer = PeerV1(node=node, status=status, addresses=["127.0.0.1"], version="test", capabilities=["tasks"],
                  via="seed", last_seen=datetime.now(UTC))
    await bus.publish(subjects.mesh_peer(node), make_event(peer, source=f"/venom/{node}/mesh-discovery",
                                                           subject=subjects.mesh_peer(node)))
