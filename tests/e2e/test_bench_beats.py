"""`venom bench beats` end to end at a low rate: every service its own process, every beat ledgered."""

from __future__ import annotations

import pytest

from venom_cli.bench_beats import bench_beats

pytestmark = pytest.mark.e2e


async def test_bench_beats_ledgers_every_beat_and_reports_its_figures() -> None:
    result = await bench_beats(rate=20, duration=2, nodes=2, pipeline_depth=4, floor_duration=1)
    assert result["nodes"] == 2 and result["pipeline_depth"] == 4 and result["target_rate"] == 40
    assert result["beats_stored"] > 0
    assert result["beats_lost"] == 0
    assert result["beats_ledgered"] == result["beats_stored"]
    assert result["ledger_entries"] >= 7 * result["beats_ledgered"]
    for key in ("decision_ms_p50", "decision_ms_p99", "committed_ms_p50", "committed_ms_p99"):
        assert result[key] is not None and result[key] > 0, key
    assert set(result["cpu_ms_per_beat"]) == {"arbiter", "organs", "ledger", "nats-server", "postgres"}
    assert result["raw_js_publish_per_s"] > 0
    # the raw baseline of the same run: the same messages with no work, every event consumed
    floor = result["floor"]
    assert floor["beats"] > 0 and floor["beats_per_s"] > 0
    assert floor["events_consumed"] == floor["events_expected"] == 7 * floor["beats"]
    assert floor["refused_batches"] == 0 and floor["depth"] == 4 and floor["atomic_batches"] is False
    assert set(floor["cpu_ms_per_beat"]) == {"arbiter", "organs", "ledger", "nats-server"}
    assert result["achieved_vs_floor"] == round(result["achieved_rate"] / floor["beats_per_s"], 3)


async def test_the_floor_with_atomic_batches_consumes_every_event(nats_url: str) -> None:
    import asyncio

    from venom_cli.beat_floor import run_floor

    floor = await asyncio.to_thread(run_floor, nats_url, 1.0, 2, True)
    assert floor["beats"] > 0 and floor["atomic_batches"] is True
    assert floor["events_consumed"] == floor["events_expected"] == 7 * floor["beats"]
    assert floor["refused_batches"] == 0
    assert set(floor["cpu_ms_per_beat"]) == {"arbiter", "organs", "ledger"}  # an external server: not metered
    with pytest.raises(ValueError):
        run_floor(nats_url, 0)


async def test_a_floor_that_fails_leaves_the_pipeline_figures_and_says_why(monkeypatch: pytest.MonkeyPatch) -> None:
    import venom_cli.beat_floor

    def broken(*args: object, **kwargs: object) -> dict[str, object]:
        raise RuntimeError("a floor process did not start in 90 s")

    monkeypatch.setattr(venom_cli.beat_floor, "run_floor", broken)
    result = await bench_beats(rate=20, duration=1, nodes=1, floor_duration=1)
    assert result["beats_lost"] == 0 and result["beats_ledgered"] > 0
    assert result["floor"] == {"error": "RuntimeError: a floor process did not start in 90 s"}
    assert result["achieved_vs_floor"] is None
