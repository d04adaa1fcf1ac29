"""The live sampler: reads the host with psutil (F-HW-1, F-HW-2).

One :meth:`PsutilSampler.read` is one instant of the host as a
:class:`~venom_hardware_agent.domain.samples.HostReading`; the domain turns two
consecutive readings into rates, H's and θ. What the platform does not have
(temperatures, battery, load average, disk counters in some containers) is None.

* CPU: ``psutil.cpu_percent(None)`` — busy share since the previous read (the
  constructor primes it, so the first sample covers the time since start).
* Memory / swap: ``virtual_memory()`` (``available`` is what can be given without
  swapping) and ``swap_memory()``.
* Disk: usage of ``disk_path``; read/write byte counters summed over all disks.
* Network: byte counters summed over all interfaces except loopback.
* Temperature: every ``sensors_temperatures()`` reading (the domain picks one).
* Battery: ``sensors_battery()``.

It never imports torch (the profile scanner may; the sampling path must not).
"""

from __future__ import annotations

import os
import time
from datetime import UTC, datetime

import psutil

from venom_hardware_agent.domain.samples import HostReading
from venom_hardware_agent.domain.thermal import TempReading


class PsutilSampler:
    def __init__(self, disk_path: str = "/") -> None:
        self.disk_path = disk_path
        psutil.cpu_percent(interval=None)  # prime: the next call reports the time since now
        self._cpu_count = psutil.cpu_count(logical=True) or os.cpu_count() or 1

    def read(self) -> HostReading:
        cpu = psutil.cpu_percent(interval=None)
        vm = psutil.virtual_memory()
        sw = psutil.swap_memory()
        disk_read, disk_write = self._disk_counters()
        net_rx, net_tx = self._net_counters()
        battery_percent, plugged = self._battery()
        return HostReading(
            monotonic_s=time.monotonic(),
            sampled_at=datetime.now(UTC),
            cpu_percent=min(100.0, max(0.0, float(cpu))),
            cpu_count=self._cpu_count,
            load_avg_1m=self._load_avg(),
            mem_total_bytes=int(vm.total),
            mem_available_bytes=int(vm.available),
            mem_percent=float(vm.percent),
            swap_total_bytes=int(sw.total),
            swap_used_bytes=int(sw.used),
            disk_percent=self._disk_percent(),
            disk_read_bytes=disk_read,
            disk_write_bytes=disk_write,
            net_rx_bytes=net_rx,
            net_tx_bytes=net_tx,
            temperatures=tuple(read_temperatures()),
            battery_percent=battery_percent,
            power_plugged=plugged,
        )

    @staticmethod
    def _load_avg() -> float | None:
        try:
            return max(0.0, float(os.getloadavg()[0]))
        except (OSError, AttributeError):
            return None

    def _disk_percent(self) -> float | None:
        try:
            return float(psutil.disk_usage(self.disk_path).percent)
        except OSError:
            return None

    @staticmethod
    def _disk_counters() -> tuple[int | None, int | None]:
        try:
            io = psutil.disk_io_counters(perdisk=False)
        except (OSError, RuntimeError):
            return None, None
        if io is None:
            return None, None
        return int(io.read_bytes), int(io.write_bytes)

    @staticmethod
    def _net_counters() -> tuple[int | None, int | None]:
        try:
            per_nic = psutil.net_io_counters(pernic=True)
        except OSError:
            return None, None
        nics = {name: c for name, c in per_nic.items() if not name.startswith("lo")}
        if not nics:
            return None, None
        return sum(c.bytes_recv for c in nics.values()), sum(c.bytes_sent for c in nics.values())

    @staticmethod
    def _battery() -> tuple[float | None, bool | None]:
        fn = getattr(psutil, "sensors_battery", None)
        if fn is None:
            return None, None
        try:
            battery = fn()
        except (OSError, RuntimeError):
            return None, None
        if battery is None:
            return None, None
        return min(100.0, max(0.0, float(battery.percent))), battery.power_plugged


def read_temperatures() -> list[TempReading]:
    """Every temperature psutil can read (empty when the platform has none)."""
    fn = getattr(psutil, "sensors_temperatures", None)
    if fn is None:
        return []
    try:
        chips = fn()
    except (OSError, RuntimeError):
        return []
    return [
        TempReading(chip=chip, label=entry.label or chip, current_c=float(entry.current),
                    high_c=entry.high, critical_c=entry.critical)
        for chip, entries in chips.items()
        for entry in entries
        if entry.current is not None
    ]


def has_battery() -> bool:
    return PsutilSampler._battery()[0] is not None
