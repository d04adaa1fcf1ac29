"""`venom bench dispatch` end to end on a small run: every task succeeds, figures are present and positive."""

from __future__ import annotations

import pytest

from venom_orchestrator.bench import bench_dispatch

pytestmark = pytest.mark.integration


async def test_dispatch_bench_small(nats_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("VENOM_NATS_URL", nats_url)
    result = await bench_dispatch(60, 4, 2, sim=False)
    assert result["statuses"] == {"succeeded": 60}
    assert set(result["tasks_by_peer"]) == {"bench-peer-0", "bench-peer-1"}
    assert result["tasks_per_s"] > 0 and 0 < result["task_ms_p50"] <= result["task_ms_p99"]
    raw = result["raw_nats_request_reply"]
    assert raw["failed"] == 0 and raw["tasks_per_s"] > 0
    machine = result["machine_cpu_ms_per_task"]
    assert set(machine) == {"busy", "other_processes", "stolen"}
    assert machine["busy"] > 0 and machine["stolen"] >= 0
