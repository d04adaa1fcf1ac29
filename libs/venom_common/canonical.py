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
from typing import Any


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


def _refuse_constant(name: str) -> Any:
    raise NonFiniteNumber(f"JSON constant {name} is not allowed (NaN and infinities are refused)")


def strict_loads(data: bytes | str) -> Any:
    """Parse JSON, refusing the non-standard constants NaN, Infinity and -Infinity."""
    return json.loads(data, parse_constant=_refuse_constant)
