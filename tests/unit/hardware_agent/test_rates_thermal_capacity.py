"""Counter rates, the host temperature pick, and the N/Λ/P capacity model (F-HW-1)."""

from __future__ import annotations

import pytest

from venom_hardware_agent.domain.capacity import derive_capacity, lambda_wrap, parallel_fraction
from venom_hardware_agent.domain.rates import counter_rate
from venom_hardware_agent.domain.thermal import TempReading, pick_host_temperature

GIB = 2**30


def test_counter_rate() -> None:
    assert counter_rate(None, 1000, 1.0) is None  # first sample: no rate
    assert counter_rate(1000, None, 1.0) is None  # counter vanished
    assert counter_rate(1000, 3000, 0.5) == 4000.0
    assert counter_rate(3000, 1000, 1.0) is None  # counter reset/wrapped: unknown, not negative
    assert counter_rate(1000, 1000, 0.0) is None  # no time elapsed


def test_pick_prefers_the_hottest_cpu_sensor_and_ignores_implausible_readings() -> None:
    readings = [
        TempReading("nvme", "Composite", 70.0, 80.0, 85.0),
        TempReading("coretemp", "Core 0", 55.0, 80.0, 100.0),
        TempReading("coretemp", "Package id 0", 58.0, 80.0, 100.0),
        TempReading("coretemp", "Core 1", 255.0),  # disconnected probe
    ]
    picked = pick_host_temperature(readings)
    assert picked is not None and (picked.label, picked.current_c, picked.critical_c) == ("Package id 0", 58.0, 100.0)


def test_pick_falls_back_to_any_sensor_then_to_none() -> None:
    picked = pick_host_temperature([TempReading("nvme", "Composite", 44.0, None, 0.0)])
    assert picked is not None and picked.current_c == 44.0 and picked.critical_c is None  # 0 limit = no limit
    assert pick_host_temperature([]) is None
    assert pick_host_temperature([TempReading("acpitz", "", -273.0)]) is None


@pytest.mark.parametrize(
    ("cores", "mem_gib", "lam", "p"),
    [
        (4, 4, 50.0, 0.65),  # seed 004: Raspberry Pi 4
        (8, 16, 400.0, 0.80),  # seed 004: laptop, 8 cores / 16 GB
        (32, 64, 832.0, 0.95),  # seed 004: cloud server, 32 cores / 64 GB (Λ capped)
    ],
)
def test_capacity_reproduces_the_seed_points(cores: int, mem_gib: int, lam: float, p: float) -> None:
    cap = derive_capacity(cores, mem_gib * GIB)
    assert cap.workers_n == cores
    assert cap.lambda_wrap == pytest.approx(lam)
    assert cap.parallel_fraction == pytest.approx(p)


def test_capacity_bounds_and_usable_cpus() -> None:
    assert lambda_wrap(1, GIB // 2) == 10.0  # floor
    assert lambda_wrap(128, 1024 * GIB, gpu_count=8) == 832.0  # cap
    assert lambda_wrap(2, 4 * GIB, gpu_count=1) == pytest.approx(2 * lambda_wrap(2, 4 * GIB))  # one GPU doubles
    assert lambda_wrap(2, 4 * GIB) == pytest.approx(25.0)
    assert parallel_fraction(1) == 0.5 and parallel_fraction(2) == pytest.approx(0.575)
    assert parallel_fraction(16) == pytest.approx(0.875) and parallel_fraction(256) == 0.95
    cap = derive_capacity(64, 64 * GIB, cpus_usable=4)  # a container limited to 4 CPUs
    assert cap.workers_n == 4 and cap.parallel_fraction == pytest.approx(0.65)
    ps = [parallel_fraction(n) for n in range(1, 100)]
    assert ps == sorted(ps)
