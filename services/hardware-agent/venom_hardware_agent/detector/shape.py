"""Shape novelty: how far the latest few samples are from every recent stretch of the same length (F-ML-3).

A discord in the matrix-profile sense, computed online over a bounded ring of past windows: the
distance from the current window of ``width`` values to its nearest neighbour among the last
``capacity`` windows, skipping the ``width`` most recent ones (they overlap the current window and
would always be near). A burst of an unusual form — a different rhythm, a changed volatility —
has no near neighbour even when each value alone is ordinary.
"""

from __future__ import annotations

from collections import deque

import numpy as np


class WindowDiscord:
    def __init__(self, width: int, capacity: int, *, min_neighbours: int = 1) -> None:
        if width < 2 or capacity <= width:
            raise ValueError(f"need width >= 2 and capacity > width, got width={width} capacity={capacity}")
        if not 1 <= min_neighbours <= capacity - width:
            raise ValueError(f"min_neighbours must be in 1..{capacity - width}, got {min_neighbours}")
        self.width = width
        self.min_neighbours = min_neighbours
        self.capacity = capacity
        self._recent: deque[float] = deque(maxlen=width)
        self._ring = np.zeros((capacity, width), dtype=np.float64)
        self._written = 0  # windows written so far (ring position = written % capacity)

    def __len__(self) -> int:
        return min(self._written, self.capacity)

    def push(self, value: float) -> float | None:
        """Add a sample; return the nearest-neighbour distance of the window it completes, or None
        while fewer than ``min_neighbours`` comparable past windows exist (a nearest neighbour among
        a handful is far by chance, and such early distances would inflate what counts as usual)."""
        self._recent.append(value)
        if len(self._recent) < self.width:
            return None
        window = np.fromiter(self._recent, dtype=np.float64, count=self.width)
        stored = len(self)
        distance: float | None = None
        if stored - self.width >= self.min_neighbours:
            ages = np.arange(self.width, stored)  # age 0 = the window written last
            rows = (self._written - 1 - ages) % self.capacity
            diff = self._ring[rows] - window
            distance = float(np.sqrt(np.min(np.einsum("ij,ij->i", diff, diff))))
        self._ring[self._written % self.capacity] = window
        self._written += 1
        return distance
