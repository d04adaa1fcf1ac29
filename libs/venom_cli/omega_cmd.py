"""The Ω commands of ``venom`` (F-HW-4): scan, monitor, compress, benchmark, config.

They are implemented once in :mod:`venom_omega.cli` (which is also seed 004's ``venom-omega``
entry point) and registered on ``venom`` in main.py:

    venom scan [--json]                 hardware profile + derived N, Λ, P (capacity model)
    venom monitor [DURATION]            live θ and its components (Rich), --json / --prometheus at the end
    venom compress HOURS [--json]       seed 004's S_Total = Θ(θ)·Λ·S_A — a model estimate, said plainly
    venom benchmark [--json]            measured wave speed-up with 1..N workers beside Amdahl's S_A
    venom config [--json]               every service's effective settings and each value's source
"""

from __future__ import annotations

from venom_omega.cli import benchmark_command, compress_command, config_command, monitor_command, scan_command

__all__ = ["benchmark_command", "compress_command", "config_command", "monitor_command", "scan_command"]
