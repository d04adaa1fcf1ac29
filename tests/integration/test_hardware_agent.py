"""The hardware agent against a real JetStream nats-server (F-HW-1, F-HW-2).

Live sampling of this machine, the profile on request, drift-free ticks with counted
overruns, and replays of recorded CSVs that publish exactly the file's rows, twice alike.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
from datetime import datetime, timedelta
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from itertools import pairwise
from pathlib import Path
from typing import Any

import httpx
import psutil
import pytest
from nats.aio.client import Client as NatsClient
from nats.js import api as js_api
from prometheus_client import REGISTRY

from venom_common.embedded import free_port
from venom_common.events import decode, subjects
from venom_common.events.payloads import HardwareProfileV1, MetricsV1
from venom_common.runner import serve
from venom_common.streams import METRICS
from venom_hardware_agent.adapters.psutil_sampler import PsutilSampler
from venom_hardware_agent.adapters.replay_csv import ReplayFileError
from venom_hardware_agent.domain.samples import HostReading
from venom_hardware_agent.service import HardwareAgent
from venom_hardware_agent.settings import HardwareAgentSettings

pytestmark = pytest.mark.integration

NAB_FILE = Path("/work/shared/data/nab/data/realAWSCloudwatch/ec2_cpu_utilization_825cc2.csv")


async def wait_for(predicate: Callable[[], bool], timeout: float = 15.0) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not predicate():
        if loop.time() > deadline:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(0.02)


@dataclass
class Running:
    agent: HardwareAgent
    settings: HardwareAgentSettings
    metrics: list[MetricsV1] = field(default_factory=list)
    profiles: list[HardwareProfileV1] = field(default_factory=list)


@contextlib.asynccontextmanager
async def running_agent(
    nc: NatsClient, nats_url: str, node: str, *, detector: Any = None, **kw: Any
) -> AsyncIterator[Running]:
    """Subscribe to the agent's subjects, run it with serve(), stop it gracefully at the end."""
    settings = HardwareAgentSettings(nats_url=nats_url, port=free_port(), node_id=node, probe_torch=False,
                                     log_json=False, **kw)
    agent = HardwareAgent(settings, detector=detector)
    run = Running(agent, settings)

    async def on_metrics(msg: Any) -> None:
        run.metrics.append(decode(msg.data, MetricsV1).data)

    async def on_profile(msg: Any) -> None:
        run.profiles.append(decode(msg.data, HardwareProfileV1).data)

    subs = [await nc.subscribe(subjects.metrics(node), cb=on_metrics),
            await nc.subscribe(subjects.hardware(node), cb=on_profile)]
    await nc.flush()
    stop = asyncio.Event()
    task = asyncio.create_task(serve(agent, settings, stop=stop))
    try:
        await wait_for(lambda: agent.ready() or task.done(), 30)
        if task.done():
            task.result()  # raise what stopped it
        yield run
        stop.set()
        await asyncio.wait_for(task, 20)
        # Every sample the agent had stored has reached this subscriber before it unsubscribes (the last ones
        # come on another connection: on a stalled machine they could still be on their way).
        await wait_for(lambda: len(run.metrics) >= agent.published, 30)
    finally:
        stop.set()
        if not task.done():
            await asyncio.wait_for(task, 20)
        for sub in subs:
            await sub.unsubscribe()


async def test_live_samples_profile_request_and_graceful_stop(nc: NatsClient, nats_url: str, unique: str) -> None:
    node = f"hw-{unique}"
    async with running_agent(nc, nats_url, node, interval_s=0.05) as run:
        await wait_for(lambda: len(run.metrics) >= 8 and len(run.profiles) >= 1)
        # F-HW-1: the profile at start
        start_profile = run.profiles[0]
        assert start_profile.node == node and start_profile.cores_logical == psutil.cpu_count()
        # ... and on request: the reply is a valid profile event, also published
        reply = await nc.request(subjects.hardware_request(node), b"", timeout=15)
        answered = decode(reply.data, HardwareProfileV1)
        assert answered.data.node == node and answered.subject == subjects.hardware(node)
        assert answered.data.mem_total_bytes == psutil.virtual_memory().total
        await wait_for(lambda: len(run.profiles) >= 2)
        # HTTP: the θ history and the agent's Prometheus metrics
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{run.settings.port}", timeout=5) as http:
            history = (await http.get("/theta")).json()
            prom = (await http.get("/metrics")).text
            assert (await http.get("/replay")).status_code == 404
        assert history["node"] == node and len(history["history"]) >= 8
        assert "venom_hw_samples_published_total" in prom and "venom_hw_theta" in prom
    count_at_stop = len(run.metrics)
    samples = run.metrics
    # this machine's CPU and memory, and absent things absent
    first = samples[0]
    assert first.source == "psutil" and first.node == node and first.interval_s == 0.05
    assert first.cpu_count == psutil.cpu_count() and first.mem_total_bytes == psutil.virtual_memory().total
    assert first.disk_read_bytes_per_s is None and first.net_rx_bytes_per_s is None  # no rate from one sample
    if any(not nic.startswith("lo") for nic in psutil.net_io_counters(pernic=True)):
        assert samples[1].net_rx_bytes_per_s is not None and samples[1].net_tx_bytes_per_s is not None
    for m in samples:
        assert m.theta.theta is not None and 0.0 <= m.theta.theta <= 1.0
        if not m.theta.thermal_sensor:
            assert m.temperature_c is None and "h_term" not in m.theta.weights
    assert [m.seq for m in samples] == list(range(len(samples)))
    # the stream holds them too
    js = nc.jetstream()
    last = await js.get_last_msg(METRICS.name, subjects.metrics(node))
    assert decode(last.data, MetricsV1).data.seq == samples[-1].seq
    # graceful stop: nothing more after serve() returned
    await asyncio.sleep(0.3)
    assert len(run.metrics) == count_at_stop


class SlowSampler(PsutilSampler):
    """The real sampler, made slower than the interval to force overruns."""

    def read(self) -> HostReading:
        import time

        time.sleep(0.12)
        return super().read()


async def test_overruns_skip_ticks_without_drift(nc: NatsClient, nats_url: str, unique: str) -> None:
    node = f"hw-{unique}"
    settings = HardwareAgentSettings(nats_url=nats_url, port=free_port(), node_id=node, probe_torch=False,
                                     interval_s=0.05)
    agent = HardwareAgent(settings, sampler=SlowSampler())
    got: list[MetricsV1] = []

    async def on_metrics(msg: Any) -> None:
        got.append(decode(msg.data, MetricsV1).data)

    sub = await nc.subscribe(subjects.metrics(node), cb=on_metrics)
    await nc.flush()
    stop = asyncio.Event()
    task = asyncio.create_task(serve(agent, settings, stop=stop))
    try:
        await wait_for(lambda: len(got) >= 6, 30)
    finally:
        stop.set()
        await asyncio.wait_for(task, 20)
        await sub.unsubscribe()
    # each 0.12 s sample misses at least the next two 0.05 s ticks, and they are counted
    assert agent.overruns >= 2 * (agent.published - 1)
    prom = REGISTRY.get_sample_value("venom_hw_sample_overruns_total") or 0.0
    assert prom >= agent.overruns
    # samples land on the 0.05 s grid: no two closer than the work takes, none of the skipped ticks fired
    spacing = [(b.sampled_at - a.sampled_at).total_seconds() for a, b in pairwise(got)]
    assert all(s >= 0.1 for s in spacing), spacing


def write_columns_csv(path: Path, rows: int) -> list[tuple[str, float, float]]:
    lines = ["timestamp,cpu_percent,mem_percent,queue_depth"]
    data = []
    for i in range(rows):
        ts = f"2024-05-01T10:{i // 60:02d}:{i % 60:02d}Z"
        cpu, mem = (i * 37) % 100 + 0.5, 20 + (i * 13) % 60
        data.append((ts, cpu, mem))
        lines.append(f"{ts},{cpu},{mem},{i % 7}")
    lines.insert(11, "2024-05-01T10:00:09Z,oops,1,1")  # a bad row (duplicate time, non-numeric), skipped by policy
    path.write_text("\n".join(lines) + "\n")
    return data


class ThresholdDetector:
    """A fake of the project's detector seam: one anomaly when cpu_percent is above 90."""

    name = "threshold-test"

    def update(self, series: dict[str, float]) -> int:
        return int(series.get("cpu_percent", 0.0) > 90.0)


async def replay_once(nc: NatsClient, nats_url: str, node: str, path: Path, **kw: Any) -> list[MetricsV1]:
    async with running_agent(nc, nats_url, node, interval_s=0.01, replay_file=path, **kw) as run:
        await asyncio.wait_for(run.agent.replay_finished.wait(), 60)
        assert run.agent.rows_played == run.agent.replay.report.rows_kept  # type: ignore[union-attr]
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{run.settings.port}", timeout=5) as http:
            status = (await http.get("/replay")).json()
        assert status["finished"] is True and status["rows_played"] == run.agent.rows_played
        await wait_for(lambda: len(run.metrics) == run.agent.rows_played)
    return run.metrics


async def test_replay_publishes_exactly_the_rows_deterministically(
    nc: NatsClient, nats_url: str, unique: str, tmp_path: Path
) -> None:
    path = tmp_path / "series.csv"
    data = write_columns_csv(path, 40)
    first = await replay_once(nc, nats_url, f"r1-{unique}", path, replay_bad_rows="skip",
                              detector=ThresholdDetector())
    second = await replay_once(nc, nats_url, f"r2-{unique}", path, replay_bad_rows="skip",
                               detector=ThresholdDetector())
    assert len(first) == len(data) == 40
    assert [m.seq for m in first] == list(range(40))
    for m, (ts, cpu, mem) in zip(first, data, strict=True):
        assert m.source == "replay" and m.sampled_at.isoformat().replace("+00:00", "Z") == ts
        assert m.cpu_percent == cpu and m.mem_percent == mem and m.mem_total_bytes is None
        assert m.theta.weights == pytest.approx({"h_cpu": 0.5, "h_mem": 0.5})
        assert m.anoms == int(cpu > 90) and m.detector == "threshold-test"
    assert 12 not in [m.replay_line for m in first]  # the bad line was skipped, not played

    def comparable(ms: list[MetricsV1]) -> list[dict[str, Any]]:
        return [m.model_dump(exclude={"node"}) for m in ms]

    assert comparable(first) == comparable(second)
    # and JetStream stored exactly the rows
    js = nc.jetstream()
    info = await js.stream_info(METRICS.name, subjects_filter=subjects.metrics(f"r1-{unique}"))
    assert info.state.subjects == {subjects.metrics(f"r1-{unique}"): 40}


@pytest.mark.skipif(not NAB_FILE.is_file(), reason="NAB data not present")
async def test_replay_of_a_real_nab_series(nc: NatsClient, nats_url: str, unique: str, tmp_path: Path) -> None:
    lines = NAB_FILE.read_text().splitlines()[:151]  # header + 150 recorded rows (read from the shared data)
    path = tmp_path / NAB_FILE.name
    path.write_text("\n".join(lines) + "\n")
    # this recording has a 600 s hole after line 39: the default policy refuses it, naming the line ...
    with pytest.raises(ReplayFileError, match=r":40: gap: 600s since line 39"):
        await replay_once(nc, nats_url, f"nab0-{unique}", path, replay_metric="cpu_percent")
    # ... "skip" plays over it (counted), inventing no row
    got = await replay_once(nc, nats_url, f"nab-{unique}", path, replay_metric="cpu_percent",
                            replay_bad_rows="skip")
    values = [float(line.split(",")[1]) for line in lines[1:]]
    assert [m.series["cpu_percent"] for m in got] == values
    assert [m.theta.h_cpu for m in got] == pytest.approx([1 - v / 100 for v in values])
    assert all(m.theta.theta == m.theta.h_cpu for m in got)


async def test_replay_loop_keeps_time_moving_forward(
    nc: NatsClient, nats_url: str, unique: str, tmp_path: Path
) -> None:
    path = tmp_path / "short.csv"
    path.write_text("timestamp,cpu_percent\n2024-01-01 00:00:00,10\n2024-01-01 00:00:05,20\n2024-01-01 00:00:10,30\n")
    async with running_agent(nc, nats_url, f"loop-{unique}", interval_s=0.01, replay_file=path,
                             replay_loop=True) as run:
        await wait_for(lambda: len(run.metrics) >= 7)
    got = run.metrics[:7]
    assert [m.seq for m in got] == list(range(7))
    assert [m.cpu_percent for m in got] == [10, 20, 30, 10, 20, 30, 10]
    times = [m.sampled_at for m in got]
    assert times == sorted(times) and (times[3] - times[0]).total_seconds() == 15.0  # span 10 s + one 5 s step


async def test_bad_replay_file_stops_the_agent_naming_the_line(nats_url: str, unique: str, tmp_path: Path) -> None:
    path = tmp_path / "bad.csv"
    path.write_text("timestamp,value\n2014-01-01 00:00:00,1\n2014-01-01 00:05:00,\n")
    settings = HardwareAgentSettings(nats_url=nats_url, port=free_port(), node_id=f"bad-{unique}",
                                     probe_torch=False, replay_file=path)
    with pytest.raises(ReplayFileError) as err:
        await asyncio.wait_for(serve(HardwareAgent(settings), settings, stop=asyncio.Event()), 20)
    assert err.value.line == 3 and err.value.reason == "missing_value"


async def test_consumers_can_read_the_stream_back(nc: NatsClient, nats_url: str, unique: str) -> None:
    node = f"hw-{unique}"
    async with running_agent(nc, nats_url, node, interval_s=0.02) as run:
        await wait_for(lambda: len(run.metrics) >= 5)
    js = nc.jetstream()
    sub = await js.subscribe(subjects.metrics(node), ordered_consumer=True, deliver_policy=js_api.DeliverPolicy.ALL)
    stored = []
    for _ in range(len(run.metrics)):
        msg = await sub.next_msg(timeout=20)
        stored.append(decode(msg.data, MetricsV1).data)
    await sub.unsubscribe()
    assert stored == run.metrics


async def test_default_detector_counts_anomalies_in_a_replay(nc: NatsClient, nats_url: str, tmp_path: Path) -> None:
    """F-ML-3 wired: the agent runs the tail-surprise detector by default; a spike after a quiet stretch
    raises anoms, sized to the file's own 5-minute step."""
    rows = ["timestamp,value"]
    start = datetime(2024, 1, 1)
    values = [10.0 + (i % 7) * 0.1 for i in range(300)] + [95.0] * 5 + [10.0] * 5
    for i, v in enumerate(values):
        rows.append(f"{(start + timedelta(minutes=5 * i)).strftime('%Y-%m-%d %H:%M:%S')},{v}")
    path = tmp_path / "spike.csv"
    path.write_text("\n".join(rows) + "\n")
    settings = HardwareAgentSettings(nats_url=nats_url, node_id=f"det{os.getpid()}", port=free_port(),
                                     interval_s=0.01, replay_file=path)
    agent = HardwareAgent(settings)
    got: list[MetricsV1] = []

    async def on_metrics(msg: Any) -> None:
        got.append(decode(msg.data, MetricsV1).data)

    sub = await nc.subscribe(subjects.metrics(settings.node_id), cb=on_metrics)
    await nc.flush()
    stop = asyncio.Event()
    task = asyncio.create_task(serve(agent, settings, stop=stop))
    try:
        await wait_for(lambda: len(got) >= len(values), 60)
    finally:
        stop.set()
        await task
        await sub.unsubscribe()
    assert all(m.detector == "tail-surprise" for m in got)
    quiet = max(m.anoms for m in got[200:300])
    assert max(m.anoms for m in got[300:306]) > quiet
