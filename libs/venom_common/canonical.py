"""Canonical JSON, the one byte encoding that hashes and signatures are taken over.

Rules (F-LEDGER-1): keys sorted, separators ``(",", ":")``, UTF-8 (no ``\\u``
escaping of non-ASCII characters), and NaN / +Infinity / -Infinity refused —
they have no JSON representation and would make two honest implementations
disagree about the bytes.

The bytes are exactly those of ``json.dumps(value, sort_keys=True, separators=(",", ":"),
ensure_ascii=False, allow_nan=False).encode("utf-8")`` (:func:`reference_dumps`). The fast path
calls the same C encoder that ``json.dumps`` builds on every call, built once with the same
arguments, so the output is the same by construction; ``tests/unit/common/test_canonical.py``
also checks it against the reference over generated values (floats, big integers, Unicode,
nesting).
"""

from __future__ import annotations

import json
import json.encoder
import re
from typing import Any

import orjson


class NonFiniteNumber(ValueError):
    """A NaN or infinite float was found where JSON needs a finite number."""


_REFERENCE_ARGS: dict[str, Any] = {"sort_keys": True, "separators": (",", ":"), "ensure_ascii": False,
                                   "allow_nan": False}
_ENCODER = json.JSONEncoder(**_REFERENCE_ARGS)
# json.JSONEncoder.iterencode(_one_shot=True) builds exactly this C encoder for every call (markers
# aside: None here, i.e. no circular-reference bookkeeping; a circular value ends in RecursionError,
# and then the reference path runs and raises what json.dumps raises).
_C_ENCODE = (
    json.encoder.c_make_encoder(None, _ENCODER.default, json.encoder.encode_basestring, None, ":", ",", True, False,
                                False)
    if json.encoder.c_make_encoder is not None else None
)


def reference_dumps(value: Any) -> bytes:
    """The definition: the standard library's ``json.dumps`` with the canonical arguments."""
    try:
        text = json.dumps(value, **_REFERENCE_ARGS)
    except ValueError as exc:  # json raises ValueError for NaN/inf with allow_nan=False
        raise NonFiniteNumber(f"canonical JSON refuses NaN and infinities: {exc}") from exc
    return text.encode("utf-8")


def canonical_dumps(value: Any) -> bytes:
    """Encode ``value`` as canonical JSON bytes (byte-identical to :func:`reference_dumps`).

    Raises :class:`NonFiniteNumber` on NaN or infinities and ``TypeError`` on
    values JSON cannot represent.
    """
    if _C_ENCODE is None or not isinstance(value, dict | list):
        return reference_dumps(value)
    try:
        text = "".join(_C_ENCODE(value, 0))
    except ValueError as exc:
        raise NonFiniteNumber(f"canonical JSON refuses NaN and infinities: {exc}") from exc
    except RecursionError:
        return reference_dumps(value)
    return text.encode("utf-8")  # a lone surrogate raises UnicodeEncodeError here, as in the reference


_ORJSON_OPTIONS = orjson.OPT_SORT_KEYS | orjson.OPT_PASSTHROUGH_DATETIME | orjson.OPT_PASSTHROUGH_DATACLASS


def canonical_dumps_json(value: Any, *, finite: bool = False) -> bytes:
    """:func:`canonical_dumps` for a value made of JSON types only (``dict`` with ``str`` keys,
    ``list``, ``str``, ``int``, ``float``, ``bool``, ``None``), e.g. parsed JSON or a model's
    ``model_dump(mode="json")``: the same bytes, about 4x faster on event-sized values.

    orjson writes them (keys sorted) when its bytes are provably the reference's, and
    :func:`canonical_dumps` runs otherwise. The two encoders differ only in how some floats are
    written and in ``null``: orjson writes NaN and infinities as ``null`` (the reference refuses
    them) and floats below 1e-4 or from 1e16 up in its own notation (``1e-5``, ``1e16``; the
    reference ``1e-05``, ``1e+16``, and ``0.00001`` vs ``1e-05`` just below 1e-4). Below, every
    token of orjson's output that is not a string is checked (:data:`_DIFFERS`): any ``null``,
    exponent or ``0.0000`` sends the value to :func:`canonical_dumps`. All other floats are written by both as the shortest round-trip
    digits in positional notation, and strings, keys (sorted by code point), integers and literals
    identically; ``tests/unit/common/test_canonical.py`` holds the two byte-identical over
    generated values and random doubles. orjson also accepts types the reference refuses (UUID,
    enums): hence "JSON types only".

    ``finite=True``: the caller guarantees that ``value`` holds no NaN or infinity (e.g. the JSON-mode
    dump of a decoded event: ``decode`` refuses those constants and every model refuses non-finite
    floats), so a ``null`` is a ``None`` and keeps the fast path.
    """
    try:
        out = orjson.dumps(value, option=_ORJSON_OPTIONS)
    except (orjson.JSONEncodeError, TypeError):
        return canonical_dumps(value)  # big integers, surrogates, non-str keys: the reference decides
    if (out[:1] not in _OPENERS or b"0.0000" in out or _EXPONENT.search(out) is not None
            or (not finite and (b":null" in out or b",null" in out or b"[null" in out))):
        return canonical_dumps(value)
    return out


# In orjson's compact output of an object or array, every token that is not a string (a number,
# true, false, null) starts right after ":", "," or "[", and ends at ",", "}" or "]". The checks above
# find each such token that the reference writes differently: ``null`` (NaN and infinities), an
# exponent (``1e+16``, ``1.5e-07``: one regular expression from the literal "e", which is fast) and
# ``0.0000…`` (below 1e-4). They may also match inside a string (e.g. "a:null", "1e5,"), which only
# sends that value to the slower exact path. ~3 us less per event-sized value than splitting the
# output at every quote to look between the strings (docs/BENCHMARKS.md).
_OPENERS = (b"{", b"[")
_EXPONENT = re.compile(rb"e[-+]?[0-9]+[,}\]]")


def _refuse_constant(name: str) -> Any:
    raise NonFiniteNumber(f"JSON constant {name} is not allowed (NaN and infinities are refused)")


def strict_loads(data: bytes | str) -> Any:
    """Parse JSON, refusing the non-standard constants NaN, Infinity and -Infinity."""
    return json.loads(data, parse_constant=_refuse_constant)
