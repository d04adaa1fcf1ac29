"""The JetStream streams VENOM ensures at start (idempotent).

Two streams with different lives:

* ``VENOM_EVENTS`` — the facts the ledger records and the state other services
  rebuild from (pulse, flows, decisions, genome, alerts, commands, peers, task
  results, checkpoints). File storage; kept by age (default 7 days).
* ``VENOM_METRICS`` — host samples and hardware profiles: high volume and only
  useful recently, so kept for a short time (default 1 hour).

Core request/reply subjects (``venom.organs``, ``venom.organ.*``, ``venom.hardware.*.request``,
``venom.task.<node>``) are deliberately outside every stream.

``VENOM_EVENTS`` allows atomic batch publish (the arbiter uses it with ``VENOM_ATOMIC_BATCHES``).
"""

from __future__ import annotations

from dataclasses import dataclass

from venom_common.events import subjects as subj


@dataclass(frozen=True)
class StreamSpec:
    name: str
    subjects: tuple[str, ...]
    max_age_s: float
    duplicate_window_s: float = 120.0
    max_bytes: int = -1
    #: JetStream atomic batch publish (ADR-50, nats-server ≥ 2.12): a batch of messages is stored
    #: whole or not at all, with one acknowledgement (``Bus.send_batch``).
    allow_atomic: bool = False


EVENTS = StreamSpec(
    name="VENOM_EVENTS",
    subjects=(
        subj.BEAT_ALL,
        subj.FLOW_ALL,
        subj.DECISION_ALL,
        subj.GENOME_ALL,
        subj.ALERT_ALL,
        subj.COMMAND_ALL,
        subj.MESH_PEER_ALL,
        subj.TASK_RESULT_ALL,
        subj.LEDGER_CHECKPOINT,
    ),
    max_age_s=7 * 24 * 3600,
    allow_atomic=True,  # the arbiter stores each beat's events as one atomic batch with VENOM_ATOMIC_BATCHES
)

METRICS = StreamSpec(
    name="VENOM_METRICS",
    subjects=(subj.METRICS_ALL, subj.HARDWARE_ALL),
    max_age_s=3600,
    duplicate_window_s=60.0,
)

ALL_STREAMS = (EVENTS, METRICS)
