"""The ``venom`` command line (Typer + Rich).

    venom up [--detach] [--data-dir .venom]    NATS, PostgreSQL and every service on this machine (F-PLAT-6)
    venom down [--data-dir .venom]             stop them, leaving nothing behind
    venom status [--json]                      each component and its health
    venom events tail [--subject 'venom.>']    the events on the bus, one JSON per line (F-PLAT-3)

Sub-command groups are registered in one place, at the end of this file.
"""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.text import Text

from venom_cli.bench import bench_app
from venom_cli.ledger_cmd import ledger_app
from venom_cli.ml_cmd import eval_app, train_command
from venom_cli.render import component_table

app = typer.Typer(name="venom", help="VENOM: run and inspect the system on this machine.", no_args_is_help=True,
                  add_completion=False, pretty_exceptions_enable=False)
events_app = typer.Typer(help="Watch the events on the bus.", no_args_is_help=True)

# Piped or captured output is not cut at 80 columns (a table's URLs stay whole).
console = Console(width=None if sys.stdout.isatty() else 160)
err_console = Console(stderr=True)

DataDir = Annotated[
    Path,
    typer.Option("--data-dir", envvar="VENOM_DATA_DIR", help="where venom up keeps its servers' data, logs and state",
                 file_okay=False),
]
DEFAULT_DATA_DIR = Path(".venom")


def _abs(path: Path) -> Path:
    return path.expanduser().resolve()


@app.command()
def up(
    data_dir: DataDir = DEFAULT_DATA_DIR,
    detach: Annotated[bool, typer.Option("--detach", "-d", help="run in the background; stop with venom down")] = False,
    timeout: Annotated[float, typer.Option(help="--detach: seconds to wait for every component")] = 60.0,
    grace: Annotated[float, typer.Option(help="seconds a service gets to stop before it is killed")] = 15.0,
    only: Annotated[str | None, typer.Option(help="run only these services, comma separated (e.g. hardware-agent,arbiter)")] = None,
    detached_child: Annotated[bool, typer.Option("--detached-child", hidden=True)] = False,
    pulse_period: Annotated[str, typer.Option("--pulse-period", help="the arbiter's beat period in seconds, or "
                                              "t-lambda for the T_Λ cadence (~238 beats/s: two cores busy, "
                                              "~1,700 ledger rows/s); VENOM_PERIOD_S wins")] = "1.0",
) -> None:
    """Start NATS (JetStream), PostgreSQL and every installed service, supervised; Ctrl-C stops everything.

    VENOM_NATS_URL / VENOM_DATABASE_URL point at external servers instead of embedded ones."""
    from venom_cli.up import UpOptions, run_detached, run_up

    selected = tuple(name.strip() for name in only.split(",") if name.strip()) if only is not None else None
    try:
        period = None if pulse_period == "t-lambda" else float(pulse_period)
        if period is not None and not 0.001 <= period <= 3600:
            raise ValueError
    except ValueError:
        err_console.print("--pulse-period is a number of seconds in [0.001, 3600] or t-lambda")
        raise typer.Exit(2) from None
    options = UpOptions(data_dir=_abs(data_dir), detached_child=detached_child, grace_s=grace, only=selected,
                        pulse_period_s=period)
    try:
        options.selected()
    except ValueError as exc:
        err_console.print(Text(str(exc), style="bold red"), soft_wrap=True)
        raise typer.Exit(2) from None
    if detach:
        raise typer.Exit(run_detached(options, console, timeout_s=timeout))
    raise typer.Exit(run_up(options, console))


@app.command()
def down(
    data_dir: DataDir = DEFAULT_DATA_DIR,
    timeout: Annotated[float, typer.Option(help="seconds to wait before killing")] = 60.0,
) -> None:
    """Stop the venom up of this data directory; check that nothing it started is left."""
    from venom_cli.down import run_down

    raise typer.Exit(run_down(_abs(data_dir), console, timeout_s=timeout))


@app.command()
def status(
    data_dir: DataDir = DEFAULT_DATA_DIR,
    as_json: Annotated[bool, typer.Option("--json", help="one JSON object on stdout")] = False,
) -> None:
    """Each component and its health, probed now. Exit code 0 when all are healthy, 1 otherwise."""
    from venom_cli.status import gather_status

    report = gather_status(_abs(data_dir))
    if as_json:
        sys.stdout.write(report.as_json() + "\n")
    elif not report.running:
        console.print(Text(f"VENOM is not running on {report.data_dir}"), soft_wrap=True)
    else:
        console.print(component_table(report.components,
                                      title=f"VENOM (pid {report.pid}, {report.phase}) on {report.data_dir}"))
    raise typer.Exit(0 if report.all_healthy else 1)


@events_app.command("tail")
def events_tail(
    subject: Annotated[str, typer.Option("--subject", "-s", help="NATS subject, wildcards allowed")] = "venom.>",
    count: Annotated[int | None, typer.Option("--count", "-n", min=1, help="stop after N messages")] = None,
    timeout: Annotated[float | None, typer.Option(help="give up (exit 1) after this many seconds")] = None,
    nats_url: Annotated[str | None, typer.Option("--nats-url", help="default: VENOM_NATS_URL, then venom up's")] = None,
    data_dir: DataDir = DEFAULT_DATA_DIR,
) -> None:
    """Print each event as published, one JSON per line (like `nats sub --raw`)."""
    from venom_cli.events_tail import TailTimeout, resolve_nats_url, tail

    url = resolve_nats_url(nats_url, _abs(data_dir))
    try:
        asyncio.run(tail(url, subject, count=count, timeout_s=timeout))
    except TailTimeout as exc:
        err_console.print(Text(f"timed out: {exc}", style="bold red"), soft_wrap=True)
        raise typer.Exit(1) from None
    except (TimeoutError, OSError) as exc:
        err_console.print(Text(f"cannot reach NATS at {url}: {exc or type(exc).__name__}", style="bold red"),
                          soft_wrap=True)
        raise typer.Exit(1) from None
    except Exception as exc:  # nats-py raises its own NoServersError etc.
        if type(exc).__module__.startswith("nats"):
            err_console.print(Text(f"cannot reach NATS at {url}: {exc!r}", style="bold red"), soft_wrap=True)
            raise typer.Exit(1) from None
        raise


@app.command()
def run(
    beats: Annotated[int, typer.Option("--beats", help="beats to run (-1: until stopped; with --replay: the file's rows)")] = 10,
    k_flows: Annotated[float, typer.Option("--k-flows", help="k of T_Λ (parallel flows)")] = 4.0,
    p_nodes: Annotated[float, typer.Option("--p-nodes", help="P of T_Λ (nodes)")] = 5.0,
    t_threshold: Annotated[float, typer.Option("--t-threshold", help="PID set point T_threshold, seconds")] = 0.02,
    period: Annotated[float | None, typer.Option("--period", help="beat period in seconds (default: the T_Λ cadence)")] = None,
    replay: Annotated[Path | None, typer.Option("--replay", help="play a recorded CSV (NAB timestamp,value or columns) in lockstep", dir_okay=False)] = None,
    replay_metric: Annotated[str, typer.Option("--replay-metric", help="name of a NAB file's value column, e.g. cpu_percent")] = "value",
    bad_rows: Annotated[str, typer.Option("--bad-rows", help="replay: skip bad rows (counted) or error (naming the line)")] = "skip",
    labels: Annotated[Path | None, typer.Option("--labels", help="replay: NAB combined_windows.json (default: found beside the file's data dir)")] = None,
    mesh: Annotated[bool, typer.Option("--mesh", help="also run mesh discovery for this run")] = False,
    mesh_port: Annotated[int, typer.Option("--mesh-port", min=1, max=65535, help="mesh discovery UDP port (multicast)")] = 47100,
    node: Annotated[str | None, typer.Option("--node", help="node id of this run (default: run-<random>)")] = None,
    data_dir: DataDir = DEFAULT_DATA_DIR,
    keep_up: Annotated[bool, typer.Option("--keep-up", help="leave a stack this command brought up running")] = False,
    json_out: Annotated[bool, typer.Option("--json", help="print the summary as JSON")] = False,
) -> None:
    """Run N beats on the real system and print the summary (seed 001 main.py). Exit 0 only if every beat
    was ledgered and the chain verifies."""
    import json as _json

    from venom_cli.run_cmd import RunError, RunOptions, render_summary, run_beats

    if mesh:
        from venom_cli.services import module_is_runnable

        if not module_is_runnable("venom_mesh_discovery"):
            err_console.print("--mesh needs the mesh-discovery service (venom_mesh_discovery), which is not installed")
            raise typer.Exit(2)
    options = RunOptions(beats=beats, k_flows=k_flows, p_nodes=p_nodes, t_threshold_s=t_threshold, period_s=period,
                         replay=replay, replay_metric=replay_metric, node=node, data_dir=_abs(data_dir), keep_up=keep_up,
                         replay_bad_rows=bad_rows, labels=labels, mesh=mesh, mesh_port=mesh_port)
    if bad_rows not in ("skip", "error"):
        err_console.print("--bad-rows is skip or error")
        raise typer.Exit(2)
    out = err_console if json_out else console
    try:
        summary = asyncio.run(run_beats(options, out))
    except RunError as exc:
        err_console.print(f"venom run: {exc}")
        raise typer.Exit(2) from exc
    except KeyboardInterrupt:
        raise typer.Exit(130) from None
    if json_out:
        print(_json.dumps(summary.to_json()))
    else:
        render_summary(summary, console)
    raise typer.Exit(0 if summary.ok else 1)


# --- sub-command groups: every `venom <group> …` is registered here, one line each -------------
app.add_typer(events_app, name="events")
app.add_typer(ledger_app, name="ledger")
app.add_typer(bench_app, name="bench")
app.add_typer(eval_app, name="eval")
app.command("train")(train_command)
from venom_cli import omega_cmd  # noqa: E402 — the Ω commands (F-HW-4)
app.command("scan")(omega_cmd.scan_command)
app.command("monitor")(omega_cmd.monitor_command)
app.command("compress")(omega_cmd.compress_command)
app.command("benchmark")(omega_cmd.benchmark_command)
app.command("config")(omega_cmd.config_command)


if __name__ == "__main__":
    app()
