"""``venom run``: seed 001's main.py on the real system (F-PLAT-7).

It uses the local stack of ``--data-dir`` when one runs (or brings one up in
the background and stops it afterwards), runs an arbiter for N beats as its
own node (``run-…``) — on this host's live metrics, or with ``--replay FILE``
on a recorded series played through the hardware agent's replay source in
lockstep — and then waits for the ledger to have recorded every event of
every beat, verifies the chain and prints the summary. Exit status 0 only if
every beat was ledgered and the chain verifies.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
import uuid
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import httpx
from rich.console import Console
from rich.table import Table

from venom_common.embedded import free_port
from venom_common.runner import serve


class RunError(RuntimeError):
    """``venom run`` could not do what was asked; the message says why and what to do."""


@dataclass
class RunOptions:
    beats: int = 10
    k_flows: float = 4.0
    p_nodes: float = 5.0
    t_threshold_s: float = 0.02
    period_s: float | None = None
    replay: Path | None = None
    replay_metric: str = "value"
    replay_interval_s: float = 0.01
    replay_bad_rows: str = "skip"
    labels: Path | None = None
    node: str | None = None
    data_dir: Path = Path(".venom")
    ledger_timeout_s: float = 120.0
    organ_deadline_ms: float = 50.0
    keep_up: bool = False
    #: seed 001's --mesh / --mesh-port: this run's node also joins the mesh (signed announcements on that UDP port).
    mesh: bool = False
    mesh_port: int = 47100


@dataclass
class RunSummary:
    node: str
    beats: int
    t_lambda_s: float
    period_s: float
    decisions: dict[str, int]
    delta_t: float | None
    #: ΔV over the run: Σ of the per-beat ΔV (seed 001's figure on a fresh genome: ΔV = ΔT = −0.015789).
    delta_v: float | None
    delta_v_negative: bool | None
    genome: dict[str, float]
    risk_anoms: int
    ml_weight: float
    mode: str
    events_expected: int
    events_ledgered: int
    every_beat_ledgered: bool
    chain_verified: bool
    chain_size: int
    merkle_root: str | None
    verify_detail: str | None = None
    replay: str | None = None
    #: With --replay on a labelled file: how ALERT / QUARANTINE decisions fall against the labelled windows.
    windows: dict[str, Any] | None = None
    replay_rows_skipped: int | None = None
    #: With --mesh: the peers this run's node knew at the end.
    mesh_peers: list[str] | None = None

    @property
    def ok(self) -> bool:
        return self.every_beat_ledgered and self.chain_verified

    def to_json(self) -> dict[str, Any]:
        return {**asdict(self), "ok": self.ok}


def _stack_urls(data_dir: Path) -> tuple[str, str] | None:
    """(NATS URL, ledger base URL) of the stack running on ``data_dir``, or None."""
    from venom_cli.state import is_locked, read_state

    if not is_locked(data_dir):
        return None
    state = read_state(data_dir)
    if state is None or state.nats is None:
        return None
    ledger = next((s for s in state.services if s.name == "ledger"), None)
    if ledger is None:
        raise RunError("the running stack has no ledger service; venom run needs one to record the beats")
    return state.nats.url, ledger.url


async def _ledger_head(client: httpx.AsyncClient, ledger_url: str) -> int:
    for _ in range(600):
        try:
            r = await client.get(f"{ledger_url}/ledger/head")
            if r.status_code == 200:
                return int(r.json()["tree_size"])
        except httpx.TransportError:
            pass
        await asyncio.sleep(0.1)
    raise RunError(f"the ledger at {ledger_url} does not answer")


async def _wait_ledgered(client: httpx.AsyncClient, ledger_url: str, start: int, wanted: set[str],
                         timeout_s: float) -> int:
    """Scan the chain from ``start`` until every wanted event id is in it (or time runs out)."""
    found: set[str] = set()
    index = start
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        r = await client.get(f"{ledger_url}/ledger/entries", params={"start": index, "limit": 1000})
        r.raise_for_status()
        entries = r.json()["entries"]
        for entry in entries:
            event_id = (entry.get("data") or {}).get("id")
            if event_id in wanted:
                found.add(event_id)
        index += len(entries)
        if found >= wanted:
            break
        if not entries:
            await asyncio.sleep(0.2)
    return len(found)


async def run_beats(options: RunOptions, console: Console) -> RunSummary:
    from venom_arbiter.service import ArbiterService
    from venom_arbiter.settings import ArbiterSettings

    data_dir = options.data_dir.expanduser().resolve()
    started_stack = False
    urls = _stack_urls(data_dir)
    if urls is None:
        from venom_cli.up import UpOptions, run_detached

        console.print(f"[dim]no VENOM stack on {data_dir}: bringing one up in the background[/]")
        if run_detached(UpOptions(data_dir=data_dir), console) != 0:
            raise RunError(f"could not bring the stack up; see {data_dir}/logs/venom.log")
        started_stack = True
        urls = _stack_urls(data_dir)
        if urls is None:
            raise RunError("the stack came up but its state is unreadable")
    nats_url, ledger_url = urls
    node = options.node or f"run-{uuid.uuid4().hex[:8]}"
    stop = asyncio.Event()
    tasks: list[asyncio.Task[None]] = []
    try:
        async with httpx.AsyncClient(timeout=10) as client:
            head_before = await _ledger_head(client, ledger_url)
            beats = options.beats
            agent = None
            table = None
            if options.replay is not None:
                agent, table = await _start_replay_agent(options, nats_url, node, stop, tasks)
                rows = len(table.rows)
                beats = rows if beats < 0 else min(beats, rows)
            mesh = await _start_mesh(options, data_dir, nats_url, node, stop, tasks) if options.mesh else None
            settings = ArbiterSettings(
                nats_url=nats_url, node_id=node, port=free_port(), k_flows=options.k_flows, p_nodes=options.p_nodes,
                t_threshold_s=options.t_threshold_s, period_s=options.period_s, beats=beats,
                drive="metrics" if options.replay is not None else "clock",
                metrics_node=None if options.replay is not None else _host_node(),
                organ_deadline_ms=options.organ_deadline_ms, log_json=False,
            )
            arbiter = ArbiterService(settings)
            arbiter.stored_event_ids = []
            arbiter.beat_log = []
            tasks.append(asyncio.create_task(serve(arbiter, settings, stop=stop)))
            console.print(f"[bold]venom run[/]: node {node}, {'until stopped' if beats < 0 else f'{beats} beats'}, "
                          f"T_Λ {arbiter.t_lambda_s:.6f} s, NATS {nats_url}")
            try:
                await arbiter.finished.wait()
            except asyncio.CancelledError:
                pass
            mesh_peers = sorted(p.node for p in mesh.node.table.peers()) if mesh is not None and mesh.node else None
            stop.set()
            await asyncio.gather(*tasks, return_exceptions=True)
            wanted = set(arbiter.stored_event_ids)
            ledgered = await _wait_ledgered(client, ledger_url, head_before, wanted, options.ledger_timeout_s)
            verify = (await client.get(f"{ledger_url}/ledger/verify", timeout=600)).json()
            head = (await client.get(f"{ledger_url}/ledger/head")).json()
        g = arbiter.state.genome
        last = arbiter.last_outcome
        return RunSummary(
            node=node, beats=arbiter.beats_done, t_lambda_s=arbiter.t_lambda_s, period_s=arbiter.period_s,
            decisions=dict(sorted(arbiter.decision_counts.items())),
            delta_t=last.delta_t if last else None, delta_v=arbiter.delta_v_total if last else None,
            delta_v_negative=(arbiter.delta_v_total < 0) if last else None,
            genome={"R": g.R, "B": g.B, "E": g.E, "O": g.O}, risk_anoms=g.risk_anoms, ml_weight=g.ml_weight,
            mode=g.mode, events_expected=len(wanted), events_ledgered=ledgered,
            every_beat_ledgered=ledgered == len(wanted) and arbiter.beats_done == max(beats, 0),
            chain_verified=bool(verify.get("ok")), chain_size=int(head["tree_size"]),
            merkle_root=head.get("root_hash"), verify_detail=None if verify.get("ok") else json.dumps(verify),
            replay=str(options.replay) if options.replay else None,
            windows=_windows_report(options, table, arbiter.beat_log) if table is not None else None,
            replay_rows_skipped=table.report.rows_skipped if table is not None else None,
            mesh_peers=mesh_peers,
        )
    finally:
        stop.set()
        for task in tasks:
            if not task.done():
                task.cancel()
        with contextlib.suppress(Exception):
            await asyncio.gather(*tasks, return_exceptions=True)
        if started_stack and not options.keep_up:
            from venom_cli.down import run_down

            run_down(data_dir, console)


async def _start_mesh(options: RunOptions, data_dir: Path, nats_url: str, node: str, stop: asyncio.Event,
                      tasks: list[asyncio.Task[None]]) -> Any:
    """This run's node joins the mesh like any peer (same key as the stack's mesh-discovery)."""
    import os

    from venom_mesh_discovery.service import MeshService
    from venom_mesh_discovery.settings import MeshSettings

    key_env = {} if os.environ.get("VENOM_MESH_KEY") else {"mesh_state_dir": data_dir / "mesh"}
    settings = MeshSettings(nats_url=nats_url, node_id=node, port=free_port(), mesh_port=options.mesh_port,
                            mesh_unicast_port=0, mesh_peers_file=data_dir / "mesh" / f"peers-{node}.json",
                            log_json=False, **key_env)
    service = MeshService(settings)
    tasks.append(asyncio.create_task(serve(service, settings, stop=stop)))
    return service


def _host_node() -> str:
    from venom_common.settings import VenomSettings

    return VenomSettings().node_id


async def _start_replay_agent(options: RunOptions, nats_url: str, node: str, stop: asyncio.Event,
                              tasks: list[asyncio.Task[None]]) -> tuple[Any, int]:
    from venom_hardware_agent.service import HardwareAgent
    from venom_hardware_agent.settings import HardwareAgentSettings

    assert options.replay is not None
    if not options.replay.is_file():
        raise RunError(f"replay file {options.replay} does not exist")
    settings = HardwareAgentSettings(
        nats_url=nats_url, node_id=node, port=free_port(), interval_s=options.replay_interval_s,
        replay_file=options.replay, replay_metric=options.replay_metric, log_json=False,
        replay_bad_rows=options.replay_bad_rows,  # type: ignore[arg-type]
    )
    from venom_hardware_agent.adapters.replay_csv import ReplayFileError, read_replay

    try:
        table = read_replay(options.replay, metric=options.replay_metric, on_bad_row=options.replay_bad_rows)  # type: ignore[arg-type]
    except ReplayFileError as exc:
        raise RunError(str(exc)) from exc
    agent = HardwareAgent(settings)
    tasks.append(asyncio.create_task(serve(agent, settings, stop=stop)))
    return agent, table


def _find_labels(options: RunOptions) -> Path | None:
    """labels/combined_windows.json of the NAB layout the replay file sits in (root/data/<category>/<file>)."""
    if options.labels is not None:
        return options.labels
    assert options.replay is not None
    candidate = options.replay.resolve().parent.parent.parent / "labels" / "combined_windows.json"
    return candidate if candidate.is_file() else None


def _windows_report(options: RunOptions, table: Any, beat_log: list[tuple[int, str, int | None]] | None) -> dict[str, Any] | None:
    """How many labelled windows got an ALERT or QUARANTINE inside them, and how many such decisions
    fell outside every window (issue: the whole pipeline on real data)."""
    labels = _find_labels(options)
    if labels is None or not beat_log or options.replay is None:
        return None
    from datetime import datetime

    key = f"{options.replay.resolve().parent.name}/{options.replay.name}"
    all_windows = json.loads(labels.read_text())
    if key not in all_windows:
        return None
    fmt = "%Y-%m-%d %H:%M:%S.%f"
    from datetime import UTC

    def parse(text: str) -> datetime:  # NAB's window times are UTC without a zone; replay rows are aware
        return datetime.strptime(text, fmt).replace(tzinfo=UTC)

    windows = [(parse(a), parse(b)) for a, b in all_windows[key]]
    rows = table.rows
    played_until = max((seq for _, _, seq in beat_log if seq is not None), default=-1)
    last_ts = rows[min(played_until, len(rows) - 1)].timestamp if played_until >= 0 else None
    hit: set[int] = set()
    outside = inside = 0
    for _, action, seq in beat_log:
        if action not in ("ALERT", "QUARANTINE") or seq is None or seq >= len(rows):
            continue
        ts = rows[seq].timestamp
        ts = ts if ts.tzinfo is not None else ts.replace(tzinfo=UTC)
        found = [i for i, (a, b) in enumerate(windows) if a <= ts <= b]
        if found:
            inside += 1
            hit.update(found)
        else:
            outside += 1
    reachable = [i for i, (a, _) in enumerate(windows) if last_ts is not None and a <= last_ts]
    return {"labels": str(labels), "windows": len(windows), "windows_reached": len(reachable),
            "windows_with_alert_or_quarantine": len(hit), "decisions_inside_windows": inside,
            "decisions_outside_windows": outside}


def render_summary(summary: RunSummary, console: Console) -> None:
    table = Table(title=f"venom run — node {summary.node}", show_header=False)
    table.add_row("beats", str(summary.beats))
    table.add_row("T_Λ", f"{summary.t_lambda_s:.6f} s (period {summary.period_s * 1000:.3f} ms)")
    table.add_row("decisions", ", ".join(f"{k} {v}" for k, v in summary.decisions.items()) or "none")
    if summary.delta_t is not None:
        table.add_row("PID", f"ΔT {summary.delta_t:+.6f}  ΔV {summary.delta_v:+.6f}  "
                             f"({'ΔV < 0: stable' if summary.delta_v_negative else 'ΔV ≥ 0'})")
    table.add_row("genome", "  ".join(f"{k} {v:.4f}" for k, v in summary.genome.items())
                  + f"  mode {summary.mode}  risk anoms {summary.risk_anoms}  ml_weight {summary.ml_weight:g}")
    table.add_row("ledgered", f"{summary.events_ledgered}/{summary.events_expected} events"
                              f" ({'every beat' if summary.every_beat_ledgered else 'INCOMPLETE'})")
    table.add_row("chain", f"{'verified' if summary.chain_verified else 'NOT VERIFIED'}, {summary.chain_size} entries")
    table.add_row("Merkle root", summary.merkle_root or "-")
    if summary.windows is not None:
        w = summary.windows
        table.add_row("labelled windows", f"{w['windows_with_alert_or_quarantine']} of {w['windows_reached']} reached "
                                          f"({w['windows']} in the file) got an ALERT/QUARANTINE; "
                                          f"{w['decisions_inside_windows']} such decisions inside windows, "
                                          f"{w['decisions_outside_windows']} outside")
    if summary.mesh_peers is not None:
        table.add_row("mesh", f"{len(summary.mesh_peers)} peers: {', '.join(summary.mesh_peers) or 'none'}")
    if summary.replay_rows_skipped:
        table.add_row("replay", f"{summary.replay_rows_skipped} bad rows skipped")
    console.print(table)
