"""`venom bench ledger` runs end to end on a small chain (figures are not asserted: no timing in tests)."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from venom_cli.main import app

pytestmark = pytest.mark.integration

FIGURES = ("append_per_s", "raw_insert_per_s", "verify_per_s", "raw_hash_per_s", "proof_ms_p50", "proof_ms_p99",
           "append_vs_raw_insert", "verify_vs_raw_hash", "raw_copy_per_s", "append_vs_raw_copy",
           "raw_insert_per_s_before", "raw_insert_per_s_after")


@pytest.mark.parametrize("direct", [False, True])
def test_bench_ledger_prints_every_figure(nats_url, postgres_url, monkeypatch, direct):
    monkeypatch.setenv("VENOM_NATS_URL", nats_url)
    monkeypatch.setenv("VENOM_DATABASE_URL", postgres_url)
    args = ["ledger", "--entries", "40", "--batch", "16", "--proofs", "20", "--json"] + (["--direct"] if direct else [])
    result = CliRunner().invoke(app, ["bench", *args])
    assert result.exit_code == 0, result.output
    figures = json.loads(result.stdout)
    assert figures["verified_ok"] is True and figures["tree_size"] >= 41  # a shared stream adds other events
    assert all(figures[k] > 0 for k in FIGURES)
    # the goal's baseline brackets the append: the mean of a raw insert right before and right after it
    assert figures["raw_insert_per_s"] == pytest.approx(
        (figures["raw_insert_per_s_before"] + figures["raw_insert_per_s_after"]) / 2, abs=0.1)
    assert figures["append_vs_raw_insert"] == pytest.approx(figures["append_per_s"] / figures["raw_insert_per_s"],
                                                            abs=0.002)
    assert figures["path"] == ("store" if direct else "service")
    assert figures["servers"] == {"nats": "external", "postgres": "external"}
    assert ("bus_consume_noop_per_s" in figures) is not direct
    assert set(figures["cpu_us_per_event"]) == {"decode", "encode", "chain", "merkle"}
    assert all(v > 0 for v in figures["cpu_us_per_event"].values())
    if not direct:  # external servers here: only the service's own processes and the machine are measured
        assert set(figures["append_cpu_us_per_event"]) == {"service", "encoder", "machine"}
        assert figures["append_cpu_us_per_event"]["service"] > 0
        assert figures["append_busy_cores"] >= 0
    # external servers here: the raw insert's client (this process) and the machine (a few milliseconds of
    # inserts: CPU clocks tick every 10 ms, so zero is possible here)
    assert set(figures["raw_insert_cpu_us_per_row"]) == {"client", "machine"}
    assert all(v >= 0 for v in figures["raw_insert_cpu_us_per_row"].values())
    assert figures["raw_insert_busy_cores"] >= 0


def test_bench_ledger_repeated_reports_medians_and_each_run(nats_url, postgres_url, monkeypatch):
    monkeypatch.setenv("VENOM_NATS_URL", nats_url)
    monkeypatch.setenv("VENOM_DATABASE_URL", postgres_url)
    args = ["ledger", "--entries", "30", "--batch", "16", "--proofs", "10", "--repeat", "2", "--json"]
    result = CliRunner().invoke(app, ["bench", *args])
    assert result.exit_code == 0, result.output
    figures = json.loads(result.stdout)
    assert figures["repeat"] == 2 and len(figures["runs"]) == 2
    ratios = [run["append_vs_raw_insert"] for run in figures["runs"]]
    assert all(r > 0 for r in ratios)
    assert figures["append_vs_raw_insert"] == pytest.approx(sum(ratios) / 2, abs=0.001)  # median of two
    assert figures["goals"]["append_ge_half_raw_insert"] == (figures["append_vs_raw_insert"] >= 0.5)
    assert figures["goals_met_in_runs"]["append_ge_half_raw_insert"] == sum(r >= 0.5 for r in ratios)
    assert figures["verified_ok"] is True and figures["path"] == "service"
    assert all(run["started_utc"] for run in figures["runs"])


def test_bench_ledger_refuses_keep_with_repeat():
    result = CliRunner().invoke(app, ["bench", "ledger", "--repeat", "2", "--keep"])
    assert result.exit_code == 2 and "--keep" in result.output
