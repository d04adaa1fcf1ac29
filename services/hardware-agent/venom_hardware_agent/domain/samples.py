"""From a reading of the host (or a replay row) to one ``MetricsV1`` sample (F-HW-2).

Pure: the psutil adapter hands in a :class:`HostReading`, the replay reader a
:class:`ReplayRow`; both come out as the same event payload, so everything
downstream treats live and recorded data alike. Absent is ``None``, never 0.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime

from pydantic import ValidationError

from venom_common.events.payloads import MetricsV1
from venom_hardware_agent.domain import theta as th
from venom_hardware_agent.domain.rates import counter_rate
from venom_hardware_agent.domain.thermal import TempReading, pick_host_temperature

#: MetricsV1 fields a replay column may fill, by name, and whether the field is an integer.
REPLAY_HOST_FIELDS: dict[str, bool] = {
    "cpu_percent": False,
    "cpu_count": True,
    "load_avg_1m": False,
    "mem_total_bytes": True,
    "mem_available_bytes": True,
    "mem_percent": False,
    "swap_total_bytes": True,
    "swap_used_bytes": True,
    "disk_percent": False,
    "disk_read_bytes_per_s": False,
    "disk_write_bytes_per_s": False,
    "net_rx_bytes_per_s": False,
    "net_tx_bytes_per_s": False,
    "temperature_c": False,
    "temperature_critical_c": False,
    "battery_percent": False,
}

#: Live figures that go into ``series`` (the detector's input): what changes with load.
#: Capacities (totals, core count, critical temperature) are left out.
LIVE_SERIES_FIELDS = (
    "cpu_percent",
    "load_avg_1m",
    "mem_available_bytes",
    "mem_percent",
    "swap_used_bytes",
    "disk_percent",
    "disk_read_bytes_per_s",
    "disk_write_bytes_per_s",
    "net_rx_bytes_per_s",
    "net_tx_bytes_per_s",
    "temperature_c",
    "battery_percent",
)


class ReplayValueError(ValueError):
    """A replay row whose values cannot be a valid sample (out of range, fractional count ...)."""


@dataclass(frozen=True)
class HostReading:
    """What the psutil adapter read at one instant. Counters are totals since boot."""

    monotonic_s: float
    sampled_at: datetime
    cpu_percent: float
    cpu_count: int
    mem_total_bytes: int
    mem_available_bytes: int
    mem_percent: float
    swap_total_bytes: int
    swap_used_bytes: int
    load_avg_1m: float | None = None
    disk_percent: float | None = None
    disk_read_bytes: int | None = None
    disk_write_bytes: int | None = None
    net_rx_bytes: int | None = None
    net_tx_bytes: int | None = None
    temperatures: tuple[TempReading, ...] = ()
    battery_percent: float | None = None
    power_plugged: bool | None = None


@dataclass(frozen=True)
class ReplayRow:
    """One row of a replay file: its line number, time and values by column name."""

    line: int
    timestamp: datetime
    values: Mapping[str, float] = field(default_factory=dict)


def host_metrics(
    reading: HostReading, previous: HostReading | None, *, node: str, seq: int, interval_s: float
) -> MetricsV1:
    """One live sample: rates from the previous reading (None on the first), H's and θ."""
    elapsed = reading.monotonic_s - previous.monotonic_s if previous is not None else 0.0

    def rate(name: str) -> float | None:
        return counter_rate(getattr(previous, name) if previous else None, getattr(reading, name), elapsed)

    temp = pick_host_temperature(list(reading.temperatures))
    hc = th.h_cpu(reading.cpu_percent)
    hm = th.h_mem(reading.mem_available_bytes, reading.mem_total_bytes)
    ht = th.h_term(temp.current_c, temp.critical_c, temp.high_c) if temp is not None else None
    fields: dict[str, object] = {
        "cpu_percent": reading.cpu_percent,
        "cpu_count": reading.cpu_count,
        "load_avg_1m": reading.load_avg_1m,
        "mem_total_bytes": reading.mem_total_bytes,
        "mem_available_bytes": reading.mem_available_bytes,
        "mem_percent": reading.mem_percent,
        "swap_total_bytes": reading.swap_total_bytes,
        "swap_used_bytes": reading.swap_used_bytes,
        "disk_percent": reading.disk_percent,
        "disk_read_bytes_per_s": rate("disk_read_bytes"),
        "disk_write_bytes_per_s": rate("disk_write_bytes"),
        "net_rx_bytes_per_s": rate("net_rx_bytes"),
        "net_tx_bytes_per_s": rate("net_tx_bytes"),
        "temperature_c": temp.current_c if temp else None,
        # The sensor's own limit (critical, else high); H_TERM falls back to 95 °C without one.
        "temperature_critical_c": (temp.critical_c if temp.critical_c is not None else temp.high_c) if temp else None,
        "battery_percent": reading.battery_percent,
        "power_plugged": reading.power_plugged,
    }
    series = {name: float(fields[name]) for name in LIVE_SERIES_FIELDS if fields[name] is not None}  # type: ignore[arg-type]
    return MetricsV1(
        node=node,
        seq=seq,
        sampled_at=reading.sampled_at,
        source="psutil",
        interval_s=interval_s,
        theta=th.theta(hc, hm, ht, thermal_sensor=temp is not None),
        series=series,
        **fields,  # type: ignore[arg-type]
    )


def replay_metrics(
    row: ReplayRow, *, node: str, seq: int, interval_s: float, sampled_at: datetime | None = None
) -> MetricsV1:
    """One recorded sample: the columns named like MetricsV1 fields fill them; every column
    goes into ``series``; the H's the columns allow are computed and θ renormalised over them.

    Raises :class:`ReplayValueError` when the values cannot form a valid sample.
    """
    host: dict[str, float | int] = {}
    for name, is_int in REPLAY_HOST_FIELDS.items():
        if name not in row.values:
            continue
        value = row.values[name]
        if is_int:
            if not float(value).is_integer():
                raise ReplayValueError(f"column {name!r} must be a whole number, got {value!r}")
            host[name] = int(value)
        else:
            host[name] = value
    hc = th.h_cpu(host["cpu_percent"]) if "cpu_percent" in host else None
    hm: float | None = None
    if "mem_available_bytes" in host and "mem_total_bytes" in host:
        hm = th.h_mem(int(host["mem_available_bytes"]), int(host["mem_total_bytes"]))
    if hm is None and "mem_percent" in host:
        hm = th.h_mem_from_percent(host["mem_percent"])
    ht = th.h_term(host["temperature_c"], host.get("temperature_critical_c")) if "temperature_c" in host else None
    try:
        return MetricsV1(
            node=node,
            seq=seq,
            sampled_at=sampled_at or row.timestamp,
            source="replay",
            interval_s=interval_s,
            theta=th.theta(hc, hm, ht, thermal_sensor="temperature_c" in host),
            series=dict(row.values),
            replay_line=row.line,
            **host,  # type: ignore[arg-type]
        )
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in err['loc'])}: {err['msg']} (got {err.get('input')!r})" for err in exc.errors()
        )
        raise ReplayValueError(problems) from exc
