"""`venom bench beats` end to end at a low rate: every service its own process, every beat ledgered."""

from __future__ import annotations

import pytest

from venom_cli.bench_beats import bench_beats

pytestmark = pytest.mark.e2e


async def test_bench_beats_ledgers_every_beat_and_reports_its_figures() -> None:
    result = await bench_beats(rate=20, duration=2, nodes=2, pipeline_depth=4)
    assert result["nodes"] == 2 and result["pipeline_depth"] == 4 and result["target_rate"] == 40
    assert result["beats_stored"] > 0
    assert result["beats_lost"] == 0
    assert result["beats_ledgered"] == result["beats_stored"]
    assert result["ledger_entries"] >= 7 * result["beats_ledgered"]
    for key in ("decision_ms_p50", "decision_ms_p99", "committed_ms_p50", "committed_ms_p99"):
        assert result[key] is not None and result[key] > 0, key
    assert set(result["cpu_ms_per_beat"]) == {"arbiter", "organs", "ledger", "nats-server", "postgres"}
    assert result["raw_js_publish_per_s"] > 0
