"""Pure domain of the orchestrator: EMA with time decay, dispatch policies, the peer table, the simulation."""

from __future__ import annotations

import math
import random
from collections import Counter
from datetime import UTC, datetime

import pytest

from venom_orchestrator.domain.dispatch import (
    Candidate,
    ExpectedDelayP2C,
    LeastLoaded,
    NoEligiblePeer,
    PowerOfTwoChoices,
    RandomChoice,
    RoundRobin,
    eligible,
    policy_by_name,
)
from venom_orchestrator.domain.ema import SampleEMA, TimeDecayEMA
from venom_orchestrator.domain.peers import SERVICE_MIN_SAMPLES, PeerTable
from venom_orchestrator.domain.simulation import POLICIES, FleetConfig, compare_policies, percentile, simulate
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


def test_sample_ema() -> None:
    ema = SampleEMA(0.1)
    assert ema.update(10.0) == 10.0
    assert ema.update(20.0) == pytest.approx(15.0)  # the first samples are a plain mean
    for _ in range(200):
        ema.update(30.0)
    assert ema.value == pytest.approx(30.0, abs=1e-6) and ema.samples == 202
    with pytest.raises(ValueError):
        SampleEMA(0.0)
    with pytest.raises(ValueError):
        ema.update(math.inf)


def test_expected_delay_p2c_picks_among_the_k_best() -> None:
    fast = [Candidate(f"f{i}", load=0.0, service_s=0.01) for i in range(4)]
    slow = [Candidate(f"s{i}", load=0.0, service_s=1.0) for i in range(4)]
    policy = ExpectedDelayP2C(random.Random(3), k=4)
    picks = Counter(policy.choose(fast + slow) for _ in range(2000))
    assert set(picks) == {"f0", "f1", "f2", "f3"}  # idle fast peers beat idle slow ones
    # a fast peer with a queue loses to an idle slow one once (load + 1)·√s is larger: 101·0.1 > 1·1
    busy_fast = [Candidate(f"f{i}", load=100.0, in_flight=100, service_s=0.01) for i in range(4)]
    assert set(Counter(policy.choose(busy_fast + slow) for _ in range(500))) == {"s0", "s1", "s2", "s3"}
    # two random among the k best, the better of the two: the best wins most, the k-th never
    ranked = [Candidate(f"n{i}", load=float(i), service_s=0.01) for i in range(6)]
    picks = Counter(policy.choose(ranked) for _ in range(4000))
    assert set(picks) == {"n0", "n1", "n2"} and picks["n0"] > picks["n1"] > picks["n2"]
    # unmeasured peers count as the median measured one
    mixed = [Candidate("new", load=0.0), Candidate("a", load=0.0, service_s=0.5), Candidate("b", load=0.0,
                                                                                          service_s=2.0)]
    assert set(Counter(ExpectedDelayP2C(random.Random(1), k=2).choose(mixed) for _ in range(500))) <= {"new", "a"}
    assert policy_by_name("p2c_delay").name == "p2c_delay"
    with pytest.raises(ValueError):
        ExpectedDelayP2C(k=1)


def test_peer_table_learns_service_times() -> None:
    t = PeerTable(10.0)
    t.joined("a", addresses=[], version="1", capabilities=[], role="generic", via="seed", last_seen=datetime.now(UTC))
    t.ping_ok("a", 1.0)
    for _ in range(SERVICE_MIN_SAMPLES - 1):
        t.served("a", 0.2)
        assert t.candidates(0)[0].service_s is None  # too few results to trust
    t.served("a", 0.2)
    t.get("a").in_flight = 3
    c = t.candidates(0)[0]
    assert c.service_s == pytest.approx(0.2) and c.in_flight == 3 and c.load == pytest.approx(3.0)


def test_simulation_orders_the_policies() -> None:
    """The service's view (own tasks in flight exact, CPU 1 s stale, speeds learnt) on a short run."""
    cfg = FleetConfig(duration_s=12.0)
    r = compare_policies(cfg, "service")
    assert r["p2c_delay"].p99_ms <= 1.2 * r["jsq_oracle"].p99_ms
    assert r["p2c_delay"].p99_ms <= 0.5 * r["round_robin"].p99_ms
    assert r["p2c_delay"].share_by_speed["speed_4"] > r["round_robin"].share_by_speed["speed_4"]  # speeds learnt
    assert r["round_robin"].share_by_speed["speed_1"] == pytest.approx(0.5, abs=0.01)
    assert all(x.tasks > 1000 for x in r.values())
    # with nothing but the 1 s old report, least-loaded herds and two random choices do not
    stale = compare_policies(cfg, "report", {"p2c": POLICIES["p2c"], "least_loaded": POLICIES["least_loaded"]})
    assert stale["jsq_oracle"].p99_ms < stale["p2c"].p99_ms < stale["least_loaded"].p99_ms
    with pytest.raises(ValueError):
        simulate(cfg, POLICIES["p2c"], "stale")  # type: ignore[arg-type]


def test_simulation_with_several_dispatchers_counts_each_ones_own_tasks() -> None:
    cfg = FleetConfig(duration_s=8.0, dispatchers=3)
    r = simulate(cfg, POLICIES["p2c_delay"], "service")
    rr = simulate(cfg, POLICIES["round_robin"], "service")
    assert r.tasks == rr.tasks > 1000 and r.p99_ms < 0.5 * rr.p99_ms
