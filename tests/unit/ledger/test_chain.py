"""The hash chain: the exact bytes hashed, genesis, and verification naming the first bad entry."""

from __future__ import annotations

import hashlib
from dataclasses import replace
from datetime import UTC, datetime, timedelta, timezone

import pytest

from venom_common.canonical import canonical_dumps
from venom_ledger.domain import chain as c


def _chain(n: int) -> list[c.Entry]:
    entries = [c.genesis_entry("main")]
    for i in range(1, n):
        entries.append(c.make_entry(i, f"2026-11-21T10:00:{i % 60:02d}.000001Z",
                                    {"id": f"e{i}", "data": {"x": i / 3, "name": "é"}}, entries[-1].hash, f"e{i}"))
    return entries


def _rows(entries: list[c.Entry]) -> list[c.StoredRow]:
    return [c.StoredRow(e.index, e.timestamp, e.data_json, e.previous_hash, e.hash) for e in entries]


def test_hashed_bytes_are_canonical_json_of_the_four_fields():
    e = c.make_entry(7, "2026-11-21T10:00:00.123456Z", {"b": [1, 2.5], "a": "ü"}, "ab" * 32)
    expected = canonical_dumps({"index": 7, "timestamp": "2026-11-21T10:00:00.123456Z",
                                "data": {"a": "ü", "b": [1, 2.5]}, "previous_hash": "ab" * 32})
    assert c.hashed_bytes(e.index, e.timestamp, e.data_json, e.previous_hash) == expected
    assert e.hash == hashlib.sha3_256(expected).hexdigest()
    assert expected.startswith(b'{"data":{"a":"\xc3\xbc","b":[1,2.5]},"index":7,"previous_hash":"abab')


def test_genesis_is_fixed():
    g = c.genesis_entry("main")
    assert (g.index, g.previous_hash, g.timestamp) == (0, "0" * 64, "1970-01-01T00:00:00.000000Z")
    assert g.data == {"chain": "main", "genesis": "VENOM ledger"}
    assert g.hash == hashlib.sha3_256(
        b'{"data":{"chain":"main","genesis":"VENOM ledger"},"index":0,'
        b'"previous_hash":"' + b"0" * 64 + b'","timestamp":"1970-01-01T00:00:00.000000Z"}').hexdigest()
    assert c.genesis_entry("other").hash != g.hash


def test_timestamp_format_is_fixed_width_utc():
    assert c.format_timestamp(datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)) == "2026-01-02T03:04:05.000000Z"
    plus2 = timezone(timedelta(hours=2))
    assert c.format_timestamp(datetime(2026, 1, 2, 5, 4, 5, 7, tzinfo=plus2)) == "2026-01-02T03:04:05.000007Z"
    with pytest.raises(ValueError):
        c.format_timestamp(datetime(2026, 1, 2))
    with pytest.raises(ValueError):
        c.make_entry(1, "2026-01-02T03:04:05Z", {}, "0" * 64)


def test_non_finite_data_is_refused():
    from venom_common.canonical import NonFiniteNumber

    with pytest.raises(NonFiniteNumber):
        c.make_entry(1, c.GENESIS_TIMESTAMP, {"x": float("nan")}, "0" * 64)


def test_intact_chain_verifies():
    results = list(c.verify_rows(_rows(_chain(50)), "main"))
    assert all(isinstance(r, c.StoredRow) for r in results) and len(results) == 50


@pytest.mark.parametrize("field", ["data_json", "hash", "previous_hash", "timestamp"])
def test_a_changed_field_is_named_by_index(field):
    rows = _rows(_chain(20))
    new_value = {"data_json": b'{"id":"evil"}', "hash": "f" * 64, "previous_hash": "e" * 64,
                 "timestamp": "2030-01-01T00:00:00.000000Z"}[field]
    rows[13] = replace(rows[13], **{field: new_value})
    fault = list(c.verify_rows(rows, "main"))[-1]
    assert isinstance(fault, c.ChainFault)
    assert fault.index == 13
    assert fault.reason == {"data_json": "hash", "hash": "hash", "previous_hash": "link", "timestamp": "hash"}[field]


def test_rehashed_forgery_breaks_the_next_link():
    entries = _chain(10)
    forged = c.make_entry(4, entries[4].timestamp, {"id": "forged"}, entries[4].previous_hash)
    rows = _rows(entries[:4] + [forged] + entries[5:])
    fault = list(c.verify_rows(rows, "main"))[-1]
    assert isinstance(fault, c.ChainFault) and (fault.index, fault.reason) == (5, "link")


def test_a_deleted_row_is_named():
    rows = _rows(_chain(10))
    del rows[6]
    fault = list(c.verify_rows(rows, "main"))[-1]
    assert isinstance(fault, c.ChainFault) and (fault.index, fault.reason) == (6, "missing")


def test_a_foreign_genesis_is_refused():
    fault = list(c.verify_rows(_rows(_chain(3)), "other"))[-1]
    assert isinstance(fault, c.ChainFault) and (fault.index, fault.reason) == (0, "genesis")


def test_canonical_data_check():
    assert c.canonical_data_ok(b'{"a":1,"b":2}')
    assert not c.canonical_data_ok(b'{"b":2,"a":1}')
    assert not c.canonical_data_ok(b'{"a": 1}')
    assert not c.canonical_data_ok(b"[1]")
    assert not c.canonical_data_ok(b'{"a":NaN}')


def test_link_entries_hashes_the_same_bytes_as_make_entry():
    datas = [{"id": f"e{i}", "x": i / 7, "s": "ü%d%%"} for i in range(1, 40)]
    ts = "2026-11-21T10:00:00.000001Z"
    expected = [c.genesis_entry("main")]
    for i, d in enumerate(datas, start=1):
        expected.append(c.make_entry(i, ts, d, expected[-1].hash, f"e{i}"))
    linked = c.link_entries(1, ts, expected[0].hash, [canonical_dumps(d) for d in datas],
                            [f"e{i}" for i in range(1, 40)])
    assert linked == expected[1:]
    assert c.link_entries(5, ts, "0" * 64, [], []) == []
