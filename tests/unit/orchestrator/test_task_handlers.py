"""The worker's task registry: validation and failures with reasons (no NATS)."""

from __future__ import annotations

import hashlib

import pytest

from venom_hardware_agent.tasks import TaskFailed, default_registry


async def test_builtin_handlers() -> None:
    reg = default_registry()
    assert reg.types() == ["cpu", "hash", "ping", "sleep", "wave"]
    assert (await reg.run("hash", {"data": "a", "algorithm": "sha3_256"}))["digest"] == hashlib.sha3_256(b"a").hexdigest()
    assert (await reg.run("sleep", {"seconds": 0}))["slept_s"] == 0
    assert (await reg.run("cpu", {"iterations": 10}))["iterations"] == 10
    assert await reg.run("ping", {}) == {"pong": True}


@pytest.mark.parametrize(("task_type", "payload", "why"), [
    ("sleep", {}, "seconds"),
    ("sleep", {"seconds": 4000}, "less than or equal"),
    ("hash", {"data": "x", "algorithm": "crc"}, "algorithm"),
    ("cpu", {"iterations": 0}, "iterations"),
    ("cpu", {"iterations": 10, "x": 1}, "x"),
    ("frob", {}, "unknown task type"),
    ("wave", {}, "invalid payload for wave"),
    ("wave", {"tasks": ["a=10<-b", "b=10<-a"]}, "cycle"),
    ("wave", {"tasks": ["a=10<-ghost"]}, "ghost"),
    ("wave", {"tasks": ["a=ten"]}, "not 'id=iterations'"),
])
async def test_bad_tasks_fail_with_a_reason(task_type: str, payload: dict, why: str) -> None:
    with pytest.raises(TaskFailed, match=why):
        await default_registry().run(task_type, payload)


async def test_wave_runs_the_graph_in_waves_and_skips_dependents_of_a_failure() -> None:
    result = await default_registry().run("wave", {
        "tasks": ["a=1000", "b=2000<-a", "c=2000<-a", "d=10<-b,c", "e=10<-c"], "workers": 2, "fail": ["c"]})
    assert result["waves"] == 3 and result["ok"] is False
    assert result["succeeded"] == ["a", "b"] and result["failed"] == ["c"] and result["skipped"] == ["d", "e"]
