"""An entry records the event as published: the envelope's wire JSON, minus the trace context."""

from __future__ import annotations

import json
from datetime import UTC, datetime

from venom_common.canonical import canonical_dumps
from venom_common.events import encode, make_event, subjects
from venom_common.events.payloads import DecisionV1, DecisionVector, PulseV1, Vitals
from venom_ledger.ledger import RECORDED_ATTRIBUTES, event_record


def _pulse() -> object:
    payload = PulseV1(node="n1", beat=7, t_lambda_s=1e-7, period_s=1.0, started_at=datetime(2026, 1, 2, tzinfo=UTC),
                      vitals=Vitals(beat_count=7, cycle_time_ms=0.1, avg_beat_time_ms=1 / 3, min_beat_time_ms=0,
                                    max_beat_time_ms=2.5, missed_deadlines=0))
    return make_event(payload, source="/venom/n1/arbiter", subject=subjects.beat("n1"),
                      traceparent="00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01")


def test_record_equals_the_wire_json_without_trace_context():
    for event in (_pulse(), make_event(
            DecisionV1(node="n1", beat=1, action="NOOP", reason="calm", evidence={"x": 0.1, "ok": True},
                       vector=DecisionVector(threat=0.1, stability=0.9, repair_score=0, opt_gain=0.2,
                                             integrated_score=0.5)), source="/venom/n1/arbiter")):
        wire = json.loads(encode(event))
        record = event_record(event)
        expected = {k: wire.get(k) for k in RECORDED_ATTRIBUTES}
        assert canonical_dumps(dict(record.data)) == canonical_dumps(expected)
        assert record.event_id == event.id
        assert "traceparent" not in record.data


def test_record_equals_model_dump():
    event = _pulse()
    assert event_record(event).data == event.model_dump(mode="json", include=set(RECORDED_ATTRIBUTES))
