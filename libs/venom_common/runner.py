"""The one service runner (ARCHITECTURE.md "Configuration and operations").

Every service's ``__main__`` calls :func:`run_service`. The runner does, in order:

1. settings are already read by the caller (pydantic-settings, ``VENOM_``);
2. JSON logs and OpenTelemetry tracing are set up;
3. the HTTP port opens at once with ``/healthz`` (alive), ``/readyz`` (ready:
   connected and started) and ``/metrics`` (Prometheus); a service may add its
   own routes (the ledger's read API, the orchestrator's REST API);
4. NATS is connected (retrying forever) and the streams ensured;
5. the service's ``start`` runs, then the process waits for SIGTERM / SIGINT;
6. graceful stop: the service's ``stop`` finishes in-flight work, the bus
   drains (consumers finish and acknowledge their batch), the HTTP server
   closes, spans are flushed.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
from collections.abc import Awaitable, Callable, Generator, MutableMapping
from dataclasses import dataclass, field
from typing import Any, Protocol

import uvicorn
from fastapi import FastAPI, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from venom_common.bus import Bus
from venom_common.settings import VenomSettings
from venom_common.telemetry import metrics as m
from venom_common.telemetry.logs import setup_logging
from venom_common.telemetry.tracing import setup_tracing, shutdown_tracing

log = logging.getLogger("venom.runner")

ASGIApp = Callable[[MutableMapping[str, Any], Callable[[], Awaitable[Any]], Callable[[Any], Awaitable[None]]],
                   Awaitable[None]]


class FrontDoor:
    """What uvicorn serves: the service's FastAPI app, or a handler the service put in front of it
    (:meth:`ServiceContext.put_in_front`) that answers some requests itself and passes the rest on."""

    def __init__(self, app: FastAPI) -> None:
        self.app = app
        self.handler: ASGIApp = app

    async def __call__(self, scope: MutableMapping[str, Any], receive: Callable[[], Awaitable[Any]],
                       send: Callable[[Any], Awaitable[None]]) -> None:
        await self.handler(scope, receive, send)


@dataclass
class ServiceContext:
    """What the runner hands a service: its settings, the bus, its HTTP app and the stop signal."""

    name: str
    settings: VenomSettings
    bus: Bus
    app: FastAPI
    stopping: asyncio.Event
    front_door: FrontDoor | None = None
    source: str = field(init=False)

    def __post_init__(self) -> None:
        #: The CloudEvents ``source`` of everything this service publishes.
        self.source = f"/venom/{self.settings.node_id}/{self.name}"

    def put_in_front(self, wrap: Callable[[ASGIApp], ASGIApp]) -> None:
        """Serve ``wrap(app)`` instead of the FastAPI app: for a hot path that cannot afford the
        framework's per-request work (the orchestrator's ``POST /tasks``); it must hand every request
        it does not answer to the app it wraps."""
        if self.front_door is None:
            raise RuntimeError("this context has no front door (not started by serve())")
        self.front_door.handler = wrap(self.front_door.app)


class Service(Protocol):
    """What a service implements. ``start`` subscribes and spawns its loops and returns;
    ``stop`` ends them after finishing in-flight work; ``ready`` feeds ``/readyz``."""

    name: str

    async def start(self, ctx: ServiceContext) -> None: ...

    async def stop(self) -> None: ...

    def ready(self) -> bool: ...


class _QuietServer(uvicorn.Server):
    """uvicorn without its own signal handlers: the runner owns SIGTERM/SIGINT."""

    @contextlib.contextmanager
    def capture_signals(self) -> Generator[None, None, None]:
        yield


def build_app(name: str, state: dict[str, object]) -> FastAPI:
    app = FastAPI(title=f"VENOM {name}", version="0.1.0")

    @app.get("/healthz", tags=["operations"])
    async def healthz() -> dict[str, object]:
        """Alive: the process answers."""
        return {"status": "ok", "service": name}

    @app.get("/readyz", tags=["operations"])
    async def readyz(response: Response) -> dict[str, object]:
        """Ready: connected to NATS and started (503 otherwise)."""
        ready_fn = state.get("ready")
        bus = state.get("bus")
        connected = bool(bus is not None and bus.connected)  # type: ignore[attr-defined]
        started = bool(state.get("started"))
        ready = connected and started and bool(ready_fn() if callable(ready_fn) else True)
        m.SERVICE_READY.set(1 if ready else 0)
        if not ready:
            response.status_code = 503
        return {"ready": ready, "nats": connected, "started": started, "service": name}

    @app.get("/metrics", tags=["operations"])
    async def metrics() -> Response:
        """Prometheus metrics."""
        return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)

    return app


async def serve(service: Service, settings: VenomSettings, *, stop: asyncio.Event | None = None) -> None:
    """Run ``service`` until ``stop`` is set (or SIGTERM/SIGINT when running as a process)."""
    stopping = stop or asyncio.Event()
    loop = asyncio.get_running_loop()
    installed: list[int] = []
    if stop is None:
        for sig in (signal.SIGTERM, signal.SIGINT):
            with contextlib.suppress(NotImplementedError, RuntimeError):
                loop.add_signal_handler(sig, stopping.set)
                installed.append(sig)

    state: dict[str, object] = {"started": False, "ready": service.ready}
    app = build_app(service.name, state)
    front_door = FrontDoor(app)
    server = _QuietServer(
        uvicorn.Config(front_door, host=settings.bind_host, port=settings.port, log_level="warning", lifespan="off",
                       access_log=False)
    )
    http_task = asyncio.create_task(_serve_http(server, settings), name="http")
    http_task.add_done_callback(lambda task: stopping.set() if _failed(task) else None)
    bus: Bus | None = None
    try:
        try:
            bus = await Bus.connect(settings, service.name, stop=stopping)
        except ConnectionError:
            return
        state["bus"] = bus
        await bus.ensure_streams()
        ctx = ServiceContext(name=service.name, settings=settings, bus=bus, app=app, stopping=stopping,
                             front_door=front_door)
        await service.start(ctx)
        state["started"] = True
        log.info("%s started on %s:%d (node %s)", service.name, settings.bind_host, settings.port, settings.node_id)
        await stopping.wait()
        log.info("%s stopping", service.name)
    finally:
        state["started"] = False
        with contextlib.suppress(Exception):
            await asyncio.wait_for(service.stop(), settings.shutdown_grace_s)
        if bus is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(bus.drain(), settings.shutdown_grace_s)
        server.should_exit = True
        with contextlib.suppress(Exception):
            await asyncio.wait_for(http_task, 5)
        for sig in installed:
            loop.remove_signal_handler(sig)
        log.info("%s stopped", service.name)
        if _failed(http_task):
            raise http_task.exception()  # type: ignore[misc]


async def _serve_http(server: uvicorn.Server, settings: VenomSettings) -> None:
    """uvicorn's server, with a port it cannot open (e.g. in use) as an error of this task. uvicorn
    raises SystemExit then, which would end the whole event loop instead of this service, and without
    its shutdown (or, in-process, everything else running on that loop)."""
    try:
        await server.serve()
    except SystemExit as exc:
        raise OSError(f"the HTTP port {settings.bind_host}:{settings.port} could not be opened (in use?)") from exc


def _failed(task: asyncio.Task[None]) -> bool:
    return task.done() and not task.cancelled() and task.exception() is not None


def event_loop_factory(settings: VenomSettings) -> Callable[[], asyncio.AbstractEventLoop] | None:
    """uvloop's loop when ``settings.uvloop`` and it is installed, else None (asyncio's own loop).

    Every message a service handles is a few event-loop turns and socket calls; uvloop's loop and
    transports cut the CPU each costs (docs/BENCHMARKS.md: about 8 % per organ request and about 12 %
    per task on a task worker).
    """
    if not settings.uvloop:
        return None
    try:
        import uvloop
    except ImportError:  # e.g. Windows, where uvloop does not exist: asyncio's loop works, slower
        return None
    return uvloop.new_event_loop


def run_service(make: Callable[[VenomSettings], Service], settings: VenomSettings, name: str) -> None:
    """Entry point for ``python -m venom_<service>``: logs, tracing, then :func:`serve`."""
    setup_logging(name, settings.node_id, settings.log_level, settings.log_json)
    setup_tracing(name, settings.node_id, settings.otlp_endpoint)
    service = make(settings)
    try:
        with asyncio.Runner(loop_factory=event_loop_factory(settings)) as runner:
            runner.run(serve(service, settings))
    finally:
        shutdown_tracing()
    if getattr(service, "failed", False):
        raise SystemExit(1)  # stopped itself on a fault: a non-zero exit tells its supervisor
