"""Every NATS subject VENOM uses, in one place (ARCHITECTURE.md "Events").

Subjects follow ``venom.<kind>.<node>[.<detail>]``. Services never spell a
subject themselves: they call these functions, so a rename happens here only.
"""

from __future__ import annotations

PREFIX = "venom"
ALL = "venom.>"

ORGANS = ("regen", "balance", "entropy", "optimize")


def _token(value: str, what: str) -> str:
    if not value or any(ch in value for ch in ".*> \t\r\n"):
        raise ValueError(f"{what} {value!r} cannot be a NATS subject token (no '.', '*', '>' or spaces)")
    return value


# --- recorded and streamed events -------------------------------------------------------------

def metrics(node: str) -> str:
    """Host metrics of one node (hardware agent → arbiter, orchestrator)."""
    return f"{PREFIX}.metrics.{_token(node, 'node')}"


def hardware(node: str) -> str:
    """The hardware profile of one node, at start and on request."""
    return f"{PREFIX}.hardware.{_token(node, 'node')}"


def hardware_request(node: str) -> str:
    """Core NATS request subject: ask a node's agent to publish (and return) its profile."""
    return f"{PREFIX}.hardware.{_token(node, 'node')}.request"


def beat(node: str) -> str:
    """The pulse of one beat (recorded by the ledger)."""
    return f"{PREFIX}.beat.{_token(node, 'node')}"


def flow(node: str, organ: str) -> str:
    """One organ's flow result for one beat (recorded)."""
    return f"{PREFIX}.flow.{_token(node, 'node')}.{_token(organ, 'organ')}"


def decision(node: str) -> str:
    """The arbiter's decision for one beat (recorded)."""
    return f"{PREFIX}.decision.{_token(node, 'node')}"


def genome(node: str) -> str:
    """A genome update (recorded)."""
    return f"{PREFIX}.genome.{_token(node, 'node')}"


def alert(node: str) -> str:
    """An alert a person can route (F-ARB-8)."""
    return f"{PREFIX}.alert.{_token(node, 'node')}"


def command(node: str, name: str) -> str:
    """A command to one node, e.g. ``inject`` (F-MESH-3)."""
    return f"{PREFIX}.command.{_token(node, 'node')}.{_token(name, 'command')}"


def mesh_peer(node: str) -> str:
    """A peer joined or left the mesh."""
    return f"{PREFIX}.mesh.peer.{_token(node, 'node')}"


def mesh_inbox(node: str) -> str:
    """Core NATS: broadcast messages for one peer, one copy per receiving peer (F-MESH-2)."""
    return f"{PREFIX}.mesh.inbox.{_token(node, 'node')}"


def mesh_broadcast_request(node: str) -> str:
    """Core NATS request: ask ``node``'s mesh-discovery to broadcast a message to its peers (F-MESH-2)."""
    return f"{PREFIX}.mesh.broadcast.{_token(node, 'node')}"


def task(node: str) -> str:
    """A task dispatched to one peer's worker."""
    return f"{PREFIX}.task.{_token(node, 'node')}"


def task_result(node: str) -> str:
    """The result (or failure) of a task that ran on ``node``."""
    return f"{PREFIX}.task.{_token(node, 'node')}.result"


LEDGER_CHECKPOINT = f"{PREFIX}.ledger.checkpoint"


def organ_request(organ: str) -> str:
    """Core NATS request subject an organ's replicas answer in one queue group."""
    return f"{PREFIX}.organ.{_token(organ, 'organ')}"


#: Core NATS request subject every organ service answers (one queue group per organ): one request
#: per beat for several organs (``venom.organs.request.v1``), each organ replying.
ORGANS_REQUEST = f"{PREFIX}.organs"


# --- wildcards used by streams and consumers --------------------------------------------------

METRICS_ALL = f"{PREFIX}.metrics.*"
HARDWARE_ALL = f"{PREFIX}.hardware.*"
BEAT_ALL = f"{PREFIX}.beat.*"
FLOW_ALL = f"{PREFIX}.flow.*.*"
DECISION_ALL = f"{PREFIX}.decision.*"
GENOME_ALL = f"{PREFIX}.genome.*"
ALERT_ALL = f"{PREFIX}.alert.*"
COMMAND_ALL = f"{PREFIX}.command.*.*"
MESH_PEER_ALL = f"{PREFIX}.mesh.peer.*"
TASK_RESULT_ALL = f"{PREFIX}.task.*.result"

#: The kinds the ledger records for every beat (seed 001 "Execution Flow").
RECORDED = (BEAT_ALL, FLOW_ALL, DECISION_ALL, GENOME_ALL)
