"""`venom bench ledger --repeat K`: K runs summarised as medians, the goals judged on the medians."""

from __future__ import annotations

import pytest

from venom_ledger.bench import goals, summarise_runs


def _run(append: float, before: float, after: float, *, size: int = 100_001, p99: float = 0.3,
         started: str = "2026-11-22T10:00:00Z") -> dict:
    raw = (before + after) / 2
    run = {"path": "service", "append_per_s": append, "raw_insert_per_s_before": before,
           "raw_insert_per_s_after": after, "raw_insert_per_s": raw, "append_vs_raw_insert": round(append / raw, 3),
           "verify_vs_raw_hash": 0.8, "proof_ms_p50": 0.1, "proof_ms_p99": p99, "tree_size": size,
           "verified_ok": True, "append_cpu_us_per_event": {"service": 40.0, "machine": 100.0},
           "started_utc": started}
    run["goals"] = goals(run)
    return run


def test_one_run_is_returned_as_it_is():
    run = _run(10_000, 30_000, 30_000)
    assert summarise_runs([run]) is run


def test_no_runs_is_an_error():
    with pytest.raises(ValueError, match="no runs"):
        summarise_runs([])


def test_medians_of_the_runs_ratios_and_the_goals_on_the_medians():
    runs = [_run(10_000, 40_000, 40_000, started="a"),   # 0.25
            _run(12_000, 20_000, 20_000, started="b"),   # 0.6
            _run(15_000, 25_000, 35_000, started="c")]   # 0.5
    out = summarise_runs(runs)
    assert out["repeat"] == 3
    assert out["append_vs_raw_insert"] == 0.5  # the median of the runs' ratios, not a ratio of medians
    assert out["append_per_s"] == 12_000 and out["raw_insert_per_s"] == 30_000
    assert out["goals"]["append_ge_half_raw_insert"] is True
    assert out["goals_met_in_runs"]["append_ge_half_raw_insert"] == 2
    assert out["goals_met_in_runs"]["verify_ge_half_raw_hash"] == 3
    # proof goals apply at 1,000,000 entries only: not judged, not counted
    assert out["goals"]["proof_p99_le_1ms_at_1M"] is None and out["goals_met_in_runs"]["proof_p99_le_1ms_at_1M"] is None
    assert out["append_cpu_us_per_event"] == {"service": 40.0, "machine": 100.0}
    assert out["verified_ok"] is True and out["path"] == "service"
    assert [r["started_utc"] for r in out["runs"]] == ["a", "b", "c"]
    assert [r["append_vs_raw_insert"] for r in out["runs"]] == [0.25, 0.6, 0.5]


def test_one_run_that_did_not_verify_makes_the_summary_say_so():
    runs = [_run(10_000, 20_000, 20_000), _run(10_000, 20_000, 20_000)]
    runs[1]["verified_ok"] = False
    assert summarise_runs(runs)["verified_ok"] is False


def test_proof_goals_at_a_million_entries_are_judged_on_the_median_p99():
    runs = [_run(10_000, 20_000, 20_000, size=1_000_001, p99=p99) for p99 in (0.8, 1.4, 0.9)]
    out = summarise_runs(runs)
    assert out["proof_ms_p99"] == 0.9
    assert out["goals"]["proof_p99_le_1ms_at_1M"] is True
    assert out["goals_met_in_runs"]["proof_p99_le_1ms_at_1M"] == 2
