"""θ, the host's health in [0, 1] (F-HW-2, seed 004): θ = 0.3·H_CPU + 0.3·H_MEM + 0.4·H_TERM.

Each H is a "headroom" in [0, 1] (1 = idle / free / cool):

* ``H_CPU  = 1 − cpu_percent / 100`` — share of CPU time not busy over the last interval.
* ``H_MEM  = available / total`` — share of memory the kernel can hand out without swapping
  (psutil's ``available``); a replay with only ``mem_percent`` uses ``1 − mem_percent / 100``,
  which is the same quantity (psutil defines ``percent = (total − available) / total``).
* ``H_TERM = 1 − clamp((T − 40) / (T_crit − 40), 0, 1)`` — thermal headroom: 1 at or below
  40 °C, 0 at or above the critical temperature. ``T_crit`` is the sensor's ``critical``
  value, else its ``high`` value, else 95 °C; a limit at or below 40 °C cannot scale the
  formula and is ignored (95 °C is used).

An H that cannot be computed (no thermal sensor; a replay without that column) is left
out and θ is renormalised over the weights of the H's present, so θ stays a weighted
mean in [0, 1]: without a thermal sensor θ = (0.3·H_CPU + 0.3·H_MEM) / 0.6. The weights
actually used travel with θ. With no H at all θ is ``None`` — unknown, not 0 (a 0 would
read as "the host is failing").
"""

from __future__ import annotations

from venom_common.events.payloads import ThetaComponents

#: The seed's weights (seed 004 "θ (Theta)").
WEIGHTS: dict[str, float] = {"h_cpu": 0.3, "h_mem": 0.3, "h_term": 0.4}
#: Below this temperature the thermal headroom is full.
T_COOL_C = 40.0
#: The critical temperature used when the sensor reports no usable limit.
T_CRIT_DEFAULT_C = 95.0


def _clamp01(x: float) -> float:
    return 0.0 if x < 0.0 else 1.0 if x > 1.0 else x


def h_cpu(cpu_percent: float) -> float:
    """CPU headroom: ``1 − cpu_percent/100`` (clamped to [0, 1])."""
    return _clamp01(1.0 - cpu_percent / 100.0)


def h_mem(available_bytes: int, total_bytes: int) -> float | None:
    """Memory headroom: ``available/total``; None when the total is unknown (0)."""
    if total_bytes <= 0:
        return None
    return _clamp01(available_bytes / total_bytes)


def h_mem_from_percent(mem_percent: float) -> float:
    """Memory headroom from psutil's ``percent``: ``1 − mem_percent/100``."""
    return _clamp01(1.0 - mem_percent / 100.0)


def critical_temperature(critical_c: float | None, high_c: float | None = None) -> float:
    """The ``T_crit`` of the H_TERM formula: critical, else high, else 95 °C (limits ≤ 40 °C ignored)."""
    for limit in (critical_c, high_c):
        if limit is not None and limit > T_COOL_C:
            return limit
    return T_CRIT_DEFAULT_C


def h_term(temperature_c: float, critical_c: float | None = None, high_c: float | None = None) -> float:
    """Thermal headroom: ``1 − clamp((T − 40)/(T_crit − 40), 0, 1)``."""
    t_crit = critical_temperature(critical_c, high_c)
    return 1.0 - _clamp01((temperature_c - T_COOL_C) / (t_crit - T_COOL_C))


def theta(
    h_cpu: float | None, h_mem: float | None, h_term: float | None, *, thermal_sensor: bool | None = None
) -> ThetaComponents:
    """θ over the H's present, renormalised (see the module docstring)."""
    present = {name: value for name, value in (("h_cpu", h_cpu), ("h_mem", h_mem), ("h_term", h_term))
               if value is not None}
    total_weight = sum(WEIGHTS[name] for name in present)
    if present:
        weights = {name: WEIGHTS[name] / total_weight for name in present}
        value: float | None = _clamp01(sum(weights[name] * present[name] for name in present))
    else:
        weights = {}
        value = None
    return ThetaComponents(
        h_cpu=h_cpu,
        h_mem=h_mem,
        h_term=h_term,
        theta=value,
        thermal_sensor=(h_term is not None) if thermal_sensor is None else thermal_sensor,
        weights=weights,
    )
