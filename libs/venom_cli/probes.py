"""Live health probes used by ``venom up`` (status panel, state.json) and ``venom status``."""

from __future__ import annotations

import asyncio
import contextlib
import socket
import urllib.error
import urllib.request
from urllib.parse import urlsplit

PROBE_TIMEOUT_S = 2.0


def _http_ok(url: str, timeout: float) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=timeout) as resp:
            return bool(200 <= resp.status < 300)
    except (urllib.error.URLError, OSError, ValueError):
        return False


async def http_ok(url: str, timeout: float = PROBE_TIMEOUT_S) -> bool:
    """True when ``url`` answers 2xx within ``timeout``."""
    return await asyncio.to_thread(_http_ok, url, timeout)


async def tcp_open(host: str, port: int, timeout: float = PROBE_TIMEOUT_S) -> bool:
    try:
        _reader, writer = await asyncio.wait_for(asyncio.open_connection(host, port), timeout)
    except (TimeoutError, OSError):
        return False
    writer.close()
    with contextlib.suppress(Exception):
        await writer.wait_closed()
    return True


def host_port(url: str, default_port: int) -> tuple[str, int]:
    """Host and port of the first server of a (possibly comma separated) URL."""
    first = url.split(",")[0].strip()
    parts = urlsplit(first if "://" in first else f"nats://{first}")
    return parts.hostname or "127.0.0.1", parts.port or default_port


async def probe_nats(url: str, monitor_url: str | None) -> bool:
    """NATS: the monitoring endpoint's /healthz (JetStream included) when known, else a TCP connect."""
    if monitor_url:
        return await http_ok(f"{monitor_url}/healthz")
    host, port = host_port(url, 4222)
    return await tcp_open(host, port)


async def probe_postgres(url: str) -> bool:
    """PostgreSQL: ``select 1`` through asyncpg when it is installed, else a TCP connect."""
    host, port = host_port(url, 5432)
    try:
        import asyncpg
    except ImportError:
        return await tcp_open(host, port)
    try:
        conn = await asyncpg.connect(url, timeout=PROBE_TIMEOUT_S)
    except (TimeoutError, OSError, asyncpg.PostgresError, ValueError):
        return False
    try:
        return bool(await asyncio.wait_for(conn.fetchval("select 1"), PROBE_TIMEOUT_S) == 1)
    except (TimeoutError, OSError, asyncpg.PostgresError):
        return False
    finally:
        with contextlib.suppress(Exception):
            await asyncio.wait_for(conn.close(), PROBE_TIMEOUT_S)


def port_in_use(port: int, host: str = "127.0.0.1") -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.settimeout(0.2)
        return s.connect_ex((host, port)) == 0
