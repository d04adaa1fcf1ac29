"""Which temperature is "the" host temperature (F-HW-1, F-HW-2).

psutil reports many sensors (per core, package, chipset, NVMe, Wi-Fi ...). H_TERM
uses the hottest plausible reading of a CPU sensor, because the CPU is what throttles;
when no CPU sensor is recognised, the hottest plausible reading of any sensor. A
reading outside −60…200 °C (a disconnected probe reports −273 or 255) is not
plausible and is ignored. No plausible reading means "no thermal sensor".
"""

from __future__ import annotations

from dataclasses import dataclass

#: psutil sensor (chip) names that measure the CPU package or its cores.
CPU_SENSOR_CHIPS = frozenset(
    {"coretemp", "k10temp", "k8temp", "zenpower", "cpu_thermal", "cpu-thermal", "soc_thermal", "cpu", "acpitz"}
)
PLAUSIBLE_MIN_C = -60.0
PLAUSIBLE_MAX_C = 200.0


@dataclass(frozen=True)
class TempReading:
    chip: str
    label: str
    current_c: float
    high_c: float | None = None
    critical_c: float | None = None

    @property
    def plausible(self) -> bool:
        return PLAUSIBLE_MIN_C <= self.current_c <= PLAUSIBLE_MAX_C


def _limit(value: float | None) -> float | None:
    """A sensor limit, or None when absent or implausible (some drivers report 0 or huge values)."""
    if value is None or not (PLAUSIBLE_MIN_C < value <= 250.0) or value == 0.0:
        return None
    return value


def pick_host_temperature(readings: list[TempReading]) -> TempReading | None:
    """The reading H_TERM uses (see the module docstring), or None."""
    plausible = [r for r in readings if r.plausible]
    cpu = [r for r in plausible if r.chip.lower() in CPU_SENSOR_CHIPS]
    pool = cpu or plausible
    if not pool:
        return None
    best = max(pool, key=lambda r: r.current_c)
    return TempReading(best.chip, best.label, best.current_c, _limit(best.high_c), _limit(best.critical_c))
