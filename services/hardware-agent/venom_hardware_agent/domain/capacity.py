"""N, Λ and P of a host (F-HW-1, seed 004): a capacity *model*, not a measurement.

Seed 004 names three numbers derived from the hardware and gives three example
configurations (Raspberry Pi 4: N=4, Λ=50, P=0.65; laptop with 8 cores and 16 GB:
N=8, Λ=400, P=0.80; server with 32 cores and 64 GB: N=32, Λ=832, P=0.95) but no
formula. This module states one that reproduces those points; nothing here was
measured, and Λ and P are indices for the rest of VENOM, not predictions of speed.

* ``N`` (workers) = the CPUs this process may use (scheduler affinity / container
  limit), else the logical core count.
* ``Λ`` (lambda_wrap) = clamp(3.125 · N · M · (1 + G), 10, 832), where M is total memory
  in GiB and G the number of GPUs. 3.125 = 400 / (8 · 16) fits the laptop point; the Pi
  (4 cores, 4 GiB) gives 50 and the server (32 cores, 64 GiB) saturates at the cap 832.
  The GPU factor is this project's choice (the seed only says Λ "scales with GPU").
* ``P`` (parallel fraction, Amdahl's P) = piecewise linear in log2(N) through
  (1 core, 0.50), (4, 0.65), (8, 0.80), (32, 0.95), constant outside. The 1-core anchor
  is this project's choice; the others are the seed's points.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from itertools import pairwise

MODEL_NAME = "seed004-v1"
LAMBDA_MIN = 10.0
LAMBDA_MAX = 832.0
LAMBDA_PER_CORE_GIB = 400.0 / (8 * 16)  # 3.125
GIB = 1024**3
#: (log2(N), P) anchors of the parallel-fraction curve.
P_ANCHORS: tuple[tuple[float, float], ...] = ((0.0, 0.50), (2.0, 0.65), (3.0, 0.80), (5.0, 0.95))


@dataclass(frozen=True)
class Capacity:
    workers_n: int
    lambda_wrap: float
    parallel_fraction: float


def workers(cores_logical: int, cpus_usable: int | None = None) -> int:
    """N: the usable CPUs when known, else the logical cores (at least 1)."""
    return max(1, cpus_usable if cpus_usable is not None else cores_logical)


def lambda_wrap(workers_n: int, mem_total_bytes: int, gpu_count: int = 0) -> float:
    """Λ = clamp(3.125 · N · GiB · (1 + G), 10, 832)."""
    raw = LAMBDA_PER_CORE_GIB * workers_n * (mem_total_bytes / GIB) * (1 + max(0, gpu_count))
    return min(LAMBDA_MAX, max(LAMBDA_MIN, raw))


def parallel_fraction(workers_n: int) -> float:
    """P: piecewise linear in log2(N) through the anchors, constant outside them."""
    x = math.log2(max(1, workers_n))
    if x <= P_ANCHORS[0][0]:
        return P_ANCHORS[0][1]
    for (x0, p0), (x1, p1) in pairwise(P_ANCHORS):
        if x <= x1:
            return p0 + (p1 - p0) * (x - x0) / (x1 - x0)
    return P_ANCHORS[-1][1]


def derive_capacity(
    cores_logical: int, mem_total_bytes: int, *, cpus_usable: int | None = None, gpu_count: int = 0
) -> Capacity:
    n = workers(cores_logical, cpus_usable)
    return Capacity(
        workers_n=n,
        lambda_wrap=round(lambda_wrap(n, mem_total_bytes, gpu_count), 6),
        parallel_fraction=round(parallel_fraction(n), 6),
    )
