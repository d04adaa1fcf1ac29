"""F-ORCH-2: choosing a peer for a task. The service and the simulation call the same policies.

Every policy takes the eligible candidates (healthy, not quarantined — :func:`eligible`) as the
dispatcher sees them (:class:`Candidate`) and returns one node id.

What the dispatcher knows about a peer, and how fresh it is:

* **its own tasks in flight there** — exact and immediate (+1 when it sends, −1 when the result
  comes back);
* **the peer's CPU** (``venom.metrics.*``, a sample about every second, smoothed by an EMA): the only
  sign of work *other* dispatchers sent, and up to a second or more old;
* **the peer's speed** — the mean time its worker took per task (``TaskResultV1.elapsed_ms``), learnt
  from results (:class:`~venom_orchestrator.domain.peers.PeerTable`).

``load`` = own tasks in flight + CPU EMA as a fraction.

Default: **p2c_delay** (:class:`ExpectedDelayP2C`) — *power of two choices among the k best*:
score every peer by ``(load + 1) · √(service time)``, keep the ``k = 4`` best, sample two of them at
random and send to the better of the two.

* Why two random choices at all: pure least-loaded sends everything to the minimum of figures that
  are partly old; until the next report every task — of every dispatcher that saw the same report —
  lands on the same "least loaded" peer (herding). Sampling two spreads a burst while keeping most of
  the gain of load information (Mitzenmacher 2001). The own-in-flight count limits herding by one
  dispatcher (each dispatch raises the chosen peer's load at once); the random pair limits herding
  *across* dispatchers, whose tasks show only in the stale CPU figure.
* Why among the k best rather than two of all: plain P2C on a heterogeneous fleet compares two random
  peers and so sends most tasks to whichever pair it drew, slow ones included (in the simulation it
  was 2.4 × the JSQ oracle at p99); the k best are the peers worth comparing.
* Why ``(load + 1) · √s``: ``(load + 1) · s`` is the expected delay of the task being placed
  (shortest expected delay, SED); it is greedy — it ran the fast peers at ~98 % busy and made every
  later task queue behind them (p99 fine, mean 1.3 × JSQ). ``load + 1`` alone (JSQ) ignores speed.
  The square root is the middle way; in the simulation it beat both SED and JSQ on mean and p99 on
  the issue's fleet and on the other fleets tried (docs/BENCHMARKS.md, "Dispatch, again"). It is a
  choice made by measurement among β ∈ {0, ½, 1} for ``(load + 1) · s^β``, not derived.
* A peer with fewer than 5 results counts as the median measured peer (unknown peers are tried,
  one unlucky long task does not brand a peer slow for good).

The simulation (``simulation.py``) feeds the policies the same :class:`PeerTable` the service uses,
from simulated events only, and compares them with round-robin, random, least-loaded, plain P2C and a
join-shortest-queue oracle that sees every peer's true queue.
"""

from __future__ import annotations

import math
import random
from collections.abc import Sequence
from typing import NamedTuple, Protocol


class Candidate(NamedTuple):
    """A peer as the dispatcher sees it. ``load``: tasks this dispatcher has in flight there + the
    peer's CPU EMA as a fraction; ``in_flight``: the first part alone (exact, immediate);
    ``service_s``: the peer's mean time per task as measured so far, ``None`` before its first result.

    Immutable; a named tuple rather than a frozen dataclass because one is made per peer for every
    dispatch (half the construction time, measured)."""

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

