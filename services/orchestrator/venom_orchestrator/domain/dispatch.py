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

import random
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol


@dataclass(frozen=True)
class Candidate:
    node: str
    load: float
    healthy: bool = True
    quarantined: bool = False


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


def policy_by_name(name: str, rng: random.Random | None = None) -> DispatchPolicy:
    if name == "p2c":
        return PowerOfTwoChoices(rng)
    if name == "least_loaded":
        return LeastLoaded(rng)
    if name == "round_robin":
        return RoundRobin()
    if name == "random":
        return RandomChoice(rng)
    raise ValueError(f"unknown dispatch policy {name!r}: p2c, least_loaded, round_robin or random")
