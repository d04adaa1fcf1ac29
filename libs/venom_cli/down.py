"""``venom down``: stop the ``venom up`` of a data directory and make sure nothing it started survives."""

from __future__ import annotations

import contextlib
import os
import signal
import time
from pathlib import Path

from rich.console import Console
from rich.text import Text

from venom_cli.state import ProcessRef, is_locked, lock_holder_pid, read_state
from venom_cli.stopping import stop_leftovers, wait_dead


def run_down(data_dir: Path, console: Console, timeout_s: float = 60.0) -> int:
    """SIGTERM the running ``venom up`` and wait for it; on timeout kill it and every recorded child.
    Exit 0 when nothing recorded is left alive (including "was not running"), 1 otherwise."""
    state = read_state(data_dir)
    if not is_locked(data_dir):
        leftovers = [(n, r) for n, r in state.recorded_processes() if r.alive()] if state else []
        if not leftovers:
            console.print(Text(f"VENOM is not running on {data_dir}"), soft_wrap=True)
            return 0
        console.print(Text("no venom up holds this data directory, but processes it recorded are alive: "
                           + ", ".join(f"{n} (pid {r.pid})" for n, r in leftovers), style="yellow"), soft_wrap=True)
    else:
        pid = lock_holder_pid(data_dir) or (state.process.pid if state else None)
        ref = ProcessRef.of(pid) if pid else None
        if ref is None:
            console.print(Text(f"the lock of {data_dir} is held but its pid is unknown; "
                               "stopping the recorded processes", style="yellow"), soft_wrap=True)
        else:
            console.print(Text(f"stopping venom up (pid {ref.pid})…"), soft_wrap=True)
            with contextlib.suppress(ProcessLookupError):
                os.kill(ref.pid, signal.SIGTERM)
            deadline = time.monotonic() + timeout_s
            while (ref.alive() or is_locked(data_dir)) and time.monotonic() < deadline:
                time.sleep(0.1)
            if ref.alive():
                console.print(Text(f"venom up did not stop within {timeout_s:.0f}s: killing it and its children",
                                   style="bold red"), soft_wrap=True)
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    if os.getpgid(ref.pid) == ref.pid:
                        os.killpg(ref.pid, signal.SIGKILL)
                    else:
                        os.kill(ref.pid, signal.SIGKILL)
                wait_dead([ref], 5.0)
        state = read_state(data_dir)  # the last word of the run that just stopped
    survivors = stop_leftovers(state, timeout_s=15.0, include_self=True) if state else []
    if survivors:
        console.print(Text("still alive after down: " + ", ".join(f"{n} (pid {r.pid})" for n, r in survivors),
                           style="bold red"), soft_wrap=True)
        return 1
    console.print(Text(f"VENOM stopped on {data_dir}: no recorded process is left"), soft_wrap=True)
    return 0
