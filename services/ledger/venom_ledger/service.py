"""The ledger service: recorded events from JetStream → batched appends in PostgreSQL (F-LEDGER-1..6).

* One durable pull consumer (``ledger``) on the recorded subjects of ``VENOM_EVENTS``; each fetched
  batch is appended in one transaction and acknowledged by the bus only after it returns, i.e.
  after the commit. A failed append is negatively acknowledged and redelivered; redelivered or
  republished events are skipped by event id, so each event is recorded once.
* Only the instance holding the chain's advisory lock consumes. Another instance is a standby:
  not ready, serving the read API, trying the lock every ``ledger_standby_poll_s``; it takes over
  when the writer's session ends (process died, connection lost).
* A checkpoint (signed tree head) is stored and published every ``ledger_checkpoint_every``
  entries or ``ledger_checkpoint_interval_s`` seconds when the chain grew.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import time

from venom_common.bus import Consumer
from venom_common.events import subjects
from venom_common.events.envelope import InvalidEvent, make_event
from venom_common.events.payloads import CheckpointV1
from venom_common.runner import ServiceContext
from venom_common.streams import EVENTS
from venom_ledger import metrics as lm
from venom_ledger.api import mount_read_api
from venom_ledger.db import make_engine, migrate
from venom_ledger.domain.checkpoint import SignedTreeHead
from venom_ledger.encoder import Encoder
from venom_ledger.keys import load_signing_key
from venom_ledger.ledger import Ledger
from venom_ledger.settings import LedgerSettings
from venom_ledger.store import CanonicalRecord, ChainWriter, LedgerStore, NodeCache, NotTheWriter

log = logging.getLogger("venom.ledger")

DURABLE = "ledger"


def _freeze_startup_objects() -> None:
    """Move every object alive after start-up (modules, classes, settings: hundreds of thousands) out
    of the cyclic garbage collector's view (``gc.freeze``), after one collection so no garbage is
    kept. Appending allocates several objects per event, and each full collection otherwise walks
    all of them: measured ~20 µs per appended event (docs/BENCHMARKS.md, 2026-11-22)."""
    gc.collect()
    gc.freeze()


class LedgerService:
    name = "ledger"

    def __init__(self, settings: LedgerSettings) -> None:
        self.settings = settings
        self.chain = settings.ledger_chain
        self.engine = make_engine(settings.database_url, pre_ping=False)
        self.store = LedgerStore(self.engine, self.chain,
                                 node_cache=NodeCache.for_entries(settings.ledger_proof_cache_entries))
        self.writer = ChainWriter(self.engine, self.chain)
        self.ledger = Ledger(self.store, self.writer, signing_key=load_signing_key(settings))
        self.encoder = Encoder(settings.ledger_encode_workers, settings.ledger_encode_inline_below)
        self._write_lock = asyncio.Lock()
        self._consumer: Consumer | None = None
        self._task: asyncio.Task[None] | None = None
        self._warm_task: asyncio.Task[None] | None = None
        self._ctx: ServiceContext | None = None
        self._stopping = asyncio.Event()
        self._last_checkpoint_size = 0
        self._last_checkpoint_at = time.monotonic()
        self.migrated = asyncio.Event()

    # --- Service protocol ---------------------------------------------------------------------

    async def start(self, ctx: ServiceContext) -> None:
        self._ctx = ctx
        _freeze_startup_objects()
        self.ledger.source = ctx.source
        mount_read_api(ctx.app, self.ledger)
        self._task = asyncio.create_task(self._supervise(), name="ledger-supervisor")

    def ready(self) -> bool:
        """Ready = this instance is the chain's writer (a standby is alive but not ready)."""
        return self.writer.holding and self._consumer is not None

    async def stop(self) -> None:
        self._stopping.set()
        if self._task is not None:
            # The supervisor ends its current round by itself (it may be pinging the writer's session:
            # cancelling that statement would invalidate the session under the batch still in flight).
            with contextlib.suppress(asyncio.CancelledError, TimeoutError):
                await asyncio.wait_for(asyncio.shield(self._task), 10)
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        if self._warm_task is not None:
            self._warm_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._warm_task
        await self._stop_consumer()
        async with self._write_lock:
            await self.writer.release()
        lm.WRITER.labels(self.chain).set(0)
        self.encoder.close()
        await self.store.close()
        await self.engine.dispose()

    # --- the writer's life ----------------------------------------------------------------------

    async def _supervise(self) -> None:
        poll = self.settings.ledger_standby_poll_s
        standby_logged = False
        while not self._stopping.is_set():
            try:
                if not self.migrated.is_set():
                    await migrate(self.engine)
                    self.migrated.set()
                    # in the background: the writer does not wait for it (proofs read what is not cached yet)
                    self._warm_task = asyncio.create_task(self._preload_proof_cache(), name="ledger-proof-cache")
                if not self.writer.holding:
                    await self._stop_consumer()
                    lm.WRITER.labels(self.chain).set(0)
                    async with self._write_lock:
                        acquired = await self.writer.try_acquire()
                    if not acquired:
                        if not standby_logged:
                            log.info("chain %s has another writer; standing by", self.chain)
                            standby_logged = True
                    else:
                        standby_logged = False
                        await self._become_writer()
                if self.writer.holding and self._consumer is None:
                    await self._start_consumer()
                    continue
                if self.writer.holding:
                    async with self._write_lock:
                        alive = await self.writer.ping()
                    if not alive:
                        continue
                    if (time.monotonic() - self._last_checkpoint_at >= self.settings.ledger_checkpoint_interval_s
                            and self.writer.head.tree_size > self._last_checkpoint_size):
                        await self._checkpoint()
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # noqa: BLE001 - database or bus trouble: retry after a pause
                log.warning("ledger supervisor: %s; retrying in %.1fs", exc, poll)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stopping.wait(), poll)

    async def _preload_proof_cache(self) -> None:
        started = time.perf_counter()
        try:
            nodes = await self.store.preload_nodes()
            await self.store.preload_leaves()
        except Exception as exc:  # noqa: BLE001 - only a warm cache is lost: proofs read the rest themselves
            log.warning("could not preload the proof cache of chain %s: %s", self.chain, exc)
        else:
            log.info("chain %s: %d Merkle nodes and the hashes of %d entries cached for proofs (%.1f s)",
                     self.chain, nodes, self.store.node_cache.leaves, time.perf_counter() - started)

    async def _become_writer(self) -> None:
        lm.WRITER.labels(self.chain).set(1)
        lm.TREE_SIZE.labels(self.chain).set(self.writer.head.tree_size)
        async with self._write_lock:
            self._last_checkpoint_size = await self.writer.last_checkpoint_size()
        if self.writer.head.tree_size > self._last_checkpoint_size:
            await self._checkpoint()

    async def _start_consumer(self) -> None:
        assert self._ctx is not None
        await self.encoder.warm_up()
        self._consumer = await self._ctx.bus.consume(
            stream=EVENTS.name,
            durable=DURABLE if self.chain == "main" else f"{DURABLE}-{self.chain}",
            subjects=list(subjects.RECORDED),
            batch_handler=self._append_batch,
            # validates and encodes the next batch (on a worker process) while this one commits
            decode_batch=self.encoder,
            batch=self.settings.ledger_batch,
            ack_wait_s=self.settings.ledger_ack_wait_s,
            on_invalid=self._count_invalid,
        )
        log.info("ledger writer of chain %s: consuming %s", self.chain, ", ".join(subjects.RECORDED))

    async def _stop_consumer(self) -> None:
        consumer, self._consumer = self._consumer, None
        if consumer is not None:
            await consumer.stop()

    def _count_invalid(self, exc: InvalidEvent) -> None:
        lm.REJECTED.labels(exc.reason).inc()

    async def _append_batch(self, events: list[CanonicalRecord]) -> None:
        """One fetched batch (encoded by ``encode_events``) → one transaction. Returning means
        committed (the bus then acknowledges the batch)."""
        with lm.APPEND_SECONDS.labels(self.chain).time():
            async with self._write_lock:
                if not self.writer.holding:
                    raise NotTheWriter("lost the writer lock; the batch will be redelivered")
                added = await self.ledger.append_canonical(events)
                size = self.writer.head.tree_size
        lm.APPENDED.labels(self.chain).inc(len(added))
        lm.DUPLICATES.labels(self.chain).inc(len(events) - len(added))
        lm.TREE_SIZE.labels(self.chain).set(size)
        if size - self._last_checkpoint_size >= self.settings.ledger_checkpoint_every:
            await self._checkpoint()

    async def _checkpoint(self) -> SignedTreeHead | None:
        async with self._write_lock:
            if not self.writer.holding or self.writer.head.tree_size <= self._last_checkpoint_size:
                return None
            signed = await self.ledger.checkpoint()
            self._last_checkpoint_size = signed.head.tree_size
            self._last_checkpoint_at = time.monotonic()
        lm.CHECKPOINTS.labels(self.chain).inc()
        await self._publish_checkpoint(signed)
        return signed

    async def _publish_checkpoint(self, signed: SignedTreeHead) -> None:
        assert self._ctx is not None
        payload = CheckpointV1(chain=signed.head.chain, tree_size=signed.head.tree_size,
                               root_hash=signed.head.root_hash, timestamp=signed.head.timestamp,
                               key_id=signed.key_id, signature=signed.signature)
        try:
            await self._ctx.bus.publish(subjects.LEDGER_CHECKPOINT,
                                        make_event(payload, source=self._ctx.source, subject=subjects.LEDGER_CHECKPOINT))
        except Exception as exc:  # noqa: BLE001 - stored already; the next checkpoint is published again
            log.warning("checkpoint at size %d stored but not published: %s", signed.head.tree_size, exc)
