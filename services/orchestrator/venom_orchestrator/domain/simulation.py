"""A simulated heterogeneous fleet for comparing dispatch policies (docs/BENCHMARKS.md "Dispatch").

Peers of different speeds each serve one task at a time, first come first served. Tasks arrive as a
Poisson process at ``utilisation`` × the fleet's total capacity; each has an exponential size
(mean ``mean_task_s`` on a speed-1 peer) and takes size/speed on the peer it lands on.

What a policy sees — the same :class:`~venom_orchestrator.domain.dispatch.Candidate` list the
service builds, passed to the same policy objects the service uses:

* ``view="stale"``: each peer's number of tasks (queued + running) as it was at the last report,
  reports every ``stale_s`` seconds (load information 1 s stale, as the issue asks);
* ``view="stale+own"``: that report plus the tasks this dispatcher sent there since — what the
  service knows (it counts its tasks in flight the moment it dispatches);
* the JSQ oracle is :class:`LeastLoaded` fed the true, current count.

Latency = waiting + service. The first ``warmup`` fraction of tasks is left out of the figures.
"""

from __future__ import annotations

import math
import random
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Literal

from venom_orchestrator.domain.dispatch import (
    Candidate,
    DispatchPolicy,
    LeastLoaded,
    PowerOfTwoChoices,
    RandomChoice,
    RoundRobin,
)

View = Literal["stale", "stale+own", "oracle"]


@dataclass(frozen=True)
class FleetConfig:
    speeds: tuple[float, ...] = (1.0,) * 8 + (2.0,) * 4 + (4.0,) * 4
    mean_task_s: float = 0.05
    utilisation: float = 0.8
    stale_s: float = 1.0
    duration_s: float = 60.0
    warmup: float = 0.1
    seed: int = 5

    @property
    def capacity_per_s(self) -> float:
        return sum(self.speeds) / self.mean_task_s

    @property
    def arrival_per_s(self) -> float:
        return self.utilisation * self.capacity_per_s


@dataclass(frozen=True)
class SimResult:
    policy: str
    view: View
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


def _workload(cfg: FleetConfig) -> list[tuple[float, float]]:
    rng = random.Random(cfg.seed)
    out: list[tuple[float, float]] = []
    t = 0.0
    while True:
        t += rng.expovariate(cfg.arrival_per_s)
        if t > cfg.duration_s:
            return out
        out.append((t, rng.expovariate(1.0 / cfg.mean_task_s)))


def simulate(cfg: FleetConfig, policy: DispatchPolicy, view: View,
             workload: list[tuple[float, float]] | None = None) -> SimResult:
    work = workload if workload is not None else _workload(cfg)
    n = len(cfg.speeds)
    names = [f"peer-{i:02d}" for i in range(n)]
    index = {name: i for i, name in enumerate(names)}
    finishes: list[deque[float]] = [deque() for _ in range(n)]  # finish times of tasks still in the system
    last_finish = [0.0] * n
    reported = [0] * n
    own_since = [0] * n
    next_report = 0.0
    latencies: list[float] = []
    sent = [0] * n
    skip = int(len(work) * cfg.warmup)

    def in_system(i: int, now: float) -> int:
        q = finishes[i]
        while q and q[0] <= now:
            q.popleft()
        return len(q)

    load_of: Callable[[int, float], float]
    if view == "oracle":
        load_of = in_system
    elif view == "stale":
        load_of = lambda i, now: float(reported[i])  # noqa: E731
    else:
        load_of = lambda i, now: float(reported[i] + own_since[i])  # noqa: E731

    for k, (arrival, size) in enumerate(work):
        while arrival >= next_report:  # the periodic load reports (metrics), taken at the report time
            for i in range(n):
                reported[i] = in_system(i, next_report)
                own_since[i] = 0
            next_report += cfg.stale_s
        candidates = [Candidate(node=names[i], load=load_of(i, arrival)) for i in range(n)]
        i = index[policy.choose(candidates)]
        start = max(arrival, last_finish[i])
        finish = start + size / cfg.speeds[i]
        last_finish[i] = finish
        finishes[i].append(finish)
        own_since[i] += 1
        if k >= skip:
            latencies.append(finish - arrival)
            sent[i] += 1
    latencies.sort()
    total = max(1, sum(sent))
    share: dict[str, float] = {}
    for i, speed in enumerate(cfg.speeds):
        key = f"speed_{speed:g}"
        share[key] = share.get(key, 0.0) + sent[i] / total
    return SimResult(
        policy=policy.name, view=view, tasks=len(latencies),
        mean_ms=1000.0 * sum(latencies) / max(1, len(latencies)),
        p50_ms=1000.0 * percentile(latencies, 50), p99_ms=1000.0 * percentile(latencies, 99),
        max_ms=1000.0 * latencies[-1] if latencies else math.nan,
        share_by_speed={k: round(v, 4) for k, v in share.items()},
    )


def compare_policies(cfg: FleetConfig, view: View = "stale") -> dict[str, SimResult]:
    """Every policy on the same workload: p2c, round-robin, random, least-loaded (all seeing ``view``)
    and the JSQ oracle (least-loaded seeing the truth)."""
    work = _workload(cfg)
    runs: list[tuple[str, DispatchPolicy, View]] = [
        ("p2c", PowerOfTwoChoices(random.Random(cfg.seed + 1)), view),
        ("round_robin", RoundRobin(), view),
        ("random", RandomChoice(random.Random(cfg.seed + 2)), view),
        ("least_loaded", LeastLoaded(random.Random(cfg.seed + 3)), view),
        ("jsq_oracle", LeastLoaded(random.Random(cfg.seed + 4)), "oracle"),
    ]
    return {name: simulate(cfg, policy, v, work) for name, policy, v in runs}
