"""``venom bench beats``: the beat pipeline end to end, every service its own process.

What it starts (in a temporary directory unless VENOM_NATS_URL / VENOM_DATABASE_URL are set):
nats-server with JetStream, PostgreSQL with ``track_commit_timestamp = on`` (so each ledger row's
commit time is known exactly), the ledger, the four organs, and one arbiter per node beating at
``rate`` beats/s for ``duration`` seconds. Then it reads back:

* ``decision_ms``: pulse start → the decision event received by a subscriber in this process;
* ``committed_ms``: pulse start → the commit of the last of the beat's 7 ledger entries
  (``pg_xact_commit_timestamp``);
* ``beats_lost``: beats whose pulse JetStream stored but which are not wholly (7 entries) in the
  ledger once it caught up; ``achieved_rate`` against ``target_rate`` and ``ticks_missed_max_per_node``
  (the arbiter's vitals) show the beats it could not start in time;
* raw baselines measured in the same run on the same servers: a nats-py request/reply round trip
  between two processes' worth of connections, and pipelined JetStream publishes (7 per beat);
* ``floor`` (after the services stopped, for ``floor_duration`` seconds; 0 skips it): the same processes
  exchanging the same messages per beat with no work at all (:mod:`venom_cli.beat_floor`), as fast as they
  go: the beats/s and CPU per beat that the messages alone take on this machine; ``achieved_vs_floor``.
"""

from __future__ import annotations

import asyncio
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx

from venom_common.embedded import EmbeddedNats, EmbeddedPostgres, free_port, stop_processes


def _pct(values: list[float], q: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    k = min(len(ordered) - 1, max(0, int(round(q / 100 * (len(ordered) - 1)))))
    return round(ordered[k], 3)


def spawn_service(module: str, env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    with open(log, "ab") as out:
        return subprocess.Popen([sys.executable, "-m", module], env=env, stdout=out, stderr=subprocess.STDOUT,
                                start_new_session=True)


async def wait_ready(port: int, timeout: float = 90) -> None:
    deadline = time.monotonic() + timeout
    async with httpx.AsyncClient(timeout=1) as client:
        while time.monotonic() < deadline:
            try:
                if (await client.get(f"http://127.0.0.1:{port}/readyz")).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            await asyncio.sleep(0.1)
    raise RuntimeError(f"a service on port {port} did not become ready in {timeout:.0f}s")


async def _raw_baselines(nats_url: str, samples: int = 2000) -> dict[str, float | None]:
    """nats-py alone on the same server: request/reply latency and pipelined JetStream publish rate."""
    import nats

    responder = await nats.connect(nats_url)
    requester = await nats.connect(nats_url)

    async def echo(msg: Any) -> None:
        await msg.respond(msg.data)

    await responder.subscribe("bench.raw.echo", cb=echo)
    await responder.flush()
    payload = b"x" * 600
    rtts = []
    refused = 0  # "no responders" answers (seen once in CI on a loaded machine): retried, not timed, reported
    while len(rtts) < samples:
        t = time.perf_counter()
        try:
            await requester.request("bench.raw.echo", payload, timeout=5)
        except nats.errors.NoRespondersError:
            refused += 1
            if refused > 50:
                raise
            await asyncio.sleep(0.01)
            continue
        rtts.append((time.perf_counter() - t) * 1000)
    js = requester.jetstream()
    await js.add_stream(name="BENCH_RAW", subjects=["bench.raw.js"], storage="file")
    n = 7 * 1000
    t = time.perf_counter()
    futures = [await js.publish_async("bench.raw.js", payload) for _ in range(n)]
    await asyncio.gather(*futures)
    js_rate = n / (time.perf_counter() - t)
    await js.delete_stream("BENCH_RAW")
    await responder.drain()
    await requester.drain()
    return {"raw_request_reply_ms_p50": _pct(rtts, 50), "raw_request_reply_ms_p99": _pct(rtts, 99),
            "raw_request_reply_no_responders": refused, "raw_js_publish_per_s": round(js_rate)}


async def bench_beats(rate: float, duration: float, nodes: int = 1, *, keep: bool = False,
                      pipeline_depth: int = 8, floor_duration: float = 0.0) -> dict[str, Any]:
    if rate <= 0 or duration <= 0 or nodes < 1 or floor_duration < 0:
        raise ValueError("rate and duration must be > 0, nodes ≥ 1 and floor_duration ≥ 0")
    work = Path(tempfile.mkdtemp(prefix="venom-bench-beats-"))
    nats_server = pg = None
    nats_url = os.environ.get("VENOM_NATS_URL")
    db_url = os.environ.get("VENOM_DATABASE_URL")
    if not nats_url:
        nats_server = EmbeddedNats(work / "nats").start()
        nats_url = nats_server.url
    if not db_url:
        pg = EmbeddedPostgres(work / "pg", settings={"track_commit_timestamp": "on"}).start()
        db_url = pg.url
    chain = f"bench{int(time.time())}"
    base = {**os.environ, "VENOM_NATS_URL": nats_url, "VENOM_DATABASE_URL": db_url, "VENOM_LOG_JSON": "false",
            "VENOM_LOG_LEVEL": "WARNING", "VENOM_MODEL_DIR": str(work / "models")}
    procs: list[subprocess.Popen[bytes]] = []
    received: dict[tuple[str, int], float] = {}
    floor: dict[str, Any] | None = None
    try:
        baselines = await _raw_baselines(nats_url)
        ports = {"ledger": free_port()}
        procs.append(spawn_service("venom_ledger", {**base, "VENOM_PORT": str(ports["ledger"]), "VENOM_LEDGER_CHAIN": chain,
                                             "VENOM_LEDGER_STATE_DIR": str(work / "ledger")}, work / "ledger.log"))
        for organ in ("regen", "balance", "entropy", "optimize"):
            ports[organ] = free_port()
            procs.append(spawn_service("venom_organs", {**base, "VENOM_ORGAN": organ, "VENOM_PORT": str(ports[organ])},
                                work / f"{organ}.log"))
        for port in ports.values():
            await wait_ready(port)

        import nats

        from venom_common.events import decode

        listener = await nats.connect(nats_url)

        async def on_decision(msg: Any) -> None:
            now = time.time()
            event = decode(msg.data)
            received[(event.data.node, event.data.beat)] = (now - event.time.timestamp()) * 1000

        await listener.subscribe("venom.decision.*", cb=on_decision)
        await listener.flush()
        node_ids = [f"bench-{i}" for i in range(nodes)]
        arbiters = []
        for node in node_ids:
            port = free_port()
            arbiters.append(spawn_service("venom_arbiter", {**base, "VENOM_NODE_ID": node, "VENOM_PORT": str(port),
                                                     "VENOM_PERIOD_S": str(1.0 / rate),
                                                     "VENOM_PIPELINE_DEPTH": str(pipeline_depth)},
                                            work / f"arbiter-{node}.log"))
            ports[f"arbiter-{node}"] = port
        procs.extend(arbiters)
        for node in node_ids:
            await wait_ready(ports[f"arbiter-{node}"])
        from venom_common.cpu import CpuMeter

        meter = CpuMeter({"arbiter": [p.pid for p in arbiters], "organs": [p.pid for p in procs[1:5]],
                          "ledger": [procs[0].pid], "nats-server": [nats_server.pid if nats_server else None],
                          "postgres": [pg.pid if pg else None]}, trees={"postgres"})
        meter.start()
        await asyncio.sleep(duration)
        cpu_used = meter.used_s()
        del cpu_used["machine"]
        # Stop the arbiters (each finishes its in-flight beat), then count the pulses JetStream stored:
        # every one of them must end up wholly in the ledger.
        stop_processes(arbiters, grace_s=30)
        from venom_common.streams import EVENTS

        js = listener.jetstream()
        pulses_stored = 0
        for node in node_ids:
            info = await js.stream_info(EVENTS.name, subjects_filter=f"venom.beat.{node}")
            pulses_stored += sum((info.state.subjects or {}).values())
        import asyncpg

        conn = await asyncpg.connect(db_url.replace("postgresql+asyncpg://", "postgresql://"))
        want_entries = pulses_stored * 7
        last_count, stable_since = -1, time.monotonic()
        while time.monotonic() < stable_since + 30:
            count = await conn.fetchval("select count(*) from ledger_entries where chain = $1 and idx > 0", chain)
            if count >= want_entries:
                break
            if count != last_count:
                last_count, stable_since = count, time.monotonic()
            await asyncio.sleep(0.2)
        rows = await conn.fetch(
            "select data, pg_xact_commit_timestamp(xmin) as committed from ledger_entries "
            "where chain = $1 and idx > 0", chain)
        await conn.close()
        await listener.drain()
        if floor_duration > 0:  # the raw baseline: the same messages with no work, the services stopped
            from venom_cli.beat_floor import run_floor

            stop_processes(procs, grace_s=30)
            try:
                floor = await asyncio.to_thread(run_floor, nats_url, floor_duration, pipeline_depth,
                                                server_pid=nats_server.pid if nats_server else None)
            except Exception as exc:  # noqa: BLE001 - the pipeline's figures stand; say why the floor is missing
                floor = {"error": f"{type(exc).__name__}: {exc}"}
    finally:
        stop_processes(procs, grace_s=30)
        if pg is not None:
            pg.stop()
        if nats_server is not None:
            nats_server.stop()
    per_beat: dict[tuple[str, int], dict[str, Any]] = {}
    for row in rows:
        event = json.loads(row["data"])
        data = event.get("data", {})
        key = (data.get("node"), data.get("beat"))
        slot = per_beat.setdefault(key, {"count": 0, "committed": None, "pulse": None})
        slot["count"] += 1
        committed = row["committed"].timestamp() if row["committed"] else None
        if committed is not None:
            slot["committed"] = max(slot["committed"] or 0.0, committed)
        if event.get("type") == "venom.beat.v1":
            slot["pulse"] = datetime.fromisoformat(data["started_at"]).timestamp()
    complete = {k: v for k, v in per_beat.items() if v["count"] == 7 and v["pulse"] is not None}
    committed_ms = [(v["committed"] - v["pulse"]) * 1000 for v in complete.values() if v["committed"]]
    pulses = sorted(v["pulse"] for v in complete.values())
    span_s = (pulses[-1] - pulses[0]) if len(pulses) > 1 else duration
    decision_ms = list(received.values())
    missed = 0
    for row in rows:
        event = json.loads(row["data"])
        if event.get("type") == "venom.beat.v1":
            missed = max(missed, int(event["data"]["vitals"]["missed_deadlines"]))
    result = {
        "target_rate": rate * nodes,
        "nodes": nodes,
        "pipeline_depth": pipeline_depth,
        "duration_s": duration,
        "achieved_rate": round(len(complete) / span_s, 1) if span_s > 0 else None,
        "beats_stored": pulses_stored,
        "beats_ledgered": len(complete),
        "beats_lost": pulses_stored - len(complete),
        "ticks_missed_max_per_node": missed,
        "decision_ms_p50": _pct(decision_ms, 50),
        "decision_ms_p99": _pct(decision_ms, 99),
        "committed_ms_p50": _pct(committed_ms, 50),
        "committed_ms_p99": _pct(committed_ms, 99),
        "committed_ms_mean": round(statistics.fmean(committed_ms), 3) if committed_ms else None,
        "ledger_entries": len(rows),
        # CPU time each part spent during the beating window, per beat completed in it (where the time goes).
        "cpu_ms_per_beat": {g: round(v * 1000 / max(len(complete), 1), 3) for g, v in cpu_used.items()},
        "cpu_busy_fraction_of_machine": round(sum(cpu_used.values()) / (duration * (os.cpu_count() or 1)), 3),
        **baselines,
        "cpu_count": os.cpu_count(),
    }
    if floor is not None:
        result["floor"] = floor
        achieved = result["achieved_rate"]
        floor_rate = floor.get("beats_per_s")
        result["achieved_vs_floor"] = round(achieved / floor_rate, 3) if achieved and floor_rate else None
    if not keep:
        import shutil

        shutil.rmtree(work, ignore_errors=True)
    else:
        result["work_dir"] = str(work)
    return result
