"""Live readings to MetricsV1 (F-HW-2): rates need two samples, absent is None, θ from the H's present."""

from __future__ import annotations

import subprocess
import sys
from datetime import UTC, datetime

import pytest

from venom_hardware_agent.adapters.psutil_sampler import PsutilSampler
from venom_hardware_agent.domain.samples import HostReading, host_metrics
from venom_hardware_agent.domain.thermal import TempReading

GIB = 2**30


def reading(t: float, **kw: object) -> HostReading:
    base: dict[str, object] = dict(
        monotonic_s=t, sampled_at=datetime(2024, 1, 1, tzinfo=UTC), cpu_percent=40.0, cpu_count=8,
        mem_total_bytes=16 * GIB, mem_available_bytes=8 * GIB, mem_percent=50.0, swap_total_bytes=0,
        swap_used_bytes=0, disk_read_bytes=1_000, disk_write_bytes=5_000, net_rx_bytes=10_000, net_tx_bytes=0,
    )
    base.update(kw)
    return HostReading(**base)  # type: ignore[arg-type]


def test_first_sample_has_no_rates_second_has_them() -> None:
    first = host_metrics(reading(10.0), None, node="n1", seq=0, interval_s=1.0)
    assert first.disk_read_bytes_per_s is None and first.net_rx_bytes_per_s is None
    second = host_metrics(reading(12.0, disk_read_bytes=5_000, net_rx_bytes=30_000), reading(10.0),
                          node="n1", seq=1, interval_s=1.0)
    assert second.disk_read_bytes_per_s == 2_000.0 and second.net_rx_bytes_per_s == 10_000.0
    assert second.disk_write_bytes_per_s == 0.0 and second.net_tx_bytes_per_s == 0.0
    assert second.series["disk_read_bytes_per_s"] == 2_000.0


def test_no_thermal_sensor_means_none_and_renormalised_theta() -> None:
    m = host_metrics(reading(1.0), None, node="n1", seq=0, interval_s=1.0)
    assert m.temperature_c is None and m.temperature_critical_c is None and m.battery_percent is None
    assert m.theta.thermal_sensor is False and m.theta.h_term is None
    assert m.theta.theta == pytest.approx(0.55)  # (0.3·0.6 + 0.3·0.5) / 0.6
    assert "temperature_c" not in m.series and "battery_percent" not in m.series
    assert m.source == "psutil" and m.anoms == 0 and m.detector is None


def test_thermal_sensor_enters_theta() -> None:
    temps = (TempReading("coretemp", "Package id 0", 67.5, 80.0, None),)
    m = host_metrics(reading(1.0, temperatures=temps), None, node="n1", seq=0, interval_s=1.0)
    # T_crit = high 80 (no critical): H_TERM = 1 − 27.5/40
    assert m.temperature_c == 67.5 and m.temperature_critical_c == 80.0
    assert m.theta.h_term == pytest.approx(1 - 27.5 / 40)
    assert m.theta.theta == pytest.approx(0.3 * 0.6 + 0.3 * 0.5 + 0.4 * (1 - 27.5 / 40))


def test_the_real_sampler_reads_this_machine() -> None:
    sampler = PsutilSampler()
    a = sampler.read()
    b = sampler.read()
    m = host_metrics(b, a, node="n1", seq=1, interval_s=1.0)
    assert m.cpu_count is not None and m.cpu_count >= 1
    assert m.mem_total_bytes is not None and m.mem_total_bytes > 0
    assert m.theta.theta is not None and 0.0 <= m.theta.theta <= 1.0


def test_sampling_never_imports_torch() -> None:
    code = (
        "import sys\n"
        "from venom_hardware_agent.adapters.psutil_sampler import PsutilSampler\n"
        "from venom_hardware_agent.domain.samples import host_metrics\n"
        "import venom_hardware_agent.service\n"
        "s = PsutilSampler(); a = s.read(); b = s.read()\n"
        "host_metrics(b, a, node='n1', seq=1, interval_s=1.0)\n"
        "print('torch' in sys.modules)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True)
    assert out.stdout.strip() == "False"
