"""A simulated heterogeneous fleet for comparing dispatch policies (docs/BENCHMARKS.md "Dispatch").

Peers of different speeds each serve one task at a time, first come first served. Tasks arrive as a
Poisson process at ``utilisation`` × the fleet's total capacity; each has an exponential size
(mean ``mean_task_s`` on a speed-1 peer) and takes size/speed on the peer it lands on.

Every dispatcher (``dispatchers`` of them, each taking an equal random share of the arrivals, as
several orchestrator replicas behind one address would) keeps the service's own
:class:`~venom_orchestrator.domain.peers.PeerTable` and asks the same policy objects the service
uses, through the same :meth:`PeerTable.candidates`. The table is fed only what the service is fed,
derived from simulated events:

* ``view="service"`` (what the orchestrator knows):
  - a **metrics report** every ``stale_s`` seconds per peer: the CPU percentage of the last interval
    (the fraction of it the peer was busy), into the table's CPU EMA (τ = ``ema_tau_s``) — load
    information ``stale_s`` old and smoothed, as ``venom.metrics.*`` gives it;
  - **its own tasks in flight**: +1 when it dispatches, −1 when the result comes back (at the task's
    finish time) — exact for its own tasks, blind to the other dispatchers' ones;
  - **service times**: each result carries the time the worker took (``elapsed_ms``), learnt per peer.
* ``view="report"``: load = each peer's task count (queued + running) as reported every ``stale_s``
  seconds, and nothing else — a dispatcher that does not count its own dispatches (the first
  version of this simulation; kept to show what stale information alone does).

The JSQ oracle is :class:`LeastLoaded` fed the true, current task count of every peer.
Latency = waiting + service. The first ``warmup`` fraction of tasks is left out of the figures.
"""

from __future__ import annotations

import heapq
import math
import random
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Literal

from venom_orchestrator.domain.dispatch import (
    Candidate,
    DispatchPolicy,
    ExpectedDelayP2C,
    LeastLoaded,
    PowerOfTwoChoices,
    RandomChoice,
    RoundRobin,
)
from venom_orchestrator.domain.peers import PeerTable

View = Literal["service", "report"]
PolicyFactory = Callable[[random.Random], DispatchPolicy]


@dataclass(frozen=True)
class FleetConfig:
    speeds: tuple[float, ...] = (1.0,) * 8 + (2.0,) * 4 + (4.0,) * 4
    mean_task_s: float = 0.05
    utilisation: float = 0.8
    stale_s: float = 1.0
    duration_s: float = 60.0
    warmup: float = 0.1
    seed: int = 5
    dispatchers: int = 1
    ema_tau_s: float = 10.0  # the service's default VENOM_EMA_TAU_S

    @property
    def capacity_per_s(self) -> float:
        return sum(self.speeds) / self.mean_task_s

    @property
    def arrival_per_s(self) -> float:
        return self.utilisation * self.capacity_per_s


@dataclass(frozen=True)
class SimResult:
    policy: str
    view: str
    tasks: int
    mean_ms: float
    p50_ms: float
    p99_ms: float
    max_ms: float
    share_by_speed: dict[str, float]


def percentile(sorted_values: Sequence[float], q: float) -> float:
    """Nearest-rank percentile of already sorted values."""
    if not sorted_values:
        return math.nan
    rank = max(1, math.ceil(q / 100.0 * len(sorted_values)))
    return sorted_values[min(rank, len(sorted_values)) - 1]


@dataclass(frozen=True)
class Arrival:
    at: float
    size: float  # seconds on a speed-1 peer
    dispatcher: int


def workload(cfg: FleetConfig) -> list[Arrival]:
    rng = random.Random(cfg.seed)
    split = random.Random(cfg.seed + 100)
    out: list[Arrival] = []
    t = 0.0
    while True:
        t += rng.expovariate(cfg.arrival_per_s)
        if t > cfg.duration_s:
            return out
        out.append(Arrival(t, rng.expovariate(1.0 / cfg.mean_task_s), split.randrange(cfg.dispatchers)))


class _Peer:
    """One simulated peer: FIFO, one task at a time."""

    def __init__(self, speed: float) -> None:
        self.speed = speed
        self.last_finish = 0.0
        self.finishes: deque[float] = deque()  # of tasks still in the system
        self.busy: deque[tuple[float, float]] = deque()  # (start, finish) not yet fully reported

    def in_system(self, now: float) -> int:
        while self.finishes and self.finishes[0] <= now:
            self.finishes.popleft()
        return len(self.finishes)

    def busy_fraction(self, start: float, end: float) -> float:
        """Share of [start, end] this peer was running a task (what its CPU percentage reports)."""
        busy = 0.0
        for s, f in self.busy:
            if s >= end:
                break
            busy += max(0.0, min(f, end) - max(s, start))
        while self.busy and self.busy[0][1] <= end:
            self.busy.popleft()
        return busy / (end - start)


def _table(names: list[str], tau_s: float) -> PeerTable:
    table = PeerTable(tau_s)
    now = datetime.now(UTC)
    for name in names:
        table.joined(name, addresses=[], version="sim", capabilities=["tasks"], role="generic", via="seed",
                     last_seen=now)
        table.ping_ok(name, 1.0)
    return table


def simulate(cfg: FleetConfig, make_policy: PolicyFactory | None, view: View | Literal["oracle"],
             work: list[Arrival] | None = None, *, seed: int = 0) -> SimResult:
    """One policy (``make_policy(rng)`` per dispatcher) on the fleet; ``view="oracle"``: JSQ on true counts."""
    if view not in ("service", "report", "oracle"):
        raise ValueError(f"unknown view {view!r}: service, report or oracle")
    arrivals = work if work is not None else workload(cfg)
    n = len(cfg.speeds)
    names = [f"peer-{i:02d}" for i in range(n)]
    index = {name: i for i, name in enumerate(names)}
    peers = [_Peer(speed) for speed in cfg.speeds]
    rng = random.Random(seed)
    if view == "oracle":
        oracle = LeastLoaded(random.Random(rng.random()))
        policies: list[DispatchPolicy] = [oracle] * cfg.dispatchers
    else:
        assert make_policy is not None
        policies = [make_policy(random.Random(rng.random())) for _ in range(cfg.dispatchers)]
    tables = [_table(names, cfg.ema_tau_s) for _ in range(cfg.dispatchers)]
    reported = [0] * n  # task counts at the last report (view "report")
    results: list[tuple[float, int, int, int, float]] = []  # heap: (finish, seq, dispatcher, peer, service_s)
    last_report, next_report = 0.0, cfg.stale_s
    latencies: list[float] = []
    sent = [0] * n
    skip = int(len(arrivals) * cfg.warmup)

    def results_until(t: float) -> None:
        while results and results[0][0] <= t:
            _, _, d, i, service_s = heapq.heappop(results)
            peer = tables[d].get(names[i])
            assert peer is not None
            peer.in_flight -= 1
            tables[d].served(names[i], service_s)

    for k, task in enumerate(arrivals):
        now = task.at
        while next_report <= now:  # the periodic metrics, in time order with the results before them
            results_until(next_report)
            for i, peer in enumerate(peers):
                cpu_percent = 100.0 * peer.busy_fraction(last_report, next_report)
                reported[i] = peer.in_system(next_report)
                for table in tables:
                    table.metrics(names[i], cpu_percent, next_report)
            last_report, next_report = next_report, next_report + cfg.stale_s
        results_until(now)
        table = tables[task.dispatcher]
        if view == "oracle":
            candidates = [Candidate(node=names[i], load=float(p.in_system(now))) for i, p in enumerate(peers)]
        elif view == "report":
            candidates = [Candidate(node=c.node, load=float(reported[index[c.node]]), service_s=c.service_s)
                          for c in table.candidates(now)]
        else:
            candidates = table.candidates(now)
        i = index[policies[task.dispatcher].choose(candidates)]
        peer = peers[i]
        start = max(now, peer.last_finish)
        service_s = task.size / peer.speed
        finish = start + service_s
        peer.last_finish = finish
        peer.finishes.append(finish)
        peer.busy.append((start, finish))
        chosen = table.get(names[i])
        assert chosen is not None
        chosen.in_flight += 1
        heapq.heappush(results, (finish, k, task.dispatcher, i, service_s))
        if k >= skip:
            latencies.append(finish - now)
            sent[i] += 1
    latencies.sort()
    total = max(1, sum(sent))
    share: dict[str, float] = {}
    for i, speed in enumerate(cfg.speeds):
        key = f"speed_{speed:g}"
        share[key] = share.get(key, 0.0) + sent[i] / total
    return SimResult(
        policy=policies[0].name, view=view, tasks=len(latencies),
        mean_ms=1000.0 * sum(latencies) / max(1, len(latencies)),
        p50_ms=1000.0 * percentile(latencies, 50), p99_ms=1000.0 * percentile(latencies, 99),
        max_ms=1000.0 * latencies[-1] if latencies else math.nan,
        share_by_speed={k: round(v, 4) for k, v in share.items()},
    )


#: The policies compared, by the name the service knows them under.
POLICIES: dict[str, PolicyFactory] = {
    "p2c_delay": lambda rng: ExpectedDelayP2C(rng),
    "p2c": lambda rng: PowerOfTwoChoices(rng),
    "round_robin": lambda rng: RoundRobin(),
    "random": lambda rng: RandomChoice(rng),
    "least_loaded": lambda rng: LeastLoaded(rng),
}


def compare_policies(cfg: FleetConfig, view: View = "service",
                     policies: dict[str, PolicyFactory] | None = None) -> dict[str, SimResult]:
    """Every policy on the same workload, each seeing ``view``, and the JSQ oracle (true counts)."""
    work = workload(cfg)
    out = {name: simulate(cfg, make, view, work, seed=cfg.seed + j)
           for j, (name, make) in enumerate((policies or POLICIES).items())}
    out["jsq_oracle"] = simulate(cfg, None, "oracle", work, seed=cfg.seed + 99)
    return out
