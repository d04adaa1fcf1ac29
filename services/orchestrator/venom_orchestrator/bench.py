"""``venom bench dispatch``: the orchestrator end to end, and the dispatch policies on a simulated fleet.

Throughput: the orchestrator runs as its own process (``python -m venom_orchestrator``), the task
workers in another (one ``TaskWorker`` per simulated peer), the HTTP client in a third
(:mod:`venom_orchestrator.loadgen`: keep-alive connections, ``concurrency`` requests in flight).
Each task is a ``POST /tasks?wait=true`` of a small ``hash`` task: REST → dispatch → core NATS
request to the peer's worker → run → reply (and the result recorded on JetStream) → HTTP answer.
The raw baseline, from the same run, sends the same task event straight to a worker with nats-py
request/reply (no REST, no orchestrator), at the same concurrency, from this process.
``cpu_ms_per_task`` says where the CPU went: each process's CPU time in the phase ÷ tasks;
``machine_cpu_ms_per_task`` whether the machine was quiet meanwhile: all cores' busy time, what of it
processes outside the benchmark used (``other_processes``), and time the hypervisor stole.

Quality: :func:`venom_orchestrator.domain.simulation.compare_policies` — the policy objects and the
peer table the service uses — on a heterogeneous fleet at 80 % load with load reports 1 s stale.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import secrets
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx

from venom_common.cpu import machine_cpu_s, process_cpu_s
from venom_common.embedded import free_port, stop_processes
from venom_orchestrator.domain.simulation import FleetConfig, compare_policies, percentile


def _stats(latencies_s: list[float]) -> dict[str, float]:
    ordered = sorted(x * 1000.0 for x in latencies_s)
    return {"p50": round(percentile(ordered, 50), 3), "p99": round(percentile(ordered, 99), 3)}


async def _wait_ready(url: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    async with httpx.AsyncClient(timeout=1) as client:
        while time.monotonic() < deadline:
            with contextlib.suppress(httpx.TransportError):
                if (await client.get(f"{url}/readyz")).status_code == 200:
                    return
            await asyncio.sleep(0.1)
    raise RuntimeError(f"{url} did not become ready in {timeout:.0f} s")


async def _raw_baseline(nats_url: str, nodes: list[str], tasks: int, concurrency: int) -> dict[str, Any]:
    from venom_common.bus import Bus
    from venom_common.events import make_event, subjects
    from venom_common.events.payloads import TaskResultV1, TaskV1
    from venom_common.settings import VenomSettings

    bus = await Bus.connect(VenomSettings(nats_url=nats_url, node_id="bench"), "bench")
    slots = asyncio.Semaphore(concurrency)
    lat: list[float] = []
    failures = 0

    async def one(i: int) -> None:
        nonlocal failures
        node = nodes[i % len(nodes)]
        task = TaskV1(task_id=f"raw-{i}", node=node, task_type="hash", payload={"data": f"venom-{i}"})
        async with slots:
            start = time.perf_counter()
            reply = await bus.request(subjects.task(node), make_event(task, source="/venom/bench/bench"), timeout=10,
                                      expected=TaskResultV1)
            lat.append(time.perf_counter() - start)
            failures += reply.data.status != "succeeded"

    try:
        await asyncio.gather(*(one(i) for i in range(min(200, tasks))))  # warm-up
        lat.clear()
        start = time.perf_counter()
        await asyncio.gather(*(one(i) for i in range(tasks)))
        wall = time.perf_counter() - start
    finally:
        await bus.drain()
    s = _stats(lat)
    return {"tasks_per_s": round(tasks / wall, 1), "task_ms_p50": s["p50"], "task_ms_p99": s["p99"],
            "failed": failures}


async def _through_rest(url: str, token: str, tasks: int, concurrency: int) -> dict[str, Any]:
    """The REST figures, measured by :mod:`venom_orchestrator.loadgen` in its own process."""
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "venom_orchestrator.loadgen", url, token, str(tasks), str(concurrency),
        str(min(200, tasks)), stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    out, err = await proc.communicate()
    if proc.returncode != 0:
        raise RuntimeError(f"the load generator failed ({proc.returncode}): {err.decode(errors='replace')[-2000:]}")
    result: dict[str, Any] = json.loads(out)
    return result


def _cpu_seconds(pids: dict[str, int]) -> dict[str, float]:
    return {name: cpu for name, pid in pids.items() if (cpu := process_cpu_s(pid)) is not None}


def _cpu_ms_per_task(before: dict[str, float], after: dict[str, float], tasks: int) -> dict[str, float]:
    """CPU time each process spent in a phase, per task: where the machine's two cores went."""
    return {name: round(1000.0 * (after[name] - before[name]) / tasks, 4) for name in before if name in after}


def _children_cpu() -> float:
    """CPU seconds of this process's children that have ended (the load generator, once it exits)."""
    import resource

    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


def _sim_table(cfg: FleetConfig, view: str) -> dict[str, Any]:
    runs = compare_policies(cfg, view)  # type: ignore[arg-type]
    out: dict[str, Any] = {name: {"mean_ms": round(r.mean_ms, 2), "p50_ms": round(r.p50_ms, 2),
                                  "p99_ms": round(r.p99_ms, 2), "max_ms": round(r.max_ms, 2), "tasks": r.tasks,
                                  "share_by_speed": r.share_by_speed} for name, r in runs.items()}
    p99 = {name: r.p99_ms for name, r in runs.items()}
    out["p2c_delay_p99_vs_jsq"] = round(p99["p2c_delay"] / p99["jsq_oracle"], 3)
    out["p2c_delay_p99_vs_round_robin"] = round(p99["p2c_delay"] / p99["round_robin"], 4)
    out["goals_met"] = {"p99_le_1.2x_jsq": p99["p2c_delay"] <= 1.2 * p99["jsq_oracle"],
                        "p99_le_0.5x_round_robin": p99["p2c_delay"] <= 0.5 * p99["round_robin"]}
    return out


def _sim(cfg: FleetConfig) -> dict[str, Any]:
    """``policies``: one orchestrator, the service's view (the goal); ``policies_4_dispatchers``: four
    orchestrators sharing the fleet, each seeing the others' tasks only through the stale CPU figure;
    ``policies_report_only``: only the 1 s old task counts, nothing fresh (simulation.py)."""
    out: dict[str, Any] = {"config": {**asdict(cfg), "capacity_per_s": cfg.capacity_per_s,
                                      "arrival_per_s": cfg.arrival_per_s}}
    out["policies"] = _sim_table(cfg, "service")
    out["policies_4_dispatchers"] = _sim_table(replace(cfg, dispatchers=4), "service")
    out["policies_report_only"] = _sim_table(cfg, "report")
    return out


async def bench_dispatch(tasks: int, concurrency: int, peers: int, *, sim: bool = True,
                         sim_duration_s: float = 60.0, keep: bool = False) -> dict[str, Any]:
    from venom_common.bus import Bus
    from venom_common.embedded import EmbeddedNats
    from venom_common.settings import VenomSettings
    from venom_orchestrator.harness import announce

    result: dict[str, Any] = {"date": datetime.now(UTC).isoformat(timespec="seconds"), "tasks": tasks,
                              "concurrency": concurrency, "peers": peers, "task_type": "hash",
                              "cpus": os.cpu_count()}
    work = Path(tempfile.mkdtemp(prefix="venom-bench-dispatch-"))
    nats = None
    procs: list[subprocess.Popen[bytes]] = []
    nats_url = os.environ.get("VENOM_NATS_URL")
    try:
        if not nats_url:
            nats = EmbeddedNats(work / "nats").start()
            nats_url = nats.url
        nodes = [f"bench-peer-{i}" for i in range(peers)]
        env = {**os.environ, "VENOM_NATS_URL": nats_url, "VENOM_LOG_LEVEL": "WARNING"}
        with open(work / "workers.log", "ab") as log:
            procs.append(subprocess.Popen([sys.executable, "-m", "venom_orchestrator.bench", *nodes], env=env,
                                          stdout=log, stderr=subprocess.STDOUT, start_new_session=True))
        port, token = free_port(), secrets.token_hex(16)
        orch_env = {**env, "VENOM_PORT": str(port), "VENOM_API_TOKEN": token, "VENOM_NODE_ID": "bench-orch",
                    "VENOM_SELF_PEER": "false", "VENOM_GRPC_PORT": "0", "VENOM_PEER_CONSUMER": f"bench-{port}"}
        with open(work / "orchestrator.log", "ab") as log:
            procs.append(subprocess.Popen([sys.executable, "-m", "venom_orchestrator"], env=orch_env, stdout=log,
                                          stderr=subprocess.STDOUT, start_new_session=True))
        url = f"http://127.0.0.1:{port}"
        await _wait_ready(url)
        bus = await Bus.connect(VenomSettings(nats_url=nats_url, node_id="bench"), "bench")
        try:
            for node in nodes:
                await announce(bus, node)
        finally:
            await bus.drain()
        deadline = time.monotonic() + 30
        async with httpx.AsyncClient(base_url=url, timeout=5) as http:
            while True:
                healthy = {p["node"] for p in (await http.get("/peers")).json() if p["healthy"]}
                if set(nodes) <= healthy:
                    break
                if time.monotonic() > deadline:
                    raise RuntimeError(f"workers not healthy in the orchestrator: {sorted(healthy)}")
                await asyncio.sleep(0.1)
        pids = {"orchestrator": procs[1].pid, "workers": procs[0].pid, "bench_process": os.getpid()}
        if nats is not None and nats.proc is not None:
            pids["nats_server"] = nats.proc.pid
        before = _cpu_seconds(pids)
        result["raw_nats_request_reply"] = await _raw_baseline(nats_url, nodes, tasks, concurrency)
        middle = _cpu_seconds(pids)
        result["raw_nats_request_reply"]["cpu_ms_per_task"] = _cpu_ms_per_task(before, middle, tasks + min(200, tasks))
        machine_before, children_before = machine_cpu_s(), _children_cpu()
        rest = await _through_rest(url, token, tasks, concurrency)
        machine_after, children_after = machine_cpu_s(), _children_cpu()
        after = _cpu_seconds(pids)
        counted = tasks + min(200, tasks)
        cpu = _cpu_ms_per_task(middle, after, counted)
        # ours: the benchmark's processes, the load generator whole (start-up and warm-up included)
        ours = sum(cpu.values()) + 1000.0 * (children_after - children_before) / counted
        cpu.pop("bench_process", None)
        cpu["load_generator"] = rest["client_cpu_ms_per_task"]
        result["cpu_ms_per_task"] = cpu
        # Whether the machine was quiet: CPU that processes outside the benchmark used meanwhile.
        result["machine_cpu_ms_per_task"] = {
            "busy": round(1000.0 * (machine_after[0] - machine_before[0]) / counted, 4),
            "other_processes": round(1000.0 * (machine_after[0] - machine_before[0]) / counted - ours, 4),
            "stolen": round(1000.0 * (machine_after[1] - machine_before[1]) / counted, 4)}
        result.update({k: rest[k] for k in ("tasks_per_s", "task_ms_p50", "task_ms_p99")})
        result["task_ms_max"] = rest["task_ms_max"]
        result["statuses"], result["tasks_by_peer"] = rest["statuses"], rest["tasks_by_peer"]
        result["rest_vs_raw_throughput"] = round(rest["tasks_per_s"] / result["raw_nats_request_reply"]["tasks_per_s"], 3)
        result["goals_met"] = {"tasks_per_s_ge_1000": rest["tasks_per_s"] >= 1000, "p99_le_20ms": rest["task_ms_p99"] <= 20}
    finally:
        stop_processes(procs, grace_s=15)
        if nats is not None:
            nats.stop()
        if keep:
            result["work_dir"] = str(work)
    if sim:
        result["sim"] = await asyncio.to_thread(_sim, FleetConfig(duration_s=sim_duration_s))
    return result


async def _serve_workers(nodes: list[str]) -> None:
    """``python -m venom_orchestrator.bench NODE…``: one task worker per node until SIGTERM."""
    import signal

    from venom_orchestrator.harness import start_worker

    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    workers = [await start_worker(os.environ["VENOM_NATS_URL"], node) for node in nodes]
    await stop.wait()
    for w in workers:
        await w.stop()


if __name__ == "__main__":
    from venom_common.runner import event_loop_factory
    from venom_common.settings import VenomSettings

    # The same event loop a hardware agent's task worker runs on (VENOM_UVLOOP).
    with asyncio.Runner(loop_factory=event_loop_factory(VenomSettings())) as runner:
        runner.run(_serve_workers(sys.argv[1:]))
