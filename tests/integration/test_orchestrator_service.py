"""The orchestrator on real NATS with real task workers: discovery events, health, quarantine, dispatch,
a peer vanishing mid-task, the REST API and its token."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
from collections.abc import AsyncIterator, Callable

import httpx
import pytest

from venom_common.bus import Bus
from venom_common.canonical import canonical_dumps
from venom_common.embedded import free_port
from venom_common.settings import VenomSettings
from venom_hardware_agent.tasks import TaskRegistry, default_registry
from venom_hardware_agent.tasks.handlers import SleepParams
from venom_orchestrator.harness import RunningOrchestrator, announce, start_orchestrator, start_worker
from venom_orchestrator.service import QUARANTINE_BUCKET
from venom_orchestrator.settings import OrchestratorSettings
from support.waiting import until

pytestmark = pytest.mark.integration

TOKEN = "s3cret-token"
AUTH = {"Authorization": f"Bearer {TOKEN}"}


@pytest.fixture
async def bus(nats_url: str) -> AsyncIterator[Bus]:
    b = await Bus.connect(VenomSettings(nats_url=nats_url, node_id="t"), "test")
    yield b
    await b.drain()


async def orchestrator(nats_url: str, unique: str, **kw: object) -> RunningOrchestrator:
    # health_timeout_s: a healthy peer answers a ping in milliseconds; 2 s (not 0.5 s) so that a CPU-starved
    # machine does not time two pings in a row out and take a live peer out of the tests' dispatch.
    fields: dict[str, object] = dict(nats_url=nats_url, node_id=f"orch{unique}", port=free_port(), grpc_port=0,
                                     api_token=TOKEN, health_interval_s=0.2, health_timeout_s=2.0,
                                     reply_grace_s=0.5, self_peer=False)
    fields.update(kw)
    return await start_orchestrator(OrchestratorSettings(**fields))  # type: ignore[arg-type]


def healthy(o: RunningOrchestrator, node: str) -> Callable[[], bool]:
    return lambda: (p := o.service.peers.get(node)) is not None and bool(p.healthy)


async def test_dispatch_end_to_end(nats_url: str, unique: str, bus: Bus) -> None:
    a, b = f"a{unique}", f"b{unique}"
    wa, wb = await start_worker(nats_url, a), await start_worker(nats_url, b)
    o = await orchestrator(nats_url, unique)
    try:
        await announce(bus, a)
        await announce(bus, b)
        await until(healthy(o, a))
        await until(healthy(o, b))
        async with httpx.AsyncClient(base_url=o.base_url, timeout=10) as http:
            r = await http.post("/tasks?wait=true", json={"task_type": "hash", "payload": {"data": "x"}}, headers=AUTH)
            assert r.status_code == 200, r.text
            task = r.json()
            assert task["status"] == "succeeded" and task["node"] in (a, b)
            assert task["result"]["digest"] == hashlib.sha256(b"x").hexdigest()
            assert (await http.get(f"/tasks/{task['task_id']}")).json()["status"] == "succeeded"
            r = await http.post("/tasks", json={"task_type": "sleep", "payload": {"seconds": 0.2}}, headers=AUTH)
            assert r.status_code == 202 and r.json()["status"] in ("pending", "running")
            tid = r.json()["task_id"]
            await until(lambda: o.service.tasks.get(tid).final)  # type: ignore[union-attr]
            assert (await http.get(f"/tasks/{tid}")).json()["status"] == "succeeded"
            # a bad payload is the worker's to judge: the task fails with the reason
            r = await http.post("/tasks?wait=true", json={"task_type": "sleep", "payload": {"seconds": "x"}},
                                headers=AUTH)
            assert r.json()["status"] == "failed" and "invalid payload for sleep" in r.json()["error"]
            # spread: 40 tasks land on both peers
            rs = await asyncio.gather(*(http.post("/tasks?wait=true", json={"task_type": "sleep",
                                                                             "payload": {"seconds": 0.05}},
                                                  headers=AUTH) for _ in range(40)))
            nodes = {x.json()["node"] for x in rs}
            assert nodes == {a, b}
            peers = {p["node"]: p for p in (await http.get("/peers")).json()}
            assert peers[a]["healthy"] and peers[b]["healthy"] and not peers[a]["quarantined"]
            assert peers[a]["tasks_succeeded"] + peers[b]["tasks_succeeded"] >= 42
            assert (await http.get(f"/peers/{a}")).json()["node"] == a
            assert (await http.get("/peers/nobody")).status_code == 404
            assert (await http.get("/tasks/unknown")).status_code == 404
            assert (await http.get("/docs")).status_code == 200
    finally:
        await o.stop()
        await wa.stop()
        await wb.stop()


async def test_token_required_for_mutating_calls(nats_url: str, unique: str) -> None:
    o = await orchestrator(nats_url, unique)
    off = await orchestrator(nats_url, unique + "x", api_token=None)
    try:
        async with httpx.AsyncClient(base_url=o.base_url, timeout=10) as http:
            body = {"task_type": "sleep", "payload": {"seconds": 0}}
            assert (await http.post("/tasks", json=body)).status_code == 401
            r = await http.post("/tasks", json=body, headers={"Authorization": "Bearer wrong"})
            assert r.status_code == 401 and "wrong bearer token" in r.json()["detail"]
            assert (await http.post("/peers/x/release")).status_code == 401
            assert (await http.get("/peers")).status_code == 200  # reading needs no token
        async with httpx.AsyncClient(base_url=off.base_url, timeout=10) as http:
            r = await http.post("/tasks", json=body, headers=AUTH)
            assert r.status_code == 401 and "VENOM_API_TOKEN" in r.json()["detail"]
    finally:
        await o.stop()
        await off.stop()


async def test_no_peer_ends_lost_not_hanging(nats_url: str, unique: str) -> None:
    o = await orchestrator(nats_url, unique)
    try:
        async with httpx.AsyncClient(base_url=o.base_url, timeout=10) as http:
            r = await http.post("/tasks?wait=true", json={"task_type": "sleep", "payload": {"seconds": 0},
                                                          "node": f"ghost{unique}"}, headers=AUTH)
            assert r.status_code == 200 and r.json()["status"] == "lost"
            assert "unknown, unhealthy, quarantined" in r.json()["error"]
    finally:
        await o.stop()


def registry_where_hangs(task_type: str) -> TaskRegistry:
    """The default task types, with ``task_type`` one that never ends by itself: a task that is running for
    certain when its peer vanishes, instead of one that sleeps a while and races the test's steps."""
    async def hang(_: SleepParams) -> dict[str, float]:
        await asyncio.Event().wait()  # until cancelled (vanish) or the worker's deadline
        return {}

    registry = default_registry()
    registry.register(task_type, SleepParams, hang, replace=True)
    return registry


async def test_peer_vanishing_mid_task_moves_the_task(nats_url: str, unique: str, bus: Bus) -> None:
    a, b = f"a{unique}", f"b{unique}"
    # On a, "sleep" never ends by itself: a's answer cannot come before it vanishes. (It slept 0.8 s, which
    # b's announcement, its ping and a's vanishing had to beat on a CPU-starved machine.) The deadline only
    # has to outlast those steps now (a worker answers "deadline exceeded" at it): 3 s.
    wa = await start_worker(nats_url, a, registry_where_hangs("sleep"))
    workers = [wa]
    o = await orchestrator(nats_url, unique, health_interval_s=30.0)  # only the task itself finds out
    try:
        await announce(bus, a)
        await until(healthy(o, a))
        # b's worker is started before the task (it is not announced yet, so the task goes to a); only
        # b's announcement and ping happen while a runs. On b, "hang" never ends by itself either.
        wb = await start_worker(nats_url, b, registry_where_hangs("hang"))
        workers.append(wb)
        record, runner = o.service.submit("sleep", {"seconds": 0.1}, deadline_s=3.0)
        await until(lambda: record.status == "running" and record.node == a)
        await announce(bus, b)
        await until(lambda: b in o.service.peers)
        await o.service._ping(b)
        await wa.vanish()
        done = await asyncio.wait_for(runner, 30)  # never hangs (a's request times out after 3.5 s)
        assert done.status == "succeeded" and done.node == b
        assert [(x.node, x.outcome) for x in done.attempts] == [(a, "timed_out"), (b, "succeeded")]
        assert o.service.peers.get(a).healthy is False  # type: ignore[union-attr]
        # now b vanishes too, mid-task, and no one is left: the task ends "lost", naming what was tried
        record, runner = o.service.submit("hang", {"seconds": 0}, deadline_s=2.0)
        await until(lambda: record.status == "running")
        await wb.vanish()
        done = await asyncio.wait_for(runner, 30)
        assert done.status == "lost" and b in done.error and done.finished_at is not None
    finally:
        await o.stop()
        # workers that did not vanish (a failure above) must not answer the next tests' orchestrators
        for w in workers:
            with contextlib.suppress(Exception):
                await w.stop()


async def test_quarantine_follows_the_bucket_and_release(nats_url: str, unique: str, bus: Bus) -> None:
    a, b = f"a{unique}", f"b{unique}"
    wa, wb = await start_worker(nats_url, a), await start_worker(nats_url, b)
    o = await orchestrator(nats_url, unique)
    kv = await bus.js.key_value(QUARANTINE_BUCKET)
    try:
        await announce(bus, a)
        await announce(bus, b)
        await until(healthy(o, a))
        await until(healthy(o, b))
        await kv.put(a, canonical_dumps({"node": a, "since": "2026-01-01T00:00:00Z", "beat": 7, "threat": 0.9,
                                         "reason": "test", "decision_id": "d"}))
        await until(lambda: o.service.peers.get(a).quarantined)  # type: ignore[union-attr]
        async with httpx.AsyncClient(base_url=o.base_url, timeout=10) as http:
            assert (await http.get(f"/peers/{a}")).json()["quarantine"]["beat"] == 7
            rs = await asyncio.gather(*(http.post("/tasks?wait=true", json={"task_type": "sleep",
                                                                             "payload": {"seconds": 0}},
                                                  headers=AUTH) for _ in range(20)))
            assert {x.json()["node"] for x in rs} == {b}
            r = await http.post("/tasks?wait=true", json={"task_type": "sleep", "payload": {"seconds": 0},
                                                            "node": a}, headers=AUTH)
            assert r.json()["status"] == "lost"
            r = await http.post(f"/peers/{a}/release", headers=AUTH)
            assert r.status_code == 200 and r.json() == {"node": a, "released": True}
            assert not o.service.peers.get(a).quarantined  # type: ignore[union-attr]
            assert (await http.post(f"/peers/{a}/release", headers=AUTH)).status_code == 404
            # an arbiter decision while running is followed too; deleting the key from elsewhere lifts it
            await kv.put(b, b'{"node":"b"}')
            await until(lambda: o.service.peers.get(b).quarantined)  # type: ignore[union-attr]
            await kv.delete(b)
            await until(lambda: not o.service.peers.get(b).quarantined)  # type: ignore[union-attr]
    finally:
        await o.stop()
        await wa.stop()
        await wb.stop()


async def test_left_peers_and_metrics(nats_url: str, unique: str, bus: Bus) -> None:
    from datetime import UTC, datetime

    from venom_common.events import make_event, subjects
    from venom_common.events.payloads import MetricsV1, ThetaComponents

    a = f"a{unique}"
    wa = await start_worker(nats_url, a)
    o = await orchestrator(nats_url, unique)
    try:
        await announce(bus, a)
        await until(healthy(o, a))
        m = MetricsV1(node=a, seq=0, sampled_at=datetime.now(UTC), source="psutil", interval_s=1.0, cpu_percent=80.0,
                      theta=ThetaComponents(h_cpu=0.2, h_mem=None, h_term=None, theta=0.2, thermal_sensor=False,
                                            weights={"h_cpu": 1.0}))
        await bus.publish(subjects.metrics(a), make_event(m, source="/venom/t/test"))
        await until(lambda: o.service.peers.get(a).cpu.value == 80.0)  # type: ignore[union-attr]
        async with httpx.AsyncClient(base_url=o.base_url, timeout=10) as http:
            p = (await http.get(f"/peers/{a}")).json()
            assert 0.7 < p["load"] <= 0.8 and p["in_flight"] == 0
        await announce(bus, a, "left")
        await until(lambda: not o.service.peers.get(a).present)  # type: ignore[union-attr]
        record, runner = o.service.submit("sleep", {"seconds": 0}, deadline_s=1.0, node=a)
        assert (await asyncio.wait_for(runner, 5)).status == "lost"
    finally:
        await o.stop()
        await wa.stop()


async def test_restart_rebuilds_the_peer_table(nats_url: str, unique: str, bus: Bus) -> None:
    a = f"a{unique}"
    wa = await start_worker(nats_url, a)
    await announce(bus, a)
    o = await orchestrator(nats_url, unique)
    try:
        await until(healthy(o, a))
        await o.stop()
        o = await orchestrator(nats_url, unique)  # same durable name: the table comes back from the stream
        await until(healthy(o, a))
    finally:
        await o.stop()
        await wa.stop()
