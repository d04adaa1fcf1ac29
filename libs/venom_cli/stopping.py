"""Stopping what a ``venom up`` recorded: used by ``venom down`` and by a ``venom up`` that finds the
leftovers of a killed predecessor. Only processes recorded in state.json, and still the same
processes (pid *and* start time), are ever signalled."""

from __future__ import annotations

import contextlib
import os
import signal
import time

from venom_cli.state import ProcessRef, VenomState


def _signal(ref: ProcessRef, sig: int) -> None:
    """Signal the process's group when it leads one (our children do: each has its own session)."""
    if not ref.alive():
        return
    with contextlib.suppress(ProcessLookupError, PermissionError):
        if os.getpgid(ref.pid) == ref.pid:
            os.killpg(ref.pid, sig)
        else:
            os.kill(ref.pid, sig)


def wait_dead(refs: list[ProcessRef], timeout_s: float) -> list[ProcessRef]:
    """Wait until none of ``refs`` is alive; return those still alive at the deadline."""
    deadline = time.monotonic() + timeout_s
    while True:
        alive = [ref for ref in refs if ref.alive()]
        if not alive or time.monotonic() >= deadline:
            return alive
        time.sleep(0.1)


def stop_leftovers(state: VenomState, timeout_s: float = 20.0, include_self: bool = False) -> list[tuple[str, ProcessRef]]:
    """Stop the recorded processes that are still alive: services (SIGTERM), PostgreSQL (SIGINT, its fast
    shutdown), NATS (SIGTERM); SIGKILL whatever is left after ``timeout_s``. Returns what survived."""
    recorded = [(name, ref) for name, ref in state.recorded_processes() if include_self or name != "venom"]
    pg = state.postgres.process if state.postgres is not None else None
    for _name, ref in recorded:
        _signal(ref, signal.SIGINT if ref == pg else signal.SIGTERM)
    wait_dead([ref for _n, ref in recorded], timeout_s)
    for _name, ref in recorded:
        _signal(ref, signal.SIGKILL)
    wait_dead([ref for _n, ref in recorded], 5.0)
    return [(name, ref) for name, ref in recorded if ref.alive()]
