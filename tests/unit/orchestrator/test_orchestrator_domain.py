"""Pure domain of the orchestrator: EMA with time decay, dispatch policies, the peer table, the simulation."""

from __future__ import annotations

import math
import random
from collections import Counter
from datetime import UTC, datetime

import pytest

from venom_orchestrator.domain.dispatch import (
    Candidate,
    LeastLoaded,
    NoEligiblePeer,
    PowerOfTwoChoices,
    RandomChoice,
    RoundRobin,
    eligible,
    policy_by_name,
)
from venom_orchestrator.domain.ema import TimeDecayEMA
from venom_orchestrator.domain.peers import PeerTable
from venom_orchestrator.domain.simulation import FleetConfig, compare_policies, percentile
from venom_orchestrator.domain.tasks import TaskBook, TaskRecord


def test_ema_weight_is_time_decay() -> None:
    ema = TimeDecayEMA(10.0)
    assert ema.update(100.0, 0.0) == 100.0
    w = math.exp(-5 / 10)
    assert ema.update(0.0, 5.0) == pytest.approx(100 * w)
    assert ema.weight(0) == 1.0 and ema.weight(10) == pytest.approx(math.exp(-1))
    # no news: the average ages towards rest
    assert ema.value_at(5.0) == pytest.approx(100 * w)
    assert ema.value_at(5.0 + 1000) == pytest.approx(0.0, abs=1e-9)
    # the same elapsed time gives the same average whatever the sampling rate
    a, b = TimeDecayEMA(10.0), TimeDecayEMA(10.0)
    a.update(50.0, 0.0)
    b.update(50.0, 0.0)
    a.update(90.0, 4.0)
    for t in (1.0, 2.0, 3.0, 4.0):
        b.update(90.0, t)
    assert a.value == pytest.approx(b.value)
    with pytest.raises(ValueError):
        TimeDecayEMA(0)
    with pytest.raises(ValueError):
        a.update(math.nan, 5.0)


def cands(*loads: float) -> list[Candidate]:
    return [Candidate(node=f"n{i}", load=x) for i, x in enumerate(loads)]


def test_policies() -> None:
    c = cands(3, 1, 2, 1)
    assert LeastLoaded(random.Random(1)).choose(c) in ("n1", "n3")
    rr = RoundRobin()
    assert [rr.choose(c) for _ in range(5)] == ["n0", "n1", "n2", "n3", "n0"]
    p2c = PowerOfTwoChoices(random.Random(1))
    picks = Counter(p2c.choose(c) for _ in range(4000))
    assert "n0" not in picks  # the most loaded never wins a pair
    assert picks["n1"] > picks["n2"] and picks["n3"] > picks["n2"]
    rnd = RandomChoice(random.Random(1))
    assert set(Counter(rnd.choose(c) for _ in range(200))) == {"n0", "n1", "n2", "n3"}
    for policy in (p2c, rr, LeastLoaded(), RandomChoice()):
        with pytest.raises(NoEligiblePeer):
            policy.choose([])
        assert policy.choose(cands(5)) == "n0"
    with pytest.raises(ValueError):
        policy_by_name("nope")


def test_eligible_filters_unhealthy_quarantined_and_excluded() -> None:
    c = [Candidate("a", 0), Candidate("b", 0, healthy=False), Candidate("c", 0, quarantined=True), Candidate("d", 0)]
    assert [x.node for x in eligible(c)] == ["a", "d"]
    assert [x.node for x in eligible(c, exclude=frozenset({"a"}))] == ["d"]


def test_peer_table() -> None:
    t = PeerTable(10.0, failures_to_unhealthy=2)
    now = datetime.now(UTC)
    t.joined("a", addresses=["x"], version="1", capabilities=[], role="generic", via="seed", last_seen=now)
    assert not t.candidates(0)[0].healthy  # unchecked
    t.ping_ok("a", 1.0)
    assert t.candidates(0)[0].healthy
    t.ping_failed("a")
    assert t.get("a").healthy  # one miss is not enough
    t.ping_failed("a")
    assert not t.get("a").healthy
    t.ping_ok("a", 1.0)
    t.metrics("a", 50.0, 0.0)
    t.metrics("ghost", 50.0, 0.0)
    assert "ghost" not in t
    t.get("a").in_flight = 2
    assert t.get("a").load(0.0) == pytest.approx(2.5)
    t.set_quarantine("a", {"reason": "x"})
    assert t.candidates(0)[0].quarantined
    t.set_quarantine("a", None)
    t.vanished("a")
    assert not t.get("a").healthy and t.get("a").tasks_lost == 1
    t.left("a")
    assert not t.get("a").present
    t.joined("a", addresses=[], version="1", capabilities=[], role="generic", via="seed", last_seen=now)
    assert t.get("a").present and t.get("a").healthy is None


def test_task_book_evicts_only_finished() -> None:
    book = TaskBook(keep=2)
    now = datetime.now(UTC)
    recs = [TaskRecord(task_id=str(i), task_type="sleep", payload={}, deadline_s=1, created_at=now) for i in range(3)]
    recs[0].status = "succeeded"
    for r in recs:
        book.add(r)
    assert book.get("0") is None and book.get("1") is not None and book.get("2") is not None


def test_percentile() -> None:
    assert percentile([1, 2, 3, 4], 50) == 2
    assert percentile(list(range(1, 101)), 99) == 99
    assert math.isnan(percentile([], 50))


def test_simulation_orders_the_policies() -> None:
    cfg = FleetConfig(duration_s=20.0)
    r = compare_policies(cfg, "stale")
    assert r["jsq_oracle"].p99_ms < r["p2c"].p99_ms < r["least_loaded"].p99_ms
    assert r["p2c"].p99_ms < 0.5 * r["round_robin"].p99_ms
    assert r["round_robin"].share_by_speed["speed_1"] == pytest.approx(0.5, abs=0.01)
    assert all(x.tasks > 1000 for x in r.values())
