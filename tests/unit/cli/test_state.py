"""The data directory's lock refuses a second instance; state.json round-trips atomically."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
from venom_cli.state import (
    AlreadyRunning,
    InstanceLock,
    ProcessRef,
    ServerState,
    ServiceState,
    VenomState,
    is_locked,
    read_state,
    write_state,
)


def _hold_lock_in_another_process(data_dir: Path) -> subprocess.Popen[str]:
    code = textwrap.dedent(f"""
        import time
        from pathlib import Path
        from venom_cli.state import InstanceLock
        InstanceLock.acquire(Path({str(data_dir)!r}))
        print("locked", flush=True)
        time.sleep(600)
    """)
    proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None and proc.stdout.readline().strip() == "locked"
    return proc


def test_a_second_instance_is_refused_at_once_with_the_holders_pid(tmp_path: Path) -> None:
    holder = _hold_lock_in_another_process(tmp_path)
    try:
        assert is_locked(tmp_path)
        started = time.monotonic()
        with pytest.raises(AlreadyRunning) as refused:
            InstanceLock.acquire(tmp_path)
        assert time.monotonic() - started < 1.0  # never waits
        assert refused.value.pid == holder.pid
        assert "already running" in str(refused.value) and "venom down" in str(refused.value)
    finally:
        holder.kill()
        holder.wait()
    # The kernel drops the lock with its holder, even one killed with SIGKILL.
    assert not is_locked(tmp_path)
    lock = InstanceLock.acquire(tmp_path)
    try:
        assert (tmp_path / "venom.lock").read_text().strip() == str(os.getpid())
        with pytest.raises(AlreadyRunning):
            InstanceLock.acquire(tmp_path)  # also within one process: flock is per open file
    finally:
        lock.release()
    assert not is_locked(tmp_path)


def _state(tmp_path: Path) -> VenomState:
    me = ProcessRef.of(os.getpid())
    assert me is not None
    return VenomState(
        phase="running", process=me, started_at=1_700_000_000.5, data_dir=str(tmp_path),
        log_path=str(tmp_path / "logs" / "venom.log"),
        nats=ServerState(name="nats", kind="nats", embedded=True, url="nats://127.0.0.1:4222",
                         monitor_url="http://127.0.0.1:8222", process=me, healthy=True, ready=True),
        postgres=ServerState(name="postgres", kind="postgres", embedded=False,
                             url="postgresql://postgres@db:5432/venom"),
        services=[ServiceState(name="hardware-agent", module="venom_hardware_agent", port=9101,
                               url="http://127.0.0.1:9101", health_url="http://127.0.0.1:9101/healthz",
                               ready_url="http://127.0.0.1:9101/readyz", log_path="x.log", process=me,
                               state="running", restarts=2, last_exit_code=1, healthy=True, ready=False)],
        all_up=False,
    )


def test_state_round_trips_and_is_replaced_atomically(tmp_path: Path) -> None:
    state = _state(tmp_path)
    write_state(tmp_path, state)
    assert read_state(tmp_path) == state
    changed = state.model_copy(update={"phase": "stopped", "stopped_at": 1_700_000_100.0})
    write_state(tmp_path, changed)
    assert read_state(tmp_path) == changed
    assert sorted(p.name for p in tmp_path.iterdir()) == ["state.json"]  # no temporary file left
    assert [name for name, _ref in changed.recorded_processes()] == ["hardware-agent", "nats", "venom"]


def test_missing_or_damaged_state_reads_as_none(tmp_path: Path) -> None:
    assert read_state(tmp_path) is None
    (tmp_path / "state.json").write_text('{"phase": "running"')
    assert read_state(tmp_path) is None


def test_a_reused_pid_is_not_mistaken_for_ours() -> None:
    me = ProcessRef.of(os.getpid())
    assert me is not None and me.alive()
    assert not ProcessRef(pid=me.pid, create_time=me.create_time - 100).alive()
    assert not ProcessRef(pid=2**22 + 12345, create_time=0).alive()
