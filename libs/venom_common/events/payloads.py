"""Versioned payload models, one per event kind (ARCHITECTURE.md "Events").

Each model's ``EVENT_TYPE`` is the CloudEvents ``type`` it travels under and
ends in its version (``.v1``). A new incompatible shape is a new class with a
new version, never an edit of a published one. NaN and infinities are refused
in every float (``allow_inf_nan=False``) and unknown fields are refused
(``extra="forbid"``), so a payload either validates whole or is rejected.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field

Unit = Annotated[float, Field(ge=0.0, le=1.0)]
Percent = Annotated[float, Field(ge=0.0, le=100.0)]
NonNeg = Annotated[float, Field(ge=0.0)]
NodeId = Annotated[str, Field(min_length=1, max_length=128, pattern=r"^[A-Za-z0-9_-]+$")]
Organ = Literal["regen", "balance", "entropy", "optimize"]
ActionName = Literal["QUARANTINE", "ALERT", "APPLY_BALANCE", "APPLY_OPTIMIZE", "NOOP"]


class Payload(BaseModel):
    """Base of every event payload."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False, frozen=True)
    EVENT_TYPE: ClassVar[str]


# --- hardware agent (F-HW-1, F-HW-2) ---------------------------------------------------------


class ThetaComponents(BaseModel):
    """θ and its parts (F-HW-2), as computed by ``venom_hardware_agent.domain.theta``.

    θ = 0.3·H_CPU + 0.3·H_MEM + 0.4·H_TERM over the H's that could be computed,
    renormalised: ``weights`` holds the weights actually used (they sum to 1).
    An H that could not be computed is ``None`` and absent from ``weights``:
    ``h_term`` is None when the host has no thermal sensor (θ then uses
    0.3/0.6 and 0.3/0.6); a replay row without a CPU or memory column leaves
    ``h_cpu`` / ``h_mem`` None. With no H at all θ is ``None`` (unknown), never 0.
    """

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False, frozen=True)

    h_cpu: Unit | None
    h_mem: Unit | None
    h_term: Unit | None
    theta: Unit | None
    thermal_sensor: bool
    weights: dict[str, Unit]


class MetricsV1(Payload):
    """One sample of a node (F-HW-2). Absent hardware is ``None``, never zero.

    From the psutil sampler the CPU, memory and swap fields are always set; a
    replay (``source == "replay"``) sets only the fields its CSV has columns for.
    """

    EVENT_TYPE: ClassVar[str] = "venom.metrics.v1"

    node: NodeId
    seq: int = Field(ge=0, description="sample number since the agent started (or replay row index)")
    sampled_at: datetime
    source: Literal["psutil", "replay"]
    interval_s: Annotated[float, Field(gt=0)]
    cpu_percent: Percent | None = None
    cpu_count: int | None = Field(None, ge=1)
    load_avg_1m: NonNeg | None = None
    mem_total_bytes: int | None = Field(None, ge=0)
    mem_available_bytes: int | None = Field(None, ge=0)
    mem_percent: Percent | None = None
    swap_total_bytes: int | None = Field(None, ge=0)
    swap_used_bytes: int | None = Field(None, ge=0)
    disk_percent: Percent | None = None
    disk_read_bytes_per_s: NonNeg | None = None
    disk_write_bytes_per_s: NonNeg | None = None
    net_rx_bytes_per_s: NonNeg | None = None
    net_tx_bytes_per_s: NonNeg | None = None
    temperature_c: float | None = Field(None, ge=-60, le=200)
    temperature_critical_c: float | None = Field(None, ge=-60, le=250)
    battery_percent: Percent | None = None
    power_plugged: bool | None = None
    theta: ThetaComponents
    #: Raw series values of this sample by metric name (replay columns, or the psutil
    #: figures above that are present), the input of the anomaly detector (F-ML-3).
    series: dict[str, float] = Field(default_factory=dict)
    #: Anomalies counted in this sample by the agent's detector (F-ML-3).
    anoms: int = Field(0, ge=0)
    #: The detector's graded anomaly level behind ``anoms`` (anoms is its integer part; None: no
    #: detector, or an agent that predates the field). The entropy model reads it when present.
    anomaly_level: float | None = Field(None, ge=0)
    #: The detector that counted ``anoms`` (None: no detector configured).
    detector: str | None = None
    #: The line of the replay file this sample was played from (None when sampled live).
    replay_line: int | None = Field(None, ge=1)


class GpuInfo(BaseModel):
    model_config = ConfigDict(extra="forbid", allow_inf_nan=False, frozen=True)

    vendor: str
    name: str
    memory_bytes: int | None = None
    #: How it was found: "nvidia-smi", "rocm-smi" or "torch.cuda".
    via: str


class HardwareProfileV1(Payload):
    """The hardware profile of a node (F-HW-1).

    ``workers_n``, ``lambda_wrap`` and ``parallel_fraction`` are derived by a
    documented capacity model (docs/HARDWARE.md, ``capacity_model`` names it):
    they are model indices, not measurements.
    """

    EVENT_TYPE: ClassVar[str] = "venom.hardware.v1"

    node: NodeId
    scanned_at: datetime
    cores_physical: int | None = Field(None, ge=1)
    cores_logical: int = Field(ge=1)
    #: CPUs this process may run on (scheduler affinity / container limit), when known.
    cpus_usable: int | None = Field(None, ge=1)
    arch: str
    cpu_vendor: str | None
    cpu_model: str | None
    cpu_freq_mhz: NonNeg | None
    cpu_freq_max_mhz: NonNeg | None
    hyperthreading: bool | None
    mem_total_bytes: int = Field(ge=0)
    swap_total_bytes: int = Field(ge=0)
    gpus: list[GpuInfo]
    platform: str
    platform_release: str
    python: str
    virtualization: str | None
    in_docker: bool
    in_kubernetes: bool
    thermal_sensor: bool
    battery: bool
    workers_n: int = Field(ge=1, description="derived N (workers)")
    lambda_wrap: Annotated[float, Field(ge=10, le=832)]
    parallel_fraction: Unit
    capacity_model: str = Field("seed004-v1", description="the model that derived N, Λ and P")


# --- pulse and arbiter (F-PULSE-*, F-ARB-*) ---------------------------------------------------


class Vitals(BaseModel):
    model_config = ConfigDict(extra="forbid", allow_inf_nan=False, frozen=True)

    beat_count: int = Field(ge=0)
    cycle_time_ms: NonNeg
    avg_beat_time_ms: NonNeg
    min_beat_time_ms: NonNeg
    max_beat_time_ms: NonNeg
    missed_deadlines: int = Field(ge=0)


class PulseV1(Payload):
    """One beat of a node's pulse (F-PULSE-1); recorded by the ledger."""

    EVENT_TYPE: ClassVar[str] = "venom.beat.v1"

    node: NodeId
    beat: int = Field(ge=0)
    t_lambda_s: Annotated[float, Field(gt=0)]
    period_s: Annotated[float, Field(gt=0)]
    started_at: datetime
    theta: Unit | None = None
    metrics_seq: int | None = Field(None, ge=0)
    vitals: Vitals


class OrganFeatures(BaseModel):
    """What the organs see of a node for one beat (seed 000's ``health_data``).

    Healths are in [0, 1], 1 = healthy (H_CPU, H_MEM, H_TERM of the hardware
    agent); ``None`` = not measured (no thermal sensor, no battery, no model).
    """

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False, frozen=True)

    theta: Unit | None = None
    cpu_health: Unit | None = None
    memory_health: Unit | None = None
    thermal_health: Unit | None = None
    battery_percent: Percent | None = None
    anoms: int = Field(0, ge=0)
    #: MetricsV1.anomaly_level when the agent sent it: the entropy model scores it instead of anoms (F-ML-1, F-ML-3).
    anomaly_level: float | None = Field(None, ge=0)
    cpu_cores: int | None = Field(None, ge=1)
    cache_size_bytes: int | None = Field(None, ge=0)
    cache_hit_rate: Unit | None = None
    model_size_bytes: int | None = Field(None, ge=0)
    model_corruption: bool = False
    metrics_seq: int | None = Field(None, ge=0)


class GenomeView(BaseModel):
    """The part of the genome the organs read."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False, frozen=True)

    R: Unit
    B: Unit
    E: Unit
    O: Unit  # noqa: E741
    risk_anoms: int = Field(0, ge=0)
    ml_weight: Annotated[float, Field(gt=0.0, le=10.0)] = 0.12


class OrganRequestV1(Payload):
    """The arbiter asks one organ for its result of one beat (core request/reply, queue group)."""

    EVENT_TYPE: ClassVar[str] = "venom.organ.request.v1"

    node: NodeId
    beat: int = Field(ge=0)
    organ: Organ
    features: OrganFeatures
    genome: GenomeView
    deadline_ms: Annotated[float, Field(gt=0, le=60_000)]


class OrganBeatRequestV1(Payload):
    """The arbiter asks several organs at once for their results of one beat: one message on
    ``venom.organs`` that every organ service receives (each organ's replicas in their own queue group);
    each organ named in ``organs`` replies with its ``venom.flow.v1`` result, the others ignore it."""

    EVENT_TYPE: ClassVar[str] = "venom.organs.request.v1"

    node: NodeId
    beat: int = Field(ge=0)
    organs: Annotated[list[Organ], Field(min_length=1, max_length=4)]
    features: OrganFeatures
    genome: GenomeView
    deadline_ms: Annotated[float, Field(gt=0, le=60_000)]


class RegenResult(BaseModel):
    model_config = ConfigDict(extra="forbid", allow_inf_nan=False, frozen=True)
    kind: Literal["regen"] = "regen"
    urgency: Unit
    cost: NonNeg
    issues: list[str]
    quarantined: list[str]
    improved: list[str]
    reinvested_mb: int = Field(ge=0)


class BalanceResult(BaseModel):
    model_config = ConfigDict(extra="forbid", allow_inf_nan=False, frozen=True)
    kind: Literal["balance"] = "balance"
    mode: str
    conservation: str
    conserve: Unit
    kp: float
    ki: float
    kd: float


class EntropyResult(BaseModel):
    model_config = ConfigDict(extra="forbid", allow_inf_nan=False, frozen=True)
    kind: Literal["entropy"] = "entropy"
    threat_score: Unit
    explanation: str
    model_version: str
    threats: list[str]
    vulnerabilities: list[str]
    defended: int = Field(ge=0)


class OptimizeResult(BaseModel):
    model_config = ConfigDict(extra="forbid", allow_inf_nan=False, frozen=True)
    kind: Literal["optimize"] = "optimize"
    expected_gain: Annotated[float, Field(ge=0.0, le=0.5)]
    targets: list[str]
    adjustments: list[str]
    distribution: dict[str, int]


class OrganError(BaseModel):
    """A missing, late or failed organ (F-ARB-1): the beat completes with this."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False, frozen=True)
    kind: Literal["error"] = "error"
    error: str


OrganResult = Annotated[
    RegenResult | BalanceResult | EntropyResult | OptimizeResult | OrganError,
    Field(discriminator="kind"),
]


class FlowResultV1(Payload):
    """One organ's result for one beat; recorded by the ledger."""

    EVENT_TYPE: ClassVar[str] = "venom.flow.v1"

    node: NodeId
    beat: int = Field(ge=0)
    organ: Organ
    replica: str | None = None
    elapsed_ms: NonNeg
    result: OrganResult


class DecisionVector(BaseModel):
    """F-ARB-2: the organs' outputs weighted by the genome."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False, frozen=True)
    threat: Unit
    stability: Unit
    repair_score: Unit
    opt_gain: Unit
    integrated_score: Unit


class DecisionV1(Payload):
    """The arbiter's decision for one beat (F-ARB-3, F-ARB-8); recorded by the ledger."""

    EVENT_TYPE: ClassVar[str] = "venom.decision.v1"

    node: NodeId
    beat: int = Field(ge=0)
    action: ActionName
    vector: DecisionVector
    reason: str
    evidence: dict[str, float | int | str | bool | None] = Field(default_factory=dict)
    #: For APPLY_BALANCE / APPLY_OPTIMIZE: the adjustments the organs proposed.
    adjustments: list[str] = Field(default_factory=list)


class GenomeWeights(BaseModel):
    model_config = ConfigDict(extra="forbid", allow_inf_nan=False, frozen=True)
    R: Unit
    B: Unit
    E: Unit
    O: Unit  # noqa: E741 - the seed's base letter


class PidState(BaseModel):
    model_config = ConfigDict(extra="forbid", allow_inf_nan=False, frozen=True)
    error: float
    integral: Annotated[float, Field(ge=-1.0, le=1.0)]
    previous_error: float | None
    output: float
    delta_o: Annotated[float, Field(ge=-0.05, le=0.05)]
    delta_v: float


class GenomeV1(Payload):
    """The genome after one beat's recalibration (F-ARB-4, F-ARB-5); recorded."""

    EVENT_TYPE: ClassVar[str] = "venom.genome.v1"

    node: NodeId
    beat: int = Field(ge=0)
    weights: GenomeWeights
    mode: str
    risk_anoms: int = Field(ge=0)
    ml_weight: Annotated[float, Field(ge=0.0, le=10.0)]
    pid: PidState
    e_feedback_t: int = Field(ge=0, description="beats of the current run of threat > 0.5 (F-ARB-5)")
    #: The id of the metrics event this beat consumed (lockstep drive), so a restarted
    #: arbiter never beats twice on one sample.
    metrics_id: str | None = None


class AlertV1(Payload):
    """An ALERT or QUARANTINE a person can route (F-ARB-8)."""

    EVENT_TYPE: ClassVar[str] = "venom.alert.v1"

    node: NodeId
    beat: int = Field(ge=0)
    action: Literal["ALERT", "QUARANTINE"]
    threat: Unit
    reason: str
    decision_id: str


class InjectDataV1(Payload):
    """F-MESH-3: ``inject_data(genome, anoms=N, ml_weight=W)`` as a command.

    Bounds: anoms is a count (0..10 000); ml_weight a model weight in (0, 10].
    Anything else is refused at the boundary with the reason.
    """

    EVENT_TYPE: ClassVar[str] = "venom.command.inject.v1"

    node: NodeId
    anoms: int | None = Field(None, ge=0, le=10_000)
    ml_weight: Annotated[float, Field(gt=0.0, le=10.0)] | None = None
    requested_by: str | None = Field(None, max_length=128)


# --- mesh and orchestrator (F-MESH-*, F-ORCH-*) -----------------------------------------------


class PeerV1(Payload):
    """A peer joined, was refreshed, or left the mesh (F-MESH-1)."""

    EVENT_TYPE: ClassVar[str] = "venom.mesh.peer.v1"

    node: NodeId
    status: Literal["joined", "left"]
    addresses: list[str]
    version: str
    capabilities: list[str]
    role: Literal["memory_carrier", "signal_relay", "knowledge_keeper", "generic"] = "generic"
    via: Literal["multicast", "seed", "dns", "self"]
    last_seen: datetime


class MeshMessageV1(Payload):
    """One broadcast message, delivered to every known peer but the sender (F-MESH-2).

    The sender's mesh-discovery service publishes one copy on each peer's
    ``subjects.mesh_inbox(peer)``; the receiving node keeps it in its NanoBot
    (F-MESH-4: a role-sized FIFO store).
    """

    EVENT_TYPE: ClassVar[str] = "venom.mesh.message.v1"

    message_id: str = Field(min_length=1, max_length=64)
    sender: NodeId
    topic: str = Field(min_length=1, max_length=64, pattern=r"^[a-z][a-z0-9_.-]*$")
    body: dict[str, float | int | str | bool | None | list[float | int | str]] = Field(default_factory=dict)
    sent_at: datetime


class TaskV1(Payload):
    """A task dispatched to a peer's worker (F-ORCH-2)."""

    EVENT_TYPE: ClassVar[str] = "venom.task.v1"

    task_id: str = Field(min_length=1, max_length=64)
    node: NodeId
    task_type: str = Field(min_length=1, max_length=64, pattern=r"^[a-z][a-z0-9_.-]*$")
    payload: dict[str, float | int | str | bool | None | list[float | int | str]]
    attempt: int = Field(1, ge=1)
    deadline_s: Annotated[float, Field(gt=0, le=3600)] = 30.0


class TaskResultV1(Payload):
    """What came of a task on a peer."""

    EVENT_TYPE: ClassVar[str] = "venom.task.result.v1"

    task_id: str = Field(min_length=1, max_length=64)
    node: NodeId
    status: Literal["succeeded", "failed"]
    result: dict[str, float | int | str | bool | None | list[float | int | str]] | None = None
    error: str | None = None
    elapsed_ms: NonNeg


# --- ledger (F-LEDGER-6) -----------------------------------------------------------------------


class CheckpointV1(Payload):
    """A signed tree head of a chain (F-LEDGER-6; exact format in docs/LEDGER.md).

    ``signature`` is Ed25519 over the canonical JSON of ``{"chain", "root_hash", "timestamp",
    "tree_size"}``; ``timestamp`` is the ledger's fixed-width UTC string (kept as signed, never
    re-formatted); ``key_id`` is the first 16 hex digits of SHA3-256 of the raw public key.
    """

    EVENT_TYPE: ClassVar[str] = "venom.ledger.checkpoint.v1"

    chain: str = Field(min_length=1, max_length=64)
    tree_size: int = Field(ge=0)
    root_hash: str = Field(pattern=r"^[0-9a-f]{64}$")
    timestamp: str = Field(pattern=r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{6}Z$")
    key_id: str = Field(pattern=r"^[0-9a-f]{16}$")
    signature: str = Field(pattern=r"^[0-9a-f]{128}$", description="Ed25519 signature, hex")


#: Every payload class by its CloudEvents type.
PAYLOAD_TYPES: dict[str, type[Payload]] = {
    cls.EVENT_TYPE: cls
    for cls in (
        MetricsV1,
        HardwareProfileV1,
        PulseV1,
        OrganRequestV1,
        OrganBeatRequestV1,
        FlowResultV1,
        DecisionV1,
        GenomeV1,
        AlertV1,
        InjectDataV1,
        PeerV1,
        MeshMessageV1,
        TaskV1,
        TaskResultV1,
        CheckpointV1,
    )
}
