"""The hash chain (F-LEDGER-1, F-LEDGER-4).

An entry is ``(index, timestamp, data, previous_hash, hash)`` where::

    hash = SHA3-256(canonical_json({"data": data, "index": index,
                                    "previous_hash": previous_hash, "timestamp": timestamp}))

* ``index`` — integer, 0 for the genesis entry, then 1, 2, … without gaps;
* ``timestamp`` — the time the ledger appended the entry, as a fixed-width RFC 3339 UTC
  string ``YYYY-MM-DDTHH:MM:SS.ffffffZ`` (always 6 fractional digits, always ``Z``), stored
  verbatim, so it survives any database round trip byte for byte (never a float);
* ``data`` — a JSON object: for recorded events, the CloudEvents envelope as published
  (``id, source, type, time, subject, data``);
* ``previous_hash`` — the ``hash`` of entry ``index - 1`` (64 zeros for genesis), lower-case hex;
* canonical JSON — keys sorted, separators ``,`` and ``:``, UTF-8 without ``\\u`` escapes of
  non-ASCII, NaN and infinities refused (``venom_common.canonical``).

Because the four keys sort as ``data, index, previous_hash, timestamp``, the hashed bytes are
exactly ``{"data":<canonical data>,"index":<n>,"previous_hash":"<hex>","timestamp":"<ts>"}``;
:func:`hashed_bytes` builds them that way from the stored canonical data, and a test checks they
equal ``canonical_dumps`` of the dict.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from venom_common.canonical import canonical_dumps, canonical_dumps_json, strict_loads

ZERO_HASH = "0" * 64
GENESIS_TIMESTAMP = "1970-01-01T00:00:00.000000Z"
TIMESTAMP_RE = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{6}Z$")
HEX64_RE = re.compile(r"^[0-9a-f]{64}$")


def genesis_data(chain: str) -> dict[str, str]:
    """The fixed data of entry 0 of chain ``chain`` (documented in docs/LEDGER.md)."""
    return {"chain": chain, "genesis": "VENOM ledger"}


def format_timestamp(moment: datetime) -> str:
    """``moment`` as the ledger's fixed-width RFC 3339 UTC string (microseconds, ``Z``)."""
    if moment.tzinfo is None:
        raise ValueError("ledger timestamps must be timezone-aware (UTC)")
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def now_timestamp() -> str:
    return format_timestamp(datetime.now(UTC))


def hashed_bytes(index: int, timestamp: str, data_json: bytes, previous_hash: str) -> bytes:
    """The exact bytes an entry's hash is taken over; ``data_json`` is the canonical JSON of data."""
    return b"".join(
        (
            b'{"data":',
            data_json,
            b',"index":',
            str(index).encode("ascii"),
            b',"previous_hash":"',
            previous_hash.encode("ascii"),
            b'","timestamp":"',
            timestamp.encode("ascii"),
            b'"}',
        )
    )


def sha3_hex(payload: bytes) -> str:
    return hashlib.sha3_256(payload).hexdigest()


def entry_hash(index: int, timestamp: str, data_json: bytes, previous_hash: str) -> str:
    return sha3_hex(hashed_bytes(index, timestamp, data_json, previous_hash))


@dataclass(frozen=True, slots=True)
class Entry:
    """One chain entry. ``data_json`` is the canonical JSON of ``data``, kept as stored bytes."""

    index: int
    timestamp: str
    data_json: bytes
    previous_hash: str
    hash: str
    event_id: str | None = None

    @property
    def data(self) -> Any:
        return strict_loads(self.data_json)

    def to_public(self) -> dict[str, Any]:
        """The entry as a JSON object (exports, the read API)."""
        return {
            "index": self.index,
            "timestamp": self.timestamp,
            "data": self.data,
            "previous_hash": self.previous_hash,
            "hash": self.hash,
        }


def make_entry(index: int, timestamp: str, data: Mapping[str, Any], previous_hash: str,
               event_id: str | None = None) -> Entry:
    """Build (and hash) the entry that follows ``previous_hash`` at ``index``."""
    if index < 0:
        raise ValueError(f"index must be >= 0, got {index}")
    if not TIMESTAMP_RE.match(timestamp):
        raise ValueError(f"timestamp {timestamp!r} is not YYYY-MM-DDTHH:MM:SS.ffffffZ")
    if not HEX64_RE.match(previous_hash):
        raise ValueError("previous_hash must be 64 lower-case hex digits")
    data_json = canonical_dumps(dict(data))
    return Entry(index, timestamp, data_json, previous_hash,
                 entry_hash(index, timestamp, data_json, previous_hash), event_id)


def link_entries(index: int, timestamp: str, previous_hash: str, data_jsons: Sequence[bytes],
                 event_ids: Sequence[str | None]) -> list[Entry]:
    """Entries ``index, index + 1, …`` over canonical data ``data_jsons``, each linked to the one before,
    the first to ``previous_hash``: the writer's hot loop. The hashed bytes are those of
    :func:`hashed_bytes` (built inline with one ``%`` format; a test holds them equal)."""
    template = b'{"data":%b,"index":%d,"previous_hash":"%b","timestamp":"' + timestamp.encode("ascii") + b'"}'
    sha3 = hashlib.sha3_256
    out: list[Entry] = []
    append = out.append
    previous = previous_hash
    for data_json, event_id in zip(data_jsons, event_ids, strict=True):
        digest = sha3(template % (data_json, index, previous.encode("ascii"))).hexdigest()
        append(Entry(index, timestamp, data_json, previous, digest, event_id))
        index += 1
        previous = digest
    return out


def genesis_entry(chain: str) -> Entry:
    return make_entry(0, GENESIS_TIMESTAMP, genesis_data(chain), ZERO_HASH)


# --- verification (F-LEDGER-4) ------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ChainFault:
    """The first place a chain does not verify: which index, and why."""

    index: int
    reason: str  # "missing", "hash", "link", "genesis", "data", "truncated", "root", "signature"
    detail: str

    def __str__(self) -> str:
        return f"entry {self.index}: {self.reason}: {self.detail}"


@dataclass(frozen=True, slots=True)
class StoredRow:
    """An entry as read back from storage, before it is trusted."""

    index: int
    timestamp: str
    data_json: bytes
    previous_hash: str
    hash: str


def check_row(row: StoredRow, expected_index: int, expected_previous: str) -> ChainFault | None:
    """Check one stored row against the chain so far; ``None`` when it verifies."""
    if row.index != expected_index:
        missing = expected_index if row.index > expected_index else row.index
        return ChainFault(missing, "missing",
                          f"expected index {expected_index}, found {row.index}: entries are missing or duplicated")
    if row.previous_hash != expected_previous:
        return ChainFault(row.index, "link",
                          f"previous_hash {row.previous_hash[:16]}… does not equal the hash of entry "
                          f"{row.index - 1} ({expected_previous[:16]}…)")
    recomputed = entry_hash(row.index, row.timestamp, row.data_json, row.previous_hash)
    if recomputed != row.hash:
        return ChainFault(row.index, "hash",
                          f"stored hash {row.hash[:16]}… does not match the recomputed {recomputed[:16]}… "
                          "(data, timestamp or hash was changed)")
    return None


def verify_rows(rows: Iterable[StoredRow], chain: str,
                start_index: int = 0, start_previous: str = ZERO_HASH) -> Iterator[ChainFault | StoredRow]:
    """Yield each verified row, or the first :class:`ChainFault` (then stop).

    Starting at 0 also checks that entry 0 is this chain's genesis entry.
    """
    expected_index, expected_previous = start_index, start_previous
    genesis_hash = genesis_entry(chain).hash if start_index == 0 else None
    for row in rows:
        fault = check_row(row, expected_index, expected_previous)
        if fault is None and row.index == 0 and row.hash != genesis_hash:
            fault = ChainFault(0, "genesis", "entry 0 is not this chain's genesis entry")
        if fault is not None:
            yield fault
            return
        yield row
        expected_index, expected_previous = row.index + 1, row.hash


def canonical_data_ok(data_json: bytes) -> bool:
    """True when ``data_json`` is the canonical JSON of a JSON object (offline checks use it)."""
    try:
        value = strict_loads(data_json)
    except ValueError:
        return False
    return isinstance(value, dict) and canonical_dumps_json(value) == data_json  # parsed JSON: JSON types only
