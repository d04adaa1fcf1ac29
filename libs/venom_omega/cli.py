"""Seed 004's entry point ``venom-omega scan|compress|benchmark|monitor|config`` (F-HW-4).

The same commands are registered on ``venom`` (libs/venom_cli/omega_cmd.py). ``compress`` is a
model estimate and says so; ``benchmark`` is a measurement.
"""

from __future__ import annotations

import json
import sys
import time
from typing import Annotated

import typer
from rich.console import Console
from rich.live import Live
from rich.table import Table

from venom_omega.mobius import MODEL_NOTE, STRATEGIES, MobiusDomainError, estimate_compression

console = Console(width=None if sys.stdout.isatty() else 160)
err_console = Console(stderr=True)

CAPACITY_FORMULAS = {
    "workers_n": "N = usable CPUs (affinity / cgroup quota), else logical cores",
    "lambda_wrap": "Λ = clamp(3.125 · N · mem_GiB · (1 + GPUs), 10, 832)",
    "parallel_fraction": "P = piecewise linear in log2 N through (1, 0.50), (4, 0.65), (8, 0.80), (32, 0.95)",
}
ProbeTorch = Annotated[bool, typer.Option("--probe-torch/--no-probe-torch",
                                          help="ask torch.cuda for GPUs when no *-smi tool found one (slow import)")]


def _scan(probe_torch: bool):  # noqa: ANN202 — HardwareProfileV1, imported lazily
    from venom_common.settings import default_node_id
    from venom_hardware_agent.adapters.profile_scanner import ProfileScanner

    return ProfileScanner(probe_torch=probe_torch).scan(default_node_id())


def scan_command(
    json_out: Annotated[bool, typer.Option("--json", help="one JSON object")] = False,
    probe_torch: ProbeTorch = True,
) -> None:
    """The hardware profile (the hardware agent's scanner) and the derived N, Λ, P (a capacity model)."""
    profile = _scan(probe_torch)
    data = profile.model_dump(mode="json")
    derived = {"workers_n": profile.workers_n, "lambda_wrap": profile.lambda_wrap,
               "parallel_fraction": profile.parallel_fraction, "capacity_model": profile.capacity_model,
               "formulas": CAPACITY_FORMULAS, "kind": "model"}
    if json_out:
        print(json.dumps({"profile": data, "derived": derived}))
        return
    table = Table(title=f"hardware profile of {profile.node}", show_header=False)
    table.add_column("field", style="bold")
    table.add_column("value")
    for key, value in data.items():
        if key in CAPACITY_FORMULAS or key == "capacity_model":
            continue
        if key == "gpus":
            value = ", ".join(f"{g['name']} ({g.get('memory_mb') or '?'} MB)" if isinstance(g, dict) else str(g)
                              for g in value) or "none found"
        table.add_row(key, "–" if value is None else str(value))
    console.print(table)
    derived_table = Table(title=f"derived (capacity model {profile.capacity_model}: indices, not measurements)")
    for col in ("", "value", "formula"):
        derived_table.add_column(col)
    derived_table.add_row("N (workers)", str(profile.workers_n), CAPACITY_FORMULAS["workers_n"])
    derived_table.add_row("Λ (lambda_wrap)", f"{profile.lambda_wrap:g}", CAPACITY_FORMULAS["lambda_wrap"])
    derived_table.add_row("P (parallel fraction)", f"{profile.parallel_fraction:g}",
                          CAPACITY_FORMULAS["parallel_fraction"])
    console.print(derived_table)


def _measure_theta() -> float | None:
    from venom_omega.monitor import ThetaMonitor

    monitor = ThetaMonitor()
    time.sleep(0.5)  # the CPU share needs an interval: 0.5 s since the sampler was primed
    return monitor.sample().theta


def compress_command(
    hours: Annotated[float, typer.Argument(help="hours of sequential work")],
    theta: Annotated[float | None, typer.Option(help="θ in [0, 1]; default: measured on this host now")] = None,
    lambda_wrap: Annotated[float | None, typer.Option("--lambda", help="Λ in [10, 832]; default: this host's")] = None,
    p: Annotated[float | None, typer.Option("--p", help="P in [0, 1]; default: this host's")] = None,
    n: Annotated[float | None, typer.Option("--n", help="N ≥ 1 workers; default: this host's")] = None,
    json_out: Annotated[bool, typer.Option("--json", help="one JSON object")] = False,
    probe_torch: ProbeTorch = True,
) -> None:
    """Seed 004's temporal "compression" of HOURS: a MODEL ESTIMATE (Θ(θ)·Λ·S_A), not a measurement."""
    sources = {"theta": "given", "lambda_wrap": "given", "parallel_fraction": "given", "workers_n": "given"}
    try:
        if None in (lambda_wrap, p, n):
            profile = _scan(probe_torch)
            if lambda_wrap is None:
                lambda_wrap, sources["lambda_wrap"] = profile.lambda_wrap, "this host (capacity model)"
            if p is None:
                p, sources["parallel_fraction"] = profile.parallel_fraction, "this host (capacity model)"
            if n is None:
                n, sources["workers_n"] = float(profile.workers_n), "this host"
        if theta is None:
            theta, sources["theta"] = _measure_theta(), "measured on this host"
            if theta is None:
                raise MobiusDomainError("θ could not be measured on this host; pass --theta")
        estimates = [estimate_compression(hours, theta=theta, lambda_wrap=lambda_wrap, parallel_fraction=p,
                                          workers_n=n, strategy=s) for s in STRATEGIES]  # type: ignore[arg-type]
    except MobiusDomainError as exc:
        err_console.print(f"venom compress: {exc}")
        raise typer.Exit(2) from exc
    if json_out:
        print(json.dumps({"kind": "model", "note": MODEL_NOTE, "inputs_from": sources,
                          "estimates": [e.to_json() for e in estimates]}))
        return
    first = estimates[0]
    console.print("[bold yellow]MODEL ESTIMATE, not a measurement:[/] seed 004's S_Total = Θ(θ)·Λ·S_A.")
    console.print(f"θ = {first.theta:.3f} ({first.mode}, {sources['theta']}), Λ = {first.lambda_wrap:g}, "
                  f"P = {first.parallel_fraction:g}, N = {first.workers_n:g}, "
                  f"S_A = {first.amdahl_speedup:.3f} (Amdahl's bound for N workers)")
    table = Table(title=f"{hours:g} h of sequential work, by the seed's model")
    for col in ("strategy", "Θ(θ)", "S_Total = Θ·Λ·S_A", "estimated hours"):
        table.add_column(col)
    for e in estimates:
        table.add_row(e.strategy, f"{e.theta_compression:.3f}", f"{e.total_speedup:,.1f}x",
                      f"{e.hours_estimated:.4g}")
    console.print(table)
    console.print("Only S_A has a physical meaning (an upper bound); Θ and Λ are the seed's factors. "
                  "`venom benchmark` measures the real speed-up of the wave executor.")


def benchmark_command(
    max_workers: Annotated[int | None, typer.Option(help="workers from 1 to this (default: this host's CPUs); "
                                                        "above the CPUs the processes share cores")] = None,
    tasks: Annotated[int, typer.Option(help="parallel tasks in the middle wave")] = 8,
    iterations: Annotated[int, typer.Option(help="loop iterations per task (CPU work)")] = 2_000_000,
    repeats: Annotated[int, typer.Option(help="runs per worker count (the median is reported)")] = 3,
    json_out: Annotated[bool, typer.Option("--json", help="one JSON object")] = False,
) -> None:
    """MEASURED speed-up of a CPU-bound wave workload with 1..N workers, beside Amdahl's prediction."""
    from venom_omega.benchmark import BenchmarkPoint, run_benchmark
    from venom_omega.waves import WaveInputError

    out = err_console if json_out else console

    def show(point: BenchmarkPoint) -> None:
        out.print(f"  {point.workers} worker(s): {point.wall_s:.3f} s, measured ×{point.speedup_measured:.2f}, "
                  f"Amdahl ×{point.speedup_amdahl:.2f}" + ("  (oversubscribed)" if point.oversubscribed else ""))

    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from venom_omega.waves import ProgressEvent, default_workers

    top = max_workers if max_workers is not None else default_workers()
    total = max(0, top) * max(0, repeats) * (max(0, tasks) + 2)
    bar = Progress(TextColumn("wave tasks"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                   console=err_console, transient=True)
    bar_task = bar.add_task("tasks", total=total)

    def advance(_: ProgressEvent) -> None:
        bar.advance(bar_task)

    try:
        with bar:
            result = run_benchmark(max_workers=max_workers, parallel_tasks=tasks, iterations=iterations,
                                   repeats=repeats, on_point=show, progress=advance)
    except WaveInputError as exc:
        err_console.print(f"venom benchmark: {exc}")
        raise typer.Exit(2) from exc
    if json_out:
        print(json.dumps(result.to_json()))
        return
    table = Table(title=f"wave benchmark (measured): 1 + {tasks} + 1 tasks of {iterations:,} iterations, "
                        f"median of {repeats}; P measured = {result.parallel_fraction_measured:.3f}")
    for col in ("workers", "wall s", "speed-up measured", "Amdahl S_A(P, N)", "efficiency", ""):
        table.add_column(col)
    for pt in result.points:
        table.add_row(str(pt.workers), f"{pt.wall_s:.3f}", f"{pt.speedup_measured:.2f}", f"{pt.speedup_amdahl:.2f}",
                      f"{pt.efficiency:.0%}", "oversubscribed" if pt.oversubscribed else "")
    console.print(table)
    console.print(f"{result.cpus} usable CPU(s); load average before: {result.load_avg_1m_before}. "
                  "Other processes on the host lower the measured figures.")


def _monitor_table(monitor) -> Table:  # noqa: ANN001
    table = Table(title="θ = 0.3·H_CPU + 0.3·H_MEM + 0.4·H_TERM (renormalised over the H's present)")
    for col in ("seq", "time", "θ", "mode", "H_CPU", "H_MEM", "H_TERM", "CPU %", "mem %", "°C"):
        table.add_column(col)

    def f(x: float | None, fmt: str = "{:.3f}") -> str:
        return "–" if x is None else fmt.format(x)

    for s in monitor.history()[-15:]:
        table.add_row(str(s.seq), s.sampled_at.strftime("%H:%M:%S"), f(s.theta), str(s.mode or "–"), f(s.h_cpu),
                      f(s.h_mem), f(s.h_term), f(s.cpu_percent, "{:.1f}"), f(s.mem_percent, "{:.1f}"),
                      f(s.temperature_c, "{:.1f}"))
    return table


def monitor_command(
    duration: Annotated[float, typer.Argument(help="seconds to watch")] = 10.0,
    interval: Annotated[float, typer.Option(help="seconds between samples")] = 1.0,
    json_out: Annotated[bool, typer.Option("--json", help="at the end: the history as JSON (no live view)")] = False,
    prometheus: Annotated[bool, typer.Option("--prometheus", help="at the end: the Prometheus export")] = False,
) -> None:
    """Live θ and its components (last 100 snapshots kept), for DURATION seconds."""
    from venom_omega.monitor import ThetaMonitor

    if not duration > 0 or not interval > 0:
        err_console.print("venom monitor: DURATION and --interval must be > 0")
        raise typer.Exit(2)
    monitor = ThetaMonitor(interval_s=interval)
    deadline = time.monotonic() + duration
    with monitor:
        if json_out:
            while time.monotonic() < deadline:
                time.sleep(min(interval, max(0.0, deadline - time.monotonic())))
        else:
            with Live(_monitor_table(monitor), console=console, refresh_per_second=4) as live:
                while time.monotonic() < deadline:
                    time.sleep(min(0.25, max(0.0, deadline - time.monotonic())))
                    live.update(_monitor_table(monitor))
            console.line()
    if json_out:
        print(json.dumps({"history": [s.to_json() for s in monitor.history()]}))
    if prometheus:
        sys.stdout.write(monitor.prometheus_text().decode())


def config_command(json_out: Annotated[bool, typer.Option("--json", help="one JSON object")] = False) -> None:
    """Every service's effective configuration and where each value comes from (env var, venom up, default)."""
    from venom_omega.config import all_service_configs

    configs = all_service_configs()
    if json_out:
        print(json.dumps({"services": [c.to_json() for c in configs]}))
        return
    for c in configs:
        if c.error:
            console.print(f"[bold]{c.service}[/] ({c.module}): {c.error}")
            continue
        table = Table(title=f"{c.service} ({c.settings_class})")
        for col in ("setting", "env var", "value", "source"):
            table.add_column(col)
        for v in c.values:
            table.add_row(v.name, v.env_var, "–" if v.value is None else str(v.value), v.source)
        console.print(table)
    console.print("`venom up` also sets VENOM_NATS_URL / VENOM_DATABASE_URL to the servers it starts "
                  "unless they are set in the environment.")


app = typer.Typer(name="venom-omega", help="VENOM Ω: hardware scan, θ monitor, Möbius model, wave benchmark.",
                  no_args_is_help=True, add_completion=False, pretty_exceptions_enable=False)
app.command("scan")(scan_command)
app.command("compress")(compress_command)
app.command("benchmark")(benchmark_command)
app.command("monitor")(monitor_command)
app.command("config")(config_command)

if __name__ == "__main__":
    app()
