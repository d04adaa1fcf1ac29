"""A thread-safe θ monitor (F-HW-2), usable as a library and by ``venom monitor``.

It reads the host with the hardware agent's own code — :class:`PsutilSampler` and
:func:`venom_hardware_agent.domain.samples.host_metrics` (θ = 0.3·H_CPU + 0.3·H_MEM +
0.4·H_TERM, renormalised over the H's present, see docs/HARDWARE.md) — keeps the last
``history_size`` (100) snapshots, and exports them for Prometheus from its own registry::

    with ThetaMonitor(interval_s=1.0) as monitor:   # a background thread samples
        monitor.wait_for_samples(3, timeout_s=10)
        monitor.latest().theta, monitor.history(), monitor.prometheus_text()

    monitor = ThetaMonitor(); monitor.sample()      # or sample on demand, no thread: the CPU share
                                                    # covers the time since this thread's previous
                                                    # sample (or the monitor's creation; a thread's
                                                    # first sample otherwise covers ~0 s)

Every public method may be called from any thread.
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from prometheus_client import CollectorRegistry, Counter, Gauge, generate_latest
from venom_hardware_agent.adapters.psutil_sampler import PsutilSampler
from venom_hardware_agent.domain.samples import HostReading, host_metrics

from venom_omega.mobius import Mode, mode_for

DEFAULT_HISTORY = 100


@dataclass(frozen=True)
class ThetaSnapshot:
    seq: int
    sampled_at: datetime
    theta: float | None
    h_cpu: float | None
    h_mem: float | None
    h_term: float | None
    thermal_sensor: bool
    weights: dict[str, float]
    cpu_percent: float | None
    mem_percent: float | None
    temperature_c: float | None
    mode: Mode | None

    def to_json(self) -> dict[str, object]:
        return {
            "seq": self.seq, "sampled_at": self.sampled_at.isoformat(), "theta": self.theta,
            "h_cpu": self.h_cpu, "h_mem": self.h_mem, "h_term": self.h_term,
            "thermal_sensor": self.thermal_sensor, "weights": dict(self.weights),
            "cpu_percent": self.cpu_percent, "mem_percent": self.mem_percent,
            "temperature_c": self.temperature_c, "mode": str(self.mode) if self.mode else None,
        }


class ThetaMonitor:
    """Samples θ; keeps the last ``history_size`` snapshots; Prometheus text on demand."""

    def __init__(
        self, *, interval_s: float = 1.0, history_size: int = DEFAULT_HISTORY, node: str = "local",
        read: Callable[[], HostReading] | None = None,
    ) -> None:
        if not interval_s > 0:
            raise ValueError(f"interval_s must be > 0, got {interval_s!r}")
        if history_size < 1:
            raise ValueError(f"history_size must be ≥ 1, got {history_size!r}")
        self.interval_s = float(interval_s)
        self.node = node
        self._read = read
        # psutil keeps cpu_percent's previous reading per *thread*: each thread samples with its own
        # PsutilSampler (primed when created), so the CPU share always covers that thread's interval.
        self._samplers = threading.local()
        if read is None:
            self._samplers.sampler = PsutilSampler()
        self._lock = threading.Lock()
        self._cond = threading.Condition(self._lock)
        self._history: deque[ThetaSnapshot] = deque(maxlen=history_size)
        self._previous: HostReading | None = None
        self._seq = 0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.registry = CollectorRegistry()
        self._g_theta = Gauge("venom_omega_theta", "θ of the host (NaN when unknown)", registry=self.registry)
        self._g_h = Gauge("venom_omega_headroom", "θ's components H (NaN when absent)", ["component"],
                          registry=self.registry)
        self._c_samples = Counter("venom_omega_theta_samples", "θ snapshots taken", registry=self.registry)
        self._g_mode = Gauge("venom_omega_mode", "1 for the current Möbius mode band of θ", ["mode"],
                             registry=self.registry)

    # --- sampling ---

    def sample(self) -> ThetaSnapshot:
        """Read the host once, append the snapshot to the history and return it."""
        with self._lock:
            reading = self._read() if self._read is not None else self._thread_sampler().read()
            metrics = host_metrics(reading, self._previous, node=self.node, seq=self._seq,
                                   interval_s=self.interval_s)
            self._previous = reading
            th = metrics.theta
            snap = ThetaSnapshot(
                seq=self._seq, sampled_at=metrics.sampled_at, theta=th.theta, h_cpu=th.h_cpu, h_mem=th.h_mem,
                h_term=th.h_term, thermal_sensor=th.thermal_sensor, weights=dict(th.weights),
                cpu_percent=metrics.cpu_percent, mem_percent=metrics.mem_percent,
                temperature_c=metrics.temperature_c, mode=mode_for(th.theta) if th.theta is not None else None,
            )
            self._seq += 1
            self._history.append(snap)
            self._export(snap)
            self._cond.notify_all()
            return snap

    def _thread_sampler(self) -> PsutilSampler:
        sampler = getattr(self._samplers, "sampler", None)
        if sampler is None:
            sampler = self._samplers.sampler = PsutilSampler()
        return sampler

    def _export(self, snap: ThetaSnapshot) -> None:
        nan = float("nan")
        self._g_theta.set(snap.theta if snap.theta is not None else nan)
        for name in ("h_cpu", "h_mem", "h_term"):
            value = getattr(snap, name)
            self._g_h.labels(component=name).set(value if value is not None else nan)
        for mode in Mode:
            self._g_mode.labels(mode=str(mode)).set(1.0 if snap.mode is mode else 0.0)
        self._c_samples.inc()

    # --- background thread ---

    def start(self) -> ThetaMonitor:
        with self._lock:
            if self._thread is not None:
                return self
            self._stop.clear()
            self._thread = threading.Thread(target=self._loop, name="venom-theta-monitor", daemon=True)
            self._thread.start()
        return self

    def stop(self, timeout_s: float = 5.0) -> None:
        self._stop.set()
        thread = self._thread
        if thread is not None:
            thread.join(timeout_s)
        with self._lock:
            self._thread = None

    def __enter__(self) -> ThetaMonitor:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def _loop(self) -> None:
        if self._read is None:
            self._thread_sampler()  # prime this thread's CPU reading now
        # the first sample comes one interval after start: the CPU share is measured over an interval
        while not self._stop.wait(self.interval_s):
            self.sample()

    # --- reading ---

    def latest(self) -> ThetaSnapshot | None:
        with self._lock:
            return self._history[-1] if self._history else None

    def theta(self) -> float | None:
        """The latest θ (None before the first sample or when unknown): a ``theta_source`` for waves."""
        snap = self.latest()
        return snap.theta if snap else None

    def history(self) -> list[ThetaSnapshot]:
        with self._lock:
            return list(self._history)

    @property
    def samples_taken(self) -> int:
        with self._lock:
            return self._seq

    def wait_for_samples(self, count: int, timeout_s: float) -> bool:
        """Block until ``count`` snapshots were taken in total (True) or the timeout (False)."""
        with self._cond:
            return self._cond.wait_for(lambda: self._seq >= count, timeout=timeout_s)

    def prometheus_text(self) -> bytes:
        with self._lock:
            return generate_latest(self.registry)
