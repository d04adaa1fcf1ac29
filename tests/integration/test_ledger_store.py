"""The ledger store against a real PostgreSQL: appends, idempotence, proofs, and tampering found by verify."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator

import pytest
from sqlalchemy import text

from venom_ledger import db
from venom_ledger.domain import merkle
from venom_ledger.domain.chain import genesis_entry
from venom_ledger.domain.checkpoint import parse_private_key
from venom_ledger.ledger import Ledger
import venom_ledger.store as store_module
from venom_ledger.store import ChainTruncated, ChainWriter, LedgerStore, NodeCache, NotTheWriter, Record

pytestmark = pytest.mark.integration


@pytest.fixture
async def engine(postgres_url: str) -> AsyncIterator[object]:
    eng = db.make_engine(postgres_url)
    await db.migrate(eng)
    try:
        yield eng
    finally:
        await eng.dispose()


@pytest.fixture(params=["one-statement", "copy"])
async def ledger(engine, unique, request, monkeypatch) -> AsyncIterator[Ledger]:
    """A fresh chain; every test runs with each append path: small batches in one statement (the
    default) and every batch through the COPY transaction."""
    if request.param == "copy":
        monkeypatch.setattr(store_module, "ONE_STATEMENT_MAX", 0)
    chain = f"t{unique}"
    writer = ChainWriter(engine, chain)
    assert await writer.try_acquire()
    led = Ledger(LedgerStore(engine, chain), writer, signing_key=parse_private_key(os.urandom(32).hex()))
    try:
        yield led
    finally:
        await writer.release()
        await led.store.close()


async def _fill(led: Ledger, n: int) -> None:
    await led.append([Record({"n": i, "s": "é"}, f"ev-{i}") for i in range(1, n + 1)])


async def _sql(led: Ledger, sql: str, **params: object) -> None:
    async with led.store.engine.begin() as conn:
        await conn.execute(text(sql), {"chain": led.chain, **params})


async def test_migrations_are_idempotent(engine):
    await db.migrate(engine)
    async with engine.connect() as conn:
        version = (await conn.execute(text(f"SELECT version_num FROM {db.VERSION_TABLE}"))).scalar_one()
    assert version == "0001_chain"


async def test_new_chain_starts_with_genesis(ledger):
    head = await ledger.store.head()
    assert head.tree_size == 1 and head.last_hash == genesis_entry(ledger.chain).hash
    assert (await ledger.store.entry(0)).data == {"chain": ledger.chain, "genesis": "VENOM ledger"}


async def test_append_is_idempotent_within_and_across_batches(ledger):
    first = await ledger.append([Record({"a": 1}, "x"), Record({"a": 1}, "x"), Record({"b": 2}, "y")])
    assert [e.index for e in first] == [1, 2]
    again = await ledger.append([Record({"a": 1}, "x"), Record({"c": 3}, "z"), Record({"b": 2}, "y")])
    assert [(e.index, e.event_id) for e in again] == [(3, "z")]
    assert await ledger.append([Record({"a": 1}, "x")]) == []
    assert (await ledger.store.entry_by_event("z")).index == 3
    report = await ledger.verify_chain()
    assert report.ok and report.tree_size == 4


async def test_seed_api_records_events(ledger):
    from datetime import UTC, datetime

    from venom_common.events.payloads import PulseV1, Vitals

    pulse = PulseV1(node="n1", beat=3, t_lambda_s=0.004211, period_s=1.0, started_at=datetime.now(UTC),
                    vitals=Vitals(beat_count=3, cycle_time_ms=1, avg_beat_time_ms=1, min_beat_time_ms=1,
                                  max_beat_time_ms=1, missed_deadlines=0))
    entry = await ledger.record_pulse(pulse)
    assert entry is not None and entry.data["type"] == PulseV1.EVENT_TYPE
    assert set(entry.data) == {"id", "source", "type", "time", "subject", "data"}
    assert entry.data["data"]["t_lambda_s"] == 0.004211
    assert await ledger.add_entry({"note": "hello"}) is not None
    manifest = await ledger.get_manifest()
    assert manifest["tree_size"] == 3 and manifest["merkle_root"] == await ledger.compute_merkle_root()


async def test_proofs_from_the_store_verify(ledger):
    await _fill(ledger, 40)
    size = (await ledger.store.head()).tree_size
    for m in (1, 7, 16, 33):
        root_m = await ledger.store.root(m)
        root_n = await ledger.store.root(size)
        proof = await ledger.store.consistency_proof(m, size)
        assert merkle.verify_consistency(m, size, root_m, root_n, proof)
    for i in range(size):
        entry = await ledger.store.entry(i)
        proof = await ledger.store.inclusion_proof(i, size)
        leaf = merkle.leaf_hash(bytes.fromhex(entry.hash))
        assert merkle.verify_inclusion(leaf, i, size, proof, await ledger.store.root(size))


async def test_cached_top_nodes_give_the_same_proofs_as_the_database(engine, ledger):
    """The store keeps stored nodes of the top levels once read; every proof and root it serves with
    them equals the one read from the database alone, and equals the RFC's over the entry hashes."""
    await ledger.append([Record({"n": i}, None) for i in range(1, 1100)])  # 1,100 entries: nodes up to level 10
    size = (await ledger.store.head()).tree_size
    uncached = LedgerStore(engine, ledger.chain, node_cache=NodeCache(max_nodes=0))
    small = LedgerStore(engine, ledger.chain, node_cache=NodeCache(min_level=4, max_nodes=5))  # evicts all the time
    try:
        leaves = [merkle.leaf_hash(bytes.fromhex(e.hash)) for e in await ledger.store.entries(0, size)]
        for _ in range(2):  # the second round is served from the warm caches
            for i in range(0, size, 37):
                expected = await uncached.inclusion_proof(i, size)
                assert await ledger.store.inclusion_proof(i, size) == expected
                assert await small.inclusion_proof(i, size) == expected
                assert merkle.verify_inclusion(leaves[i], i, size, expected, await ledger.store.root(size))
            for m in (1, 255, 256, 257, 700):
                assert await ledger.store.consistency_proof(m, size) == await uncached.consistency_proof(m, size)
        assert len(ledger.store.node_cache) > 0 and len(uncached.node_cache) == 0 and len(small.node_cache) == 5
        assert await ledger.store.root(size) == ledger.writer.frontier.root()
        preloaded = LedgerStore(engine, ledger.chain)
        try:  # 1,100 entries: the stored nodes of level >= 8 are (8, 0..3), (9, 0..1), (10, 0)
            assert await preloaded.preload_nodes() == 7
            assert await preloaded.inclusion_proof(1000, size) == await uncached.inclusion_proof(1000, size)
            small_preload = LedgerStore(engine, ledger.chain, node_cache=NodeCache(max_nodes=2))
            assert await small_preload.preload_nodes() == 2  # bounded, highest levels first
            assert set(small_preload.node_cache._nodes) == {(10, 0), (9, 1)}
            await small_preload.close()
        finally:
            await preloaded.close()
    finally:
        await uncached.close()
        await small.close()


async def test_a_warm_proof_cache_gives_the_databases_proofs_without_reading_it(engine, ledger):
    """The service's proof cache (every stored node and the entry hashes of every block of 16 leaves,
    the last one as far as it goes, preloaded): each proof and root equals the one read from the
    database alone, at every tree size tried, and still as the chain grows past the cached part of its
    last block. Once warm it reads nothing: hashes altered in the database behind the ledger's back
    (one in a full block, one in the last) leave its proofs as committed, while the uncached store's
    proof changes."""
    await ledger.append([Record({"n": i}, None) for i in range(1, 1100)])  # 1,100 entries: 68 blocks and 12 leaves
    size = (await ledger.store.head()).tree_size
    assert size == 1100
    uncached = LedgerStore(engine, ledger.chain, node_cache=NodeCache(max_nodes=0))
    warm = LedgerStore(engine, ledger.chain, node_cache=NodeCache.for_entries(10_000))
    bounded = LedgerStore(engine, ledger.chain, node_cache=NodeCache.for_entries(100))  # 6 blocks: evicts
    try:
        async with engine.connect() as conn:
            stored = (await conn.execute(text("SELECT count(*) FROM ledger_merkle_nodes WHERE chain = :c"),
                                         {"c": ledger.chain})).scalar()
        assert await warm.preload_nodes() == stored
        assert await warm.preload_leaves() == 69 and len(warm.node_cache._blocks[68]) == 12 * 32
        assert await bounded.preload_leaves() == 6 and set(bounded.node_cache._blocks) == set(range(63, 69))
        expected = [await uncached.inclusion_proof(i, size) for i in range(size)]
        for store in (warm, bounded):
            for i in range(size):
                assert await store.inclusion_proof(i, size) == expected[i]
            for m in (1, 15, 16, 17, 20, 255, 1087, 1088, 1099, 1100):
                assert await store.consistency_proof(m, size) == await uncached.consistency_proof(m, size)
                assert await store.root(m) == await uncached.root(m)
                assert await store.inclusion_proof(m - 1, m) == await uncached.inclusion_proof(m - 1, m)
        assert warm.node_cache.blocks == 69 and bounded.node_cache.blocks == 6
        assert warm.node_cache.size_bytes() > 69 * 16 * 32
        leaf_4 = merkle.leaf_hash(bytes.fromhex((await ledger.store.entry(4)).hash))
        assert merkle.verify_inclusion(leaf_4, 4, size, expected[4], await uncached.root(size))

        await ledger.append([Record({"n": i}, None) for i in range(1100, 1110)])  # the last block fills up
        for i in (0, 5, 1087, 1095, 1099, 1100, 1103, 1109):
            for m in (i + 1, 1100, 1110):
                if i < m:
                    assert await warm.inclusion_proof(i, m) == await uncached.inclusion_proof(i, m)
            assert await warm.consistency_proof(1100, 1110) == await uncached.consistency_proof(1100, 1110)
        assert len(warm.node_cache._blocks[68]) == 16 * 32  # the longer read replaced the 12 cached hashes

        await _sql(ledger, "UPDATE ledger_entries SET hash = :v WHERE chain = :chain AND idx IN (5, 1099)",
                   v="0" * 64)
        assert await warm.inclusion_proof(4, size) == expected[4]  # leaf 5 is leaf 4's sibling: from memory
        assert await uncached.inclusion_proof(4, size) != expected[4]
        assert await warm.inclusion_proof(1098, size) == expected[1098]  # 1099 is 1098's sibling
        assert await uncached.inclusion_proof(1098, size) != expected[1098]
    finally:
        for store in (uncached, warm, bounded):
            await store.close()


def test_a_full_proof_cache_gives_way_from_the_lowest_level():
    """When full, the lowest level's oldest node goes first (the top of the tree, on every proof's
    path, stays), and a node below every cached level is not kept."""
    cache = NodeCache(min_level=4, max_nodes=4)
    cache.keep({(10, 0): b"a", (9, 0): b"b", (9, 1): b"c", (8, 0): b"d"})
    cache.keep({(4, 7): b"e"})  # below every cached level: not kept
    assert set(cache._nodes) == {(10, 0), (9, 0), (9, 1), (8, 0)}
    cache.keep({(9, 2): b"f"})  # the level-8 node gives way
    assert set(cache._nodes) == {(10, 0), (9, 0), (9, 1), (9, 2)}
    cache.keep({(9, 3): b"g", (9, 2): b"f"})  # the oldest of level 9 gives way; a cached key changes nothing
    assert set(cache._nodes) == {(10, 0), (9, 1), (9, 2), (9, 3)}
    cache.keep({(11, 0): b"h", (3, 0): b"i"})  # level 3 is below min_level: never kept
    assert set(cache._nodes) == {(11, 0), (10, 0), (9, 2), (9, 3)}
    found: dict = {}
    assert cache.take([(11, 0), (9, 1)], found) == [(9, 1)] and found == {(11, 0): b"h"}


def test_the_proof_cache_keeps_whole_blocks_and_the_longest_run_of_the_last():
    cache = NodeCache.for_entries(1000)
    for wrong in (bytes(33), bytes(32 * 17)):
        with pytest.raises(ValueError, match="up to 16 hashes"):
            cache.keep_block(0, wrong)
    cache.keep_block(3, bytes(32 * 5))
    cache.keep_block(3, bytes(32 * 4))  # a shorter read of the same block does not replace it
    assert len(cache._blocks[3]) == 32 * 5
    cache.keep_block(3, b"\x01" * (32 * 16))
    assert cache._blocks[3] == b"\x01" * (32 * 16)
    found: dict = {}
    cache.keep_block(4, bytes(32 * 2))  # the chain's last block, two leaves so far
    assert cache.take([(0, 48), (2, 12), (3, 6), (0, 65), (1, 33), (0, 80)], found) == [(1, 33), (0, 80)]
    assert found[(0, 48)] == merkle.leaf_hash(b"\x01" * 32)  # leaves 48-63 are block 3
    assert found[(2, 12)] == merkle.complete_subtree_hash([b"\x01" * 32] * 4)
    assert found[(3, 6)] == merkle.complete_subtree_hash([b"\x01" * 32] * 8)
    assert found[(0, 65)] == merkle.leaf_hash(bytes(32))  # leaves 66-67 (node (1, 33)) are not cached yet
    NodeCache().keep_block(0, bytes(32 * 15))  # a cache without leaf blocks keeps none
    assert NodeCache().blocks == 0 and NodeCache.for_entries(0).max_blocks == 0


async def test_the_writer_lock_admits_one_writer(engine, ledger):
    other = ChainWriter(engine, ledger.chain)
    assert not await other.try_acquire()
    with pytest.raises(NotTheWriter):
        await other.append([Record({"x": 1}, None)], "2026-01-01T00:00:00.000000Z")
    await ledger.writer.release()
    assert await other.try_acquire()
    assert other.head.tree_size == 1
    await other.release()


@pytest.mark.parametrize("column,reason", [("data", "hash"), ("hash", "hash"), ("previous_hash", "link"),
                                           ("timestamp", "hash")])
async def test_an_update_through_sql_is_named_by_index(ledger, column, reason):
    await _fill(ledger, 12)
    await ledger.checkpoint()
    value = {"data": '{"n":5,"s":"forged"}', "hash": "f" * 64, "previous_hash": "e" * 64,
             "timestamp": "2030-01-01T00:00:00.000000Z"}[column]
    await _sql(ledger, f"UPDATE ledger_entries SET {column} = :v WHERE chain = :chain AND idx = 5", v=value)
    report = await ledger.verify_chain(page=4)
    assert not report.ok and report.fault is not None
    assert (report.fault.index, report.fault.reason) == (5, reason), report.fault
    assert report.verified == 5


async def test_a_deleted_row_is_found(ledger):
    await _fill(ledger, 12)
    await _sql(ledger, "DELETE FROM ledger_entries WHERE chain = :chain AND idx = 7")
    report = await ledger.verify_chain()
    assert report.fault is not None and (report.fault.index, report.fault.reason) == (7, "missing")


async def test_a_truncated_tail_is_found_against_the_last_checkpoint(ledger):
    await _fill(ledger, 12)
    signed = await ledger.checkpoint()
    assert signed.head.tree_size == 13
    assert (await ledger.verify_chain()).ok
    await _sql(ledger, "DELETE FROM ledger_entries WHERE chain = :chain AND idx >= 10")
    report = await ledger.verify_chain()
    assert report.fault is not None and (report.fault.index, report.fault.reason) == (10, "truncated")
    assert "13" in report.fault.detail
    # ... and no writer extends the truncated chain.
    await ledger.writer.release()
    with pytest.raises(ChainTruncated):
        await ledger.writer.try_acquire()


async def test_a_rewritten_and_rehashed_chain_fails_the_signed_root(ledger):
    """Rewriting an entry and re-hashing everything after it keeps the links, not the signed root."""
    from venom_ledger.domain.chain import entry_hash

    await _fill(ledger, 6)
    await ledger.checkpoint()
    entries = await ledger.store.entries(0, 7)
    previous = entries[2].hash
    async with ledger.store.engine.begin() as conn:
        for e in entries[3:]:
            data = b'{"n":0}' if e.index == 3 else e.data_json
            h = entry_hash(e.index, e.timestamp, data, previous)
            await conn.execute(text("UPDATE ledger_entries SET data=:d, previous_hash=:p, hash=:h "
                                    "WHERE chain=:c AND idx=:i"),
                               {"d": data.decode(), "p": previous, "h": h, "c": ledger.chain, "i": e.index})
            previous = h
    report = await ledger.verify_chain()
    assert report.fault is not None and report.fault.reason == "root" and report.fault.index == 6


async def test_a_failed_append_leaves_nothing_behind(ledger, engine):
    """Entries and their Merkle nodes are one transaction: when the node rows cannot be written, no
    entry of the batch is stored either, and the writer reloads before appending again."""
    await _fill(ledger, 10)  # 11 entries with genesis; the next batch completes the level-4 node (4, 0)
    await _sql(ledger, "INSERT INTO ledger_merkle_nodes (chain, level, idx, hash) VALUES (:chain, 4, 0, '\\x00')")
    with pytest.raises(Exception):
        await ledger.append([Record({"n": i}, f"late-{i}") for i in range(10)])
    assert (await ledger.store.head()).tree_size == 11
    assert not ledger.writer.holding  # a failed append gives up the session (and the lock)
    await _sql(ledger, "DELETE FROM ledger_merkle_nodes WHERE chain = :chain AND level = 4 AND idx = 0")
    assert await ledger.writer.try_acquire()
    added = await ledger.append([Record({"n": i}, f"late-{i}") for i in range(10)])
    assert [e.index for e in added] == list(range(11, 21))
    assert (await ledger.verify_chain()).ok
    root_from_nodes = await ledger.store.root(21)
    assert root_from_nodes == ledger.writer.frontier.root()


async def test_reads_survive_a_dead_pooled_connection_without_pre_ping(postgres_url, unique):
    """The service's engine does not ping before each checkout; a read on a pooled connection whose
    server session is gone (PostgreSQL restarted, or the session killed) is run again on a fresh one."""
    engine = db.make_engine(postgres_url, pre_ping=False)
    try:
        await db.migrate(engine)
        writer = ChainWriter(engine, f"p{unique}")
        assert await writer.try_acquire()
        await writer.append([Record({"n": i}, None) for i in range(40)], "2026-11-22T00:00:00.000000Z")
        await writer.release()
        store = LedgerStore(engine, f"p{unique}")
        proof = await store.inclusion_proof(7, 41)  # leaves a connection in the store's node pool
        assert (await store.head()).tree_size == 41  # and one in the engine's pool
        async with engine.connect() as conn:
            pids = {(await conn.execute(text("SELECT pg_backend_pid()"))).scalar_one()}
        async with (await store._node_pool()).acquire() as raw:
            pids.add(raw.get_server_pid())
        assert len(pids) == 2
        killer = db.make_engine(postgres_url)
        async with killer.begin() as conn:
            for pid in pids:
                assert (await conn.execute(text("SELECT pg_terminate_backend(:p)"), {"p": pid})).scalar_one()
        await killer.dispose()
        assert await store.inclusion_proof(7, 41) == proof  # the dead ones are replaced, not reported
        assert (await store.head()).tree_size == 41
        assert await store.inclusion_proof(7, 41) == proof
        await store.close()
    finally:
        await engine.dispose()


async def test_both_append_paths_write_the_same_chain(engine, unique, monkeypatch):
    """The one-statement append and the COPY transaction store byte-identical entries and nodes."""
    records = [Record({"n": i, "f": i / 7, "s": "é", "none": None}, f"ev-{i}") for i in range(1, 41)]
    stored = {}
    for path, limit in (("one", store_module.ONE_STATEMENT_MAX), ("copy", 0)):
        monkeypatch.setattr(store_module, "ONE_STATEMENT_MAX", limit)
        chain = f"p{path}{unique}"
        writer = ChainWriter(engine, chain)
        assert await writer.try_acquire()
        try:
            for i in range(0, 40, 8):
                await writer.append(records[i:i + 8], "2026-11-22T06:00:00.000000Z")
        finally:
            await writer.release()
        async with engine.connect() as conn:
            entries = (await conn.execute(text(
                "SELECT idx, timestamp, data, previous_hash, hash, event_id FROM ledger_entries "
                "WHERE chain = :c AND idx > 0 ORDER BY idx"), {"c": chain})).all()
            nodes = (await conn.execute(text(
                "SELECT level, idx, hash FROM ledger_merkle_nodes WHERE chain = :c ORDER BY level, idx"),
                {"c": chain})).all()
        stored[path] = ([tuple(r)[:3] + tuple(r)[5:] for r in entries], [tuple(r) for r in nodes])
        reader = LedgerStore(engine, chain)
        try:
            report = await Ledger(reader).verify_chain()
        finally:
            await reader.close()
        assert report.ok and report.tree_size == 41, report
    # previous_hash and hash differ through genesis (the chain's name is in it); the rest is the same
    assert stored["one"][0] == stored["copy"][0] and len(stored["one"][0]) == 40
    assert [n[:2] for n in stored["one"][1]] == [n[:2] for n in stored["copy"][1]] and stored["one"][1]


async def test_one_statement_append_refuses_a_moved_head(ledger):
    """The one-statement append writes nothing unless the writer's head is the chain's last row."""
    await _fill(ledger, 5)
    await _sql(ledger, "INSERT INTO ledger_entries (chain, idx, timestamp, data, previous_hash, hash) "
                       "VALUES (:chain, 6, 't', '{}', 'x', 'y')")
    with pytest.raises(NotTheWriter):
        await ledger.append([Record({"late": 1}, "late-1")])
    assert not ledger.writer.holding
    async with ledger.store.engine.connect() as conn:
        count = (await conn.execute(text("SELECT count(*) FROM ledger_entries WHERE chain = :c AND event_id = 'late-1'"),
                                    {"c": ledger.chain})).scalar_one()
    assert count == 0
