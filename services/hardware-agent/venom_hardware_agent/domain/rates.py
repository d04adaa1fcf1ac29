"""Rates from cumulative counters (disk and network bytes, F-HW-1).

psutil reports totals since boot; a rate needs two samples. The first sample has no
rate (None, not 0). A counter that went down (wrapped, or a device disappeared) gives
None for that sample rather than a negative or a made-up rate.
"""

from __future__ import annotations


def counter_rate(previous: int | None, current: int | None, elapsed_s: float) -> float | None:
    """``(current − previous) / elapsed_s`` per second, or None when it cannot be known."""
    if previous is None or current is None or elapsed_s <= 0.0:
        return None
    delta = current - previous
    if delta < 0:
        return None
    return delta / elapsed_s
