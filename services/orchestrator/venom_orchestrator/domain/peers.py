"""F-ORCH-1: the peer table — who is there (discovery), healthy (pings), quarantined (arbiter), how loaded.

Load of a peer = its CPU EMA as a fraction (cpu_percent/100, EMA with time decay τ) + the tasks this
orchestrator has in flight there. A fully busy CPU thus counts like one task in flight; the
in-flight part is exact and immediate, the CPU part is as old as the last metrics sample.

Speed of a peer: the mean time its worker took per task (``TaskResultV1.elapsed_ms``, an EMA per
sample with weight α, :class:`SampleEMA`), learnt from the results this orchestrator receives.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from venom_orchestrator.domain.dispatch import Candidate
from venom_orchestrator.domain.ema import SampleEMA, TimeDecayEMA

#: Weight of one task's service time in a peer's estimate (about the last 1/α = 20 tasks count).
SERVICE_ALPHA = 0.05
#: Results a peer needs before its own estimate is used (until then it counts as a median peer):
#: one unlucky long task must not brand a peer slow for good.
SERVICE_MIN_SAMPLES = 5


@dataclass
class Peer:
    node: str
    tau_s: float
    addresses: list[str] = field(default_factory=list)
    version: str = ""
    capabilities: list[str] = field(default_factory=list)
    role: str = "generic"
    via: str = "self"
    present: bool = True  # joined and not left
    last_seen: datetime | None = None
    healthy: bool | None = None  # None: not checked yet
    health_failures: int = 0
    last_ping_ms: float | None = None
    quarantine: dict[str, object] | None = None
    cpu: TimeDecayEMA = field(init=False)
    service: SampleEMA = field(default_factory=lambda: SampleEMA(SERVICE_ALPHA))
    in_flight: int = 0
    tasks_succeeded: int = 0
    tasks_failed: int = 0
    tasks_lost: int = 0

    def __post_init__(self) -> None:
        self.cpu = TimeDecayEMA(self.tau_s)

    @property
    def quarantined(self) -> bool:
        return self.quarantine is not None

    def load(self, now: float) -> float:
        return self.in_flight + self.cpu.value_at(now) / 100.0

    def candidate(self, now: float) -> Candidate:
        return Candidate(node=self.node, load=self.load(now), healthy=bool(self.present and self.healthy),
                         quarantined=self.quarantined, in_flight=self.in_flight,
                         service_s=self.service.value if self.service.samples >= SERVICE_MIN_SAMPLES else None)


class PeerTable:
    def __init__(self, tau_s: float, *, failures_to_unhealthy: int = 2) -> None:
        self.tau_s = tau_s
        self.failures_to_unhealthy = failures_to_unhealthy
        self._peers: dict[str, Peer] = {}
        self._ordered: list[Peer] = []  # by node id, rebuilt when a peer is added

    def __contains__(self, node: str) -> bool:
        return node in self._peers

    def get(self, node: str) -> Peer | None:
        return self._peers.get(node)

    def all(self) -> list[Peer]:
        return list(self._ordered)

    def ensure(self, node: str) -> Peer:
        peer = self._peers.get(node)
        if peer is None:
            peer = self._peers[node] = Peer(node=node, tau_s=self.tau_s)
            self._ordered = [self._peers[n] for n in sorted(self._peers)]
        return peer

    def joined(self, node: str, *, addresses: list[str], version: str, capabilities: list[str], role: str,
               via: str, last_seen: datetime) -> Peer:
        peer = self.ensure(node)
        peer.addresses, peer.version, peer.capabilities = list(addresses), version, list(capabilities)
        peer.role, peer.via, peer.last_seen = role, via, last_seen
        if not peer.present:
            peer.healthy = None  # back after leaving: check again before dispatching
            peer.health_failures = 0
        peer.present = True
        return peer

    def left(self, node: str, *, last_seen: datetime | None = None) -> Peer | None:
        peer = self._peers.get(node)
        if peer is not None:
            peer.present = False
            peer.healthy = False
            if last_seen is not None:
                peer.last_seen = last_seen
        return peer

    def metrics(self, node: str, cpu_percent: float, now: float) -> None:
        """A metrics sample of a known peer (samples of nodes discovery never named are ignored)."""
        peer = self._peers.get(node)
        if peer is not None:
            peer.cpu.update(cpu_percent, now)

    def served(self, node: str, service_s: float) -> None:
        """A task came back: its worker took ``service_s`` seconds to run it."""
        peer = self._peers.get(node)
        if peer is not None and service_s >= 0:
            peer.service.update(service_s)

    def ping_ok(self, node: str, ms: float) -> None:
        peer = self._peers.get(node)
        if peer is not None:
            peer.healthy, peer.health_failures, peer.last_ping_ms = True, 0, ms

    def ping_failed(self, node: str) -> None:
        peer = self._peers.get(node)
        if peer is not None:
            peer.health_failures += 1
            if peer.health_failures >= self.failures_to_unhealthy or peer.healthy is None:
                peer.healthy = False

    def vanished(self, node: str) -> None:
        """A task's request went unanswered: unhealthy now, until a ping succeeds again."""
        peer = self._peers.get(node)
        if peer is not None:
            peer.healthy = False
            peer.health_failures = max(peer.health_failures, self.failures_to_unhealthy)
            peer.tasks_lost += 1

    def set_quarantine(self, node: str, info: dict[str, object] | None) -> None:
        if info is None:
            peer = self._peers.get(node)
            if peer is not None:
                peer.quarantine = None
            return
        self.ensure(node).quarantine = info

    def candidates(self, now: float) -> list[Candidate]:
        return [p.candidate(now) for p in self._ordered]
