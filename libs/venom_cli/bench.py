"""``venom bench …``: measured figures, each next to its raw baseline from the same run.

    venom bench ledger --entries N [--json]     the ledger (docs/BENCHMARKS.md, "Ledger")
    venom bench beats --rate R --duration S     the beat pipeline (docs/BENCHMARKS.md, "Beats")
    venom bench mesh --nodes N [--json]         mesh discovery (docs/BENCHMARKS.md, "Mesh discovery")
"""

from __future__ import annotations

import json
import sys
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

bench_app = typer.Typer(help="Benchmarks: embedded NATS and PostgreSQL unless VENOM_NATS_URL / VENOM_DATABASE_URL.",
                        no_args_is_help=True)
console = Console()


def _report(result: dict[str, Any], title: str, as_json: bool) -> None:
    """A benchmark's figures: one JSON object on stdout, or a table for a person."""
    if as_json:
        sys.stdout.write(json.dumps(result) + "\n")
        return
    table = Table(title=title)
    table.add_column("figure")
    table.add_column("value", justify="right")
    for key, value in result.items():
        table.add_row(key, json.dumps(value) if isinstance(value, dict | list) else str(value))
    console.print(table)


@bench_app.command()
def ledger(
    entries: Annotated[int, typer.Option("--entries", "-n", min=1, help="events to append")] = 10_000,
    batch: Annotated[int, typer.Option(min=1, max=10_000, help="events per transaction (the ledger's batch)")] = 500,
    proofs: Annotated[int, typer.Option(min=1, help="inclusion proofs to time")] = 1000,
    direct: Annotated[bool, typer.Option("--direct", help="append through the store code, without NATS "
                                                            "(bulk load, e.g. for 1,000,000 entries)")] = False,
    keep: Annotated[bool, typer.Option("--keep", help="keep the benchmark chain in the database")] = False,
    repeat: Annotated[int, typer.Option("--repeat", min=1, max=50,
                                        help="run it this many times back to back and report the medians "
                                             "(each run listed under 'runs')")] = 1,
    as_json: Annotated[bool, typer.Option("--json", help="one JSON object on stdout")] = False,
) -> None:
    """Append, verify and proof figures of the ledger, with raw insert and raw hash baselines."""
    from venom_ledger.bench import BenchOptions, run_ledger_bench_repeated

    if keep and repeat > 1:
        raise typer.BadParameter("--keep keeps one run's chain: use it without --repeat", param_hint="--keep")
    result = run_ledger_bench_repeated(BenchOptions(entries=entries, batch=batch, proofs=proofs, direct=direct,
                                                    keep_chain=keep), repeat)
    if as_json:
        sys.stdout.write(json.dumps(result) + "\n")
        return
    runs = f", median of {repeat} runs" if repeat > 1 else ""
    table = Table(title=f"ledger, {entries} entries ({result['path']} path{runs})")
    table.add_column("figure")
    table.add_column("value", justify="right")
    for key in ("append_per_s", "raw_insert_per_s", "raw_insert_per_s_before", "raw_insert_per_s_after",
                "append_vs_raw_insert", "raw_copy_per_s", "append_vs_raw_copy",
                "bus_consume_noop_per_s", "cpu_us_per_event", "verify_per_s", "raw_hash_per_s", "verify_vs_raw_hash",
                "proof_ms_p50", "proof_ms_p99"):
        if key in result:
            value = result[key]
            table.add_row(key, json.dumps(value) if isinstance(value, dict) else str(value))
    if repeat > 1:
        table.add_row("append_vs_raw_insert of each run",
                      ", ".join(str(run["append_vs_raw_insert"]) for run in result["runs"]))
        table.add_row("goals met in runs", json.dumps(result["goals_met_in_runs"]))
    console.print(table)


@bench_app.command()
def beats(
    rate: Annotated[float, typer.Option("--rate", min=0.1, max=100_000, help="beats per second per node")] = 100.0,
    duration: Annotated[float, typer.Option("--duration", min=0.5, max=3600, help="seconds of beating")] = 10.0,
    nodes: Annotated[int, typer.Option("--nodes", min=1, max=64, help="arbiters, one per node")] = 1,
    pipeline_depth: Annotated[int, typer.Option("--pipeline-depth", min=1, max=1024,
                                                help="beats sent and not yet stored per arbiter")] = 8,
    floor_duration: Annotated[float, typer.Option(
        "--floor-duration", min=0, max=600,
        help="seconds of the message floor afterwards: the same processes and messages with no work (0: skip)")] = 5.0,
    keep: Annotated[bool, typer.Option("--keep", help="keep the work directory (logs)")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="one JSON object on stdout")] = False,
) -> None:
    """The beat pipeline end to end, every service its own process: pulse → decision and pulse → committed
    latency, achieved rate and beats lost, beside raw baselines from the same run: nats-py alone, and the
    message floor (the same processes and messages per beat with no work, as fast as they go)."""
    import asyncio

    from venom_cli.bench_beats import bench_beats

    result = asyncio.run(bench_beats(rate, duration, nodes, keep=keep, pipeline_depth=pipeline_depth,
                                     floor_duration=floor_duration))
    _report(result, f"beats: {rate:g}/s × {nodes} node(s) for {duration:g} s", as_json)


@bench_app.command()
def mesh(
    nodes: Annotated[int, typer.Option("--nodes", "-n", min=2, max=200, help="mesh nodes on loopback")] = 10,
    interval: Annotated[float, typer.Option("--interval", min=0.01, max=60, help="announce interval, s")] = 1.0,
    missed: Annotated[int, typer.Option("--missed", min=1, max=100, help="missed intervals before expiry")] = 3,
    rounds: Annotated[int, typer.Option("--rounds", min=1, max=100, help="repetitions")] = 5,
    mode: Annotated[str, typer.Option("--mode", help="multicast (group on lo) or unicast (every node a seed)")]
    = "multicast",
    as_json: Annotated[bool, typer.Option("--json", help="one JSON object on stdout")] = False,
) -> None:
    """Mesh discovery on loopback: time for N nodes to know each other, and to notice a dead one (F-MESH-1)."""
    import asyncio

    from venom_mesh_discovery.bench import run_mesh_bench

    if mode not in ("multicast", "unicast"):
        raise typer.BadParameter("--mode is multicast or unicast")
    result = asyncio.run(run_mesh_bench(nodes, interval, missed, rounds, mode))  # type: ignore[arg-type]
    _report(result, f"mesh: {nodes} nodes, {mode}, interval {interval:g} s, expiry after {missed} missed", as_json)


@bench_app.command()
def dispatch(
    tasks: Annotated[int, typer.Option("--tasks", "-n", min=10, max=1_000_000, help="tasks to time")] = 5000,
    concurrency: Annotated[int, typer.Option(
        min=1, max=1024, help="requests in flight at once (12: where ≥ 1,000 tasks/s and p99 ≤ 20 ms hold together "
        "on two cores; more in flight only lengthens the queue)")] = 12,
    peers: Annotated[int, typer.Option(min=1, max=64, help="simulated peers (task workers)")] = 4,
    sim: Annotated[bool, typer.Option("--sim/--no-sim", help="also run the dispatch-policy simulation")] = True,
    sim_duration: Annotated[float, typer.Option(min=5, max=3600, help="simulated seconds")] = 60.0,
    keep: Annotated[bool, typer.Option("--keep", help="keep the work directory (logs)")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="one JSON object on stdout")] = False,
) -> None:
    """The orchestrator end to end (REST → dispatch → a peer's worker → result) beside raw nats-py
    request/reply, and dispatch policies on a simulated fleet at 80 % load with 1 s stale load."""
    import asyncio

    from venom_orchestrator.bench import bench_dispatch

    result = asyncio.run(bench_dispatch(tasks, concurrency, peers, sim=sim, sim_duration_s=sim_duration, keep=keep))
    _report(result, f"dispatch: {tasks} tasks, {concurrency} in flight, {peers} peers", as_json)
