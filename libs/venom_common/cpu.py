"""CPU time of processes and of the whole machine, for the benchmarks' per-process figures (psutil).

A benchmark reads the CPU its processes have used before and after a timed phase and reports the
difference per event, beat or task: where the machine's cores went. The machine's own figure says
whether anything outside the benchmark was running meanwhile.
"""

from __future__ import annotations

import contextlib
from collections.abc import Collection, Mapping, Sequence

import psutil


def process_cpu_s(pid: int | None) -> float | None:
    """User + system CPU seconds process ``pid`` has used so far; ``None`` when it is gone (or no pid)."""
    if pid is None:
        return None
    try:
        t = psutil.Process(pid).cpu_times()
    except psutil.Error:
        return None
    return float(t.user + t.system)


def tree_cpu_s(pid: int | None) -> dict[int, float]:
    """CPU seconds so far of process ``pid`` and its children (e.g. PostgreSQL's postmaster and its
    backends), by pid: those that can be read now."""
    if pid is None:
        return {}
    try:
        procs = [psutil.Process(pid)]
        procs += procs[0].children()
    except psutil.Error:
        return {}
    out: dict[int, float] = {}
    for proc in procs:
        with contextlib.suppress(psutil.Error):
            t = proc.cpu_times()
            out[proc.pid] = float(t.user + t.system)
    return out


def machine_cpu_s() -> tuple[float, float]:
    """(busy, stolen) CPU seconds of the whole machine so far, all cores: busy is everything but idle
    and I/O wait (guest time is already in user time); stolen is time the hypervisor gave to other
    guests (Linux ``steal``)."""
    t = psutil.cpu_times()
    idle = t.idle + getattr(t, "iowait", 0.0)
    stolen = getattr(t, "steal", 0.0)
    return sum(t) - idle - stolen - getattr(t, "guest", 0.0) - getattr(t, "guest_nice", 0.0), stolen


class CpuMeter:
    """CPU seconds named groups of processes used between :meth:`start` and :meth:`used_s`, and the
    whole machine's busy seconds (``"machine"``). A group named in ``trees`` counts its processes'
    children too. A process that starts meanwhile counts from zero; one that ends is left out."""

    def __init__(self, groups: Mapping[str, Sequence[int | None]], trees: Collection[str] = ()) -> None:
        self.groups = dict(groups)
        self.trees = set(trees)
        self._before: dict[str, dict[int, float]] = {}
        self._machine_before = 0.0

    def _read(self) -> dict[str, dict[int, float]]:
        out: dict[str, dict[int, float]] = {}
        for name, pids in self.groups.items():
            seen: dict[int, float] = {}
            for pid in pids:
                if name in self.trees:
                    seen.update(tree_cpu_s(pid))
                elif pid is not None and (cpu := process_cpu_s(pid)) is not None:
                    seen[pid] = cpu
            out[name] = seen
        return out

    def start(self) -> None:
        self._before = self._read()
        self._machine_before = machine_cpu_s()[0]

    def used_s(self) -> dict[str, float]:
        after = self._read()
        used = {name: sum(cpu - self._before.get(name, {}).get(pid, 0.0) for pid, cpu in seen.items())
                for name, seen in after.items()}
        used["machine"] = machine_cpu_s()[0] - self._machine_before
        return used
