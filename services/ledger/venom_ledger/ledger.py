"""The ledger's Python API, mirroring seed 001 §6 (F-LEDGER-3..6) over the PostgreSQL store.

``Ledger(store)`` reads; give it a :class:`ChainWriter` that holds the chain's lock (and a signing
key) to append and sign. The seed's operations map as follows:

* ``add_entry(data)`` — append a JSON object (not an event) as one entry;
* ``record_pulse(PulseV1)``, ``record_flow_result(FlowResultV1)``, ``record_action(DecisionV1)`` —
  wrap the payload in an event (as the arbiter publishes it) and append the event;
* ``verify_chain()`` — stream the chain and name the first entry that does not verify;
* ``compute_merkle_root(size)`` — the RFC 9162 root at any size; ``get_manifest()`` — metadata.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from venom_common.canonical import canonical_dumps_json
from venom_common.events import subjects
from venom_common.events.envelope import Envelope, make_event
from venom_common.events.payloads import DecisionV1, FlowResultV1, Payload, PulseV1
from venom_ledger.domain import merkle
from venom_ledger.domain.chain import ZERO_HASH, ChainFault, Entry, check_row, genesis_entry, now_timestamp
from venom_ledger.domain.export import checkpoint_to_json
from venom_ledger.domain.checkpoint import SignedTreeHead, TreeHead, key_id_of, public_key_raw, sign, verify_signature
from venom_ledger.store import CanonicalRecord, ChainWriter, LedgerStore, NotTheWriter, Record

#: The envelope attributes an entry records: what the event says, not how it travelled.
RECORDED_ATTRIBUTES = ("id", "source", "type", "time", "subject", "data")


#: The envelope attributes an entry does not record (the trace context, the constant CloudEvents ones).
NOT_RECORDED = tuple(name for name in Envelope.model_fields if name not in RECORDED_ATTRIBUTES)


def event_record(event: Envelope[Any]) -> Record:
    """The entry data of an event: its CloudEvents envelope as published (no trace context).

    ``model_dump(mode="json")`` gives the same JSON values as the wire encoding (``encode``), without
    encoding and parsing a string; a unit test holds them equal. (Called as the model's serializer
    directly, then the attributes not recorded are deleted: the same dict as
    ``model_dump(mode="json", include=RECORDED_ATTRIBUTES)`` in two thirds of the time.)
    """
    data = event.__pydantic_serializer__.to_python(event, mode="json")
    for name in NOT_RECORDED:
        del data[name]
    return Record(data, event.id)


def encode_events(events: Sequence[Envelope[Any]]) -> list[CanonicalRecord]:
    """Each event's entry data, canonically encoded: all of an append's work that does not depend on
    the chain (pure, synchronous)."""
    # An event record is the JSON-mode dump of a validated event: JSON types only, and finite (the
    # models refuse NaN and infinities), so the fast canonical encoder applies, nulls included.
    return [CanonicalRecord(canonical_dumps_json(r.data, finite=True), r.event_id) for r in map(event_record, events)]


@dataclass(frozen=True)
class VerifyReport:
    ok: bool
    chain: str
    tree_size: int  # entries in the chain (its highest index + 1) when verification started
    verified: int  # entries verified before the first fault
    checkpoints_checked: int
    root_hash: str | None
    fault: ChainFault | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "ok": self.ok, "chain": self.chain, "tree_size": self.tree_size, "verified": self.verified,
            "checkpoints_checked": self.checkpoints_checked, "root_hash": self.root_hash,
            "fault": None if self.fault is None else
            {"index": self.fault.index, "reason": self.fault.reason, "detail": self.fault.detail},
        }


@dataclass
class Ledger:
    store: LedgerStore
    writer: ChainWriter | None = None
    signing_key: Ed25519PrivateKey | None = None
    source: str = "/venom/local/ledger"
    clock: Callable[[], str] = now_timestamp
    public_key_hex: str | None = field(default=None)

    def __post_init__(self) -> None:
        if self.public_key_hex is None and self.signing_key is not None:
            self.public_key_hex = public_key_raw(self.signing_key).hex()

    @property
    def chain(self) -> str:
        return self.store.chain

    # --- appending (F-LEDGER-3) ---------------------------------------------------------------

    def _writer(self) -> ChainWriter:
        if self.writer is None:
            raise NotTheWriter("this Ledger was opened read-only: give it a ChainWriter that holds the chain's lock")
        return self.writer

    async def append(self, records: Sequence[Record]) -> list[Entry]:
        return await self._writer().append(records, self.clock())

    async def add_entry(self, data: Mapping[str, Any], *, event_id: str | None = None) -> Entry | None:
        """Append one JSON object; ``None`` when ``event_id`` is already recorded."""
        added = await self.append([Record(data, event_id)])
        return added[0] if added else None

    async def record_events(self, events: Sequence[Envelope[Any]]) -> list[Entry]:
        return await self.append_canonical(encode_events(events))

    async def append_canonical(self, records: Sequence[CanonicalRecord]) -> list[Entry]:
        """Append records encoded by :func:`encode_events` (the service encodes a batch while the
        previous one commits)."""
        return await self._writer().append_canonical(records, self.clock())

    async def _record(self, payload: Payload, subject: str) -> Entry | None:
        added = await self.record_events([make_event(payload, source=self.source, subject=subject)])
        return added[0] if added else None

    async def record_pulse(self, pulse: PulseV1) -> Entry | None:
        return await self._record(pulse, subjects.beat(pulse.node))

    async def record_flow_result(self, flow: FlowResultV1) -> Entry | None:
        return await self._record(flow, subjects.flow(flow.node, flow.organ))

    async def record_action(self, decision: DecisionV1) -> Entry | None:
        return await self._record(decision, subjects.decision(decision.node))

    async def checkpoint(self) -> SignedTreeHead:
        """Sign and store the current tree head (F-LEDGER-6)."""
        writer = self._writer()
        if self.signing_key is None:
            raise RuntimeError("no signing key: pass signing_key to Ledger to sign checkpoints")
        head = TreeHead(self.chain, writer.head.tree_size, writer.frontier.root().hex(), self.clock())
        signed = sign(head, self.signing_key)
        await writer.store_checkpoint(signed)
        return signed

    # --- reading (F-LEDGER-4, F-LEDGER-5) --------------------------------------------------------

    async def compute_merkle_root(self, tree_size: int | None = None) -> str:
        size = (await self.store.head()).tree_size if tree_size is None else tree_size
        return (await self.store.root(size)).hex()

    async def verify_chain(self, *, page: int = 10_000) -> VerifyReport:
        """Stream the chain from PostgreSQL; name the first entry whose hash or link fails, a missing
        entry, a Merkle root that differs from a signed checkpoint, or a tail cut off below the last
        signed checkpoint."""
        checkpoints = {cp.head.tree_size: cp for cp in await self.store.checkpoints()}
        stored_size = (await self.store.head()).tree_size
        genesis_hash = genesis_entry(self.chain).hash
        frontier = merkle.Frontier()
        expected, previous = 0, ZERO_HASH
        checked = 0

        def report(fault: ChainFault | None) -> VerifyReport:
            return VerifyReport(fault is None, self.chain, max(stored_size, frontier.size), frontier.size, checked,
                                frontier.root().hex() if frontier.size else None, fault)

        async for rows in self.store.stream_rows(page=page):
            for row in rows:
                fault = check_row(row, expected, previous)
                if fault is None and row.index == 0 and row.hash != genesis_hash:
                    fault = ChainFault(0, "genesis", "entry 0 is not this chain's genesis entry")
                if fault is not None:
                    return report(fault)
                frontier.append(bytes.fromhex(row.hash))
                expected, previous = row.index + 1, row.hash
                signed = checkpoints.get(frontier.size)
                if signed is not None:
                    checked += 1
                    fault = self._check_checkpoint(signed, frontier.root().hex())
                    if fault is not None:
                        return report(fault)
        if checkpoints:
            latest = max(checkpoints)
            if latest > frontier.size:
                return report(ChainFault(
                    frontier.size, "truncated",
                    f"the signed checkpoint at size {latest} covers entries 0..{latest - 1}, but the chain ends at "
                    f"{frontier.size - 1}: entries {frontier.size}..{latest - 1} were removed"))
        return report(None)

    def _check_checkpoint(self, signed: SignedTreeHead, root_hex: str) -> ChainFault | None:
        size = signed.head.tree_size
        if signed.head.root_hash != root_hex:
            return ChainFault(size - 1, "root",
                              f"the Merkle root of entries 0..{size - 1} ({root_hex[:16]}…) differs from the signed "
                              f"checkpoint's ({signed.head.root_hash[:16]}…)")
        if self.public_key_hex is not None and not verify_signature(signed, self.public_key_hex):
            return ChainFault(size - 1, "signature", f"the checkpoint at size {size} is not signed by this ledger's key")
        return None

    async def get_manifest(self) -> dict[str, Any]:
        head = await self.store.head()
        first, last = await self.store.time_range()
        latest = await self.store.latest_checkpoint()
        return {
            "chain": self.chain,
            "format": "venom-ledger-v1",
            "hash_algorithm": "SHA3-256",
            "canonical_json": "sorted keys, separators (',', ':'), UTF-8, no NaN/Infinity",
            "merkle": "RFC 9162 (leaf H(0x00||entry_hash), node H(0x01||left||right)), SHA3-256",
            "tree_size": head.tree_size,
            "entries": max(head.tree_size - 1, 0),
            "head_hash": head.last_hash if head.tree_size else None,
            "merkle_root": (await self.store.root(head.tree_size)).hex() if head.tree_size else None,
            "genesis_hash": genesis_entry(self.chain).hash,
            "first_timestamp": first,
            "last_timestamp": last,
            "latest_checkpoint": None if latest is None else checkpoint_to_json(latest),
            "public_key": self.public_key_hex,
            "key_id": key_id_of(bytes.fromhex(self.public_key_hex)) if self.public_key_hex else None,
            "signature_algorithm": "Ed25519",
        }

