"""F-ARB-7: kill -9 the arbiter mid-run and restart it: beats continue with none repeated or skipped,
and the genome equals that of an uninterrupted run on the same input (lockstep drive on replayed metrics)."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from venom_common.bus import Bus
from venom_common.embedded import free_port, stop_processes
from venom_common.events import subjects
from venom_common.settings import VenomSettings
from venom_common.streams import EVENTS

from support.beat import node_events, organs, publish_metrics

pytestmark = pytest.mark.integration

# A deterministic input with quiet stretches, alerts and sustained threat (E feedback clock).
ANOMS = [0, 1, 2, 30, 35, 40, 3, 0, 0, 6, 8, 25, 25, 25, 1, 0, 2, 50, 0, 4] * 2


def start_arbiter(nats_url: str, node: str, log: Path, **extra: str) -> subprocess.Popen[bytes]:
    env = {**os.environ, "VENOM_NATS_URL": nats_url, "VENOM_NODE_ID": node, "VENOM_PORT": str(free_port()),
           "VENOM_DRIVE": "metrics", "VENOM_SNAPSHOT_EVERY": "7", "VENOM_LOG_JSON": "false",
           "VENOM_ORGAN_DEADLINE_MS": "5000",  # the genome depends on every organ answering: no deadline misses
           **extra}
    with open(log, "ab") as out:
        return subprocess.Popen([sys.executable, "-m", "venom_arbiter"], env=env, stdout=out, stderr=subprocess.STDOUT,
                                start_new_session=True)


async def genome_beats(bus: Bus, node: str) -> list[Any]:
    return [e.data for e in await node_events(bus, node, ("genome",))]


async def wait_beats(bus: Bus, node: str, count: int, timeout: float = 60) -> list[Any]:
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        genomes = await genome_beats(bus, node)
        if len(genomes) >= count:
            return genomes
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"only {len(genomes)} of {count} beats after {timeout}s")
        await asyncio.sleep(0.1)


async def test_kill_9_and_resume_matches_uninterrupted_run(nats_url: str, tmp_path: Path, unique: str) -> None:
    bus = await Bus.connect(VenomSettings(nats_url=nats_url, node_id="t"), "test")
    await bus.ensure_streams()
    killed, steady = f"k{unique}", f"s{unique}"
    procs: list[subprocess.Popen[bytes]] = []
    try:
        async with organs(nats_url, tmp_path / "models"):
            await publish_metrics(bus, killed, ANOMS)
            await publish_metrics(bus, steady, ANOMS)
            procs.append(start_arbiter(nats_url, steady, tmp_path / "steady.log"))
            first = start_arbiter(nats_url, killed, tmp_path / "killed.log")
            procs.append(first)
            await wait_beats(bus, killed, 13)
            os.kill(first.pid, signal.SIGKILL)  # mid-run, no chance to snapshot or ack
            first.wait(10)
            procs.append(start_arbiter(nats_url, killed, tmp_path / "killed.log"))
            resumed = await wait_beats(bus, killed, len(ANOMS))
            uninterrupted = await wait_beats(bus, steady, len(ANOMS))
            await asyncio.sleep(0.5)
            resumed = await genome_beats(bus, killed)
    finally:
        stop_processes(procs)
        await bus.drain()
    assert [g.beat for g in resumed] == list(range(len(ANOMS))), "a beat was repeated or skipped"
    pulses = [e.data.beat for e in await _pulses(nats_url, killed)]
    assert pulses == list(range(len(ANOMS)))
    assert [g.weights for g in resumed] == [g.weights for g in uninterrupted]
    assert [(g.pid.integral, g.pid.error, g.e_feedback_t, g.mode) for g in resumed] == \
        [(g.pid.integral, g.pid.error, g.e_feedback_t, g.mode) for g in uninterrupted]


async def _pulses(nats_url: str, node: str) -> list[Any]:
    bus = await Bus.connect(VenomSettings(nats_url=nats_url, node_id="t"), "test")
    try:
        return await node_events(bus, node, ("beat",))
    finally:
        await bus.drain()


@pytest.mark.parametrize("atomic", ["false", "true"], ids=["one_by_one", "atomic_batches"])
async def test_kill_9_in_the_pipelined_clock_drive_repeats_and_skips_no_beat(nats_url: str, tmp_path: Path,
                                                                             unique: str, atomic: str) -> None:
    """Clock drive with several beats in flight: a kill -9 leaves beats sent and not stored; the restart
    runs them again under their stored pulse ids, so every beat number has one pulse and one genome.
    The same with atomic batches (a kill -9 can leave a batch half sent: it stays open on the server,
    uncommitted, and the beat runs again)."""
    bus = await Bus.connect(VenomSettings(nats_url=nats_url, node_id="t"), "test")
    await bus.ensure_streams()
    node = f"p{unique}"
    fast = {"VENOM_DRIVE": "clock", "VENOM_PERIOD_S": "0.002", "VENOM_PIPELINE_DEPTH": "8",
            "VENOM_ATOMIC_BATCHES": atomic}
    procs: list[subprocess.Popen[bytes]] = []
    try:
        async with organs(nats_url, tmp_path / "models"):
            await publish_metrics(bus, node, [3])
            first = start_arbiter(nats_url, node, tmp_path / "first.log", **fast)
            procs.append(first)
            await wait_beats(bus, node, 60)
            os.kill(first.pid, signal.SIGKILL)
            first.wait(10)
            killed_at = len(await genome_beats(bus, node))
            second = start_arbiter(nats_url, node, tmp_path / "second.log", **fast)
            procs.append(second)
            await wait_beats(bus, node, killed_at + 60)
            second.send_signal(signal.SIGTERM)  # graceful: every beat started is stored before it exits
            # Waited for in a thread: the organs answer from this test's event loop.
            assert await asyncio.to_thread(second.wait, 30) == 0
            genomes = await genome_beats(bus, node)
    finally:
        stop_processes(procs)
        await bus.drain()
    beats = [g.beat for g in genomes]
    assert beats == list(range(len(beats))), "a beat was repeated or skipped"
    pulses = sorted(e.data.beat for e in await _pulses(nats_url, node))
    assert pulses == beats, "every beat has exactly one pulse"
    check = await Bus.connect(VenomSettings(nats_url=nats_url, node_id="t"), "test")
    try:  # which way the beats were stored: the server keeps a batch's Nats-Batch-Id header
        last = await check.js.get_last_msg(EVENTS.name, subjects.genome(node))
    finally:
        await check.drain()
    assert ("Nats-Batch-Id" in (last.headers or {})) == (atomic == "true")
