"""What a running ``venom up`` leaves on disk for the other commands (F-PLAT-6).

* ``<data-dir>/venom.lock``: an exclusive ``fcntl.flock`` held by the running
  ``venom up`` for its whole life, with its pid inside. A second ``venom up``
  on the same data directory cannot take it and stops at once, before it
  touches the servers' data.
* ``<data-dir>/state.json``: where everything is (URLs, pids, ports, health,
  restarts), rewritten atomically (temporary file + rename) whenever it changes
  and marked ``stopped`` at exit. Every pid is recorded with its process start
  time, so a pid reused by an unrelated process is never mistaken for ours.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import psutil
from pydantic import BaseModel, ConfigDict, Field

LOCK_FILE = "venom.lock"
STATE_FILE = "state.json"
LOGS_DIR = "logs"

Phase = Literal["starting", "running", "stopping", "stopped"]


class AlreadyRunning(RuntimeError):
    """Another ``venom up`` holds this data directory."""

    def __init__(self, data_dir: Path, pid: int | None) -> None:
        self.data_dir = data_dir
        self.pid = pid
        who = f"pid {pid}" if pid else "pid unknown"
        super().__init__(
            f"VENOM is already running on {data_dir} ({who}); use `venom status --data-dir {data_dir}` "
            f"or `venom down --data-dir {data_dir}`"
        )


class ProcessRef(BaseModel):
    """A process we started: its pid and its start time (psutil ``create_time``)."""

    model_config = ConfigDict(extra="forbid")

    pid: int
    create_time: float

    @classmethod
    def of(cls, pid: int) -> ProcessRef | None:
        try:
            return cls(pid=pid, create_time=psutil.Process(pid).create_time())
        except psutil.Error:
            return None

    def alive(self) -> bool:
        """True when this very process still runs (not a zombie, not a reused pid)."""
        try:
            proc = psutil.Process(self.pid)
            if abs(proc.create_time() - self.create_time) > 0.5:
                return False
            return bool(proc.status() != psutil.STATUS_ZOMBIE)
        except psutil.Error:
            return False


class ServerState(BaseModel):
    """NATS or PostgreSQL: embedded (started by ``venom up``) or external (from the environment)."""

    model_config = ConfigDict(extra="forbid")

    name: str
    kind: Literal["nats", "postgres"]
    embedded: bool
    url: str
    monitor_url: str | None = None
    process: ProcessRef | None = None
    log_path: str | None = None
    healthy: bool = False
    ready: bool = False


class ServiceState(BaseModel):
    """One supervised service."""

    model_config = ConfigDict(extra="forbid")

    name: str
    module: str
    port: int
    url: str
    health_url: str
    ready_url: str
    docs_url: str | None = None
    log_path: str
    process: ProcessRef | None = None
    state: str = "starting"
    restarts: int = 0
    last_exit_code: int | None = None
    healthy: bool = False
    ready: bool = False


class VenomState(BaseModel):
    """The content of ``state.json``."""

    model_config = ConfigDict(extra="forbid")

    version: int = 1
    phase: Phase
    process: ProcessRef
    started_at: float
    stopped_at: float | None = None
    data_dir: str
    log_path: str
    nats: ServerState | None = None
    postgres: ServerState | None = None
    services: list[ServiceState] = Field(default_factory=list)
    #: True once every component is healthy and every service ready (what ``up --detach`` waits for).
    all_up: bool = False
    error: str | None = None

    def recorded_processes(self) -> list[tuple[str, ProcessRef]]:
        """Every process this run recorded, children first, ``venom up`` itself last."""
        out: list[tuple[str, ProcessRef]] = []
        for service in self.services:
            if service.process:
                out.append((service.name, service.process))
        for server in (self.postgres, self.nats):
            if server is not None and server.process is not None:
                out.append((server.name, server.process))
        out.append(("venom", self.process))
        return out


def state_path(data_dir: Path) -> Path:
    return data_dir / STATE_FILE


def write_state(data_dir: Path, state: VenomState) -> None:
    """Replace ``state.json`` atomically: readers see the old or the new file, never half of one."""
    path = state_path(data_dir)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    data = state.model_dump_json(indent=2).encode()
    with open(tmp, "wb") as fh:
        fh.write(data)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)


def read_state(data_dir: Path) -> VenomState | None:
    """The recorded state, or None when there is none (or it cannot be read)."""
    try:
        raw = state_path(data_dir).read_text()
    except OSError:
        return None
    try:
        return VenomState.model_validate(json.loads(raw))
    except ValueError:
        return None


@dataclass
class InstanceLock:
    """The exclusive lock of one data directory, held by the running ``venom up``."""

    path: Path
    fd: int

    @classmethod
    def acquire(cls, data_dir: Path) -> InstanceLock:
        """Take the lock or raise :class:`AlreadyRunning` at once (never waits)."""
        data_dir.mkdir(parents=True, exist_ok=True)
        path = data_dir / LOCK_FILE
        # O_CLOEXEC (Python's default): children never inherit the lock.
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            raise AlreadyRunning(data_dir, lock_holder_pid(data_dir)) from None
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()}\n".encode())
        os.fsync(fd)
        return cls(path, fd)

    def release(self) -> None:
        if self.fd < 0:
            return
        with contextlib.suppress(OSError):
            os.ftruncate(self.fd, 0)
        with contextlib.suppress(OSError):
            fcntl.flock(self.fd, fcntl.LOCK_UN)
        os.close(self.fd)
        self.fd = -1


def lock_holder_pid(data_dir: Path) -> int | None:
    """The pid written in the lock file (meaningful only while the lock is held)."""
    try:
        text = (data_dir / LOCK_FILE).read_text().strip()
    except OSError:
        return None
    return int(text) if text.isdigit() else None


def is_locked(data_dir: Path) -> bool:
    """True when some ``venom up`` holds the data directory's lock right now."""
    path = data_dir / LOCK_FILE
    if not path.exists():
        return False
    fd = os.open(path, os.O_RDONLY)
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    finally:
        os.close(fd)  # closing drops a lock we took
    return False


def now() -> float:
    return time.time()
