"""Broadcast (F-MESH-2): fan-out to every peer but the sender, and the FIFO queue's adaptive delay."""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Generic, TypeVar

#: Seed 000: with more than 100 messages waiting the queue delivers every 0.3 ms, else every 1 ms.
BUSY_THRESHOLD = 100
BUSY_DELAY_S = 0.0003
IDLE_DELAY_S = 0.001

T = TypeVar("T")


def fan_out(sender: str, peers: Iterable[str]) -> list[str]:
    """The receivers of a broadcast from ``sender``: every known peer once, never the sender, in node order."""
    return sorted({p for p in peers if p != sender})


def delivery_delay(queued: int) -> float:
    """Pause before the next delivery, given how many are still queued (F-MESH-2)."""
    return BUSY_DELAY_S if queued > BUSY_THRESHOLD else IDLE_DELAY_S


@dataclass(frozen=True)
class Delivery(Generic[T]):
    target: str
    message: T


class FifoDeliveryQueue(Generic[T]):
    """Deliveries leave in the order they were queued; ``next_delivery`` says how long to wait after it."""

    def __init__(self, capacity: int = 100_000) -> None:
        self.capacity = capacity
        self._q: deque[Delivery[T]] = deque()
        self.dropped = 0

    def __len__(self) -> int:
        return len(self._q)

    def enqueue(self, targets: Iterable[str], message: T) -> int:
        """Queue one delivery per target; deliveries beyond ``capacity`` are dropped (and counted)."""
        n = 0
        for target in targets:
            if len(self._q) >= self.capacity:
                self.dropped += 1
                continue
            self._q.append(Delivery(target, message))
            n += 1
        return n

    def next_delivery(self) -> tuple[Delivery[T], float] | None:
        """The oldest delivery and the delay to apply after sending it, or None when empty."""
        if not self._q:
            return None
        d = self._q.popleft()
        return d, delivery_delay(len(self._q))
