"""``venom up``: NATS, PostgreSQL and every service on one machine (F-PLAT-6).

Order: take the data directory's lock → clean up what a previous run that was
killed left behind → NATS (embedded, or ``VENOM_NATS_URL``) → PostgreSQL
(embedded, or ``VENOM_DATABASE_URL``) → every installed service as a
supervised child → probe health every second, keep ``state.json`` current,
show the live panel on a terminal → on Ctrl-C / SIGTERM / SIGHUP stop the
services, then PostgreSQL (fast shutdown), then NATS.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import subprocess
import sys
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Literal

from rich.console import Console
from rich.live import Live
from rich.table import Table
from rich.text import Text
from venom_common.embedded import (
    EmbeddedNats,
    EmbeddedPostgres,
    EmbeddedServerError,
    free_port,
    port_is_free,
)

from venom_cli import probes
from venom_cli.render import component_table, components_of, print_summary
from venom_cli.services import (
    REGISTRY,
    ServiceSpec,
    available_services,
    missing_services,
)
from venom_cli.state import (
    LOGS_DIR,
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
from venom_cli.stopping import stop_leftovers
from venom_cli.supervisor import Backoff, Supervisor

DEFAULT_NATS_PORT = 4222
DEFAULT_NATS_MONITOR_PORT = 8222
DEFAULT_POSTGRES_PORT = 5432
PROBE_INTERVAL_S = 1.0
_PALETTE = ("cyan", "magenta", "green", "blue", "yellow", "bright_cyan", "bright_magenta", "bright_green",
            "bright_blue", "bright_yellow")


@dataclass
class UpOptions:
    data_dir: Path
    #: The background child of ``up --detach``: no panel, output goes to logs/venom.log.
    detached_child: bool = False
    grace_s: float = 15.0
    backoff: Backoff = field(default_factory=Backoff)
    registry: tuple[ServiceSpec, ...] = REGISTRY
    #: Run only these services (names from the registry); None: every installed one.
    only: tuple[str, ...] | None = None
    #: The local arbiter's beat period in seconds (VENOM_PERIOD_S); None: the T_Λ cadence (~238 beats/s,
    #: which keeps two cores busy and writes ~1,700 ledger rows a second).
    pulse_period_s: float | None = 1.0

    def selected(self) -> tuple[ServiceSpec, ...]:
        if self.only is None:
            return self.registry
        unknown = set(self.only) - {spec.name for spec in self.registry}
        if unknown:
            raise ValueError(f"unknown service(s) {', '.join(sorted(unknown))}; "
                             f"known: {', '.join(spec.name for spec in self.registry)}")
        return tuple(spec for spec in self.registry if spec.name in self.only)


class ConsoleSink:
    """Prefixed output of every child (coloured on a terminal) plus one log file per service."""

    def __init__(self, console: Console, logs_dir: Path, *, write_venom_log: bool = True) -> None:
        self.console = console
        self.logs_dir = logs_dir
        self.styled = console.is_terminal
        self._files: dict[str, IO[str]] = {}
        self._colours: dict[str, str] = {}
        #: The terminal went away (SIGHUP, closed pipe): keep going, into the log files only.
        self.console_lost = False
        # In the background child of `up --detach`, stdout already is logs/venom.log.
        self._venom_log: IO[str] | None = (
            open(logs_dir / "venom.log", "a", encoding="utf-8", buffering=1) if write_venom_log else None  # noqa: SIM115
        )

    def _file(self, service: str) -> IO[str]:
        if service not in self._files:
            self._files[service] = open(self.logs_dir / f"{service}.log", "a", encoding="utf-8", buffering=1)  # noqa: SIM115
        return self._files[service]

    def _colour(self, service: str) -> str:
        if service not in self._colours:
            self._colours[service] = _PALETTE[len(self._colours) % len(_PALETTE)]
        return self._colours[service]

    def _emit(self, prefix: str, style: str, line: str) -> None:
        if self._venom_log is not None:
            with contextlib.suppress(OSError, ValueError):
                self._venom_log.write(f"[{prefix}] {line}\n")
        if self.console_lost:
            return
        try:
            if self.styled:
                self.console.print(Text.assemble((f"[{prefix}] ", style), line), soft_wrap=True, highlight=False)
            else:
                sys.stdout.write(f"[{prefix}] {line}\n")
                sys.stdout.flush()
        except (OSError, ValueError):
            self.console_lost = True

    def child_line(self, service: str, line: str, stream: Literal["stdout", "stderr"]) -> None:
        self._file(service).write(line + "\n")
        self._emit(service, self._colour(service), line)

    def report(self, service: str, message: str) -> None:
        self._file(service).write(f"[venom] {message}\n")
        self._emit("venom", "bold yellow", f"{service}: {message}")

    def info(self, message: str, style: str = "bold") -> None:
        self._emit("venom", style, message)

    def close(self) -> None:
        for fh in self._files.values():
            fh.close()
        self._files.clear()
        if self._venom_log is not None:
            self._venom_log.close()
            self._venom_log = None


def choose_port(preferred: int, what: str, sink: ConsoleSink) -> int:
    """``preferred`` when it is free on 127.0.0.1, otherwise a free port (and say so)."""
    if port_is_free(preferred):
        return preferred
    port = free_port()
    sink.info(f"port {preferred} is busy: {what} uses port {port}", style="yellow")
    return port


class Up:
    def __init__(self, options: UpOptions, console: Console) -> None:
        self.opts = options
        self.data_dir = options.data_dir
        self.console = console
        self.logs_dir = self.data_dir / LOGS_DIR
        self.logs_dir.mkdir(parents=True, exist_ok=True)
        self.sink = ConsoleSink(console, self.logs_dir, write_venom_log=not options.detached_child)
        self.stop_requested = asyncio.Event()
        self.nats: EmbeddedNats | None = None
        self.postgres: EmbeddedPostgres | None = None
        self.supervisor: Supervisor | None = None
        self.specs: list[ServiceSpec] = []
        self._refs: dict[int, ProcessRef | None] = {}
        self._health: dict[str, tuple[bool, bool]] = {}
        self._reported_server_exit: set[str] = set()
        me = ProcessRef.of(os.getpid())
        assert me is not None
        self.state = VenomState(phase="starting", process=me, started_at=time.time(), data_dir=str(self.data_dir),
                                log_path=str(self.logs_dir / "venom.log"))
        self._written = ""

    # --- state ----------------------------------------------------------------------------------

    def _ref(self, pid: int | None) -> ProcessRef | None:
        if pid is None:
            return None
        if pid not in self._refs:
            self._refs[pid] = ProcessRef.of(pid)
        return self._refs[pid]

    def save(self) -> None:
        """Rewrite state.json if anything changed."""
        if self.supervisor is not None:
            services = []
            for spec in self.specs:
                child = self.supervisor.children[spec.name]
                healthy, ready = self._health.get(spec.name, (False, False))
                alive = child.phase == "running"
                base = f"http://127.0.0.1:{spec.port}"
                services.append(ServiceState(
                    name=spec.name, module=spec.module, port=spec.port, url=base,
                    health_url=base + spec.health_path, ready_url=base + spec.ready_path,
                    docs_url=base + spec.docs_path if spec.docs_path else None,
                    log_path=str(self.logs_dir / f"{spec.name}.log"),
                    process=self._ref(child.pid), state=child.phase, restarts=child.restarts,
                    last_exit_code=child.last_exit_code, healthy=healthy and alive, ready=ready and alive,
                ))
            self.state.services = services
        servers_ok = all(s is None or s.healthy for s in (self.state.nats, self.state.postgres))
        self.state.all_up = (self.state.phase == "running" and servers_ok and self.state.nats is not None
                             and all(s.healthy and s.ready for s in self.state.services))
        text = self.state.model_dump_json()
        if text != self._written:
            write_state(self.data_dir, self.state)
            self._written = text

    # --- start ----------------------------------------------------------------------------------

    async def start_nats(self) -> None:
        external = os.environ.get("VENOM_NATS_URL")
        if external:
            self.sink.info(f"NATS: using {external} (VENOM_NATS_URL)")
            self.state.nats = ServerState(name="nats", kind="nats", embedded=False, url=external)
            return
        port = choose_port(DEFAULT_NATS_PORT, "NATS", self.sink)
        monitor = choose_port(DEFAULT_NATS_MONITOR_PORT, "the NATS monitor", self.sink)
        self.nats = EmbeddedNats(self.data_dir / "nats", port=port, monitor_port=monitor)
        self.sink.info(f"starting nats-server (JetStream) on {self.nats.url}")
        try:
            try:
                await self._start_recorded(self.nats, self._record_nats)
            except EmbeddedServerError:
                # Another program may have taken the port between our check and the server's bind: once more
                # on ports the kernel picks.
                await asyncio.to_thread(self.nats.stop)
                if port_is_free(port) and port_is_free(monitor):
                    raise
                self.nats = EmbeddedNats(self.data_dir / "nats", port=free_port(), monitor_port=free_port())
                self.sink.info(f"port taken meanwhile: starting nats-server on {self.nats.url}", style="yellow")
                await self._start_recorded(self.nats, self._record_nats)
        finally:
            self._record_nats()

    def _record_nats(self) -> None:
        assert self.nats is not None
        self.state.nats = ServerState(name="nats", kind="nats", embedded=True, url=self.nats.url,
                                      monitor_url=self.nats.monitor_url, process=self._ref(self.nats.pid),
                                      log_path=str(self.nats.log_path))
        self.save()

    async def _start_recorded(self, server: EmbeddedNats | EmbeddedPostgres, record: Callable[[], None]) -> None:
        """Start ``server`` (blocking, in a thread) and record its pid in state.json as soon as it exists, so
        even a ``venom up`` killed during the start leaves nothing ``venom down`` cannot find."""
        starting = asyncio.ensure_future(asyncio.to_thread(server.start))
        recorded: int | None = None
        while not starting.done():
            if server.pid is not None and server.pid != recorded:
                recorded = server.pid
                record()
            await asyncio.wait([starting], timeout=0.05)
        starting.result()

    async def start_postgres(self) -> None:
        external = os.environ.get("VENOM_DATABASE_URL")
        if external:
            self.sink.info("PostgreSQL: using VENOM_DATABASE_URL")
            self.state.postgres = ServerState(name="postgres", kind="postgres", embedded=False, url=external)
            return
        port = choose_port(DEFAULT_POSTGRES_PORT, "PostgreSQL", self.sink)
        self.postgres = EmbeddedPostgres(self.data_dir / "postgres", port=port)
        self.sink.info(f"starting PostgreSQL on 127.0.0.1:{port} (data in {self.postgres.pgdata})")
        try:
            try:
                await self._start_recorded(self.postgres, self._record_postgres)
            except EmbeddedServerError:
                await asyncio.to_thread(self.postgres.stop)
                if port_is_free(port):
                    raise
                self.postgres = EmbeddedPostgres(self.data_dir / "postgres", port=free_port())
                self.sink.info(f"port taken meanwhile: starting PostgreSQL on 127.0.0.1:{self.postgres.port}",
                               style="yellow")
                await self._start_recorded(self.postgres, self._record_postgres)
        finally:
            self._record_postgres()

    def _record_postgres(self) -> None:
        assert self.postgres is not None
        self.state.postgres = ServerState(name="postgres", kind="postgres", embedded=True, url=self.postgres.url,
                                          process=self._ref(self.postgres.pid), log_path=str(self.postgres.log_path))
        self.save()

    def plan_services(self) -> list[ServiceSpec]:
        """The installed services, each on its default port or, when that is busy, a free one."""
        return [spec.with_port(choose_port(spec.port, spec.name, self.sink))
                for spec in available_services(self.opts.selected())]

    async def start_services(self) -> None:
        assert self.state.nats is not None and self.state.postgres is not None
        self.specs = self.plan_services()
        data = self.opts.data_dir
        # Local state of the services lives in the data dir too, unless the environment says otherwise:
        # the ledger's signing key and the entropy model's versions.
        env = {"VENOM_LEDGER_STATE_DIR": str(data / "ledger"), "VENOM_MODEL_DIR": str(data / "models" / "entropy"),
               "VENOM_MESH_STATE_DIR": str(data / "mesh"), "VENOM_MESH_UNICAST_PORT": "0",  # mesh: local key
               **({"VENOM_PERIOD_S": repr(self.opts.pulse_period_s)} if self.opts.pulse_period_s is not None else {}),
               **os.environ, "VENOM_NATS_URL": self.state.nats.url, "VENOM_DATABASE_URL": self.state.postgres.url}
        self.supervisor = Supervisor(self.specs, self.sink, env=env, backoff=self.opts.backoff,
                                     grace_s=self.opts.grace_s, on_change=self.save)
        for spec in self.specs:
            self.sink.info(f"starting {spec.name} (python -m {spec.module}, port {spec.port})")
        await self.supervisor.start()

    # --- run ------------------------------------------------------------------------------------

    async def probe(self) -> None:
        """Measure every component's health once (concurrently)."""
        checks: dict[str, asyncio.Task[bool]] = {}
        if self.state.nats is not None:
            checks["nats"] = asyncio.create_task(probes.probe_nats(self.state.nats.url, self.state.nats.monitor_url))
        if self.state.postgres is not None:
            checks["postgres"] = asyncio.create_task(probes.probe_postgres(self.state.postgres.url))
        for spec in self.specs:
            base = f"http://127.0.0.1:{spec.port}"
            checks[f"{spec.name}/h"] = asyncio.create_task(probes.http_ok(base + spec.health_path))
            checks[f"{spec.name}/r"] = asyncio.create_task(probes.http_ok(base + spec.ready_path))
        await asyncio.gather(*checks.values())
        for server in (self.state.nats, self.state.postgres):
            if server is not None:
                server.healthy = server.ready = checks[server.name].result()
        for spec in self.specs:
            self._health[spec.name] = (checks[f"{spec.name}/h"].result(), checks[f"{spec.name}/r"].result())
        for name, embedded in (("nats", self.nats), ("postgres", self.postgres)):
            if embedded is not None and embedded.proc is not None and embedded.proc.poll() is not None \
                    and name not in self._reported_server_exit:
                self._reported_server_exit.add(name)
                self.sink.report(name, f"exited with code {embedded.proc.returncode}; see {embedded.log_path}")

    async def watch(self) -> None:
        """Probe every second until a stop is requested; keep state.json and the panel current."""
        live: contextlib.AbstractContextManager[object]
        panel: Live | None = None
        if self.console.is_terminal and not self.opts.detached_child:
            # Refreshed by the probe loop (no refresh thread that could die on a vanished terminal).
            panel = Live(self.table(), console=self.console, auto_refresh=False, transient=True)
            live = panel
        else:
            live = contextlib.nullcontext()
        try:
            with live:
                await self._watch_loop(panel)
        except OSError:  # the terminal went away while the panel was drawn: go on without it
            self.sink.console_lost = True
            if not self.stop_requested.is_set():
                await self._watch_loop(None)

    async def _watch_loop(self, panel: Live | None) -> None:
        announced = False
        while not self.stop_requested.is_set():
            await self.probe()
            self.save()
            if panel is not None and not self.sink.console_lost:
                try:
                    panel.update(self.table(), refresh=True)
                except OSError:
                    self.sink.console_lost = True
            if self.state.all_up and not announced:
                announced = True
                self.sink.info("every component is up", style="bold green")
            elif not self.state.all_up and announced:
                announced = False
                self.sink.info("a component is not healthy: see `venom status`", style="bold red")
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(self.stop_requested.wait(), PROBE_INTERVAL_S)

    def table(self) -> Table:
        return component_table(components_of(self.state), title="VENOM  (Ctrl-C stops everything)")

    def request_stop(self, sig: int) -> None:
        if not self.stop_requested.is_set():
            self.sink.info(f"{signal.Signals(sig).name}: stopping everything")
        self.stop_requested.set()

    async def run(self) -> int:
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
            loop.add_signal_handler(sig, self.request_stop, sig)
        code = 0
        try:
            self.save()
            for step in (self.start_nats, self.start_postgres, self.start_services):
                if self.stop_requested.is_set():
                    return 0
                await step()
            self.state.phase = "running"
            self.save()
            skipped = [spec.name for spec in missing_services(self.opts.selected())]
            try:
                print_summary(self.console, self.state, skipped)
            except OSError:
                self.sink.console_lost = True
            await self.watch()
        except EmbeddedServerError as exc:
            self.state.error = str(exc)
            self.sink.info(f"cannot start: {exc}", style="bold red")
            code = 1
        finally:
            await self.shutdown()
            for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
                loop.remove_signal_handler(sig)
        return code

    async def shutdown(self) -> None:
        """Services first (they flush to the bus), then PostgreSQL (fast shutdown), then NATS."""
        self.state.phase = "stopping"
        self.save()
        if self.supervisor is not None:
            try:
                await self.supervisor.stop()
            except Exception as exc:  # noqa: BLE001 - the servers must stop whatever happened here
                self.sink.info(f"stopping the services failed: {exc!r}", style="bold red")
        embedded: tuple[tuple[str, EmbeddedPostgres | EmbeddedNats | None], ...] = (
            ("PostgreSQL", self.postgres), ("NATS", self.nats))
        for name, running in embedded:
            if running is not None:
                self.sink.info(f"stopping {name}")
                try:
                    await asyncio.to_thread(running.stop)
                except Exception as exc:  # noqa: BLE001 - keep stopping the rest
                    self.sink.info(f"stopping {name} failed: {exc}", style="bold red")
        self.state.phase = "stopped"
        self.state.stopped_at = time.time()
        for server in (self.state.nats, self.state.postgres):
            if server is not None:
                server.healthy = server.ready = False
        self._health.clear()
        self.save()
        self.sink.info("stopped: nothing left running")
        self.sink.close()


def clean_previous_run(data_dir: Path, sink: ConsoleSink) -> None:
    """We hold the lock, so processes recorded by an earlier run are leftovers of a ``venom up`` that was
    killed: stop them before starting servers on the same data."""
    previous = read_state(data_dir)
    if previous is None:
        return
    alive = [(name, ref) for name, ref in previous.recorded_processes() if name != "venom" and ref.alive()]
    if alive:
        sink.info("a previous run did not stop cleanly; stopping what it left: "
                  + ", ".join(f"{n} (pid {r.pid})" for n, r in alive), style="yellow")
        stop_leftovers(previous, timeout_s=20.0)


def run_up(options: UpOptions, console: Console) -> int:
    """Run in the foreground until stopped. Exit code 1 when another ``venom up`` holds the data dir."""
    data_dir = options.data_dir
    # pgserver's platformdirs warns when XDG_RUNTIME_DIR is unset (services, containers): noise, not a problem.
    warnings.filterwarnings("ignore", message=".*XDG_RUNTIME_DIR.*")
    try:
        lock = InstanceLock.acquire(data_dir)
    except AlreadyRunning as exc:
        Console(stderr=True).print(Text(str(exc), style="bold red"), soft_wrap=True)
        return 1
    try:
        up = Up(options, console)
        clean_previous_run(data_dir, up.sink)
        return asyncio.run(up.run())
    finally:
        lock.release()


# --- up --detach ---------------------------------------------------------------------------------


def _tail(path: Path, offset: int, lines: int = 40) -> str:
    try:
        with open(path, "rb") as fh:
            fh.seek(offset)
            text = fh.read().decode("utf-8", "replace")
    except OSError:
        return ""
    return "\n".join(text.splitlines()[-lines:])


def _wait_gone(proc: subprocess.Popen[bytes], timeout: float) -> None:
    with contextlib.suppress(subprocess.TimeoutExpired):
        proc.wait(timeout)
    if proc.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(10)


def detached_command(options: UpOptions) -> list[str]:
    """The background ``venom up``: the same options, output to the log."""
    cmd = [sys.executable, "-m", "venom_cli", "up", "--data-dir", str(options.data_dir), "--detached-child",
           "--grace", str(options.grace_s)]
    if options.only is not None:
        cmd += ["--only", ",".join(options.only)]
    cmd += ["--pulse-period", "t-lambda" if options.pulse_period_s is None else repr(options.pulse_period_s)]
    return cmd


def run_detached(options: UpOptions, console: Console, timeout_s: float = 60.0) -> int:
    """Start ``venom up`` in the background (new session, output in logs/venom.log) and return once every
    component is up. On failure or timeout: show the log's tail, stop the background run, exit 1."""
    data_dir = options.data_dir
    err = Console(stderr=True)
    if is_locked(data_dir):
        from venom_cli.state import lock_holder_pid

        err.print(Text(str(AlreadyRunning(data_dir, lock_holder_pid(data_dir))), style="bold red"), soft_wrap=True)
        return 1
    logs = data_dir / LOGS_DIR
    logs.mkdir(parents=True, exist_ok=True)
    log_path = logs / "venom.log"
    offset = log_path.stat().st_size if log_path.exists() else 0
    with open(log_path, "ab") as log:
        proc = subprocess.Popen(
            detached_command(options), stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
            start_new_session=True, env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )
    console.print(Text(f"venom up started in the background (pid {proc.pid}); waiting for every component "
                       f"(log: {log_path})"), soft_wrap=True)
    deadline = time.monotonic() + timeout_s
    while True:
        code = proc.poll()
        if code is not None:
            err.print(Text(f"venom up exited with code {code} before everything was up. Last lines of {log_path}:",
                           style="bold red"), soft_wrap=True)
            err.print(Text(_tail(log_path, offset)), soft_wrap=True)
            return 1
        state = read_state(data_dir)
        if state is not None and state.process.pid == proc.pid and state.all_up:
            skipped = [spec.name for spec in missing_services(options.selected())]
            print_summary(console, state, skipped)
            return 0
        if time.monotonic() > deadline:
            err.print(Text(f"not every component was up after {timeout_s:.0f}s; stopping the background run. "
                           f"Last lines of {log_path}:", style="bold red"), soft_wrap=True)
            err.print(Text(_tail(log_path, offset)), soft_wrap=True)
            if state is not None:
                err.print(component_table(components_of(state)))
            proc.send_signal(signal.SIGTERM)
            _wait_gone(proc, 60)
            return 1
        time.sleep(0.2)
