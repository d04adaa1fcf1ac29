"""POST /tasks answered by the fast path (api/fast_tasks.py) is the FastAPI route's answer; anything not
plain and valid still gets FastAPI's own answer (401, 422, other query parameters)."""

from __future__ import annotations

import httpx
import pytest
from prometheus_client import REGISTRY

from venom_common.bus import Bus
from venom_common.embedded import free_port
from venom_orchestrator.api.fast_tasks import MAX_BODY
from venom_orchestrator.harness import announce, start_orchestrator, start_worker
from venom_orchestrator.settings import OrchestratorSettings

pytestmark = pytest.mark.integration

TOKEN = "fast-path-token"
AUTH = {"Authorization": f"Bearer {TOKEN}"}


def settings(nats_url: str, node: str, fast: bool) -> OrchestratorSettings:
    # health_timeout_s 2 s, not 0.5 s: two pings timed out in a row on a CPU-starved machine would take
    # the live peer out of dispatch.
    return OrchestratorSettings(nats_url=nats_url, node_id=node, port=free_port(), grpc_port=0, api_token=TOKEN,
                                health_interval_s=0.2, health_timeout_s=2.0, self_peer=False, rest_fast_path=fast)


def answered(writes: str | None = None) -> float:
    return sum(REGISTRY.get_sample_value("venom_orchestrator_fast_path_total", {"writes": w}) or 0.0
               for w in ((writes,) if writes else ("1", "2")))


async def exchange(port: int, requests: list[bytes]) -> list[tuple[bytes, bytes]]:
    """Raw HTTP/1.1 on one connection: each request, then its whole answer (head, body)."""
    import asyncio

    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    out = []
    try:
        for request in requests:
            writer.write(request)
            head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 10)
            length = next(int(line.split(b":", 1)[1]) for line in head.split(b"\r\n")
                          if line.lower().startswith(b"content-length:"))
            out.append((head, await asyncio.wait_for(reader.readexactly(length), 10)))
        if requests and b"connection: close" in requests[-1].lower():
            assert await asyncio.wait_for(reader.read(), 10) == b""  # the server closed the connection
    finally:
        writer.close()
    return out


def post(body: bytes, *extra: bytes) -> bytes:
    return (b"POST /tasks?wait=true HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer " + TOKEN.encode()
            + b"\r\nContent-Type: application/json\r\nContent-Length: " + str(len(body)).encode() + b"\r\n"
            + b"".join(h + b"\r\n" for h in extra) + b"\r\n" + body)


async def test_one_write_answer_is_a_whole_http_answer(nats_url: str, unique: str, bus: Bus) -> None:
    """The fast path's one-write answer (uvicorn's httptools cycle) against its two-message answer: same
    status, headers and kind of body; keep-alive goes on, and ``Connection: close`` is honoured."""
    import json

    node = f"fw{unique}"
    worker = await start_worker(nats_url, node)
    o = await start_orchestrator(settings(nats_url, f"ow{unique}", True))
    try:
        await announce(bus, node)
        await until_healthy(o, node)
        body = b'{"task_type":"hash","payload":{"data":"x"}}'
        ones, twos = answered("1"), answered("2")
        first, second = await exchange(o.settings.port, [post(body), post(body)])  # keep-alive: both answered
        assert answered("1") - ones == 2 and answered("2") == twos  # this uvicorn: one write each
        front = o.service._ctx.front_door.handler  # type: ignore[union-attr]
        front._one_write = False  # the two ASGI messages, as for any other server
        (two,) = await exchange(o.settings.port, [post(body)])
        assert answered("2") - twos == 1
        front._one_write = None
        (closing,) = await exchange(o.settings.port, [post(body, b"Connection: close")])

        def header_names(head: bytes) -> list[bytes]:
            return sorted(line.split(b":", 1)[0].lower() for line in head.split(b"\r\n")[1:] if line)

        for head, answer in (first, second, two, closing):
            assert head.startswith(b"HTTP/1.1 200 OK\r\n")
            assert json.loads(answer)["status"] == "succeeded"
        assert header_names(first[0]) == header_names(two[0]) == [b"content-length", b"content-type", b"date",
                                                                   b"server"]
        assert b"connection: close" in closing[0].lower()
    finally:
        await o.stop()
        await worker.stop()


async def until_healthy(o: object, node: str, timeout: float = 60.0) -> None:
    import asyncio

    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while loop.time() < deadline:
        p = o.service.peers.get(node)  # type: ignore[attr-defined]
        if p is not None and p.healthy:
            return
        await asyncio.sleep(0.02)
    raise AssertionError(f"{node} never became healthy")


async def test_fast_path_answers_like_the_fastapi_route(nats_url: str, unique: str, bus: Bus) -> None:
    node = f"fp{unique}"
    worker = await start_worker(nats_url, node)
    fast = await start_orchestrator(settings(nats_url, f"of{unique}", True))
    slow = await start_orchestrator(settings(nats_url, f"os{unique}", False))
    try:
        await announce(bus, node)
        answers = {}
        before = answered()
        for name, o in (("fast", fast), ("slow", slow)):
            # Until the peer's first ping made it healthy: waited for on the condition (it was up to 200 tries
            # of the request, each lost at once: a count, not a time, that a slow machine could exhaust).
            await until_healthy(o, node)
            async with httpx.AsyncClient(base_url=o.base_url, timeout=30) as http:
                r = await http.post("/tasks?wait=true", json={"task_type": "hash", "payload": {"data": "x"}},
                                    headers=AUTH)
                assert r.status_code == 200 and r.headers["content-type"] == "application/json"
                assert r.json()["status"] == "succeeded", r.json()
                stored = (await http.get(f"/tasks/{r.json()['task_id']}")).json()  # FastAPI's serialisation
                assert r.json() == stored
                answers[name] = r.json()
                # not waited: 202 with the record as it is now
                r = await http.post("/tasks", json={"task_type": "sleep", "payload": {"seconds": 0}}, headers=AUTH)
                assert r.status_code == 202 and r.json()["task_type"] == "sleep"
                # FastAPI's own answers where the request is not plain and valid
                r = await http.post("/tasks?wait=true", json={"task_type": "hash"}, headers={"Authorization": "x"})
                assert r.status_code == 401 and "wrong bearer token" in r.json()["detail"]
                r = await http.post("/tasks?wait=true", json={"task_type": "Bad Type"}, headers=AUTH)
                assert r.status_code == 422 and r.json()["detail"][0]["loc"] == ["body", "task_type"]
                r = await http.post("/tasks?wait=true", content=b"{not json", headers={**AUTH, "content-type":
                                                                                        "application/json"})
                assert r.status_code == 422
                r = await http.post("/tasks?wait=1", json={"task_type": "hash", "payload": {"data": "y"}},
                                    headers=AUTH)
                assert r.status_code == 200 and r.json()["status"] == "succeeded"  # FastAPI parses wait=1
                big = {"task_type": "hash", "payload": {"data": "z" * (MAX_BODY + 10)}}
                r = await http.post("/tasks?wait=true", json=big, headers=AUTH)
                assert r.status_code == 200 and r.json()["status"] == "succeeded"  # large bodies via FastAPI
        # the fast orchestrator answered the two plain ones itself, the other none
        assert answered() - before >= 2
        fast_keys = {k for k, v in answers["fast"].items() if v is not None}
        assert fast_keys == {k for k, v in answers["slow"].items() if v is not None}
        assert answers["fast"]["result"] == answers["slow"]["result"]
    finally:
        await fast.stop()
        await slow.stop()
        await worker.stop()
