"""Supervise services as child processes (F-PLAT-6).

Each service runs as ``python -m <module>`` in its own process group (a new
session), so a Ctrl-C in the terminal reaches ``venom up`` only, and stopping a
service reaches every process it started. Its stdout and stderr are read line
by line and handed to a :class:`LineSink` (prefixed console output, log files).

A child that exits while we are not stopping is restarted after a delay that
doubles from ``initial_s`` up to ``max_s`` and goes back to ``initial_s`` once
a child has stayed up ``reset_after_s``; every restart is reported (a line,
and the child's ``restarts`` count).

:meth:`Supervisor.stop` sends SIGTERM to every child's process group, waits a
grace period, then SIGKILLs the group of any child still alive. Nothing is
left running.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Literal, Protocol

from venom_cli.services import ServiceSpec

ChildPhase = Literal["starting", "running", "backoff", "stopping", "stopped"]


class LineSink(Protocol):
    """Where a child's output lines and the supervisor's own reports go."""

    def child_line(self, service: str, line: str, stream: Literal["stdout", "stderr"]) -> None: ...

    def report(self, service: str, message: str) -> None: ...


@dataclass(frozen=True)
class Backoff:
    """Restart delays: ``initial_s`` doubling to ``max_s``; reset after ``reset_after_s`` of uptime."""

    initial_s: float = 0.5
    max_s: float = 30.0
    reset_after_s: float = 60.0

    def next_delay(self, previous: float | None, uptime_s: float) -> float:
        if previous is None or uptime_s >= self.reset_after_s:
            return self.initial_s
        return min(previous * 2, self.max_s)


@dataclass
class Child:
    """What the supervisor knows of one service (read by the status panel and state.json)."""

    spec: ServiceSpec
    phase: ChildPhase = "starting"
    pid: int | None = None
    restarts: int = 0
    last_exit_code: int | None = None
    started_at: float | None = None
    next_delay_s: float | None = None
    proc: asyncio.subprocess.Process | None = field(default=None, repr=False)


def _set_parent_death_signal() -> None:  # pragma: no cover - runs in the child between fork and exec
    """Linux: the child gets SIGTERM if ``venom up`` dies without stopping it (kill -9)."""
    try:
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        pr_set_pdeathsig = 1
        libc.prctl(pr_set_pdeathsig, signal.SIGTERM)
    except Exception:  # noqa: BLE001,S110 - best effort only; `venom down` cleans up recorded pids anyway
        pass


class Supervisor:
    def __init__(
        self,
        specs: Sequence[ServiceSpec],
        sink: LineSink,
        *,
        env: Mapping[str, str] | None = None,
        backoff: Backoff | None = None,
        grace_s: float = 15.0,
        on_change: Callable[[], None] | None = None,
    ) -> None:
        self.children: dict[str, Child] = {spec.name: Child(spec) for spec in specs}
        self.sink = sink
        self.base_env = dict(os.environ if env is None else env)
        self.backoff = backoff or Backoff()
        self.grace_s = grace_s
        self.on_change = on_change or (lambda: None)
        self._stopping = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []

    # --- lifecycle -------------------------------------------------------------------------------

    async def start(self) -> None:
        """Start every child (returns once each has been spawned once)."""
        spawned = []
        for child in self.children.values():
            first = asyncio.get_running_loop().create_future()
            spawned.append(first)
            self._tasks.append(asyncio.create_task(self._keep_running(child, first), name=f"supervise-{child.spec.name}"))
        await asyncio.gather(*spawned)

    async def stop(self) -> None:
        """SIGTERM every child's group, wait ``grace_s``, SIGKILL what is left; wait for the loops to end."""
        self._stopping.set()
        running = [c for c in self.children.values() if c.proc is not None and c.proc.returncode is None]
        for child in running:
            child.phase = "stopping"
            self._signal_group(child, signal.SIGTERM)
        self.on_change()
        if running:
            waits = [asyncio.create_task(c.proc.wait()) for c in running if c.proc is not None]
            _done, pending = await asyncio.wait(waits, timeout=self.grace_s)
            for task in pending:
                task.cancel()
            for child in running:
                if child.proc is not None and child.proc.returncode is None:
                    self.sink.report(child.spec.name, f"did not stop within {self.grace_s:.0f}s: killing it")
                    self._signal_group(child, signal.SIGKILL)
                    with contextlib.suppress(Exception):
                        await asyncio.wait_for(child.proc.wait(), 5)
                # A grandchild may outlive the group leader: end the rest of the group too.
                self._signal_group(child, signal.SIGKILL)
        for loop_task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await asyncio.wait_for(loop_task, self.grace_s + 5)
        for child in self.children.values():
            if child.proc is not None and child.proc.returncode is None:
                self._signal_group(child, signal.SIGKILL)
                with contextlib.suppress(Exception):
                    await asyncio.wait_for(child.proc.wait(), 5)
        for child in self.children.values():
            child.phase = "stopped"
        self.on_change()

    @property
    def stopping(self) -> bool:
        return self._stopping.is_set()

    # --- one child ------------------------------------------------------------------------------

    def _signal_group(self, child: Child, sig: int) -> None:
        if child.pid is None:
            return
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(child.pid, sig)

    async def _spawn(self, child: Child) -> asyncio.subprocess.Process:
        env = {**self.base_env, **child.spec.env, "VENOM_PORT": str(child.spec.port)}
        kwargs: dict[str, object] = {}
        if sys.platform.startswith("linux"):
            kwargs["preexec_fn"] = _set_parent_death_signal
        return await asyncio.create_subprocess_exec(
            *child.spec.argv(),
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            env=env,
            start_new_session=True,
            limit=1 << 20,
            **kwargs,  # type: ignore[arg-type]
        )

    async def _pump(self, child: Child, stream: asyncio.StreamReader | None, name: Literal["stdout", "stderr"]) -> None:
        if stream is None:
            return
        while True:
            try:
                raw = await stream.readline()
            except (ValueError, asyncio.LimitOverrunError):
                raw = await stream.read(1 << 20)
            if not raw:
                return
            self.sink.child_line(child.spec.name, raw.decode("utf-8", "replace").rstrip("\r\n"), name)

    async def _keep_running(self, child: Child, first: asyncio.Future[None]) -> None:
        delay: float | None = None
        try:
            while not self._stopping.is_set():
                child.phase = "starting"
                try:
                    proc = await self._spawn(child)
                except OSError as exc:
                    self.sink.report(child.spec.name, f"could not start: {exc}")
                    proc = None
                if proc is not None:
                    child.proc, child.pid, child.started_at = proc, proc.pid, time.monotonic()
                    child.phase = "running"
                    if self._stopping.is_set():  # stop() ran while this child was being spawned
                        self._signal_group(child, signal.SIGTERM)
                    self.on_change()
                    if not first.done():
                        first.set_result(None)
                    pumps = [asyncio.create_task(self._pump(child, proc.stdout, "stdout")),
                             asyncio.create_task(self._pump(child, proc.stderr, "stderr"))]
                    code = await proc.wait()
                    with contextlib.suppress(Exception):
                        await asyncio.wait_for(asyncio.gather(*pumps), 2)
                    for pump in pumps:
                        pump.cancel()
                    child.last_exit_code = code
                    uptime = time.monotonic() - (child.started_at or time.monotonic())
                else:
                    uptime = 0.0
                if not first.done():
                    first.set_result(None)
                if self._stopping.is_set():
                    break
                delay = self.backoff.next_delay(delay, uptime)
                child.phase, child.next_delay_s = "backoff", delay
                child.restarts += 1
                self.sink.report(
                    child.spec.name,
                    f"exited with code {child.last_exit_code} after {uptime:.1f}s; "
                    f"restart #{child.restarts} in {delay:.1f}s",
                )
                self.on_change()
                with contextlib.suppress(asyncio.TimeoutError):
                    await asyncio.wait_for(self._stopping.wait(), delay)
        finally:
            if not first.done():
                first.set_result(None)
            child.phase = "stopped"
