"""Two ledger instances on one chain, and PostgreSQL stopped mid-stream: no fork, no gap, no duplicate."""

from __future__ import annotations

import asyncio

import httpx
import pytest
from sqlalchemy import text

from venom_common.bus import Bus
from venom_common.embedded import EmbeddedPostgres
from venom_common.events import subjects
from venom_ledger.db import make_engine
from venom_ledger.ledger import Ledger
from venom_ledger.store import LedgerStore

from .test_ledger_helpers import ledger_settings, pulse_event, running_ledger, wait_until

pytestmark = pytest.mark.integration



async def publish_steadily(bus: Bus, node: str, count: int, published: list[str], pause: float = 0.01) -> None:
    for i in range(count):
        event = pulse_event(node, i)
        await bus.publish(subjects.beat(node), event, timeout=10)
        published.append(event.id)
        await asyncio.sleep(pause)


async def assert_recorded_exactly_once(database_url: str, chain: str, published: list[str]) -> None:
    engine = make_engine(database_url)
    try:
        store = LedgerStore(engine, chain)
        head = await store.head()
        entries = await store.entries(0, head.tree_size)
        assert [e.index for e in entries] == list(range(head.tree_size))  # no gap, no duplicate index
        ids = [e.event_id for e in entries if e.event_id is not None]
        assert len(ids) == len(set(ids))  # no event twice
        assert set(published) <= set(ids)  # nothing lost
        report = await Ledger(store).verify_chain()
        assert report.ok, report.fault
    finally:
        await store.close()
        await engine.dispose()


async def test_two_instances_never_fork_the_chain(bus, nats_url, postgres_url, unique, tmp_path):
    node = f"n{unique}"
    chain = f"f{unique}"
    a_settings = ledger_settings(nats_url, postgres_url, chain, tmp_path)
    b_settings = ledger_settings(nats_url, postgres_url, chain, tmp_path)
    published: list[str] = []
    async with running_ledger(a_settings) as a:
        await wait_until(a.service.ready, what="first instance is the writer")
        async with running_ledger(b_settings) as b:
            await b.service.migrated.wait()
            await asyncio.sleep(0.5)
            assert a.service.ready() and not b.service.ready()  # the second stands by
            publisher = asyncio.create_task(publish_steadily(bus, node, 300, published))
            await wait_until(lambda: len(published) > 60, what="events flowing")

            # 1. The writer's session dies under it (as when its connection is cut): both contend.
            unsigned = a.service.writer.lock_key & (2**64 - 1)  # pg_locks shows the key as two 32-bit oids
            async with a.service.engine.begin() as conn:
                killed = (await conn.execute(text(
                    "SELECT pg_terminate_backend(pid) FROM pg_locks WHERE locktype = 'advisory' AND granted "
                    "AND classid::text::bigint = :hi AND objid::text::bigint = :lo AND objsubid = 1"
                ), {"hi": unsigned >> 32, "lo": unsigned & 0xFFFFFFFF})).all()
            await wait_until(lambda: a.service.ready() != b.service.ready(), what="one writer again")
            await wait_until(lambda: len(published) > 180, what="more events flowing")

            # 2. The writer process stops; the other one takes over.
            writer, standby = (a, b) if a.service.ready() else (b, a)
            await writer.shutdown()
            await wait_until(standby.service.ready, what="the standby took over")
            await publisher
            mine = set(published)

            async def all_in() -> bool:
                head = await standby.service.store.head()
                got = {e.event_id for e in await standby.service.store.entries(1, head.tree_size)}
                return mine <= got

            await wait_until(all_in, timeout=60, what="every event recorded")
    assert killed, "the writer's session was found by its advisory lock"
    await assert_recorded_exactly_once(postgres_url, chain, published)


async def test_postgres_restart_mid_stream_loses_nothing(bus, nats_url, unique, tmp_path):
    node = f"n{unique}"
    chain = f"r{unique}"
    pg = await asyncio.to_thread(EmbeddedPostgres(tmp_path / "pg").start)
    settings = ledger_settings(nats_url, pg.url, chain, tmp_path)
    published: list[str] = []
    try:
        async with running_ledger(settings) as run:
            await wait_until(run.service.ready, what="writer ready")
            publisher = asyncio.create_task(publish_steadily(bus, node, 200, published, pause=0.01))
            await wait_until(lambda: len(published) > 50, what="events flowing")
            await asyncio.to_thread(pg.stop)
            await wait_until(lambda: not run.service.ready(), what="writer notices the database is gone")
            async with httpx.AsyncClient(base_url=run.url, timeout=10) as http:
                assert (await http.get("/readyz")).status_code == 503
                assert (await http.get("/ledger/head")).status_code == 503
            await wait_until(lambda: len(published) > 120, what="events published while the database is down")
            pg = await asyncio.to_thread(EmbeddedPostgres(tmp_path / "pg", port=pg.port).start)
            await publisher
            await wait_until(run.service.ready, timeout=60, what="writer back")

            async def all_in() -> bool:
                head = await run.service.store.head()
                return set(published) <= {e.event_id for e in await run.service.store.entries(1, head.tree_size)}

            await wait_until(all_in, timeout=60, what="every event recorded after the restart")
        await assert_recorded_exactly_once(pg.url, chain, published)
    finally:
        await asyncio.to_thread(pg.stop)
