"""Offline verification of an export: built in memory, then tampered with in every way that matters."""

from __future__ import annotations

import copy
import os

import pytest

from venom_ledger.domain import merkle
from venom_ledger.domain.chain import genesis_entry, make_entry
from venom_ledger.domain.checkpoint import TreeHead, parse_private_key, public_key_raw, sign
from venom_ledger.domain.export import BadExport, build_export, verify_export

KEY = parse_private_key(os.urandom(32).hex())
PUB = public_key_raw(KEY).hex()


def _export(start: int, end: int, size: int = 20) -> dict:
    entries = [genesis_entry("main")]
    for i in range(1, size):
        entries.append(make_entry(i, "2026-11-21T10:00:00.000000Z", {"id": f"e{i}", "v": [i, 0.5]}, entries[-1].hash))
    frontier, nodes = merkle.Frontier(), {}
    for e in entries:
        for level, idx, h in frontier.append(bytes.fromhex(e.hash)):
            nodes[(level, idx)] = h
    signed = sign(TreeHead("main", size, frontier.root().hex(), "2026-11-21T10:00:01.000000Z"), KEY)
    proof = merkle.inclusion_proof(end, size, merkle.source_from(nodes))
    return build_export("main", [e.to_public() for e in entries[start:end + 1]], signed, proof, PUB)


@pytest.mark.parametrize("start,end", [(0, 19), (0, 0), (5, 12), (19, 19)])
def test_an_honest_export_verifies(start, end):
    check = verify_export(_export(start, end), PUB)
    assert check.ok, check.fault
    assert (check.first, check.last, check.key) == (start, end, "pinned")


def test_changed_data_is_named():
    doc = _export(3, 10)
    doc["entries"][2]["data"]["v"][0] = 77
    check = verify_export(doc)
    assert not check.ok and (check.fault.index, check.fault.reason) == (5, "hash")


def test_a_removed_entry_is_named():
    doc = _export(3, 10)
    del doc["entries"][4]
    check = verify_export(doc)
    assert not check.ok and (check.fault.index, check.fault.reason) == (7, "missing")


def test_a_rehashed_forgery_fails_the_proof():
    doc = _export(3, 10)
    forged = make_entry(10, "2026-11-21T10:00:00.000000Z", {"id": "forged"}, doc["entries"][-1]["previous_hash"])
    doc["entries"][-1] = forged.to_public()
    check = verify_export(doc)
    assert not check.ok and check.fault.reason == "root"


def test_wrong_key_and_bad_signature_fail():
    other = public_key_raw(parse_private_key(os.urandom(32).hex())).hex()
    assert verify_export(_export(1, 4), other).fault.reason == "signature"
    doc = _export(1, 4)
    doc["checkpoint"]["tree_size"] = 19
    assert not verify_export(doc).ok
    doc = _export(1, 4)
    doc["inclusion_proof"]["path"][0] = "00" * 32
    assert verify_export(doc).fault.reason == "root"


def test_not_an_export():
    with pytest.raises(BadExport):
        verify_export([])
    doc = copy.deepcopy(_export(1, 2))
    doc["entries"] = []
    with pytest.raises(BadExport):
        verify_export(doc)
