"""The peer table (F-MESH-1): who is alive, learnt how, and when a silent peer expires."""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Literal

from venom_mesh_discovery.domain.announce import Announcement, Role

Via = Literal["multicast", "seed", "dns"]


@dataclass(frozen=True)
class Peer:
    node: str
    addresses: tuple[str, ...]
    version: str
    capabilities: tuple[str, ...]
    role: Role
    via: Via
    interval_s: float
    first_seen: float
    last_seen: float
    source: str

    def expires_at(self, missed_intervals: int, min_interval_s: float) -> float:
        """A peer is gone after ``missed_intervals`` of its own announce intervals without a word."""
        return self.last_seen + missed_intervals * max(self.interval_s, min_interval_s)


@dataclass(frozen=True)
class PeerChange:
    status: Literal["joined", "left"]
    peer: Peer


class PeerTable:
    """Peers by node id. ``observe`` and ``expire`` return what changed, for the adapter to publish."""

    def __init__(self, missed_intervals: int, min_interval_s: float = 0.0, capacity: int = 10_000) -> None:
        if missed_intervals < 1:
            raise ValueError("missed_intervals must be >= 1")
        self.missed_intervals = missed_intervals
        self.min_interval_s = min_interval_s
        self.capacity = capacity
        self._peers: dict[str, Peer] = {}

    def __len__(self) -> int:
        return len(self._peers)

    def __contains__(self, node: object) -> bool:
        return node in self._peers

    def get(self, node: str) -> Peer | None:
        return self._peers.get(node)

    def peers(self) -> list[Peer]:
        return sorted(self._peers.values(), key=lambda p: p.node)

    def observe(self, ann: Announcement, via: Via, source: str, now: float) -> PeerChange | None:
        """Record a verified announcement; a node not in the table ``joined``."""
        old = self._peers.get(ann.node)
        if old is None and len(self._peers) >= self.capacity:
            return None  # bounded: a full table ignores newcomers until someone expires
        # Multicast is the strongest evidence of locality; keep the first way we learnt a peer otherwise.
        via_kept: Via = via if old is None or via == "multicast" else old.via
        peer = Peer(node=ann.node, addresses=tuple(ann.addresses), version=ann.version,
                    capabilities=tuple(ann.capabilities), role=ann.role, via=via_kept,
                    interval_s=ann.interval_s, first_seen=old.first_seen if old else now,
                    last_seen=max(now, old.last_seen) if old else now, source=source)
        self._peers[ann.node] = peer
        return PeerChange("joined", peer) if old is None else None

    def expire(self, now: float) -> list[PeerChange]:
        """Drop every peer silent for its missed intervals; return them as ``left``."""
        gone = [p for p in self._peers.values() if now > p.expires_at(self.missed_intervals, self.min_interval_s)]
        for p in gone:
            del self._peers[p.node]
        return [PeerChange("left", replace(p)) for p in sorted(gone, key=lambda p: p.node)]
