"""VENOM Ω layer (seed 004; F-HW-1..4, F-MATH-5).

* :mod:`venom_omega.mobius` — the Möbius *model*: Θ(θ), Amdahl S_A, S_Total = Θ(θ)·Λ·S_A.
* :mod:`venom_omega.waves` — the parallel wave executor (networkx DAG, topological waves).
* :mod:`venom_omega.monitor` — a thread-safe θ monitor (last 100 snapshots, Prometheus export).
* :mod:`venom_omega.omega_arbiter` — :class:`OmegaArbiter`, waves through the executor.
* :mod:`venom_omega.benchmark` — a measured wave speed-up beside Amdahl's prediction.
* :mod:`venom_omega.config` — every service's effective settings and where each value came from.

Everything labelled "estimate" here is a model; only :mod:`venom_omega.benchmark` measures.
"""
