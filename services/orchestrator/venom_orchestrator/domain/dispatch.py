"""F-ORCH-2: choosing a peer for a task. The service and the simulation call the same policies.

Every policy takes the eligible candidates (healthy, not quarantined — :func:`eligible`) with the
load the dispatcher believes each has, and returns one node id.

Default: **power of two choices** (``PowerOfTwoChoices``). Pure least-loaded picks the minimum of
load figures that are always somewhat old (metrics come every second or so, the EMA lags): every
task dispatched until the next report goes to the same "least loaded" peer, which herds a burst
onto one node while the others idle. Sampling two peers at random and taking the less loaded of
the two keeps most of the benefit of load information (exponentially shorter queues than random,
Mitzenmacher 2001) while spreading a burst over the fleet. docs/BENCHMARKS.md "Dispatch" measures
it against round-robin, random, least-loaded and a join-shortest-queue oracle.
"""

from __future__ import annotations

import math
import random
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol


@dataclass(frozen=True)
class Candidate:
    """A peer as the dispatcher sees it. ``load``: tasks this dispatcher has in flight there + the
    peer's CPU EMA as a fraction; ``in_flight``: the first part alone (exact, immediate);
    ``service_s``: the peer's mean time per task as measured so far, ``None`` before its first result."""

    node: str
    load: float
    healthy: bool = True
    quarantined: bool = False
    in_flight: int = 0
    service_s: float | None = None


class NoEligiblePeer(LookupError):
    """No healthy, unquarantined peer to run a task on."""


def eligible(candidates: Sequence[Candidate], *, exclude: frozenset[str] = frozenset()) -> list[Candidate]:
    return [c for c in candidates if c.healthy and not c.quarantined and c.node not in exclude]


class DispatchPolicy(Protocol):
    name: str

    def choose(self, candidates: Sequence[Candidate]) -> str: ...


def _require(candidates: Sequence[Candidate]) -> None:
    if not candidates:
        raise NoEligiblePeer("no healthy, unquarantined peer")


class PowerOfTwoChoices:
    name = "p2c"

    def __init__(self, rng: random.Random | None = None) -> None:
        self.rng = rng or random.Random()

    def choose(self, candidates: Sequence[Candidate]) -> str:
        _require(candidates)
        if len(candidates) == 1:
            return candidates[0].node
        a, b = self.rng.sample(range(len(candidates)), 2)
        ca, cb = candidates[a], candidates[b]
        return ca.node if ca.load <= cb.load else cb.node


class LeastLoaded:
    """The minimum load; ties broken at random. With exact, fresh loads this is the JSQ oracle."""

    name = "least_loaded"

    def __init__(self, rng: random.Random | None = None) -> None:
        self.rng = rng or random.Random()

    def choose(self, candidates: Sequence[Candidate]) -> str:
        _require(candidates)
        low = min(c.load for c in candidates)
        return self.rng.choice([c.node for c in candidates if c.load == low])


class RoundRobin:
    name = "round_robin"

    def __init__(self) -> None:
        self._next = 0

    def choose(self, candidates: Sequence[Candidate]) -> str:
        _require(candidates)
        ordered = sorted(candidates, key=lambda c: c.node)
        node = ordered[self._next % len(ordered)].node
        self._next += 1
        return node


class RandomChoice:
    name = "random"

    def __init__(self, rng: random.Random | None = None) -> None:
        self.rng = rng or random.Random()

    def choose(self, candidates: Sequence[Candidate]) -> str:
        _require(candidates)
        return self.rng.choice(candidates).node


def _prior_service_s(candidates: Sequence[Candidate]) -> float:
    """What a peer not measured yet is assumed to take per task: the median of the measured ones
    (a newcomer is tried as an average peer and learnt), 1 when none is measured (all alike)."""
    known = sorted(c.service_s for c in candidates if c.service_s is not None and c.service_s > 0)
    if not known:
        return 1.0
    mid = len(known) // 2
    return known[mid] if len(known) % 2 else 0.5 * (known[mid - 1] + known[mid])


def delay_score(c: Candidate, prior_s: float) -> float:
    """(load + 1) · √(service time): the work ahead of a task sent now and the task itself, weighted
    by the square root of the peer's time per task (module docstring: why the root)."""
    service = c.service_s if c.service_s is not None and c.service_s > 0 else prior_s
    return (c.load + 1.0) * math.sqrt(service)


class ExpectedDelayP2C:
    """The service's default: power of two choices among the ``k`` peers with the shortest expected
    delay (module docstring)."""

    name = "p2c_delay"

    def __init__(self, rng: random.Random | None = None, *, k: int = 4) -> None:
        if k < 2:
            raise ValueError(f"k must be at least 2, got {k}")
        self.rng = rng or random.Random()
        self.k = k

    def choose(self, candidates: Sequence[Candidate]) -> str:
        _require(candidates)
        if len(candidates) == 1:
            return candidates[0].node
        prior = _prior_service_s(candidates)
        rng = self.rng
        # the k best by expected delay, ties in random order
        best = sorted((delay_score(c, prior), rng.random(), c.node) for c in candidates)[: self.k]
        a, b = rng.sample(best, 2)
        return min(a, b)[2]


def policy_by_name(name: str, rng: random.Random | None = None) -> DispatchPolicy:
    if name == "p2c_delay":
        return ExpectedDelayP2C(rng)
    if name == "p2c":
        return PowerOfTwoChoices(rng)
    if name == "least_loaded":
        return LeastLoaded(rng)
    if name == "round_robin":
        return RoundRobin()
    if name == "random":
        return RandomChoice(rng)
    raise ValueError(f"unknown dispatch policy {name!r}: p2c_delay, p2c, least_loaded, round_robin or random")

