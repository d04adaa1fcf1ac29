"""``venom events tail``: the events on the bus as JSON lines, as ``nats sub --raw`` shows them (F-PLAT-3).

A core NATS subscription (it sees everything published from now on, JetStream
or not). Each message's data is written exactly as published, one per line.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import sys
from pathlib import Path
from typing import BinaryIO

import nats
from nats.aio.msg import Msg
from venom_common.events import subjects
from venom_common.settings import DEFAULT_NATS_URL

from venom_cli.state import read_state

DEFAULT_SUBJECT = subjects.ALL


class TailTimeout(RuntimeError):
    """``--timeout`` passed before ``--count`` messages arrived."""


def resolve_nats_url(explicit: str | None, data_dir: Path) -> str:
    """``--nats-url``, else ``VENOM_NATS_URL``, else the data directory's running ``venom up``, else the default."""
    if explicit:
        return explicit
    env = os.environ.get("VENOM_NATS_URL")
    if env:
        return env
    state = read_state(data_dir)
    if state is not None and state.nats is not None and state.phase != "stopped":
        return state.nats.url
    return DEFAULT_NATS_URL


def _credentials() -> dict[str, str]:
    """NATS credentials from the environment only (never a file)."""
    out: dict[str, str] = {}
    if os.environ.get("VENOM_NATS_USER"):
        out["user"] = os.environ["VENOM_NATS_USER"]
        out["password"] = os.environ.get("VENOM_NATS_PASSWORD", "")
    if os.environ.get("VENOM_NATS_TOKEN"):
        out["token"] = os.environ["VENOM_NATS_TOKEN"]
    return out


async def tail(url: str, subject: str, count: int | None = None, timeout_s: float | None = None,
               out: BinaryIO | None = None) -> int:
    """Write each message's data on ``subject`` as one line; stop after ``count`` messages, at
    ``timeout_s`` (raising :class:`TailTimeout`), or at Ctrl-C / SIGTERM. Returns how many were written."""
    sink = out or sys.stdout.buffer
    done = asyncio.Event()
    written = 0

    async def write_line(msg: Msg) -> None:
        nonlocal written
        if count is not None and written >= count:
            return
        data = msg.data
        sink.write(data if data.endswith(b"\n") else data + b"\n")
        sink.flush()
        written += 1
        if count is not None and written >= count:
            done.set()

    servers = [s.strip() for s in url.split(",") if s.strip()]
    nc = await nats.connect(servers=servers, connect_timeout=5, max_reconnect_attempts=-1,
                            allow_reconnect=True, name="venom-events-tail", **_credentials())
    loop = asyncio.get_running_loop()
    installed = []
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(sig, done.set)
            installed.append(sig)
    try:
        await nc.subscribe(subject, cb=write_line)
        await nc.flush()
        try:
            await asyncio.wait_for(done.wait(), timeout_s)
        except TimeoutError:
            raise TailTimeout(f"{written} of {count} message(s) on {subject} within {timeout_s:.0f}s") from None
    finally:
        for sig in installed:
            loop.remove_signal_handler(sig)
        with contextlib.suppress(Exception):
            await nc.close()
    return written
