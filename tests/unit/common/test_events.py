"""The envelope and the payload schemas: valid events round-trip, invalid ones are refused with a reason."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from venom_common.events import PAYLOAD_TYPES, InvalidEvent, decode, encode, make_event, subjects
from venom_common.events.payloads import DecisionV1, DecisionVector, InjectDataV1, OrganError, FlowResultV1


def _inject(**kw: object) -> InjectDataV1:
    return InjectDataV1(node="n1", **kw)  # type: ignore[arg-type]


def test_envelope_is_cloudevents_structured_json() -> None:
    event = make_event(_inject(anoms=5, ml_weight=0.12), source="/venom/n1/test", subject=subjects.command("n1", "inject"))
    obj = json.loads(encode(event))
    assert obj["specversion"] == "1.0"
    assert obj["type"] == "venom.command.inject.v1"
    assert obj["datacontenttype"] == "application/json"
    assert obj["subject"] == "venom.command.n1.inject"
    assert obj["data"] == {"node": "n1", "anoms": 5, "ml_weight": 0.12, "requested_by": None}
    assert "traceparent" not in obj  # optional attributes are omitted when unset
    datetime.fromisoformat(obj["time"])


def test_round_trip() -> None:
    event = make_event(_inject(anoms=1), source="/venom/n1/test")
    back = decode(encode(event))
    assert back == event
    assert isinstance(back.data, InjectDataV1)


def test_ids_unique_and_sortable() -> None:
    ids = [make_event(_inject(), source="/s").id for _ in range(2000)]
    assert len(set(ids)) == len(ids)
    assert ids == sorted(ids)  # UUIDv7: creation order is sort order


def test_every_type_is_versioned() -> None:
    for type_name, cls in PAYLOAD_TYPES.items():
        assert type_name.endswith(".v1") and cls.EVENT_TYPE == type_name


def test_discriminated_organ_result() -> None:
    flow = FlowResultV1(node="n1", beat=3, organ="entropy", elapsed_ms=0.4, result=OrganError(error="deadline"))
    back = decode(encode(make_event(flow, source="/s")))
    assert back.data.result == OrganError(error="deadline")


def _raw(**overrides: object) -> bytes:
    obj = json.loads(encode(make_event(_inject(anoms=5, ml_weight=0.12), source="/venom/n1/test")))
    for key, value in overrides.items():
        if value is ...:
            obj.pop(key)
        else:
            obj[key] = value
    return json.dumps(obj).encode()


@pytest.mark.parametrize(
    "raw,reason",
    [
        (b"\x00\xffnot json", "not_json"),
        (b"{truncated", "not_json"),
        (b"[1,2]", "envelope"),
        (_raw(specversion="0.3"), "envelope"),
        (_raw(id=...), "envelope"),
        (_raw(specversion=...), "envelope"),
        (_raw(extra_attr=1), "envelope"),
        (_raw(type="venom.nope.v1"), "unknown_type"),
        (_raw(data={"node": "n1", "anoms": -1}), "payload"),
        (_raw(data={"node": "n1", "ml_weight": 1e9}), "payload"),
        (_raw(data={"node": "bad.node"}), "payload"),
        (_raw(data={"node": "n1", "surprise": True}), "payload"),
        (_raw().replace(b"0.12", b"NaN"), "non_finite"),
        (_raw().replace(b"0.12", b"Infinity"), "non_finite"),
    ],
)
def test_invalid_events_are_refused_with_reason(raw: bytes, reason: str) -> None:
    with pytest.raises(InvalidEvent) as info:
        decode(raw)
    assert info.value.reason == reason
    assert info.value.detail


def test_expected_type_is_enforced() -> None:
    raw = encode(make_event(_inject(), source="/s"))
    with pytest.raises(InvalidEvent) as info:
        decode(raw, DecisionV1)
    assert info.value.reason == "unexpected_type"
    assert decode(raw, (DecisionV1, InjectDataV1)).data.node == "n1"


def test_models_refuse_nan_directly() -> None:
    with pytest.raises(ValueError):
        DecisionVector(threat=float("nan"), stability=0, repair_score=0, opt_gain=0, integrated_score=0)


def test_subjects() -> None:
    assert subjects.metrics("n1") == "venom.metrics.n1"
    assert subjects.flow("n1", "regen") == "venom.flow.n1.regen"
    assert subjects.mesh_peer("n1") == "venom.mesh.peer.n1"
    with pytest.raises(ValueError):
        subjects.metrics("a.b")
    with pytest.raises(ValueError):
        subjects.decision("")


def test_time_is_timezone_aware() -> None:
    event = make_event(_inject(), source="/s")
    assert event.time.tzinfo is not None and event.time <= datetime.now(UTC)
