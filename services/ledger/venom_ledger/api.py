"""The ledger's read API (F-LEDGER-5, F-LEDGER-6), mounted on the runner's FastAPI app. Read-only.

    GET /ledger/head                          size, head hash, Merkle root, latest checkpoint
    GET /ledger/manifest                      the seed's manifest: formats, sizes, times, key
    GET /ledger/entries?start=&limit=         entries start..start+limit-1 (limit ≤ 1000)
    GET /ledger/entries/{index}               one entry
    GET /ledger/events/{event_id}             the entry that recorded an event
    GET /ledger/proof/inclusion/{index}?size= audit path of an entry (default size: head)
    GET /ledger/proof/consistency?first=&second=
    GET /ledger/verify                        stream and verify the whole chain now
    GET /ledger/checkpoint                    latest signed checkpoint
    GET /ledger/public-key                    Ed25519 public key (hex) and key id
    GET /ledger/export?start=&end=            entries start..end with a checkpoint and proof
"""

from __future__ import annotations

import asyncio
from typing import Annotated, Any

import asyncpg
from fastapi import APIRouter, FastAPI, HTTPException, Query
from fastapi.responses import JSONResponse
from sqlalchemy.exc import DBAPIError, OperationalError
from starlette.requests import Request

from venom_ledger.domain import merkle
from venom_ledger.domain.checkpoint import key_id_of
from venom_ledger.domain.export import build_export, checkpoint_to_json
from venom_ledger.ledger import Ledger
from venom_ledger.store import EntryNotFound

MAX_PAGE = 1000
MAX_EXPORT = 100_000


def mount_read_api(app: FastAPI, ledger: Ledger) -> None:
    router = APIRouter(prefix="/ledger", tags=["ledger"])
    store = ledger.store
    verify_lock = asyncio.Lock()

    async def _size() -> int:
        return (await store.head()).tree_size

    @router.get("/head")
    async def head() -> dict[str, Any]:
        h = await store.head()
        latest = await store.latest_checkpoint()
        return {"chain": ledger.chain, "tree_size": h.tree_size, "head_index": h.tree_size - 1,
                "head_hash": h.last_hash, "root_hash": (await store.root(h.tree_size)).hex(),
                "latest_checkpoint": None if latest is None else checkpoint_to_json(latest)}

    @router.get("/manifest")
    async def manifest() -> dict[str, Any]:
        return await ledger.get_manifest()

    @router.get("/entries")
    async def entries(start: Annotated[int, Query(ge=0)] = 0,
                      limit: Annotated[int, Query(ge=1, le=MAX_PAGE)] = 100) -> dict[str, Any]:
        found = await store.entries(start, start + limit)
        return {"chain": ledger.chain, "entries": [e.to_public() for e in found]}

    @router.get("/entries/{index}")
    async def entry(index: int) -> dict[str, Any]:
        return (await store.entry(index)).to_public()

    @router.get("/events/{event_id}")
    async def entry_by_event(event_id: str) -> dict[str, Any]:
        return (await store.entry_by_event(event_id)).to_public()

    @router.get("/proof/inclusion/{index}")
    async def inclusion(index: int, size: Annotated[int | None, Query(ge=1)] = None) -> dict[str, Any]:
        tree_size = size or await _size()
        if size is not None and size > await _size():
            raise HTTPException(404, f"the chain has fewer than {size} entries")
        entry = await store.entry(index)
        proof = await store.inclusion_proof(index, tree_size)
        root = await store.root(tree_size)
        return {"chain": ledger.chain, "index": index, "tree_size": tree_size, "entry_hash": entry.hash,
                "leaf_hash": merkle.leaf_hash(bytes.fromhex(entry.hash)).hex(), "root_hash": root.hex(),
                "proof": [p.hex() for p in proof]}

    @router.get("/proof/consistency")
    async def consistency(first: Annotated[int, Query(ge=1)],
                          second: Annotated[int | None, Query(ge=1)] = None) -> dict[str, Any]:
        current = await _size()
        second_size = second or current
        if second_size > current:
            raise HTTPException(404, f"the chain has fewer than {second_size} entries")
        proof = await store.consistency_proof(first, second_size)
        return {"chain": ledger.chain, "first": first, "second": second_size,
                "first_root": (await store.root(first)).hex(), "second_root": (await store.root(second_size)).hex(),
                "proof": [p.hex() for p in proof]}

    @router.get("/verify")
    async def verify() -> dict[str, Any]:
        async with verify_lock:  # one full pass at a time
            return (await ledger.verify_chain()).to_json()

    @router.get("/checkpoint")
    async def checkpoint() -> dict[str, Any]:
        latest = await store.latest_checkpoint()
        if latest is None:
            raise HTTPException(404, "no checkpoint yet")
        return checkpoint_to_json(latest)

    @router.get("/public-key")
    async def public_key() -> dict[str, Any]:
        if ledger.public_key_hex is None:
            raise HTTPException(404, "this ledger has no signing key")
        return {"algorithm": "Ed25519", "public_key": ledger.public_key_hex,
                "key_id": key_id_of(bytes.fromhex(ledger.public_key_hex))}

    @router.get("/export")
    async def export(start: Annotated[int, Query(ge=0)], end: Annotated[int | None, Query(ge=0)] = None) -> dict[str, Any]:
        latest = await store.latest_checkpoint()
        if latest is None:
            raise HTTPException(409, "no signed checkpoint yet: wait for the first checkpoint")
        last = latest.head.tree_size - 1 if end is None else end
        if last < start:
            raise HTTPException(400, f"end ({last}) is before start ({start})")
        if last - start + 1 > MAX_EXPORT:
            raise HTTPException(400, f"export at most {MAX_EXPORT} entries at a time")
        signed = await store.checkpoint_covering(last)
        if signed is None:
            raise HTTPException(409, f"entry {last} is not covered by a signed checkpoint yet (latest covers "
                                     f"0..{latest.head.tree_size - 1}); export a smaller range or wait")
        found = await store.entries(start, last + 1)
        if len(found) != last - start + 1:
            raise HTTPException(404, f"entries {start}..{last} are not all in the chain")
        proof = await store.inclusion_proof(last, signed.head.tree_size)
        return build_export(ledger.chain, [e.to_public() for e in found], signed, proof, ledger.public_key_hex or "")

    app.include_router(router)

    @app.exception_handler(EntryNotFound)
    async def _not_found(_: Request, exc: EntryNotFound) -> JSONResponse:
        return JSONResponse({"detail": str(exc)}, status_code=404)

    @app.exception_handler(merkle.MerkleError)
    async def _bad_proof_request(_: Request, exc: merkle.MerkleError) -> JSONResponse:
        return JSONResponse({"detail": str(exc)}, status_code=400)

    @app.exception_handler(OperationalError)
    @app.exception_handler(DBAPIError)
    @app.exception_handler(OSError)
    @app.exception_handler(asyncpg.PostgresConnectionError)
    @app.exception_handler(asyncpg.InterfaceError)
    async def _db_down(_: Request, exc: Exception) -> JSONResponse:
        return JSONResponse({"detail": f"the ledger database is not reachable: {type(exc).__name__}"}, status_code=503)
