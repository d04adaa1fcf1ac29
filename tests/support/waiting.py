"""Waiting for a condition in async tests (no sleep-and-hope).

The default deadlines are generous: they only bound how long a failing test takes, and a loaded CI
machine (2 cores, heavy steal) can take seconds for what takes milliseconds here."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import TypeVar

T = TypeVar("T")


async def until(cond: Callable[[], bool], timeout: float = 30.0) -> None:
    """Return once ``cond()`` is true; fail the test if it is not within ``timeout`` seconds."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not cond():
        assert loop.time() < deadline, "condition not met in time"
        await asyncio.sleep(0.02)


async def settles_to(read: Callable[[], Awaitable[T]], expected: T, timeout: float = 30.0) -> None:
    """Return once ``await read()`` equals ``expected``; fail with the last value read if it does not
    within ``timeout`` seconds. For state a server updates on its own time, e.g. the acknowledged count
    of a JetStream consumer: the server takes an ack in asynchronously, after the client has sent it."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while (value := await read()) != expected:
        assert loop.time() < deadline, f"{value!r} did not become {expected!r} in {timeout} s"
        await asyncio.sleep(0.05)
