"""`venom scan|compress|benchmark|monitor|config` and `venom-omega` (F-HW-4); a tiny measured benchmark."""

from __future__ import annotations

import json

from typer.testing import CliRunner
from venom_cli.main import app as venom_app
from venom_omega.benchmark import run_benchmark, wave_workload
from venom_omega.cli import app as omega_app
from venom_omega.mobius import amdahl_speedup
from venom_omega.waves import plan_waves

runner = CliRunner()


def test_scan_json_has_profile_and_derived_capacity() -> None:
    result = runner.invoke(venom_app, ["scan", "--json", "--no-probe-torch"])
    assert result.exit_code == 0, result.output
    out = json.loads(result.stdout)
    assert out["profile"]["cores_logical"] >= 1
    derived = out["derived"]
    assert 10 <= derived["lambda_wrap"] <= 832 and 0 <= derived["parallel_fraction"] <= 1
    assert derived["workers_n"] == out["profile"]["workers_n"] and derived["kind"] == "model"


def test_compress_says_it_is_a_model() -> None:
    args = ["compress", "840", "--theta", "0.77", "--lambda", "400", "--p", "0.8", "--n", "8"]
    human = runner.invoke(venom_app, args)
    assert human.exit_code == 0 and "not a measurement" in human.stdout and "2,900.0x" in human.stdout
    data = json.loads(runner.invoke(omega_app, [*args, "--json"]).stdout)
    assert data["kind"] == "model" and "not a measurement" in data["note"]
    adaptive = next(e for e in data["estimates"] if e["strategy"] == "adaptive")
    assert abs(adaptive["total_speedup"] - 2900) < 1e-6


def test_compress_bad_input_is_a_clear_error() -> None:
    for bad in (["--theta", "1.5"], ["--p", "2"], ["--n", "0"]):
        args = ["compress", "10", "--theta", "0.5", "--lambda", "100", "--p", "0.5", "--n", "2"]
        i = args.index(bad[0])
        args[i + 1] = bad[1]
        result = runner.invoke(venom_app, args)
        assert result.exit_code == 2 and "must be" in result.output


def test_monitor_json_and_prometheus() -> None:
    result = runner.invoke(venom_app, ["monitor", "0.3", "--interval", "0.05", "--json", "--prometheus"])
    assert result.exit_code == 0, result.output
    first_line, rest = result.stdout.split("\n", 1)
    history = json.loads(first_line)["history"]
    assert 1 <= len(history) <= 100 and "venom_omega_theta" in rest


def test_config_json_lists_services_with_sources() -> None:
    result = runner.invoke(omega_app, ["config", "--json"])
    assert result.exit_code == 0
    services = {s["service"]: s for s in json.loads(result.stdout)["services"]}
    ports = {v["name"]: v for v in services["ledger"]["values"]}["port"]
    assert ports["value"] == 9103 and ports["source"] == "venom up VENOM_PORT"


def test_benchmark_workload_is_three_waves_and_tiny_run_is_measured() -> None:
    assert [len(w) for w in plan_waves(wave_workload(4, 10))] == [1, 4, 1]
    result = run_benchmark(max_workers=2, parallel_tasks=2, iterations=20_000, repeats=1)
    assert result.kind == "measurement" and [p.workers for p in result.points] == [1, 2]
    assert 0 < result.parallel_fraction_measured < 1
    one, two = result.points
    assert one.speedup_measured == 1.0
    assert two.speedup_amdahl == amdahl_speedup(result.parallel_fraction_measured, 2)
    assert two.speedup_measured == one.wall_s / two.wall_s


def test_benchmark_cli_json() -> None:
    result = runner.invoke(venom_app, ["benchmark", "--json", "--max-workers", "1", "--tasks", "2",
                                       "--iterations", "1000", "--repeats", "1"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["kind"] == "measurement" and data["points"][0]["workers"] == 1
