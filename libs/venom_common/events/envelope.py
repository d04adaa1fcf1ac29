"""The one event envelope: CloudEvents 1.0, structured JSON mode.

On the wire an event is one JSON object::

    {"specversion": "1.0", "id": "<uuidv7>", "source": "/venom/<node>/<service>",
     "type": "venom.metrics.v1", "time": "<RFC 3339>", "subject": "venom.metrics.n1",
     "datacontenttype": "application/json", "data": {...}}

plus ``traceparent`` (the CloudEvents distributed-tracing extension) when a
span was active. ``encode`` and ``decode`` are the only way in and out.
"""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime
from typing import Any, Generic, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from venom_common.canonical import NonFiniteNumber, strict_loads
from venom_common.events.payloads import PAYLOAD_TYPES, Payload
from venom_common.ids import new_event_id

P = TypeVar("P", bound=Payload)


class InvalidEvent(ValueError):
    """A message that is not a valid VENOM event.

    ``reason`` is a short, stable label used as the metric label
    (``venom_events_rejected_total{reason}``); ``detail`` says what to fix.
    """

    REASONS = ("not_json", "non_finite", "envelope", "unknown_type", "payload", "unexpected_type")

    def __init__(self, reason: str, detail: str) -> None:
        assert reason in self.REASONS, reason
        super().__init__(f"invalid event ({reason}): {detail}")
        self.reason = reason
        self.detail = detail


class _Attributes(BaseModel):
    """The CloudEvents 1.0 context attributes VENOM uses (every one checked, unknown ones refused)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    specversion: Literal["1.0"]
    id: str = Field(min_length=1, max_length=128)
    source: str = Field(min_length=1, max_length=256)
    type: str = Field(min_length=1, max_length=128)
    time: datetime
    subject: str | None = Field(None, max_length=256)
    datacontenttype: Literal["application/json"] = "application/json"
    traceparent: str | None = Field(None, max_length=128)


class Envelope(_Attributes, Generic[P]):
    """A CloudEvents 1.0 event carrying a typed VENOM payload."""

    data: P


class _RawEnvelope(_Attributes):
    """The envelope checked before its payload type is known."""

    data: dict[str, Any]


_ENVELOPE_CLASSES: dict[type[Payload], type[Envelope[Any]]] = {}


def envelope_class(payload_cls: type[Payload]) -> type[Envelope[Any]]:
    """``Envelope[payload_cls]``, built once per payload type (parametrising a pydantic generic
    on every event costs more than validating the event)."""
    cls = _ENVELOPE_CLASSES.get(payload_cls)
    if cls is None:
        cls = _ENVELOPE_CLASSES[payload_cls] = Envelope[payload_cls]  # type: ignore[valid-type]
    return cls


def make_event(
    payload: P,
    *,
    source: str,
    subject: str | None = None,
    event_id: str | None = None,
    time: datetime | None = None,
    traceparent: str | None = None,
) -> Envelope[P]:
    """Wrap ``payload`` in a new envelope with a fresh UUIDv7 id."""
    # The payload is a validated model already and the other attributes are set here, so the
    # envelope is constructed without a second validation pass (it is on every event's path).
    return envelope_class(type(payload)).model_construct(
        specversion="1.0",
        id=event_id or new_event_id(),
        source=source,
        type=payload.EVENT_TYPE,
        time=time or datetime.now(UTC),
        subject=subject,
        datacontenttype="application/json",
        traceparent=traceparent,
        data=payload,
    )


def encode(event: Envelope[Any]) -> bytes:
    """The event as UTF-8 JSON bytes (structured mode), NaN-free by construction."""
    # Optional envelope attributes are omitted when unset (CloudEvents); the payload keeps
    # its explicit nulls, which say "absent" (no thermal sensor), not "unknown field".
    skip = {name for name in ("subject", "traceparent") if getattr(event, name) is None}
    return event.model_dump_json(exclude=skip).encode("utf-8")


_TYPE_ATTR = re.compile(rb'"type"\s*:\s*"([A-Za-z0-9_.-]{1,128})"')


def decode(raw: bytes | str, expected: type[P] | tuple[type[Payload], ...] | None = None) -> Envelope[Any]:
    """Parse and validate one event. Raises :class:`InvalidEvent` with the reason.

    ``expected`` restricts the payload type(s) a consumer accepts.

    Fast path (every consumer's hot path): guess the type from the bytes, then parse and validate
    envelope and payload in one pass of pydantic's JSON parser; the guess is confirmed against the
    validated ``type``. Anything else — no guess, a wrong guess, a failure, a NaN or Infinity
    anywhere — takes the careful path below, which names the reason.
    """
    data = raw.encode("utf-8") if isinstance(raw, str) else raw
    if b"NaN" not in data and b"Infinity" not in data:
        match = _TYPE_ATTR.search(data)
        cls = PAYLOAD_TYPES.get(match.group(1).decode()) if match else None
        if cls is not None and (expected is None or cls in (expected if isinstance(expected, tuple) else (expected,))):
            try:
                env = envelope_class(cls).model_validate_json(data)
            except ValidationError:
                pass
            else:
                if env.type == cls.EVENT_TYPE:
                    return env
    return _decode_carefully(data, expected)


def _decode_carefully(raw: bytes, expected: type[P] | tuple[type[Payload], ...] | None) -> Envelope[Any]:
    try:
        obj = strict_loads(raw)
    except NonFiniteNumber as exc:
        raise InvalidEvent("non_finite", str(exc)) from exc
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise InvalidEvent("not_json", f"payload is not JSON: {exc}") from exc
    if not isinstance(obj, dict):
        raise InvalidEvent("envelope", f"an event is a JSON object, got {type(obj).__name__}")
    type_name = obj.get("type")
    payload_cls = PAYLOAD_TYPES.get(type_name) if isinstance(type_name, str) else None
    if payload_cls is None:
        try:  # say what is wrong with the envelope itself before blaming the type
            _RawEnvelope.model_validate(obj)
        except ValidationError as exc:
            raise InvalidEvent("envelope", _summarise(exc)) from exc
        raise InvalidEvent("unknown_type", f"unknown event type {type_name!r}; known: {sorted(PAYLOAD_TYPES)}")
    if expected is not None:
        allowed = expected if isinstance(expected, tuple) else (expected,)
        if payload_cls not in allowed:
            names = ", ".join(c.EVENT_TYPE for c in allowed)
            raise InvalidEvent("unexpected_type", f"got {type_name!r} where {names} was expected")
    # One validation pass over envelope and payload together (this is on every consumer's path).
    try:
        return envelope_class(payload_cls).model_validate(obj)
    except ValidationError as exc:
        in_payload = all(err["loc"] and err["loc"][0] == "data" for err in exc.errors())
        if in_payload:
            raise InvalidEvent("payload", f"{type_name}: {_summarise(exc)}") from exc
        raise InvalidEvent("envelope", _summarise(exc)) from exc


def _summarise(exc: ValidationError) -> str:
    parts = []
    for err in exc.errors()[:5]:
        loc = ".".join(str(p) for p in err["loc"]) or "<root>"
        parts.append(f"{loc}: {err['msg']}")
    more = len(exc.errors()) - 5
    return "; ".join(parts) + (f" (+{more} more)" if more > 0 else "")
