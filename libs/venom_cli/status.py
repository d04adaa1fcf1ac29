"""``venom status``: each component and its health, measured now (not what ``venom up`` last saw)."""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass, field
from pathlib import Path

from venom_cli import probes
from venom_cli.render import Component
from venom_cli.state import VenomState, is_locked, read_state


@dataclass
class StatusReport:
    running: bool
    data_dir: str
    components: list[Component] = field(default_factory=list)
    phase: str | None = None
    pid: int | None = None

    @property
    def all_healthy(self) -> bool:
        return self.running and bool(self.components) and all(c.healthy for c in self.components)

    def as_json(self) -> str:
        return json.dumps({
            "running": self.running,
            "healthy": self.all_healthy,
            "phase": self.phase,
            "pid": self.pid,
            "data_dir": self.data_dir,
            "components": [c.as_json() for c in self.components],
        })


async def _probe(state: VenomState) -> list[Component]:
    out: list[Component] = []
    tasks: list[asyncio.Task[bool]] = []
    for server in (state.nats, state.postgres):
        if server is None:
            continue
        if server.kind == "nats":
            task = asyncio.create_task(probes.probe_nats(server.url, server.monitor_url))
        else:
            task = asyncio.create_task(probes.probe_postgres(server.url))
        tasks.append(task)
        out.append(Component(name=server.name, kind=server.kind,
                             pid=server.process.pid if server.process else None, url=server.url, healthy=False,
                             ready=False, restarts=0, state="embedded" if server.embedded else "external"))
    service_tasks: list[tuple[asyncio.Task[bool], asyncio.Task[bool]]] = []
    for service in state.services:
        service_tasks.append((asyncio.create_task(probes.http_ok(service.health_url)),
                              asyncio.create_task(probes.http_ok(service.ready_url))))
        out.append(Component(name=service.name, kind="service",
                             pid=service.process.pid if service.process else None, url=service.url, healthy=False,
                             ready=False, restarts=service.restarts, state=service.state))
    await asyncio.gather(*tasks, *(t for pair in service_tasks for t in pair))
    for component, task in zip(out, tasks, strict=False):
        component.healthy = component.ready = task.result()
    for component, (health, ready) in zip(out[len(tasks):], service_tasks, strict=True):
        component.healthy, component.ready = health.result(), ready.result()
    # An embedded server or a service whose recorded process is gone is not healthy, whatever answers its port.
    refs = {s.name: s.process for s in (state.nats, state.postgres) if s is not None}
    refs.update({s.name: s.process for s in state.services})
    for component in out:
        ref = refs.get(component.name)
        if ref is not None and not ref.alive():
            component.healthy = component.ready = False
            component.state = "dead"
    return out


def gather_status(data_dir: Path) -> StatusReport:
    state = read_state(data_dir)
    running = is_locked(data_dir) and state is not None and state.phase in ("starting", "running") \
        and state.process.alive()
    if state is None or not running:
        return StatusReport(running=False, data_dir=str(data_dir), phase=state.phase if state else None,
                            pid=None)
    components = asyncio.run(_probe(state))
    return StatusReport(running=True, data_dir=str(data_dir), components=components, phase=state.phase,
                        pid=state.process.pid)
