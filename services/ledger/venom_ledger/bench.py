"""``venom bench ledger``: the ledger's throughput and proof latency, each next to its raw baseline.

Figures (all measured in the same run, on the same rows):

* ``append_per_s`` — events already stored in JetStream → committed in PostgreSQL by the ledger
  service (durable consumer, batched transactions, Merkle nodes); timed from the moment the
  service is the writer and consuming until the chain holds every event. With ``--direct`` the
  events are appended through the same store code (``ChainWriter``) without NATS instead.
* ``raw_insert_per_s`` — the same entry rows inserted with plain batched asyncpg ``executemany``
  into a scratch table with the same columns, keys and constraints (no Merkle nodes). The goal
  ratio ``append_vs_raw_insert`` uses this baseline. It is measured twice, right before the append
  (``raw_insert_per_s_before``: the same events linked in memory, as the ledger would link them) and
  right after it (``raw_insert_per_s_after``: the rows the ledger stored), and is the mean of the two:
  on a shared VM the rate swings by a third within minutes, and bracketing the append follows
  the machine's speed while the append runs rather than at one moment after it.
* ``raw_copy_per_s`` — the same rows written the way the ledger writes them, with asyncpg ``COPY``
  (``copy_records_to_table``), one transaction per batch: shown for transparency, since the ledger
  itself uses COPY (``append_vs_raw_copy``).
* ``verify_per_s`` — ``Ledger.verify_chain()`` streaming the chain from PostgreSQL (hashes,
  links, Merkle roots at checkpoints).
* ``raw_hash_per_s`` — canonical JSON of each entry's four fields + SHA3-256, in memory.
* ``proof_ms_p50`` / ``proof_ms_p99`` — an inclusion proof of a random entry at the full tree
  size, as the read API serves it: with the proof cache the service has
  (``VENOM_LEDGER_PROOF_CACHE_ENTRIES``) preloaded as it does at start (``proof_nodes_cached``,
  ``proof_leaves_cached``, ``proof_cache_preload_s``, and ``proof_cache_mb``, what they take as
  ``sys.getsizeof`` counts it). ``proof_ms_p50_uncached`` /
  ``proof_ms_p99_uncached``: the same proofs with no cache, each read from PostgreSQL (one query),
  the tables analysed first, as a running ledger's are.
* ``bus_consume_noop_per_s`` (service path) — the same events through the same ``bus.consume``
  path into a handler that does nothing: the ceiling the bus itself sets on ``append_per_s``.
* ``append_cpu_us_per_event`` (service path) — CPU each process spent per appended event during the
  timed append: ``service`` (the ledger service's process; the bench's own waiting loop shares it),
  ``encoder`` (its encoder workers), ``nats`` and ``postgres`` (the embedded servers; absent with
  external ones), and ``machine`` (every process on the machine, stolen time excluded, so the
  difference to the sum says whether something else was running).
* ``append_busy_cores`` (service path) — the machine's busy CPU seconds per second of the timed append:
  how many of its cores the append kept busy. ``raw_insert_cpu_us_per_row`` and
  ``raw_insert_busy_cores`` — the same two figures for the raw inserts (both runs together):
  ``client`` (this process, asyncpg), ``postgres`` (absent with an external one) and ``machine``.
  Together they say whether the two rates differ by the work per event or by how much of the
  machine each phase can use.
* ``encode_workers`` — the service's encoder processes (``VENOM_LEDGER_ENCODE_WORKERS``): ``decode`` and
  ``encode`` below run there, the rest in the service's process.
* ``cpu_us_per_event`` — what the append path costs per event in this process, stage by stage, timed
  on 10,000 of the same events after the run (servers idle, so lower than during the run):
  ``decode`` (the bus: JSON → validated event), ``encode`` (the event's entry data → canonical
  JSON), ``chain`` (the entry hashes), ``merkle`` (leaf and node hashes).

The raw baselines are rates measured on the first ``min(N, 100000)`` rows (``baseline_rows``).
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import platform
import random
import statistics
import tempfile
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from venom_common.canonical import canonical_dumps
from venom_common.cpu import CpuMeter
from venom_common.events import Envelope, make_event, subjects
from venom_common.events.payloads import PulseV1, Vitals


@dataclass
class BenchOptions:
    entries: int = 10_000
    batch: int = 500
    proofs: int = 1000
    direct: bool = False
    nats_url: str | None = None
    database_url: str | None = None
    keep_chain: bool = False
    #: pids of embedded servers (set by :func:`run_ledger_bench`): their CPU per event is reported
    server_pids: dict[str, int | None] = field(default_factory=dict)


def _events(n: int, node: str, first: int = 0) -> list[Envelope[Any]]:
    now = datetime.now(UTC)
    out = []
    for i in range(first, first + n):
        payload = PulseV1(node=node, beat=i, t_lambda_s=0.004211, period_s=1.0, started_at=now, theta=0.25,
                          metrics_seq=i, vitals=Vitals(beat_count=i, cycle_time_ms=4.2, avg_beat_time_ms=4.3,
                                                      min_beat_time_ms=4.0, max_beat_time_ms=5.1, missed_deadlines=0))
        out.append(make_event(payload, source=f"/venom/{node}/bench", subject=subjects.beat(node)))
    return out


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))]


def raw_hash_rate(records: list[dict[str, Any]], timestamp: str) -> float:
    """Canonical JSON of (index, timestamp, data, previous_hash) + SHA3-256, in memory."""
    previous = "0" * 64
    start = time.perf_counter()
    for i, data in enumerate(records, start=1):
        previous = hashlib.sha3_256(canonical_dumps(
            {"index": i, "timestamp": timestamp, "data": data, "previous_hash": previous})).hexdigest()
    return len(records) / (time.perf_counter() - start)


async def raw_copy_rate(database_url: str, rows: list[tuple[Any, ...]], batch: int) -> float:
    """The same rows written with asyncpg COPY, as the ledger writes them, one transaction per batch."""
    import asyncpg

    table = f"bench_copy_{uuid.uuid4().hex[:8]}"
    conn = await asyncpg.connect(database_url.replace("postgresql+asyncpg://", "postgresql://"))
    try:
        await conn.execute(f"CREATE TABLE {table} (LIKE ledger_entries INCLUDING ALL)")
        columns = ("chain", "idx", "timestamp", "data", "previous_hash", "hash", "event_id")
        start = time.perf_counter()
        for i in range(0, len(rows), batch):
            async with conn.transaction():
                await conn.copy_records_to_table(table, records=rows[i:i + batch], columns=columns)
        elapsed = time.perf_counter() - start
        await conn.execute(f"DROP TABLE {table}")
    finally:
        await conn.close()
    return len(rows) / elapsed


def cpu_per_event(node: str, batch: int, n: int = 10_000) -> dict[str, float]:
    """Microseconds per event of each in-process stage of the append path (see the module docstring),
    batch by batch as the service runs them (so that no more events are alive at once than in the
    service: timing all 10,000 at once would mostly time the garbage collector)."""
    from venom_common.events import decode, encode
    from venom_ledger.domain import merkle
    from venom_ledger.domain.chain import link_entries, now_timestamp
    from venom_ledger.ledger import encode_events
    from venom_ledger.encoder import RECORDED_TYPES

    spent = {"decode": 0.0, "encode": 0.0, "chain": 0.0, "merkle": 0.0}
    frontier, previous, index = merkle.Frontier(), "0" * 64, 1
    clock = time.process_time
    for chunk in _chunks(n, node):
        raws = [encode(ev) for ev in chunk]
        del chunk
        for i in range(0, len(raws), batch):
            t0 = clock()
            events = [decode(r, RECORDED_TYPES) for r in raws[i:i + batch]]
            t1 = clock()
            records = encode_events(events)
            t2 = clock()
            entries = link_entries(index, now_timestamp(), previous, [r.data_json for r in records],
                                   [r.event_id for r in records])
            t3 = clock()
            frontier.extend([bytes.fromhex(e.hash) for e in entries], 4)
            t4 = clock()
            for key, dt in zip(spent, (t1 - t0, t2 - t1, t3 - t2, t4 - t3), strict=True):
                spent[key] += dt
            index, previous = entries[-1].index + 1, entries[-1].hash
            del events, records, entries
    return {key: round(dt / n * 1e6, 2) for key, dt in spent.items()}


def linked_rows(n: int, node: str, table_chain: str) -> list[tuple[Any, ...]]:
    """Entry rows for ``n`` new events as the ledger would link them (canonical data, hashes, links),
    built in memory: the raw baseline's rows before the ledger has stored any."""
    from venom_ledger.domain.chain import ZERO_HASH, link_entries, now_timestamp
    from venom_ledger.ledger import encode_events

    rows: list[tuple[Any, ...]] = []
    index, previous, timestamp = 1, ZERO_HASH, now_timestamp()
    for chunk in _chunks(n, node):
        records = encode_events(chunk)
        entries = link_entries(index, timestamp, previous, [r.data_json for r in records], [r.event_id for r in records])
        rows.extend((table_chain, e.index, e.timestamp, e.data_json.decode(), e.previous_hash, e.hash, e.event_id)
                    for e in entries)
        index, previous = entries[-1].index + 1, entries[-1].hash
    return rows


@dataclass
class CpuTally:
    """The CPU ``meter``'s groups used over several timed phases, with the phases' seconds and rows."""

    meter: CpuMeter
    used_s: dict[str, float] = field(default_factory=dict)
    elapsed_s: float = 0.0
    rows: int = 0

    def add(self, elapsed_s: float, rows: int) -> None:
        """Count the phase timed since ``meter.start()``."""
        for name, used in self.meter.used_s().items():
            self.used_s[name] = self.used_s.get(name, 0.0) + used
        self.elapsed_s += elapsed_s
        self.rows += rows

    def us_per_row(self) -> dict[str, float]:
        return {name: round(used / max(self.rows, 1) * 1e6, 1) for name, used in self.used_s.items()}

    def busy_cores(self) -> float:
        return round(self.used_s["machine"] / self.elapsed_s, 2)


async def raw_insert_rate(database_url: str, rows: list[tuple[Any, ...]], batch: int,
                          tally: CpuTally | None = None) -> float:
    """Plain batched asyncpg inserts of the same rows into a scratch copy of the entries table (with
    ``tally``: the CPU used during the timed inserts is added to it)."""
    import asyncpg

    table = f"bench_raw_{uuid.uuid4().hex[:8]}"
    conn = await asyncpg.connect(database_url.replace("postgresql+asyncpg://", "postgresql://"))
    try:
        await conn.execute(f"CREATE TABLE {table} (LIKE ledger_entries INCLUDING ALL)")
        sql = (f"INSERT INTO {table} (chain, idx, timestamp, data, previous_hash, hash, event_id) "
               "VALUES ($1, $2, $3, $4, $5, $6, $7)")
        if tally is not None:
            tally.meter.start()
        start = time.perf_counter()
        for i in range(0, len(rows), batch):
            async with conn.transaction():
                await conn.executemany(sql, rows[i:i + batch])
        elapsed = time.perf_counter() - start
        if tally is not None:
            tally.add(elapsed, len(rows))
        await conn.execute(f"DROP TABLE {table}")
    finally:
        await conn.close()
    return len(rows) / elapsed


CHUNK = 10_000  # events generated, published or appended at a time (memory stays flat at 1,000,000)
BASELINE_ROWS = 100_000  # raw baselines are rates measured on the first rows (all of them when N is smaller)


def _chunks(n: int, node: str) -> Any:
    for start in range(0, n, CHUNK):
        yield _events(min(CHUNK, n - start), node, first=start)


async def _append_through_service(options: BenchOptions, nats_url: str, database_url: str, chain: str,
                                  node: str, result: dict[str, Any]) -> None:
    from venom_common.bus import Bus
    from venom_common.embedded import free_port
    from venom_common.runner import serve
    from venom_common.settings import VenomSettings
    from venom_ledger.service import LedgerService
    from venom_ledger.settings import LedgerSettings
    from venom_ledger.store import EntryNotFound

    n = options.entries
    bus = await Bus.connect(VenomSettings(nats_url=nats_url, node_id="bench"), "bench")
    await bus.ensure_streams()
    start = time.perf_counter()
    last_id = ""
    for chunk in _chunks(n, node):
        for i in range(0, len(chunk), 1000):
            await asyncio.gather(*(bus.publish(subjects.beat(node), ev, timeout=30) for ev in chunk[i:i + 1000]))
        last_id = chunk[-1].id
    result["publish_per_s"] = n / (time.perf_counter() - start)

    settings = LedgerSettings(
        nats_url=nats_url, database_url=database_url, port=free_port(), node_id="bench", log_json=False,
        ledger_chain=chain, ledger_batch=options.batch, ledger_signing_key=os.urandom(32).hex(),
        ledger_standby_poll_s=0.05, ledger_checkpoint_every=max(1000, n // 10), ledger_state_dir=Path("."),
    )
    service = LedgerService(settings)
    result["encode_workers"] = settings.ledger_encode_workers
    stop = asyncio.Event()
    task = asyncio.create_task(serve(service, settings, stop=stop))
    try:
        while not service.ready():
            if task.done():
                task.result()
                raise RuntimeError("the ledger service stopped before it was ready")
            await asyncio.sleep(0.001)
        pool = service.encoder._pool
        # the pool's worker pids (a private attribute of ProcessPoolExecutor: none when it is missing)
        groups = {"service": [os.getpid()], "encoder": list(getattr(pool, "_processes", None) or {})}
        groups.update({name: [pid] for name, pid in options.server_pids.items() if pid is not None})
        meter = CpuMeter(groups, trees={"postgres"})  # postgres: the postmaster and its backends
        meter.start()
        start = time.perf_counter()
        while service.writer.head.tree_size < n + 1:  # not before this chain holds n events
            await asyncio.sleep(0.005)
        # The stream may hold other recorded events (an external NATS): the chain takes them too, so
        # the rate counts every entry appended until the bench's last event is in.
        store = service.store
        while True:
            try:
                await store.entry_by_event(last_id)
                break
            except EntryNotFound:
                await asyncio.sleep(0.005)
        elapsed = time.perf_counter() - start
        appended = service.writer.head.tree_size - 1
        used_s = meter.used_s()
        result["append_cpu_us_per_event"] = {name: round(used / max(appended, 1) * 1e6, 1)
                                             for name, used in used_s.items()}
        result["append_busy_cores"] = round(used_s["machine"] / elapsed, 2)
        result["append_per_s"] = appended / elapsed
        result["appended_entries"] = appended
    finally:
        stop.set()
        await asyncio.wait_for(task, 60)

    # The bus's own ceiling on the same events: the same durable-consumer path, a handler that does nothing.
    handled = 0
    all_handled = asyncio.Event()

    async def nothing(batch: list[Any]) -> None:
        nonlocal handled
        handled += len(batch)
        if handled >= n:
            all_handled.set()

    start = time.perf_counter()
    consumer = await bus.consume(stream="VENOM_EVENTS", durable=f"noop-{chain}", subjects=[subjects.beat(node)],
                                 batch_handler=nothing, batch=options.batch)
    await all_handled.wait()
    result["bus_consume_noop_per_s"] = n / (time.perf_counter() - start)
    await consumer.stop()
    await bus.js.delete_consumer("VENOM_EVENTS", f"noop-{chain}")
    await bus.drain()


async def _run(options: BenchOptions, nats_url: str, database_url: str) -> dict[str, Any]:
    from venom_ledger.db import make_engine, migrate
    from venom_ledger.domain.chain import now_timestamp
    from venom_ledger.ledger import Ledger, event_record
    from venom_ledger.settings import LedgerSettings
    from venom_ledger.store import ChainWriter, LedgerStore, NodeCache

    chain = f"bench{uuid.uuid4().hex[:8]}"
    node = f"bench-{chain}"
    n = options.entries
    engine = make_engine(database_url, pre_ping=False)  # as the service's: proofs are timed as the read API serves them
    await migrate(engine)
    result: dict[str, Any] = {"entries": n, "batch": options.batch, "chain": chain,
                              "path": "store" if options.direct else "service"}
    store: LedgerStore | None = None
    try:
        # --- raw insert right before the append (the mean with the one right after is the baseline) --
        # the bench's own process is the raw insert's client; postgres: the postmaster and its backends
        raw_groups: dict[str, list[int | None]] = {"client": [os.getpid()]}
        if options.server_pids.get("postgres") is not None:
            raw_groups["postgres"] = [options.server_pids["postgres"]]
        raw_cpu = CpuTally(CpuMeter(raw_groups, trees={"postgres"}))
        before_rows = linked_rows(min(n, BASELINE_ROWS), f"{node}-before", f"raw{chain}")
        result["raw_insert_per_s_before"] = await raw_insert_rate(database_url, before_rows, options.batch, raw_cpu)
        del before_rows

        # --- the ledger's own append path ----------------------------------------------------------
        if options.direct:
            writer = ChainWriter(engine, chain)
            if not await writer.try_acquire():
                raise RuntimeError(f"could not take the writer lock of {chain}")
            elapsed = 0.0
            for chunk in _chunks(n, node):
                records = [event_record(ev) for ev in chunk]
                start = time.perf_counter()
                for i in range(0, len(records), options.batch):
                    await writer.append(records[i:i + options.batch], now_timestamp())
                elapsed += time.perf_counter() - start
            result["append_per_s"] = n / elapsed
            await writer.release()
        else:
            await _append_through_service(options, nats_url, database_url, chain, node, result)

        # --- raw baselines on the same rows --------------------------------------------------------
        proof_cache = NodeCache.for_entries(LedgerSettings.model_fields["ledger_proof_cache_entries"].default)
        store = LedgerStore(engine, chain, node_cache=proof_cache)
        sample = await store.entries(1, 1 + min(n, BASELINE_ROWS))
        result["baseline_rows"] = len(sample)
        rows = [(f"raw{chain}", e.index, e.timestamp, e.data_json.decode(), e.previous_hash, e.hash, e.event_id)
                for e in sample]
        result["raw_insert_per_s_after"] = await raw_insert_rate(database_url, rows, options.batch, raw_cpu)
        result["raw_insert_cpu_us_per_row"] = raw_cpu.us_per_row()
        result["raw_insert_busy_cores"] = raw_cpu.busy_cores()
        result["raw_insert_per_s"] = (result["raw_insert_per_s_before"] + result["raw_insert_per_s_after"]) / 2
        result["raw_copy_per_s"] = await raw_copy_rate(database_url, rows, options.batch)
        result["raw_hash_per_s"] = raw_hash_rate([e.data for e in sample], now_timestamp())
        del sample, rows

        # --- verification and proofs ---------------------------------------------------------------
        # The chain was bulk-loaded seconds ago: give the planner the statistics autovacuum gathers
        # within a minute of such a load (a running ledger's tables always have them), so proofs are
        # timed as a running ledger serves them, not with the plans of an empty table.
        from sqlalchemy import text as sql_text

        async with engine.begin() as conn:
            for table in ("ledger_entries", "ledger_merkle_nodes"):
                await conn.execute(sql_text(f"ANALYZE {table}"))
        ledger = Ledger(store)
        start = time.perf_counter()
        report = await ledger.verify_chain()
        result["verify_per_s"] = report.tree_size / (time.perf_counter() - start)
        result["verified_ok"] = report.ok
        size = report.tree_size
        start = time.perf_counter()
        result["proof_nodes_cached"] = await store.preload_nodes()  # as the service does at start
        await store.preload_leaves()
        result["proof_cache_preload_s"] = round(time.perf_counter() - start, 3)
        result["proof_leaves_cached"] = proof_cache.leaves
        result["proof_cache_mb"] = round(proof_cache.size_bytes() / 2**20, 1)
        uncached = LedgerStore(engine, chain, node_cache=NodeCache(max_nodes=0))
        try:
            for key, proving in (("", store), ("_uncached", uncached)):
                rng = random.Random(1)
                timings = []
                for _ in range(options.proofs):
                    index = rng.randrange(size)
                    t0 = time.perf_counter()
                    await proving.inclusion_proof(index, size)
                    timings.append((time.perf_counter() - t0) * 1000)
                result[f"proof_ms_p50{key}"] = round(statistics.median(timings), 3)
                result[f"proof_ms_p99{key}"] = round(_percentile(timings, 0.99), 3)
        finally:
            await uncached.close()
        result.update({"tree_size": size, "proof_samples": options.proofs})
        result["cpu_us_per_event"] = cpu_per_event(node, options.batch)
        for key in ("append_per_s", "raw_insert_per_s", "raw_insert_per_s_before", "raw_insert_per_s_after",
                    "raw_copy_per_s", "raw_hash_per_s", "verify_per_s",
                    "publish_per_s", "bus_consume_noop_per_s"):
            if key in result:
                result[key] = round(result[key], 1)
        result["append_vs_raw_insert"] = round(result["append_per_s"] / result["raw_insert_per_s"], 3)
        result["append_vs_raw_copy"] = round(result["append_per_s"] / result["raw_copy_per_s"], 3)
        result["verify_vs_raw_hash"] = round(result["verify_per_s"] / result["raw_hash_per_s"], 3)
        result["goals"] = goals(result)
    finally:
        if not options.keep_chain:
            from sqlalchemy import text

            async with engine.begin() as conn:
                for table in ("ledger_entries", "ledger_merkle_nodes", "ledger_checkpoints"):
                    await conn.execute(text(f"DELETE FROM {table} WHERE chain = :c"), {"c": chain})
        if store is not None:
            await store.close()
        await engine.dispose()
    return result


def goals(result: dict[str, Any]) -> dict[str, bool | None]:
    """The issue's goals on one run's figures (or on the medians of several runs); the proof goals
    apply at 1,000,000 entries or more (``None`` below that)."""
    at_1m = result["tree_size"] >= 1_000_000
    return {
        "append_ge_half_raw_insert": result["append_vs_raw_insert"] >= 0.5,
        "verify_ge_half_raw_hash": result["verify_vs_raw_hash"] >= 0.5,
        "proof_p50_le_1ms_at_1M": (result["proof_ms_p50"] <= 1.0) if at_1m else None,
        "proof_p99_le_1ms_at_1M": (result["proof_ms_p99"] <= 1.0) if at_1m else None,
    }


#: The figures each run of a repeated benchmark lists in ``runs`` (with its start time).
RUN_FIGURES = ("append_per_s", "raw_insert_per_s_before", "raw_insert_per_s_after", "raw_insert_per_s",
               "append_vs_raw_insert", "verify_vs_raw_hash", "proof_ms_p50", "proof_ms_p99")


def _median(values: list[Any]) -> Any:
    """The median of numbers; per key for dicts (the keys every run has); ``all`` of booleans; the
    last run's value of anything else (text, ``None``)."""
    if all(isinstance(v, bool) for v in values):
        return all(values)
    if all(isinstance(v, int | float) and not isinstance(v, bool) for v in values):
        return round(statistics.median(values), 3)
    if all(isinstance(v, dict) for v in values):
        keys = [k for k in values[-1] if all(k in v for v in values)]
        return {k: _median([v[k] for v in values]) for k in keys}
    return values[-1]


def summarise_runs(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """Several runs of the benchmark as one result: every figure is the median over the runs (each run's
    ratio is taken, then their median), the goals are judged on the medians, ``goals_met_in_runs``
    counts the runs that met each goal, and ``runs`` lists each run's main figures. One run is returned
    as it is. The machine's speed swings between runs minutes apart (docs/BENCHMARKS.md), so a goal
    judged on one run says as much about the moment as about the code."""
    if not runs:
        raise ValueError("no runs to summarise")
    if len(runs) == 1:
        return runs[0]
    keys = [k for k in runs[-1] if all(k in r for r in runs) and k not in ("goals", "runs")]
    out: dict[str, Any] = {k: _median([r[k] for r in runs]) for k in keys}
    out["goals"] = goals(out)
    out["goals_met_in_runs"] = {name: sum(1 for r in runs if r["goals"][name]) if runs[-1]["goals"][name] is not None
                                else None for name in runs[-1]["goals"]}
    out["repeat"] = len(runs)
    out["runs"] = [{"started_utc": r.get("started_utc"), **{k: r[k] for k in RUN_FIGURES if k in r}} for r in runs]
    return out


def run_ledger_bench_repeated(options: BenchOptions, repeat: int) -> dict[str, Any]:
    """:func:`run_ledger_bench` ``repeat`` times, back to back (fresh servers and chain each time), summarised."""
    if repeat < 1:
        raise ValueError(f"repeat must be >= 1, got {repeat}")
    return summarise_runs([run_ledger_bench(options) for _ in range(repeat)])


def run_ledger_bench(options: BenchOptions) -> dict[str, Any]:
    """Run the benchmark, with embedded NATS / PostgreSQL in a temp dir unless URLs are given."""
    from venom_common.embedded import EmbeddedNats, EmbeddedPostgres
    from venom_common.runner import event_loop_factory
    from venom_common.settings import VenomSettings

    nats_url = options.nats_url or os.environ.get("VENOM_NATS_URL")
    database_url = options.database_url or os.environ.get("VENOM_DATABASE_URL")
    started: list[Any] = []
    started_utc = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    with tempfile.TemporaryDirectory(prefix="venom-bench-") as tmp:
        try:
            if not nats_url:
                nats = EmbeddedNats(Path(tmp) / "nats").start()
                started.append(nats)
                nats_url = nats.url
                options.server_pids["nats"] = nats.pid
            if not database_url:
                pg = EmbeddedPostgres(Path(tmp) / "pg").start()
                started.append(pg)
                database_url = pg.url
                options.server_pids["postgres"] = pg.pid
            # The service's event loop (uvloop unless VENOM_UVLOOP=false), as `python -m venom_ledger` runs it.
            with asyncio.Runner(loop_factory=event_loop_factory(VenomSettings())) as runner:
                result = runner.run(_run(options, nats_url, database_url))
            result["event_loop"] = "asyncio" if event_loop_factory(VenomSettings()) is None else "uvloop"
        finally:
            for server in reversed(started):
                server.stop()
    result["servers"] = {"nats": "external" if options.nats_url or os.environ.get("VENOM_NATS_URL") else "embedded",
                         "postgres": "external" if options.database_url or os.environ.get("VENOM_DATABASE_URL")
                         else "embedded"}
    result["machine"] = {"python": platform.python_version(), "cpus": os.cpu_count(), "platform": platform.platform()}
    result["date"] = datetime.now(UTC).strftime("%Y-%m-%d")
    result["started_utc"] = started_utc
    return result
