"""End to end: the ``venom`` command line runs the system as processes on this machine (F-PLAT-6, F-PLAT-3).

Everything is real: the CLI runs as subprocesses, with embedded nats-server and PostgreSQL in a
temporary data directory, and the real hardware agent publishing this machine's metrics.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest
from venom_cli.state import read_state
from venom_common.events import decode, subjects
from venom_common.events.payloads import MetricsV1

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(300)]

VENOM = [sys.executable, "-m", "venom_cli"]


def _env(node: str) -> dict[str, str]:
    """This environment without external servers: `venom up` must start its own."""
    env = {k: v for k, v in os.environ.items()
           if k not in ("VENOM_NATS_URL", "VENOM_DATABASE_URL", "VENOM_DATA_DIR", "VENOM_PORT")}
    env["VENOM_NODE_ID"] = node
    env["PYTHONUNBUFFERED"] = "1"
    return env


def venom(*args: str, env: dict[str, str], timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*VENOM, *args], env=env, capture_output=True, text=True, timeout=timeout, check=False)


def _alive(proc: psutil.Process) -> bool:
    try:
        return proc.is_running() and proc.status() != psutil.STATUS_ZOMBIE
    except psutil.Error:
        return False


def processes_mentioning(text: str) -> list[psutil.Process]:
    out = []
    for proc in psutil.process_iter(["cmdline"]):
        try:
            if text in " ".join(proc.info["cmdline"] or ()) and _alive(proc) and proc.pid != os.getpid():
                out.append(proc)
        except psutil.Error:
            continue
    return out


def descendants(pid: int) -> list[psutil.Process]:
    try:
        return psutil.Process(pid).children(recursive=True)
    except psutil.Error:
        return []


def _wait_until_gone(procs: list[psutil.Process], timeout: float = 30) -> list[psutil.Process]:
    """The processes still alive after ``timeout`` s (returns at once when none is). Generous: processes
    that were told to stop (e.g. a PostgreSQL backend after its postmaster) can take a few seconds to go on
    a loaded CI machine; the test asserts they go, not how fast."""
    deadline = time.monotonic() + timeout
    while True:
        alive = [p for p in procs if _alive(p)]
        if not alive or time.monotonic() > deadline:
            return alive
        time.sleep(0.1)


@pytest.fixture
def data_dir(tmp_path: Path, unique: str) -> Iterator[Path]:
    path = tmp_path / f"venom-{unique}"
    yield path
    # Whatever the test's outcome, leave nothing running.
    subprocess.run([*VENOM, "down", "--data-dir", str(path), "--timeout", "30"], capture_output=True, timeout=90,
                   check=False)


def test_up_detach_streams_this_machines_metrics_reports_status_and_down_leaves_nothing(
        data_dir: Path, unique: str) -> None:
    node = f"e2e-{unique}"
    env = _env(node)

    started = venom("up", "--detach", "--timeout", "150", "--data-dir", str(data_dir), env=env, timeout=200)
    assert started.returncode == 0, started.stdout + started.stderr
    state = read_state(data_dir)
    assert state is not None and state.phase == "running" and state.all_up
    assert "NATS" in started.stdout and state.nats is not None and state.nats.url in started.stdout
    assert state.postgres is not None and state.postgres.url in started.stdout
    recorded = state.recorded_processes()
    process_tree = descendants(state.process.pid)
    assert {"nats", "postgres", "hardware-agent", "venom"} <= {name for name, _ref in recorded}

    # Metrics of this machine arrive on the bus, as published (one JSON event per line).
    tail = venom("events", "tail", "--subject", subjects.METRICS_ALL, "--count", "2", "--timeout", "60",
                 "--data-dir", str(data_dir), env=env, timeout=90)
    assert tail.returncode == 0, tail.stderr
    lines = tail.stdout.splitlines()
    assert len(lines) == 2
    events = [decode(line.encode(), expected=MetricsV1) for line in lines]
    for event in events:
        assert event.data.node == node
        assert event.data.source == "psutil"
        assert event.data.cpu_count >= 1 and event.data.mem_total_bytes > 0
    assert events[0].id != events[1].id

    status = venom("status", "--json", "--data-dir", str(data_dir), env=env, timeout=60)
    report = json.loads(status.stdout)
    assert status.returncode == 0, status.stdout
    assert report["running"] is True
    by_name = {c["name"]: c for c in report["components"]}
    for name in ("nats", "postgres", "hardware-agent"):
        assert by_name[name]["healthy"] is True, report
    assert by_name["hardware-agent"]["ready"] is True
    assert by_name["hardware-agent"]["restarts"] == 0

    # A second `venom up` on the same data directory refuses at once, in both modes.
    for mode in ([], ["--detach"]):
        second = venom("up", *mode, "--data-dir", str(data_dir), env=env, timeout=30)
        assert second.returncode != 0
        assert "already running" in (second.stdout + second.stderr)
        assert str(state.process.pid) in (second.stdout + second.stderr)
    assert read_state(data_dir).process.pid == state.process.pid  # type: ignore[union-attr]

    stopped = venom("down", "--data-dir", str(data_dir), env=env)
    assert stopped.returncode == 0, stopped.stdout + stopped.stderr
    assert [name for name, ref in recorded if ref.alive()] == []
    assert _wait_until_gone(process_tree) == []
    assert processes_mentioning(str(data_dir)) == []

    after = venom("status", "--json", "--data-dir", str(data_dir), env=env)
    assert after.returncode == 1 and json.loads(after.stdout)["running"] is False
    again = venom("down", "--data-dir", str(data_dir), env=env)
    assert again.returncode == 0 and "not running" in again.stdout


FAKE_SERVICE = '''
import os, sys
from pathlib import Path
from venom_common.runner import run_service
from venom_common.settings import VenomSettings

class Fake:
    """A service of the project's shape that crashes once at start, then runs."""
    name = "fake"
    async def start(self, ctx):
        marker = Path(os.environ["FAKE_CRASH_MARKER"])
        if not marker.exists():
            marker.write_text("crashed once")
            print("crashing on purpose", file=sys.stderr, flush=True)
            os._exit(7)
    async def stop(self):
        pass
    def ready(self):
        return True

run_service(lambda settings: Fake(), VenomSettings(), "fake")
'''

DRIVER = '''
import sys
from pathlib import Path
from rich.console import Console
from venom_cli.services import ServiceSpec
from venom_cli.supervisor import Backoff
from venom_cli.up import UpOptions, run_up

packages, data_dir, marker = sys.argv[1:4]
sys.path.insert(0, packages)
spec = ServiceSpec("fake", "venom_fake_e2e", 9190, env={"PYTHONPATH": packages, "FAKE_CRASH_MARKER": marker})
sys.exit(run_up(UpOptions(data_dir=Path(data_dir), registry=(spec,), backoff=Backoff(0.2, 1.0, 60.0), grace_s=5),
                Console()))
'''


def test_up_restarts_a_crashing_service_reports_it_and_ctrl_c_stops_everything(
        tmp_path: Path, data_dir: Path, unique: str) -> None:
    packages = tmp_path / "packages"
    (packages / "venom_fake_e2e").mkdir(parents=True)
    (packages / "venom_fake_e2e" / "__init__.py").write_text("")
    (packages / "venom_fake_e2e" / "__main__.py").write_text(FAKE_SERVICE)
    env = _env(f"e2e-{unique}")
    up = subprocess.Popen([sys.executable, "-c", textwrap.dedent(DRIVER), str(packages), str(data_dir),
                           str(tmp_path / "crashed")], env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                          text=True)
    try:
        deadline = time.monotonic() + 90
        state = None
        while time.monotonic() < deadline:
            state = read_state(data_dir)
            if state is not None and state.all_up and state.process.pid == up.pid:
                break
            assert up.poll() is None, up.stdout.read() if up.stdout else ""
            time.sleep(0.2)
        assert state is not None and state.all_up, state
        fake = state.services[0]
        assert fake.restarts == 1 and fake.last_exit_code == 7 and fake.healthy and fake.ready

        status = venom("status", "--json", "--data-dir", str(data_dir), env=env, timeout=60)
        assert status.returncode == 0, status.stdout
        assert {c["name"]: c["restarts"] for c in json.loads(status.stdout)["components"]}["fake"] == 1
        tree = descendants(up.pid)
        assert len(tree) >= 3  # nats-server, postgres (and its backends), the service

        up.send_signal(signal.SIGINT)  # Ctrl-C
        output, _ = up.communicate(timeout=90)
    finally:
        if up.poll() is None:
            up.kill()
            up.wait()
    assert up.returncode == 0, output
    assert "[venom] fake: exited with code 7" in output and "restart #1" in output
    assert "[fake] crashing on purpose" in output
    assert "stopped: nothing left running" in output
    assert _wait_until_gone(tree) == []
    assert processes_mentioning(str(data_dir)) == []
    final = read_state(data_dir)
    assert final is not None and final.phase == "stopped" and not final.all_up
    assert "crashing on purpose" in (data_dir / "logs" / "fake.log").read_text()



def test_after_venom_up_is_killed_the_next_up_and_down_clean_up_what_it_left(data_dir: Path, unique: str) -> None:
    env = _env(f"e2e-{unique}")
    only = ("--only", "hardware-agent")  # one service is enough here, and keeps the test short
    started = venom("up", "--detach", *only, "--data-dir", str(data_dir), env=env)
    assert started.returncode == 0, started.stdout + started.stderr
    first = read_state(data_dir)
    assert first is not None
    first_tree = descendants(first.process.pid)
    os.kill(first.process.pid, signal.SIGKILL)  # no chance to stop anything
    deadline = time.monotonic() + 10
    while first.process.alive() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not first.process.alive()

    status = venom("status", "--json", "--data-dir", str(data_dir), env=env)
    assert status.returncode == 1 and json.loads(status.stdout)["running"] is False

    # The next `venom up` stops the leftovers before it starts servers on the same data.
    again = venom("up", "--detach", *only, "--data-dir", str(data_dir), env=env)
    assert again.returncode == 0, again.stdout + again.stderr
    assert _wait_until_gone(first_tree) == []
    second = read_state(data_dir)
    assert second is not None and second.process.pid != first.process.pid
    assert [s.name for s in second.services] == ["hardware-agent"]
    second_tree = descendants(second.process.pid)
    assert "previous run did not stop cleanly" in (data_dir / "logs" / "venom.log").read_text()

    # And `venom down` after a killed `venom up` stops what that one left.
    os.kill(second.process.pid, signal.SIGKILL)
    stopped = venom("down", "--data-dir", str(data_dir), env=env)
    assert stopped.returncode == 0, stopped.stdout + stopped.stderr
    assert [name for name, ref in second.recorded_processes() if ref.alive()] == []
    assert _wait_until_gone(second_tree) == []
    assert processes_mentioning(str(data_dir)) == []
