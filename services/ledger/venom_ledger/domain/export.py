"""Exports: a range of entries with what a third party needs to check them offline (F-LEDGER-6).

An export (``format: venom-ledger-export-v1``) holds entries ``from..to``, a signed checkpoint
whose tree contains entry ``to``, the inclusion proof of entry ``to`` in that tree, and the
ledger's public key. :func:`verify_export` checks, without any database:

1. every entry's hash, recomputed from the canonical JSON of its fields (so ``data`` is
   re-encoded, not trusted as bytes), and every link inside the range (entry 0 must be genesis);
2. that entry ``to`` is leaf ``to`` of the checkpoint's tree (RFC 9162 inclusion proof), which by
   the hash links commits to every earlier entry of the range as well;
3. the checkpoint's Ed25519 signature, with a pinned public key when given (else the file's).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from venom_common.canonical import NonFiniteNumber, canonical_dumps
from venom_ledger.domain import merkle
from venom_ledger.domain.chain import ChainFault, StoredRow, check_row, genesis_entry
from venom_ledger.domain.checkpoint import SignedTreeHead, TreeHead, verify_signature

EXPORT_FORMAT = "venom-ledger-export-v1"


class BadExport(ValueError):
    """The file is not a ledger export this version can read."""


def checkpoint_to_json(signed: SignedTreeHead) -> dict[str, Any]:
    return {"chain": signed.head.chain, "tree_size": signed.head.tree_size, "root_hash": signed.head.root_hash,
            "timestamp": signed.head.timestamp, "key_id": signed.key_id, "signature": signed.signature}


def checkpoint_from_json(obj: Mapping[str, Any]) -> SignedTreeHead:
    try:
        return SignedTreeHead(TreeHead(str(obj["chain"]), int(obj["tree_size"]), str(obj["root_hash"]),
                                       str(obj["timestamp"])), str(obj["key_id"]), str(obj["signature"]))
    except (KeyError, TypeError, ValueError) as exc:
        raise BadExport(f"checkpoint is malformed: {exc}") from exc


def build_export(chain: str, entries: Sequence[Mapping[str, Any]], checkpoint: SignedTreeHead,
                 proof: Sequence[bytes], public_key_hex: str) -> dict[str, Any]:
    """The export document of ``entries`` (public JSON form), proven in ``checkpoint``."""
    last = entries[-1]["index"]
    return {
        "format": EXPORT_FORMAT,
        "chain": chain,
        "from": entries[0]["index"],
        "to": last,
        "entries": list(entries),
        "checkpoint": checkpoint_to_json(checkpoint),
        "inclusion_proof": {"index": last, "tree_size": checkpoint.head.tree_size, "path": [p.hex() for p in proof]},
        "public_key": public_key_hex,
    }


@dataclass(frozen=True)
class ExportCheck:
    ok: bool
    chain: str
    first: int
    last: int
    entries: int
    tree_size: int
    key: str  # "pinned" or "from file"
    fault: ChainFault | None

    def to_json(self) -> dict[str, Any]:
        return {"ok": self.ok, "chain": self.chain, "from": self.first, "to": self.last, "entries": self.entries,
                "checkpoint_tree_size": self.tree_size, "public_key": self.key,
                "fault": None if self.fault is None else
                {"index": self.fault.index, "reason": self.fault.reason, "detail": self.fault.detail}}


def verify_export(doc: Any, pinned_public_key: str | None = None) -> ExportCheck:
    if not isinstance(doc, Mapping) or doc.get("format") != EXPORT_FORMAT:
        raise BadExport(f"not a ledger export: expected format {EXPORT_FORMAT!r}")
    chain = str(doc.get("chain", ""))
    entries = doc.get("entries")
    if not isinstance(entries, list) or not entries:
        raise BadExport("the export has no entries")
    signed = checkpoint_from_json(doc.get("checkpoint") or {})
    proof_obj = doc.get("inclusion_proof") or {}
    key = pinned_public_key or str(doc.get("public_key", ""))
    key_source = "pinned" if pinned_public_key else "from file"
    first = entries[0].get("index") if isinstance(entries[0], Mapping) else None
    if not isinstance(first, int):
        raise BadExport("entry indices must be integers")

    def result(fault: ChainFault | None, last: int) -> ExportCheck:
        return ExportCheck(fault is None, chain, first, last, len(entries), signed.head.tree_size, key_source, fault)

    expected, previous = first, None
    for raw in entries:
        try:
            row = StoredRow(int(raw["index"]), str(raw["timestamp"]), canonical_dumps(raw["data"]),
                            str(raw["previous_hash"]), str(raw["hash"]))
            if not isinstance(raw["data"], Mapping):
                raise TypeError("data is not a JSON object")
        except (KeyError, TypeError, ValueError, NonFiniteNumber) as exc:
            return result(ChainFault(expected, "data", f"entry is malformed: {exc}"), expected)
        fault = check_row(row, expected, previous if previous is not None else row.previous_hash)
        if fault is None and row.index == 0 and row.hash != genesis_entry(chain).hash:
            fault = ChainFault(0, "genesis", "entry 0 is not this chain's genesis entry")
        if fault is not None:
            return result(fault, expected)
        expected, previous = row.index + 1, row.hash
    last = expected - 1
    if signed.head.chain != chain:
        return result(ChainFault(last, "signature", f"the checkpoint is for chain {signed.head.chain!r}"), last)
    try:
        path = [bytes.fromhex(p) for p in proof_obj.get("path", [])]
        proven = (int(proof_obj.get("index", -1)) == last and int(proof_obj.get("tree_size", -1)) == signed.head.tree_size
                  and merkle.verify_inclusion(merkle.leaf_hash(bytes.fromhex(str(previous))), last,
                                              signed.head.tree_size, path, bytes.fromhex(signed.head.root_hash)))
    except (TypeError, ValueError):
        proven = False
    if not proven:
        return result(ChainFault(last, "root", f"entry {last} is not proven in the checkpoint's tree of size "
                                               f"{signed.head.tree_size} (inclusion proof fails)"), last)
    if not verify_signature(signed, key):
        return result(ChainFault(last, "signature", f"the checkpoint signature does not verify with the {key_source} "
                                                    "public key"), last)
    return result(None, last)
