"""Canonical JSON, the one byte encoding that hashes and signatures are taken over.

Rules (F-LEDGER-1): keys sorted, separators ``(",", ":")``, UTF-8 (no ``\\u``
escaping of non-ASCII characters), and NaN / +Infinity / -Infinity refused —
they have no JSON representation and would make two honest implementations
disagree about the bytes.
"""

from __future__ import annotations

import json
from typing import Any


class NonFiniteNumber(ValueError):
    """A NaN or infinite float was found where JSON needs a finite number."""


def canonical_dumps(value: Any) -> bytes:
    """Encode ``value`` as canonical JSON bytes.

    Raises :class:`NonFiniteNumber` on NaN or infinities and ``TypeError`` on
    values JSON cannot represent.
    """
    try:
        text = json.dumps(
            value,
            sort_keys=True,
            separators=(",", ":"),
            ensure_ascii=False,
            allow_nan=False,
        )
    except ValueError as exc:  # json raises ValueError for NaN/inf with allow_nan=False
        raise NonFiniteNumber(f"canonical JSON refuses NaN and infinities: {exc}") from exc
    return text.encode("utf-8")


def _refuse_constant(name: str) -> Any:
    raise NonFiniteNumber(f"JSON constant {name} is not allowed (NaN and infinities are refused)")


def strict_loads(data: bytes | str) -> Any:
    """Parse JSON, refusing the non-standard constants NaN, Infinity and -Infinity."""
    return json.loads(data, parse_constant=_refuse_constant)
