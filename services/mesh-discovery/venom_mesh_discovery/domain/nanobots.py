"""NanoBots (F-MESH-4): a node's role fixes how many items it holds; the oldest goes first when full."""

from __future__ import annotations

from collections import deque
from collections.abc import Iterator
from typing import Generic, TypeVar

from venom_mesh_discovery.domain.announce import Role

#: Capacity of each role (seed 000 "NanoBots"; SPEC F-MESH-4).
ROLE_CAPACITY: dict[Role, int] = {
    "memory_carrier": 200,
    "signal_relay": 50,
    "knowledge_keeper": 500,
    "generic": 100,
}

T = TypeVar("T")


class NanoBot(Generic[T]):
    """A FIFO store sized by role: storing into a full bot evicts (and returns) the oldest item."""

    def __init__(self, role: Role) -> None:
        if role not in ROLE_CAPACITY:
            raise ValueError(f"unknown role {role!r}; one of {sorted(ROLE_CAPACITY)}")
        self.role: Role = role
        self.capacity = ROLE_CAPACITY[role]
        self._items: deque[T] = deque()
        self.evicted = 0

    def __len__(self) -> int:
        return len(self._items)

    def __iter__(self) -> Iterator[T]:
        return iter(self._items)

    def store(self, item: T) -> T | None:
        """Keep ``item``; return the evicted oldest item when the bot was full, else None."""
        out: T | None = None
        if len(self._items) >= self.capacity:
            out = self._items.popleft()
            self.evicted += 1
        self._items.append(item)
        return out

    def items(self) -> list[T]:
        return list(self._items)
