"""The service runner: health endpoints, readiness, metrics, graceful stop, real NATS."""

from __future__ import annotations

import asyncio
import socket

import httpx
import pytest

from venom_common.embedded import free_port
from venom_common.runner import ServiceContext, serve
from venom_common.settings import VenomSettings

pytestmark = pytest.mark.integration


class Recorder:
    name = "recorder"

    def __init__(self) -> None:
        self.started = False
        self.stopped = False
        self.in_flight_finished = False
        self.ctx: ServiceContext | None = None

    async def start(self, ctx: ServiceContext) -> None:
        self.ctx = ctx
        self.started = True

    async def stop(self) -> None:
        await asyncio.sleep(0.2)  # in-flight work finishing
        self.in_flight_finished = True
        self.stopped = True

    def ready(self) -> bool:
        return self.started


async def test_health_ready_metrics_and_graceful_stop(nats_url: str) -> None:
    port = free_port()
    settings = VenomSettings(nats_url=nats_url, port=port, node_id="runner-test")
    svc = Recorder()
    stop = asyncio.Event()
    task = asyncio.create_task(serve(svc, settings, stop=stop))
    base = f"http://127.0.0.1:{port}"
    async with httpx.AsyncClient(timeout=2) as client:
        for _ in range(200):
            try:
                r = await client.get(f"{base}/readyz")
                if r.status_code == 200:
                    break
            except httpx.TransportError:
                pass
            await asyncio.sleep(0.05)
        assert r.status_code == 200 and r.json()["ready"] is True
        assert (await client.get(f"{base}/healthz")).json()["status"] == "ok"
        metrics = (await client.get(f"{base}/metrics")).text
        assert "venom_events_rejected_total" in metrics
    assert svc.ctx is not None and svc.ctx.source == "/venom/runner-test/recorder"
    stop.set()
    await asyncio.wait_for(task, 15)
    assert svc.stopped and svc.in_flight_finished
    with pytest.raises(httpx.TransportError):
        async with httpx.AsyncClient(timeout=1) as client:
            await client.get(f"{base}/healthz")


async def test_not_ready_until_nats_reachable() -> None:
    port = free_port()
    settings = VenomSettings(nats_url=f"nats://127.0.0.1:{free_port()}", port=port, node_id="runner-test2")
    svc = Recorder()
    stop = asyncio.Event()
    task = asyncio.create_task(serve(svc, settings, stop=stop))
    async with httpx.AsyncClient(timeout=2) as client:
        for _ in range(100):
            try:
                r = await client.get(f"http://127.0.0.1:{port}/readyz")
                break
            except httpx.TransportError:
                await asyncio.sleep(0.05)
        assert r.status_code == 503 and r.json()["nats"] is False
        assert (await client.get(f"http://127.0.0.1:{port}/healthz")).status_code == 200
    stop.set()
    await asyncio.wait_for(task, 15)
    assert not svc.started


async def test_a_port_in_use_fails_the_service_not_the_event_loop(nats_url: str) -> None:
    """uvicorn exits the process (SystemExit) when it cannot bind; serve turns that into an error of the
    service, stopped gracefully, and the event loop it shares goes on."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        settings = VenomSettings(nats_url=nats_url, port=taken.getsockname()[1], node_id="runner-test3")
        svc = Recorder()
        with pytest.raises(OSError, match="could not be opened"):
            await asyncio.wait_for(serve(svc, settings, stop=asyncio.Event()), 20)
    assert not svc.started or svc.stopped
    await asyncio.sleep(0)  # this loop still runs
