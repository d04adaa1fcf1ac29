"""θ monitor (F-HW-2), OmegaArbiter, `venom config` sources (F-HW-4)."""

from __future__ import annotations

import threading
from dataclasses import replace
from datetime import UTC, datetime

import pytest
from venom_hardware_agent.domain.samples import HostReading
from venom_omega.config import all_service_configs, effective_config
from venom_omega.mobius import Mode
from venom_omega.monitor import ThetaMonitor
from venom_omega.omega_arbiter import OmegaArbiter
from venom_omega.waves import DependencyCycleError, WaveInputError, WaveTask
from venom_omega.workloads import fail, spin

GIB = 1024**3


def fake_reader(cpu_values: list[float]):  # noqa: ANN201
    """A reader of fixed host readings (the monitor's own interface), CPU busy share from the list."""
    it = iter(cpu_values)
    base = HostReading(monotonic_s=0.0, sampled_at=datetime(2026, 1, 1, tzinfo=UTC), cpu_percent=0.0, cpu_count=2,
                       mem_total_bytes=16 * GIB, mem_available_bytes=8 * GIB, mem_percent=50.0,
                       swap_total_bytes=0, swap_used_bytes=0)
    counter = {"i": 0}

    def read() -> HostReading:
        counter["i"] += 1
        return replace(base, cpu_percent=next(it), monotonic_s=float(counter["i"]))

    return read


def test_monitor_computes_theta_with_the_agents_formula() -> None:
    monitor = ThetaMonitor(read=fake_reader([40.0, 100.0]))
    snap = monitor.sample()
    # no thermal sensor: θ = (0.3·0.6 + 0.3·0.5) / 0.6 = 0.55 (docs/HARDWARE.md's example)
    assert snap.theta == pytest.approx(0.55) and snap.h_term is None and snap.mode is Mode.BALANCE
    assert monitor.sample().theta == pytest.approx(0.25) and monitor.theta() == pytest.approx(0.25)
    text = monitor.prometheus_text().decode()
    assert "venom_omega_theta 0.25" in text and 'venom_omega_headroom{component="h_term"} NaN' in text
    assert 'venom_omega_mode{mode="UNWRAP"} 1.0' in text


def test_monitor_keeps_the_last_100_and_is_thread_safe() -> None:
    monitor = ThetaMonitor(read=fake_reader([10.0] * 400))
    threads = [threading.Thread(target=lambda: [monitor.sample() for _ in range(100)]) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    history = monitor.history()
    assert len(history) == 100 and monitor.samples_taken == 400
    assert [s.seq for s in history] == list(range(300, 400))


def test_monitor_background_thread_samples_the_real_host() -> None:
    with ThetaMonitor(interval_s=0.02) as monitor:
        assert monitor.wait_for_samples(3, timeout_s=10)
        assert monitor.running
    assert not monitor.running
    latest = monitor.latest()
    assert latest is not None and latest.h_cpu is not None and 0 <= (latest.theta or 0) <= 1


def test_monitor_refuses_bad_parameters() -> None:
    with pytest.raises(ValueError, match="interval"):
        ThetaMonitor(interval_s=0)
    with pytest.raises(ValueError, match="history"):
        ThetaMonitor(history_size=0)


def test_omega_arbiter_enabled_runs_waves_through_the_executor_throttled_by_theta() -> None:
    monitor = ThetaMonitor(read=fake_reader([95.0]))
    monitor.sample()  # θ = (0.3·0.05 + 0.3·0.5)/0.6 = 0.275 → UNWRAP → 1 worker
    arbiter = OmegaArbiter(enable_omega=True, workers=2, kind="thread", theta_source=monitor.theta)
    tasks = [WaveTask("a", spin, (10,)), WaveTask("b", spin, (10,)), WaveTask("c", fail, (), depends_on=("a",)),
             WaveTask("d", spin, (1,), depends_on=("c",))]
    report = arbiter.execute_waves(tasks)
    assert report.failed == ["c"] and report.skipped == ["d"]
    assert [w.workers for w in report.waves] == [1, 1, 1]
    status = arbiter.status()
    assert status.enable_omega and status.runs == 1 and (status.tasks_ok, status.tasks_failed,
                                                         status.tasks_skipped) == (2, 1, 1)
    assert status.last_theta == pytest.approx(0.275)


def test_omega_arbiter_disabled_runs_in_order_one_at_a_time() -> None:
    order: list[str] = []
    arbiter = OmegaArbiter(enable_omega=False, workers=4)
    tasks = [WaveTask("b", order.append, ("b",), depends_on=("a",)), WaveTask("a", order.append, ("a",))]
    report = arbiter.execute_waves(tasks)
    assert report.ok and order == ["a", "b"] and report.waves[0].workers == 1
    assert arbiter.status().workers == 1


def test_omega_arbiter_process_pool_and_bad_input() -> None:
    arbiter = OmegaArbiter(enable_omega=True, workers=2)
    assert arbiter.execute_waves([WaveTask("a", spin, (100,)), WaveTask("b", spin, (100,))]).ok
    with pytest.raises(DependencyCycleError):
        arbiter.execute_waves([WaveTask("a", spin, (1,), depends_on=("a",))])
    with pytest.raises(WaveInputError):
        OmegaArbiter(enable_omega=True, workers=0)
    with pytest.raises(WaveInputError):
        OmegaArbiter(theta=2.0)


def test_config_sources_env_registry_and_default() -> None:
    from venom_arbiter.settings import ArbiterSettings

    cfg = effective_config("arbiter", "venom_arbiter", ArbiterSettings,
                           environ={"VENOM_K_FLOWS": "8", "VENOM_NATS_PASSWORD": "hunter2", "VENOM_PORT": "1"},
                           registry_env={"VENOM_PORT": "9102"})
    values = {v.name: v for v in cfg.values}
    assert cfg.error is None
    assert (values["k_flows"].value, values["k_flows"].source) == (8.0, "env VENOM_K_FLOWS")
    assert (values["port"].value, values["port"].source) == (9102, "venom up VENOM_PORT")
    assert (values["t1_s"].value, values["t1_s"].source) == (0.001, "default")
    assert values["nats_password"].value == "<set>" and "hunter2" not in str(cfg.to_json())


def test_config_reports_invalid_settings_instead_of_values() -> None:
    from venom_arbiter.settings import ArbiterSettings

    cfg = effective_config("arbiter", "venom_arbiter", ArbiterSettings, environ={"VENOM_K_FLOWS": "-3"},
                           registry_env={})
    assert cfg.values == [] and cfg.error and "k_flows" in cfg.error


def test_config_covers_every_service_with_settings() -> None:
    configs = {c.service: c for c in all_service_configs(environ={})}
    for service, cls in (("hardware-agent", "HardwareAgentSettings"), ("arbiter", "ArbiterSettings"),
                         ("ledger", "LedgerSettings"), ("organ-regen", "OrganSettings")):
        assert configs[service].settings_class == cls and configs[service].error is None
    organ = {v.name: v for v in configs["organ-entropy"].values}
    assert organ["organ"].value == "entropy" and organ["port"].value == 9113


def test_background_first_sample_measures_the_cpu_over_an_interval() -> None:
    """psutil keeps cpu_percent's state per thread: a sampler primed in another thread gave 0.0 here."""
    stop = threading.Event()

    def burn() -> None:
        while not stop.is_set():
            sum(range(1000))

    burner = threading.Thread(target=burn)
    burner.start()
    try:
        with ThetaMonitor(interval_s=0.2) as monitor:
            assert monitor.wait_for_samples(1, timeout_s=10)
    finally:
        stop.set()
        burner.join()
    first = monitor.history()[0]
    assert first.cpu_percent is not None and first.cpu_percent > 0
