"""Tail surprise of a sample against a bounded window of past samples (F-ML-3).

The surprise is rank-based, so it does not care about the metric's unit or scale, copes with
heavy tails and with metrics that are mostly zero (disk, network), and needs no distribution fit.
"""

from __future__ import annotations

import bisect
import math
from collections import deque


class RankedWindow:
    """The last ``capacity`` values, in arrival order and sorted (O(capacity) memory, O(log n + n) per push)."""

    def __init__(self, capacity: int) -> None:
        if capacity < 1:
            raise ValueError("capacity must be at least 1")
        self.capacity = capacity
        self._fifo: deque[float] = deque()
        self._sorted: list[float] = []

    def __len__(self) -> int:
        return len(self._sorted)

    def push(self, value: float) -> None:
        bisect.insort(self._sorted, value)
        self._fifo.append(value)
        if len(self._fifo) > self.capacity:
            oldest = self._fifo.popleft()
            del self._sorted[bisect.bisect_left(self._sorted, oldest)]

    def median(self) -> float:
        n = len(self._sorted)
        if n == 0:
            raise ValueError("median of an empty window")
        return self._sorted[n // 2]

    def surprise(self, value: float, *, cap: float) -> float:
        """-log10 of the smaller tail probability of ``value`` among the stored values, plus a bonus
        growing with how far beyond the seen range it lies; 0 for an empty window; at most ``cap``."""
        n = len(self._sorted)
        if n == 0:
            return 0.0
        at_or_above = n - bisect.bisect_left(self._sorted, value)
        at_or_below = bisect.bisect_right(self._sorted, value)
        tail = min(at_or_above, at_or_below) / n
        # A value never seen gets tail 0: use half a sample so the surprise stays finite and grows with n.
        s = -math.log10(max(tail, 0.5 / n))
        if tail == 0.0:
            lo, hi = self._sorted[0], self._sorted[-1]
            span = max(hi - lo, 1e-9 * max(1.0, abs(hi), abs(lo)))
            excess = value - hi if at_or_above == 0 else lo - value
            s += math.log2(1.0 + excess / span)
        return min(s, cap)
