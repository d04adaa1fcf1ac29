"""The supervisor restarts a crashed child with backoff, reports it, and stops leaving nothing behind."""

from __future__ import annotations

import asyncio
import os
import textwrap
import time
from pathlib import Path

import psutil
import pytest
from venom_cli.services import ServiceSpec
from venom_cli.supervisor import Backoff, Supervisor


class RecordingSink:
    def __init__(self) -> None:
        self.lines: list[tuple[str, str, str]] = []
        self.reports: list[tuple[str, str]] = []

    def child_line(self, service: str, line: str, stream: str) -> None:
        self.lines.append((service, line, stream))

    def report(self, service: str, message: str) -> None:
        self.reports.append((service, message))


def _module(tmp_path: Path, name: str, body: str) -> ServiceSpec:
    (tmp_path / f"{name}.py").write_text(textwrap.dedent(body))
    return ServiceSpec(name=name.replace("_", "-"), module=name, port=0, env={"PYTHONPATH": str(tmp_path)})


async def _until(condition, timeout: float = 20.0) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(0.02)


def _dead(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True


def test_backoff_doubles_to_the_cap_and_resets_after_a_long_uptime() -> None:
    backoff = Backoff(initial_s=0.5, max_s=30.0, reset_after_s=60.0)
    delays = []
    delay = None
    for _ in range(9):
        delay = backoff.next_delay(delay, uptime_s=1.0)
        delays.append(delay)
    assert delays == [0.5, 1.0, 2.0, 4.0, 8.0, 16.0, 30.0, 30.0, 30.0]
    assert backoff.next_delay(30.0, uptime_s=61.0) == 0.5


async def test_a_crashing_child_is_restarted_with_backoff_and_each_restart_is_reported(tmp_path: Path) -> None:
    pids = tmp_path / "pids.txt"
    spec = _module(tmp_path, "crashy", f"""
        import os, sys
        with open({str(pids)!r}, "a") as fh:
            fh.write(f"{{os.getpid()}} {{os.environ['VENOM_PORT']}}\\n")
        print("hello from", os.getpid(), flush=True)
        print("about to crash", file=sys.stderr, flush=True)
        sys.exit(3)
    """)
    sink = RecordingSink()
    supervisor = Supervisor([spec.with_port(9999)], sink, backoff=Backoff(initial_s=0.1, max_s=0.4, reset_after_s=60),
                            grace_s=2)
    await supervisor.start()
    child = supervisor.children["crashy"]
    try:
        await _until(lambda: child.restarts >= 4)
    finally:
        await supervisor.stop()

    restart_reports = [m for s, m in sink.reports if s == "crashy" and "restart #" in m]
    assert restart_reports[0].startswith("exited with code 3")
    assert "restart #1 in 0.1s" in restart_reports[0]
    assert "restart #2 in 0.2s" in restart_reports[1]
    assert "restart #3 in 0.4s" in restart_reports[2]
    assert "restart #4 in 0.4s" in restart_reports[3]  # capped at max_s
    assert child.last_exit_code == 3
    started = [line.split() for line in pids.read_text().splitlines()]
    assert len({pid for pid, _port in started}) >= 4  # really new processes
    assert {port for _pid, port in started} == {"9999"}  # VENOM_PORT given to every child
    assert ("crashy", "about to crash", "stderr") in sink.lines
    assert any(s == "crashy" and line.startswith("hello from") and stream == "stdout" for s, line, stream in sink.lines)
    assert all(_dead(int(pid)) for pid, _port in started)
    assert child.phase == "stopped"


async def test_stop_kills_a_child_that_ignores_sigterm_and_its_grandchildren(tmp_path: Path) -> None:
    pids = tmp_path / "pids.txt"
    spec = _module(tmp_path, "stubborn", f"""
        import os, signal, subprocess, sys, time
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        grandchild = subprocess.Popen([sys.executable, "-c", "import signal, time; "
                                       "signal.signal(signal.SIGTERM, signal.SIG_IGN); time.sleep(600)"])
        with open({str(pids)!r}, "w") as fh:
            fh.write(f"{{os.getpid()}} {{grandchild.pid}}\\n")
        print("ready", flush=True)
        time.sleep(600)
    """)
    sink = RecordingSink()
    supervisor = Supervisor([spec], sink, grace_s=0.5)
    await supervisor.start()
    await _until(lambda: ("stubborn", "ready", "stdout") in sink.lines)
    child_pid, grandchild_pid = (int(p) for p in pids.read_text().split())
    assert psutil.Process(grandchild_pid).is_running()
    started = time.monotonic()
    await supervisor.stop()
    assert time.monotonic() - started < 10
    await _until(lambda: _dead(child_pid) and _dead(grandchild_pid))  # SIGKILLed: gone, on a slow machine too
    assert any("killing it" in m for _s, m in sink.reports)
    assert supervisor.children["stubborn"].restarts == 0  # a stop is not a crash


async def test_a_child_that_stops_on_sigterm_is_not_killed(tmp_path: Path) -> None:
    spec = _module(tmp_path, "polite", """
        import signal, sys, time
        def bye(*_):
            print("bye", flush=True)
            sys.exit(0)
        signal.signal(signal.SIGTERM, bye)
        print("ready", flush=True)
        time.sleep(600)
    """)
    sink = RecordingSink()
    supervisor = Supervisor([spec], sink, grace_s=10)
    await supervisor.start()
    await _until(lambda: ("polite", "ready", "stdout") in sink.lines)
    pid = supervisor.children["polite"].pid
    assert pid is not None and pid != os.getpid()
    await supervisor.stop()
    assert ("polite", "bye", "stdout") in sink.lines
    assert not any("killing" in m for _s, m in sink.reports)
    assert supervisor.children["polite"].last_exit_code == 0
    assert _dead(pid)


@pytest.mark.parametrize("module,expected", [("venom_cli", True), ("venom_common", False), ("no_such_mod_x", False)])
def test_only_modules_with_a_main_are_runnable(module: str, expected: bool) -> None:
    from venom_cli.services import module_is_runnable

    assert module_is_runnable(module) is expected
