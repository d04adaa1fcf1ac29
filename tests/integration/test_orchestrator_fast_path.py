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
    return OrchestratorSettings(nats_url=nats_url, node_id=node, port=free_port(), grpc_port=0, api_token=TOKEN,
                                health_interval_s=0.2, health_timeout_s=0.5, self_peer=False, rest_fast_path=fast)


async def test_fast_path_answers_like_the_fastapi_route(nats_url: str, unique: str, bus: Bus) -> None:
    node = f"fp{unique}"
    worker = await start_worker(nats_url, node)
    fast = await start_orchestrator(settings(nats_url, f"of{unique}", True))
    slow = await start_orchestrator(settings(nats_url, f"os{unique}", False))
    try:
        await announce(bus, node)
        answers = {}
        before = REGISTRY.get_sample_value("venom_orchestrator_fast_path_total") or 0.0
        for name, o in (("fast", fast), ("slow", slow)):
            async with httpx.AsyncClient(base_url=o.base_url, timeout=10) as http:
                for _ in range(200):  # until the peer's first ping made it healthy
                    r = await http.post("/tasks?wait=true", json={"task_type": "hash", "payload": {"data": "x"}},
                                        headers=AUTH)
                    if r.json()["status"] == "succeeded":
                        break
                assert r.status_code == 200 and r.headers["content-type"] == "application/json"
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
        # the fast orchestrator answered the two plain ones (and the pings' retries) itself, the other none
        assert (REGISTRY.get_sample_value("venom_orchestrator_fast_path_total") or 0.0) - before >= 2
        fast_keys = {k for k, v in answers["fast"].items() if v is not None}
        assert fast_keys == {k for k, v in answers["slow"].items() if v is not None}
        assert answers["fast"]["result"] == answers["slow"]["result"]
    finally:
        await fast.stop()
        await slow.stop()
        await worker.stop()
