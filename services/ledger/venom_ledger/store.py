"""The ledger's PostgreSQL store (F-LEDGER-2, F-LEDGER-5, F-LEDGER-6).

* :class:`LedgerStore` reads: head, entries, Merkle nodes, checkpoints, and streams the chain.
* :class:`ChainWriter` is the one writer of a chain. It holds ``pg_try_advisory_lock`` on a key
  derived from the chain name on its own connection, for its whole life, and does every append
  on that same connection, so a write can only happen in the session that holds the lock: a
  second instance cannot fork the chain, it waits as standby. Entries, their Merkle nodes and
  checkpoints are written in one transaction; the in-memory head moves only after the commit.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import logging
import sys
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple, TypeVar

import asyncpg
from sqlalchemy import func, insert, select, text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from venom_common.canonical import canonical_dumps
from venom_ledger import db
from venom_ledger.domain import merkle
from venom_ledger.domain.chain import GENESIS_TIMESTAMP, Entry, StoredRow, genesis_data, link_entries
from venom_ledger.domain.checkpoint import SignedTreeHead, TreeHead

log = logging.getLogger("venom.ledger.store")
T = TypeVar("T")

ENTRY_COLUMNS = ("chain", "idx", "timestamp", "data", "previous_hash", "hash", "event_id")
NODE_COLUMNS = ("chain", "level", "idx", "hash")

#: Merkle nodes below this level are not stored: a node of level < 4 covers at most 8 leaves and
#: is recomputed from the entries' hashes (one indexed read of at most a few dozen rows), which
#: cuts the node rows written per entry from ~2 to ~1/16 (docs/LEDGER.md, "Storage").
MIN_STORED_LEVEL = 4


class NotTheWriter(RuntimeError):
    """This instance does not hold the chain's writer lock (another ledger instance does, or the
    database connection that held it was lost). Appends wait until the lock is held again."""


class EntryNotFound(LookupError):
    pass


class ChainTruncated(RuntimeError):
    """The stored chain is shorter than its last signed checkpoint: entries were removed. The writer
    refuses to extend it; run ``venom ledger verify`` and restore the database from a backup."""


@dataclass(frozen=True, slots=True)
class Head:
    tree_size: int  # number of entries, genesis included
    last_hash: str  # hash of entry tree_size - 1


@dataclass(frozen=True, slots=True)
class Record:
    """One thing to append: its data (a JSON object) and, for events, the event id."""

    data: Mapping[str, Any]
    event_id: str | None


#: The unique key that makes an event id appear at most once in a chain (migration 0001).
EVENT_ID_KEY = "ledger_entries_event_id_key"

#: The stored head: the head row, and any row past it (which must not exist).
HEAD_SQL = ("SELECT idx, hash, NULL::text FROM ledger_entries WHERE chain = $1 AND idx >= $2 "
            "ORDER BY idx LIMIT 2")

#: The stored head (index ≥ head - 1: the head row, and any row past it, which must not exist) and,
#: marked by a NULL index, which of the batch's event ids are recorded already.
HEAD_AND_RECORDED_SQL = (
    "(SELECT idx, hash, NULL::text FROM ledger_entries WHERE chain = $1 AND idx >= $2 ORDER BY idx LIMIT 2) "
    "UNION ALL "
    "SELECT NULL::bigint, NULL::text, event_id FROM ledger_entries WHERE chain = $1 AND event_id = ANY($3::text[])"
)

#: A batch of at most this many entries (on a chain past its genesis) is appended with one statement in
#: autocommit: the head check, the entries and the Merkle nodes together, atomic and durable when it
#: returns. Measured per 7-entry batch: 0.29-0.34 ms of the writer's CPU against 0.76-0.91 ms for the
#: transaction (BEGIN, head query, two COPYs, COMMIT through SQLAlchemy), 0.75 against 1.1-1.3 ms wall.
#: Larger batches go through COPY, which PostgreSQL takes faster (500 entries: 17.5-18.4 ms against
#: 19.1-22.7 ms wall) (docs/BENCHMARKS.md, 2026-11-22).
ONE_STATEMENT_MAX = 128

#: The one-statement append (see ONE_STATEMENT_MAX). $2/$3: the index and hash of the head this writer
#: holds; nothing is written unless that row is the chain's last. $4: the batch's timestamp; $5-$9 the
#: entries' index, data, previous hash, hash, event id; $10-$12 the new stored nodes' level, index, hash.
APPEND_ONE_STATEMENT_SQL = (
    "WITH head AS (SELECT count(*) = 1 AND bool_and(h.idx = $2 AND h.hash = $3) AS ok FROM "
    "(SELECT idx, hash FROM ledger_entries WHERE chain = $1 AND idx >= $2 ORDER BY idx LIMIT 2) h), "
    "e AS (INSERT INTO ledger_entries (chain, idx, timestamp, data, previous_hash, hash, event_id) "
    "SELECT $1, u.i, $4, u.d, u.p, u.h, u.ev "
    "FROM unnest($5::bigint[], $6::text[], $7::text[], $8::text[], $9::text[]) AS u(i, d, p, h, ev), head "
    "WHERE head.ok RETURNING 1), "
    "n AS (INSERT INTO ledger_merkle_nodes (chain, level, idx, hash) SELECT $1, u.l, u.i, u.h "
    "FROM unnest($10::smallint[], $11::bigint[], $12::bytea[]) AS u(l, i, h), head WHERE head.ok RETURNING 1) "
    "SELECT head.ok, (SELECT count(*) FROM e) AS entries, (SELECT count(*) FROM n) AS nodes FROM head"
)


class CanonicalRecord(NamedTuple):
    """A record whose data is encoded already: the canonical JSON of a JSON object (the bytes an
    entry stores and hashes), and the event id. Encoding does not depend on the chain, so it can
    happen before the append (e.g. while the previous batch commits)."""

    data_json: bytes
    event_id: str | None


def canonical_records(records: Sequence[Record]) -> list[CanonicalRecord]:
    return [CanonicalRecord(canonical_dumps(r.data if type(r.data) is dict else dict(r.data)), r.event_id)
            for r in records]


NODES_SQL = (
    "SELECT n.level, n.idx, n.hash FROM unnest($2::smallint[], $3::bigint[]) AS k(level, idx) "
    "JOIN ledger_merkle_nodes n ON n.chain = $1 AND n.level = k.level AND n.idx = k.idx "
    "UNION ALL "
    "SELECT -1, idx, decode(hash, 'hex') FROM ledger_entries WHERE chain = $1 AND idx >= $4 AND idx < $5 "
    "UNION ALL "
    "SELECT -1, idx, decode(hash, 'hex') FROM ledger_entries WHERE chain = $1 AND idx = ANY($6::bigint[])"
)

#: Connections of a store's node pool (the read API's concurrent proofs).
NODE_POOL_SIZE = 5

#: The top of a chain's stored tree: its nodes of level ≥ $2, highest level first, at most $3.
PRELOAD_SQL = ("SELECT level, idx, hash FROM ledger_merkle_nodes WHERE chain = $1 AND level >= $2 "
               "ORDER BY level DESC, idx DESC LIMIT $3")

#: Entry hashes of the leaves ``[$2, $3)``, in order (the leaf cache's preload).
LEAVES_SQL = ("SELECT idx, decode(hash, 'hex') FROM ledger_entries WHERE chain = $1 AND idx >= $2 AND idx < $3 "
              "ORDER BY idx")

#: Leaves read per query while preloading the leaf cache (~1 MB of hashes).
PRELOAD_LEAVES_CHUNK = 32_768

#: Stored nodes of this level or higher are kept in memory once read (:class:`NodeCache`).
CACHED_MIN_LEVEL = 8


#: Leaves under one stored node of the lowest stored level: an aligned block of entries whose hashes
#: give every node below the stored levels that lies over them.
BLOCK = 1 << MIN_STORED_LEVEL


def _leaf_run(wanted: list[int], span: int = BLOCK) -> tuple[int, int, list[int]]:
    """Split sorted, distinct leaf indices into one range ``[start, end)`` read with one index range
    scan, and the others (read by key). The range is the aligned block of ``span`` leaves that holds
    the first index, read whole (a complete block is what the leaf cache keeps): the leaves below the
    stored levels that an inclusion proof needs lie in that one block, plus at most a few at the
    tree's right edge."""
    if not wanted:
        return 0, 0, []
    start = wanted[0] - wanted[0] % span
    inside = [i for i in wanted if i < start + span]
    return start, start + span, wanted[len(inside):]


async def read_nodes(raw: asyncpg.Connection, chain: str, keys: Sequence[merkle.NodeKey],
                     cache: NodeCache | None = None) -> dict[merkle.NodeKey, bytes]:
    """Merkle nodes ``keys``: stored ones from the nodes table, low ones (level < MIN_STORED_LEVEL)
    recomputed from the entries' hashes, all read in one indexed query (one round trip). ``cache``
    keeps what was read (the caller takes what it already holds first: :meth:`LedgerStore._read_nodes`)."""
    found: dict[merkle.NodeKey, bytes] = {}
    high = [k for k in keys if k[0] >= MIN_STORED_LEVEL]
    low = [k for k in keys if k[0] < MIN_STORED_LEVEL]
    wanted = sorted({i for level, idx in low for i in range(idx << level, (idx + 1) << level)})
    start, end, others = _leaf_run(wanted)
    rows = await raw.fetch(NODES_SQL, chain, [k[0] for k in high], [k[1] for k in high], start, end, others)
    leaves: dict[int, bytes] = {}
    for level, idx, value in rows:
        if level < 0:
            leaves[idx] = bytes(value)
        else:
            found[(level, idx)] = bytes(value)
    if cache is not None:
        cache.keep(found)
        # the leaf range is one whole aligned block (or empty, which keep_block ignores)
        cache.keep_block(start // BLOCK, _prefix(leaves, start, end))
    for level, idx in low:
        span = range(idx << level, (idx + 1) << level)
        if all(i in leaves for i in span):
            found[(level, idx)] = merkle.complete_subtree_hash([leaves[i] for i in span])
    return found


def _prefix(leaves: Mapping[int, bytes], start: int, end: int) -> bytes:
    """The hashes of the leaves ``start, start + 1, …`` before ``end`` or the first one missing, joined."""
    run = []
    for i in range(start, end):
        value = leaves.get(i)
        if value is None:
            break
        run.append(value)
    return b"".join(run)


class NodeCache:
    """What proofs read, kept in memory once read: stored Merkle nodes of level ≥ ``min_level`` (at
    most ``max_nodes``) and, when ``max_blocks`` > 0, the entry hashes of aligned blocks of
    :data:`BLOCK` leaves (at most ``max_blocks`` blocks), from which the nodes below the stored levels
    are recomputed. The chain's last block is kept as far as it goes (a proof at the full tree size
    needs its leaves: the right edge) and replaced by a longer read as the chain grows. A stored node
    is the hash of a complete subtree and an entry's hash never changes once committed, so a cached
    copy cannot go stale (a node or hash altered in the database behind
    the ledger's back is a tampering that ``verify_chain`` reports; proofs keep serving what the
    writer committed). When full, nodes of the lowest level and the oldest blocks go first.

    The default keeps the top levels only (level ≥ 8: ~7,800 nodes for 1,000,000 entries), which cuts
    an inclusion proof's read to ~4 nodes and one range of 16 entry hashes. :meth:`for_entries` sizes
    a cache for every node and leaf a proof needs, so that a warm cache answers a proof with no
    database read at all (the ledger service's, ``VENOM_LEDGER_PROOF_CACHE_ENTRIES``)."""

    def __init__(self, min_level: int = CACHED_MIN_LEVEL, max_nodes: int = 65_536, max_blocks: int = 0) -> None:
        self.min_level = min_level
        self.max_nodes = max_nodes
        self.max_blocks = max_blocks
        self._nodes: dict[merkle.NodeKey, bytes] = {}
        self._order: dict[int, collections.deque[int]] = {}  # per level, the cached indices, oldest first
        self._blocks: dict[int, bytes] = {}

    @classmethod
    def for_entries(cls, entries: int) -> NodeCache:
        """A cache with room for all a proof reads in a chain of ``entries`` entries: every stored node
        (about ``entries / 8``: ``entries / 16`` of the lowest stored level, half as many on each level
        above) and every complete block of leaves. ``0``: the default (top levels only)."""
        if entries <= 0:
            return cls()
        return cls(min_level=MIN_STORED_LEVEL, max_nodes=entries // 8 + 64, max_blocks=entries // BLOCK)

    def __len__(self) -> int:
        return len(self._nodes)

    @property
    def blocks(self) -> int:
        return len(self._blocks)

    @property
    def leaves(self) -> int:
        """Entry hashes cached (every block's, the last one's as far as it goes)."""
        return sum(len(hashes) for hashes in self._blocks.values()) // 32

    def take(self, keys: Sequence[merkle.NodeKey], found: dict[merkle.NodeKey, bytes]) -> list[merkle.NodeKey]:
        """Put the cached ones of ``keys`` (and the low ones a cached block gives) into ``found``;
        return the others."""
        nodes, blocks = self._nodes, self._blocks
        missing = []
        for key in keys:
            level, idx = key
            if level < MIN_STORED_LEVEL:
                block = blocks.get(idx >> (MIN_STORED_LEVEL - level))
                first = (idx << level) % BLOCK * 32
                last = first + (32 << level)
                if block is None or len(block) < last:
                    missing.append(key)
                else:
                    found[key] = merkle.complete_subtree_hash([block[i:i + 32] for i in range(first, last, 32)])
                continue
            value = nodes.get(key)
            if value is None:
                missing.append(key)
            else:
                found[key] = value
        return missing

    def keep(self, read: Mapping[merkle.NodeKey, bytes]) -> None:
        """Cache the nodes of ``read`` at ``min_level`` or above (stored nodes just read). When full,
        the lowest level gives way first (its oldest node): a node of level l lies on the paths of
        2^l leaves, so the top of the tree, which every proof needs, stays; a node below every cached
        level is not kept then."""
        nodes, order = self._nodes, self._order
        for key, value in read.items():
            level = key[0]
            if level < self.min_level or self.max_nodes <= 0 or key in nodes:
                continue
            while len(nodes) >= self.max_nodes:
                lowest = min(lv for lv, cached in order.items() if cached)
                if lowest > level:
                    break
                del nodes[(lowest, order[lowest].popleft())]
            if len(nodes) < self.max_nodes:
                nodes[key] = value
                order.setdefault(level, collections.deque()).append(key[1])

    def keep_block(self, block: int, hashes: bytes) -> None:
        """Cache the entry hashes of block ``block`` from its first leaf (``block * BLOCK``) on, the
        32-byte hashes one after the other: all ``BLOCK`` of them, or the first ones of the chain's
        last block (kept unless a longer run of it is cached already)."""
        if self.max_blocks <= 0 or not hashes:
            return
        if len(hashes) % 32 or len(hashes) > 32 * BLOCK:
            raise ValueError(f"a block holds up to {BLOCK} hashes of 32 bytes, got {len(hashes)} bytes")
        blocks = self._blocks
        known = blocks.get(block)
        if known is not None:
            if len(known) < len(hashes):
                blocks[block] = hashes
            return
        while len(blocks) >= self.max_blocks:
            del blocks[next(iter(blocks))]
        blocks[block] = hashes

    def size_bytes(self) -> int:
        """Memory the cached nodes and hashes take, as ``sys.getsizeof`` counts it (dicts, keys, values)."""
        nodes, blocks = self._nodes, self._blocks
        size = sys.getsizeof(nodes) + sys.getsizeof(blocks)
        size += sum(sys.getsizeof(k) + sys.getsizeof(k[1]) + sys.getsizeof(v) for k, v in nodes.items())
        return size + sum(sys.getsizeof(k) + sys.getsizeof(v) for k, v in blocks.items())


async def driver_connection(conn: AsyncConnection) -> asyncpg.Connection:
    """The asyncpg connection under a SQLAlchemy connection (for queries on the hot paths)."""
    raw = (await conn.get_raw_connection()).driver_connection
    assert raw is not None
    return raw


def _connection_lost(exc: BaseException) -> bool:
    """The error of a statement on a connection whose server session is gone."""
    if isinstance(exc, DBAPIError):
        return bool(exc.connection_invalidated)
    return isinstance(exc, asyncpg.exceptions.PostgresConnectionError  # class 08, e.g. no such connection
                      | asyncpg.exceptions.OperatorInterventionError  # class 57, e.g. terminated, shutdown
                      | asyncpg.exceptions.InterfaceError  # "connection is closed"
                      | asyncpg.exceptions.InternalClientError  # termination noticed mid-statement
                      | ConnectionError)


def _entry(row: Any) -> Entry:
    return Entry(row.idx, row.timestamp, row.data.encode("utf-8"), row.previous_hash, row.hash, row.event_id)


def _signed(row: Any) -> SignedTreeHead:
    return SignedTreeHead(TreeHead(row.chain, row.tree_size, row.root_hash, row.timestamp), row.key_id, row.signature)


async def _nothing_to_reset(conn: asyncpg.Connection) -> None:
    """The node pool's connections run single read-only SELECTs: no session state (settings, locks,
    cursors, listeners) to reset when one goes back to the pool. asyncpg's default reset is one
    more round trip per read (asyncpg still rolls back an open transaction, which never exists here)."""


class LedgerStore:
    """Read access to one chain.

    Merkle nodes (every proof and root) are read on a small asyncpg pool of their own, beside the
    SQLAlchemy engine the other reads use: a SQLAlchemy checkout costs ~130 µs of CPU, a fifth of
    a proof (docs/BENCHMARKS.md). Stored nodes of the top levels are cached (:class:`NodeCache`).
    Call :meth:`close` when done."""

    def __init__(self, engine: AsyncEngine, chain: str = "main", *, node_cache: NodeCache | None = None) -> None:
        self.engine = engine
        self.chain = chain
        self.node_cache = node_cache if node_cache is not None else NodeCache()
        self._pool: asyncpg.Pool | None = None
        self._pool_lock = asyncio.Lock()

    async def close(self) -> None:
        pool, self._pool = self._pool, None
        if pool is not None:
            await pool.close()

    async def _node_pool(self) -> asyncpg.Pool:
        if self._pool is None:
            async with self._pool_lock:
                if self._pool is None:
                    url = self.engine.url.set(drivername="postgresql").render_as_string(hide_password=False)
                    self._pool = await asyncpg.create_pool(
                        url, min_size=1, max_size=NODE_POOL_SIZE, reset=_nothing_to_reset,
                        # NODES_SQL is prepared once per connection (asyncpg's statement cache); with
                        # a generic plan PostgreSQL does not plan it again on every execution, which
                        # took ~0.35 ms of a ~0.55 ms read (docs/BENCHMARKS.md, 2026-11-22).
                        server_settings={"plan_cache_mode": "force_generic_plan"})
        return self._pool

    async def _read_nodes(self, keys: Sequence[merkle.NodeKey]) -> dict[merkle.NodeKey, bytes]:
        """The nodes ``keys``: from the cache, and the rest from the database."""
        found: dict[merkle.NodeKey, bytes] = {}
        keys = self.node_cache.take(keys, found)
        if not keys:  # a warm cache: no connection checked out, nothing read
            return found
        found.update(await self._read_missing_nodes(keys))
        return found

    async def _read_missing_nodes(self, keys: Sequence[merkle.NodeKey]) -> dict[merkle.NodeKey, bytes]:
        """As :meth:`_read`, on the node pool: a connection found dead (PostgreSQL restarted) is
        dropped with the rest of the pool's idle ones, and the read runs once more."""
        pool = await self._node_pool()
        try:
            async with pool.acquire() as raw:
                return await read_nodes(raw, self.chain, keys, self.node_cache)
        except Exception as exc:
            if not _connection_lost(exc):
                raise
            log.info("a pooled database connection was dead (%s); reading again on a fresh one", exc)
        await pool.expire_connections()
        async with pool.acquire() as raw:
            return await read_nodes(raw, self.chain, keys, self.node_cache)

    async def _read(self, read: Callable[[AsyncConnection], Awaitable[T]]) -> T:
        """Run ``read`` on a pooled connection. If that connection turns out to be dead (PostgreSQL
        restarted since it was pooled), the pool is replaced and ``read`` runs once more on a fresh
        connection. With this the service's engine needs no ping before every checkout
        (``make_engine(pre_ping=False)``), which cost one round trip per read, e.g. per proof."""
        conn = await self.engine.connect()
        try:
            return await read(conn)
        except Exception as exc:
            if not _connection_lost(exc):
                raise
            log.info("a pooled database connection was dead (%s); reading again on a fresh one", exc)
            with contextlib.suppress(Exception):
                await conn.invalidate()
        finally:
            await conn.close()
        await self.engine.dispose(close=False)  # the rest of the pool is from before the restart too
        async with self.engine.connect() as fresh:
            return await read(fresh)

    async def _first(self, query: Any) -> Any:
        async def run(conn: AsyncConnection) -> Any:
            return (await conn.execute(query)).first()
        return await self._read(run)

    async def _all(self, query: Any) -> list[Any]:
        async def run(conn: AsyncConnection) -> list[Any]:
            return list((await conn.execute(query)).all())
        return await self._read(run)

    async def head(self) -> Head:
        e = db.entries
        row = await self._first(
            select(e.c.idx, e.c.hash).where(e.c.chain == self.chain).order_by(e.c.idx.desc()).limit(1))
        return Head(0, "0" * 64) if row is None else Head(row.idx + 1, row.hash)

    async def entry(self, index: int) -> Entry:
        e = db.entries
        row = await self._first(select(e).where(e.c.chain == self.chain, e.c.idx == index))
        if row is None:
            raise EntryNotFound(f"no entry {index} in chain {self.chain!r}")
        return _entry(row)

    async def entry_by_event(self, event_id: str) -> Entry:
        e = db.entries
        row = await self._first(select(e).where(e.c.chain == self.chain, e.c.event_id == event_id))
        if row is None:
            raise EntryNotFound(f"event {event_id!r} is not recorded in chain {self.chain!r}")
        return _entry(row)

    async def entries(self, start: int, end: int) -> list[Entry]:
        """Entries with ``start <= index < end``, in order."""
        e = db.entries
        rows = await self._all(
            select(e).where(e.c.chain == self.chain, e.c.idx >= start, e.c.idx < end).order_by(e.c.idx))
        return [_entry(r) for r in rows]

    async def stream_rows(self, start: int = 0, end: int | None = None,
                          page: int = 10_000) -> AsyncIterator[list[StoredRow]]:
        """The chain in pages, by index (keyset pagination: each page is one indexed range read).

        A missing index is not papered over: the next page simply starts at the next stored row.
        """
        e = db.entries
        cols = (e.c.idx, e.c.timestamp, e.c.data, e.c.previous_hash, e.c.hash)
        next_index = start
        while end is None or next_index < end:
            limit = page if end is None else min(page, end - next_index)
            query = select(*cols).where(e.c.chain == self.chain, e.c.idx >= next_index)
            if end is not None:
                query = query.where(e.c.idx < end)
            rows = [StoredRow(r[0], r[1], r[2].encode("utf-8"), r[3], r[4])
                    for r in await self._all(query.order_by(e.c.idx).limit(limit))]
            if not rows:
                return
            yield rows
            next_index = rows[-1].index + 1
            if len(rows) < limit:
                return

    async def preload_nodes(self) -> int:
        """Fill the node cache with the stored nodes of its levels, highest first, up to its bound
        (one query; ~7,800 nodes, ~1 MB, for 1,000,000 entries). The read API does this at start so
        that proofs do not each pay for the top of the tree until it has been read once; nodes stored
        later are cached when first read. Returns the number of nodes cached."""
        cache = self.node_cache
        if cache.max_nodes <= 0:
            return 0
        pool = await self._node_pool()
        async with pool.acquire() as raw:
            rows = await raw.fetch(PRELOAD_SQL, self.chain, max(cache.min_level, MIN_STORED_LEVEL), cache.max_nodes)
        cache.keep({(level, idx): bytes(value) for level, idx, value in rows})
        return len(cache)

    async def preload_leaves(self) -> int:
        """Fill the cache's leaf blocks (when it keeps any) with the entry hashes of the chain's
        blocks, the most recent ones that fit (the last one as far as it goes), read in chunks of
        ``PRELOAD_LEAVES_CHUNK`` (with :meth:`preload_nodes`, 4.5-7.2 s for 1,000,001 entries on the
        benchmark's machine, docs/BENCHMARKS.md). Returns the number of blocks cached. With the
        stored nodes preloaded too, an inclusion proof of a preloaded leaf reads nothing from the
        database."""
        cache = self.node_cache
        if cache.max_blocks <= 0:
            return 0
        end = (await self.head()).tree_size
        if end == 0:
            return 0
        start = max(0, (end - 1) // BLOCK - cache.max_blocks + 1) * BLOCK  # the last max_blocks blocks
        pool = await self._node_pool()
        for low in range(start, end, PRELOAD_LEAVES_CHUNK):
            high = min(end, low + PRELOAD_LEAVES_CHUNK)
            async with pool.acquire() as raw:
                rows = await raw.fetch(LEAVES_SQL, self.chain, low, high)
            if len(rows) == high - low:  # every entry there (indices are unique and in range): in order
                hashes = b"".join(bytes(value) for _, value in rows)
                for first in range(low, high, BLOCK):
                    offset = (first - low) * 32
                    cache.keep_block(first // BLOCK, hashes[offset:offset + 32 * BLOCK])
                continue
            # a missing entry (a deleted row, which verify_chain names): each block up to its first gap
            leaves = {idx: bytes(value) for idx, value in rows}
            for first in range(low, high, BLOCK):
                cache.keep_block(first // BLOCK, _prefix(leaves, first, min(high, first + BLOCK)))
        return cache.blocks

    async def nodes(self, keys: Sequence[merkle.NodeKey]) -> dict[merkle.NodeKey, bytes]:
        """The stored Merkle nodes ``keys`` (one query)."""
        if not keys:
            return {}
        return await self._read_nodes(keys)

    async def root(self, tree_size: int) -> bytes:
        return merkle.root(tree_size, merkle.source_from(await self.nodes(merkle.nodes_for_root(tree_size))))

    async def inclusion_proof(self, index: int, tree_size: int) -> list[bytes]:
        keys = merkle.nodes_for_inclusion(index, tree_size)
        return merkle.inclusion_proof(index, tree_size, merkle.source_from(await self.nodes(keys)))

    async def consistency_proof(self, first: int, second: int) -> list[bytes]:
        keys = merkle.nodes_for_consistency(first, second)
        return merkle.consistency_proof(first, second, merkle.source_from(await self.nodes(keys)))

    async def latest_checkpoint(self) -> SignedTreeHead | None:
        c = db.checkpoints
        row = await self._first(select(c).where(c.c.chain == self.chain).order_by(c.c.tree_size.desc()).limit(1))
        return None if row is None else _signed(row)

    async def checkpoint_covering(self, index: int) -> SignedTreeHead | None:
        """The latest checkpoint whose tree contains entry ``index``."""
        c = db.checkpoints
        row = await self._first(select(c).where(c.c.chain == self.chain, c.c.tree_size > index)
                .order_by(c.c.tree_size.desc()).limit(1))
        return None if row is None else _signed(row)

    async def checkpoints(self) -> list[SignedTreeHead]:
        c = db.checkpoints
        rows = await self._all(select(c).where(c.c.chain == self.chain).order_by(c.c.tree_size))
        return [_signed(r) for r in rows]

    async def time_range(self) -> tuple[str | None, str | None]:
        """Timestamps of the first and last entries after genesis."""
        e = db.entries
        row = await self._first(
            select(func.min(e.c.timestamp), func.max(e.c.timestamp)).where(e.c.chain == self.chain, e.c.idx > 0))
        return (row[0], row[1]) if row else (None, None)


class ChainWriter:
    """The single writer of a chain (see the module docstring)."""

    def __init__(self, engine: AsyncEngine, chain: str = "main") -> None:
        self.engine = engine
        self.chain = chain
        self._conn: AsyncConnection | None = None
        self._head: Head | None = None
        self._frontier: merkle.Frontier | None = None
        self.lock_key = db.lock_key(f"chain:{chain}")

    @property
    def holding(self) -> bool:
        return self._conn is not None and self._head is not None

    @property
    def head(self) -> Head:
        if self._head is None:
            raise NotTheWriter(f"not the writer of chain {self.chain!r}")
        return self._head

    @property
    def frontier(self) -> merkle.Frontier:
        if self._frontier is None:
            raise NotTheWriter(f"not the writer of chain {self.chain!r}")
        return self._frontier

    async def try_acquire(self) -> bool:
        """Try to become the writer: take the lock, load the head, write genesis if the chain is new."""
        if self.holding:
            return True
        conn = await self.engine.connect()
        try:
            got = (await conn.execute(text("SELECT pg_try_advisory_lock(:k)"), {"k": self.lock_key})).scalar_one()
            await conn.commit()
            if not got:
                await conn.close()
                return False
            self._conn = conn
            await self._load()
            if self._head is not None and self._head.tree_size == 0:
                genesis = canonical_records([Record(genesis_data(self.chain), None)])
                await self.append_canonical(genesis, GENESIS_TIMESTAMP)  # = genesis_entry(chain), tested
            log.info("writer of chain %s at size %d", self.chain, self.head.tree_size)
            return True
        except BaseException:
            if self._conn is None:
                await _close_quietly(conn)
            await self.release()
            raise

    async def _load(self) -> None:
        assert self._conn is not None
        e = db.entries
        row = (await self._conn.execute(
            select(e.c.idx, e.c.hash).where(e.c.chain == self.chain).order_by(e.c.idx.desc()).limit(1)
        )).first()
        head = Head(0, "0" * 64) if row is None else Head(row.idx + 1, row.hash)
        c = db.checkpoints
        signed_size = (await self._conn.execute(
            select(func.max(c.c.tree_size)).where(c.c.chain == self.chain))).scalar_one_or_none() or 0
        if head.tree_size < signed_size:
            raise ChainTruncated(f"chain {self.chain!r} has {head.tree_size} entries but a signed checkpoint covers "
                                 f"{signed_size}: entries were removed; the writer will not extend it (run venom ledger "
                                 "verify, restore from a backup)")
        found = await read_nodes(await driver_connection(self._conn), self.chain,
                                 merkle.Frontier.keys_for_size(head.tree_size))
        await self._conn.commit()
        self._frontier = merkle.Frontier.load(head.tree_size, merkle.source_from(found))
        self._head = head

    async def release(self) -> None:
        """Give up the lock: the session that holds it is closed, never returned to the pool."""
        conn, self._conn = self._conn, None
        self._head = None
        self._frontier = None
        if conn is not None:
            try:
                await conn.invalidate()
            except Exception:  # noqa: BLE001 - the session is gone either way
                pass
            await _close_quietly(conn)

    async def ping(self) -> bool:
        """Is the writer's session (and with it the lock) still alive? Releases it when not."""
        if self._conn is None:
            return False
        try:
            await self._conn.execute(text("SELECT 1"))
            await self._conn.commit()
            return True
        except Exception as exc:  # noqa: BLE001 - any failure means the session is gone
            log.warning("writer connection of chain %s lost (%s); the lock is released", self.chain, exc)
            await self.release()
            return False

    async def append(self, records: Sequence[Record], timestamp: str) -> list[Entry]:
        """Append ``records`` in one transaction; return the new entries (see :meth:`append_canonical`)."""
        return await self.append_canonical(canonical_records(records), timestamp)

    async def append_canonical(self, records: Sequence[CanonicalRecord], timestamp: str) -> list[Entry]:
        """Append encoded ``records`` in one transaction; return the new entries.

        A record whose event id is already in the chain (or earlier in ``records``) is skipped
        and gets no index (F-LEDGER-2). On any database error the lock is released, so the
        caller retries only after it holds the lock again (with a reloaded head).
        """
        if not self.holding:
            raise NotTheWriter(f"this instance is not the writer of chain {self.chain!r}; retry later")
        seen: set[str] = set()
        fresh: list[CanonicalRecord] = []
        for rec in records:
            if rec.event_id is not None:
                if rec.event_id in seen:
                    continue
                seen.add(rec.event_id)
            fresh.append(rec)
        assert self._conn is not None
        if self.head.tree_size and 0 < len(fresh) <= ONE_STATEMENT_MAX:
            try:
                return await self._append_in_one_statement(fresh, timestamp)
            except asyncpg.UniqueViolationError as exc:
                if exc.constraint_name != EVENT_ID_KEY:
                    await self.release()
                    raise
                # an event recorded already (a redelivery): nothing was written; the transaction below
                # writes the batch without it
            except NotTheWriter:
                raise
            except BaseException:
                await self.release()
                raise
        try:
            # Optimistic: the unique (chain, event_id) key refuses an event recorded already, and then
            # (rarely: a redelivery) the batch is written again without the recorded ones. Looking every
            # event id up first cost ~20 % of an append (docs/BENCHMARKS.md, 2026-11-22).
            await self._check_head()
            built = self._link(fresh, timestamp)
            try:
                frontier = await self._insert_entries(built)
            except asyncpg.UniqueViolationError as exc:
                if exc.constraint_name != EVENT_ID_KEY:
                    raise
                await self._conn.rollback()
                recorded = await self._begin_and_check_head(list(seen))
                fresh = [r for r in fresh if r.event_id is None or r.event_id not in recorded]
                if not fresh:
                    await self._conn.commit()
                    return []
                built = self._link(fresh, timestamp)
                frontier = await self._insert_entries(built)
            await self._conn.commit()
        except NotTheWriter:
            raise
        except BaseException:
            await self.release()
            raise
        return self._advance(built, frontier)

    async def _append_in_one_statement(self, records: list[CanonicalRecord], timestamp: str) -> list[Entry]:
        """Append ``records`` with :data:`APPEND_ONE_STATEMENT_SQL` (atomic: all or nothing)."""
        assert self._conn is not None
        if self._conn.in_transaction():
            await self._conn.commit()
        head = self.head
        built = self._link(records, timestamp)
        frontier, nodes = self._new_nodes(built)
        raw = await driver_connection(self._conn)
        row = await raw.fetchrow(
            APPEND_ONE_STATEMENT_SQL, self.chain, head.tree_size - 1, head.last_hash, timestamp,
            [en.index for en in built], [en.data_json.decode("utf-8") for en in built],
            [en.previous_hash for en in built], [en.hash for en in built], [en.event_id for en in built],
            [level for level, _, _ in nodes], [idx for _, idx, _ in nodes], [value for _, _, value in nodes])
        if row is None or not row["ok"]:
            await self.release()
            raise NotTheWriter(f"chain {self.chain!r} changed under this writer (its head is no longer "
                               f"{head.tree_size - 1}:{head.last_hash}); reloading")
        if (row["entries"], row["nodes"]) != (len(built), len(nodes)):  # cannot happen: the arrays are given whole
            await self.release()
            raise RuntimeError(f"one-statement append wrote {row['entries']} entries and {row['nodes']} nodes, "
                               f"expected {len(built)} and {len(nodes)}")
        return self._advance(built, frontier)

    def _new_nodes(self, built: list[Entry]) -> tuple[merkle.Frontier, list[tuple[int, int, bytes]]]:
        """The frontier ``built`` leaves and the (level, index, hash) of the stored nodes it completes."""
        frontier = self.frontier.copy()
        return frontier, frontier.extend([bytes.fromhex(en.hash) for en in built], MIN_STORED_LEVEL)

    def _advance(self, built: list[Entry], frontier: merkle.Frontier) -> list[Entry]:
        """Move the in-memory head past ``built`` (once it is committed); returns ``built``."""
        self._frontier = frontier
        self._head = Head(built[-1].index + 1, built[-1].hash)
        return built

    def _link(self, records: list[CanonicalRecord], timestamp: str) -> list[Entry]:
        head = self.head
        return link_entries(head.tree_size, timestamp, head.last_hash, [r.data_json for r in records],
                            [r.event_id for r in records])

    async def _check_head(self) -> None:
        """Open the append's transaction and check the stored head (see :meth:`_begin_and_check_head`)."""
        await self._begin_and_check_head([])

    async def _begin_and_check_head(self, event_ids: list[str]) -> set[str]:
        """Open a fresh transaction; in it, check that the stored head is the one this writer holds
        (defence in depth: it is the only writer) and return which of ``event_ids`` are recorded
        already: one query, one round trip."""
        assert self._conn is not None
        head = self.head
        if self._conn.in_transaction():
            await self._conn.commit()  # a fresh transaction, so the check and the append see one snapshot
        # through SQLAlchemy, not the driver: its asyncpg adapter sends BEGIN before its first statement.
        # Without event ids, the head alone: with an empty id list the planner may still walk the whole
        # chain to match none (it did, ~1 ms per 1,000 entries, while the chain's statistics were new).
        if event_ids:
            rows = (await self._conn.exec_driver_sql(
                HEAD_AND_RECORDED_SQL, (self.chain, head.tree_size - 1, event_ids))).all()
        else:
            rows = (await self._conn.exec_driver_sql(HEAD_SQL, (self.chain, head.tree_size - 1))).all()
        stored = [(r[0], r[1]) for r in rows if r[2] is None]
        expected = [(head.tree_size - 1, head.last_hash)] if head.tree_size else []
        if stored != expected:
            await self.release()
            raise NotTheWriter(f"chain {self.chain!r} changed under this writer (expected head {expected}, found "
                               f"{stored}); reloading")
        return {r[2] for r in rows if r[2] is not None}

    async def _insert_entries(self, built: list[Entry]) -> merkle.Frontier:
        """Insert entries and their new stored Merkle nodes in the open transaction; return the
        frontier they leave (the writer's once the transaction commits).

        Rows go in with COPY on the session's asyncpg connection, inside the transaction the
        head check opened (measured: several times faster than multi-row INSERT, docs/BENCHMARKS.md).
        """
        assert self._conn is not None
        frontier, nodes = self._new_nodes(built)
        chain = self.chain
        node_rows = [(chain, level, idx, value) for level, idx, value in nodes]
        entry_rows = [(chain, en.index, en.timestamp, en.data_json.decode("utf-8"), en.previous_hash, en.hash,
                       en.event_id) for en in built]
        raw = await driver_connection(self._conn)
        await raw.copy_records_to_table("ledger_entries", records=entry_rows, columns=ENTRY_COLUMNS)
        if node_rows:
            await raw.copy_records_to_table("ledger_merkle_nodes", records=node_rows, columns=NODE_COLUMNS)
        return frontier

    async def store_checkpoint(self, signed: SignedTreeHead) -> None:
        """Store a signed tree head of this chain (its size must be the current size)."""
        if not self.holding:
            raise NotTheWriter(f"this instance is not the writer of chain {self.chain!r}")
        assert self._conn is not None
        try:
            await self._conn.execute(
                insert(db.checkpoints).values(
                    chain=self.chain, tree_size=signed.head.tree_size, root_hash=signed.head.root_hash,
                    timestamp=signed.head.timestamp, key_id=signed.key_id, signature=signed.signature,
                )
            )
            await self._conn.commit()
        except BaseException:
            await self.release()
            raise

    async def last_checkpoint_size(self) -> int:
        assert self._conn is not None
        c = db.checkpoints
        value = (await self._conn.execute(
            select(func.max(c.c.tree_size)).where(c.c.chain == self.chain))).scalar_one_or_none()
        await self._conn.commit()
        return int(value or 0)


async def _close_quietly(conn: AsyncConnection) -> None:
    try:
        await conn.close()
    except Exception:  # noqa: BLE001
        try:
            await conn.invalidate()
        except Exception:  # noqa: BLE001
            pass

