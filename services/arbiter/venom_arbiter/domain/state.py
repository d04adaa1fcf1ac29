"""F-ARB-7: the arbiter's state, and how its own events rebuild it.

The state after beat b is exactly what beat b's genome event says (weights,
mode, risk anoms, ML weight, PID integral and error, E-feedback clock, the
metrics sample consumed) plus the PID's error history. A snapshot is the same
state as JSON, taken every N beats; a restart loads the snapshot and applies
every genome event published after it, in order.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

from venom_common.events.payloads import GenomeV1

from venom_arbiter.domain.genome import INITIAL, Genome
from venom_arbiter.domain.pid import GenomicPid

SNAPSHOT_FORMAT = 1


class StateGap(RuntimeError):
    """Genome events are missing between the snapshot and now: the state cannot be rebuilt exactly."""


@dataclass
class ArbiterState:
    beat: int = 0  # the next beat to run
    genome: Genome = INITIAL
    pid: GenomicPid = field(default_factory=GenomicPid)
    last_metrics_id: str | None = None
    #: Stream sequence of the last genome event applied (where a replay resumes).
    genome_seq: int = 0

    def apply(self, event: GenomeV1, stream_seq: int) -> None:
        """Apply beat ``event.beat``'s genome event (replay, or right after publishing it)."""
        if event.beat < self.beat:
            return  # already in the state (snapshot taken after it)
        if event.beat != self.beat:
            raise StateGap(f"genome event for beat {event.beat} while the state expects beat {self.beat}")
        w = event.weights
        self.genome = replace(
            self.genome, R=w.R, B=w.B, E=w.E, O=w.O, mode=event.mode,  # type: ignore[arg-type]
            risk_anoms=event.risk_anoms, ml_weight=event.ml_weight, e_feedback_t=event.e_feedback_t,
        )
        self.pid.integral = event.pid.integral
        self.pid.previous_error = event.pid.error
        self.pid.history.append(event.pid.error)
        if event.metrics_id is not None:
            self.last_metrics_id = event.metrics_id
        self.beat = event.beat + 1
        self.genome_seq = max(self.genome_seq, stream_seq)

    def to_snapshot(self) -> dict[str, Any]:
        g = self.genome
        return {
            "format": SNAPSHOT_FORMAT,
            "beat": self.beat,
            "genome": {"R": g.R, "B": g.B, "E": g.E, "O": g.O, "mode": g.mode, "risk_anoms": g.risk_anoms,
                       "ml_weight": g.ml_weight, "e_feedback_t": g.e_feedback_t},
            "pid": {"integral": self.pid.integral, "previous_error": self.pid.previous_error,
                    "history": list(self.pid.history)},
            "last_metrics_id": self.last_metrics_id,
            "genome_seq": self.genome_seq,
        }

    @classmethod
    def from_snapshot(cls, snap: dict[str, Any]) -> ArbiterState:
        if snap.get("format") != SNAPSHOT_FORMAT:
            raise ValueError(f"unknown arbiter snapshot format {snap.get('format')!r}")
        g = snap["genome"]
        p = snap["pid"]
        return cls(
            beat=int(snap["beat"]),
            genome=Genome(R=g["R"], B=g["B"], E=g["E"], O=g["O"], mode=g["mode"], risk_anoms=g["risk_anoms"],
                          ml_weight=g["ml_weight"], e_feedback_t=g["e_feedback_t"]),
            pid=GenomicPid(p["integral"], p["previous_error"], list(p["history"])),
            last_metrics_id=snap.get("last_metrics_id"),
            genome_seq=int(snap.get("genome_seq", 0)),
        )
