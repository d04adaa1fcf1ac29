"""Decoding and encoding of recorded events, on worker processes (F-LEDGER-1, F-LEDGER-2).

Everything an append does that does not depend on the chain, i.e. validating each event
(JSON → envelope and payload) and encoding its entry data as canonical JSON, is a pure function
of the message's bytes: :func:`encode_raw`. It was about half of the ledger's CPU per event
(docs/BENCHMARKS.md, 2026-11-22), so the service runs it on ``VENOM_LEDGER_ENCODE_WORKERS``
worker processes (default 1; 0 = in the service's own process). The service's process keeps
what must be sequential: the hash chain, the Merkle nodes, the transaction and the
acknowledgements. A batch's next fetch is encoded on a worker while the previous one commits.

Nothing changes in what is recorded or hashed: the worker runs the same ``decode`` and the same
``encode_events`` the service ran in its own process, and an invalid event is rejected with the
same reason (terminated, counted, never recorded).
"""

from __future__ import annotations

import asyncio
import gc
import logging
import multiprocessing
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool

from venom_common.bus import Rejected
from venom_common.events import decode
from venom_common.events.envelope import InvalidEvent
from venom_common.events.payloads import DecisionV1, FlowResultV1, GenomeV1, PulseV1
from venom_ledger.ledger import encode_events
from venom_ledger.store import CanonicalRecord

log = logging.getLogger("venom.ledger.encoder")

#: The event types the ledger records (anything else on its subjects is rejected as unexpected).
RECORDED_TYPES = (PulseV1, FlowResultV1, DecisionV1, GenomeV1)


def encode_raw(payloads: list[bytes]) -> list[CanonicalRecord | Rejected]:
    """One result per message, in order: its entry data as canonical JSON with its event id, or
    why it is not a valid recorded event."""
    results: list[CanonicalRecord | Rejected] = []
    for raw in payloads:
        try:
            event = decode(raw, RECORDED_TYPES)
        except InvalidEvent as exc:
            results.append(Rejected(exc.reason, exc.detail))
            continue
        results.extend(encode_events([event]))
    return results


#: :func:`encode_raw`'s results as they cross the process boundary: the data of each record (``None``
#: for a rejected message), their event ids, and each rejection's position, reason and detail. Lists of
#: bytes and strings pickle ~14x faster than the same results as named tuples (~3 us per event saved,
#: docs/BENCHMARKS.md).
Compact = tuple[list[bytes | None], list[str | None], list[tuple[int, str, str]]]


def encode_compact(payloads: list[bytes]) -> Compact:
    """:func:`encode_raw` in the form a worker sends back (:func:`expand` undoes it)."""
    data: list[bytes | None] = []
    ids: list[str | None] = []
    rejected: list[tuple[int, str, str]] = []
    for i, result in enumerate(encode_raw(payloads)):
        if isinstance(result, Rejected):
            rejected.append((i, result.reason, result.detail))
            data.append(None)
            ids.append(None)
        else:
            data.append(result.data_json)
            ids.append(result.event_id)
    return data, ids, rejected


def expand(compact: Compact) -> list[CanonicalRecord | Rejected]:
    data, ids, rejected = compact
    results: list[CanonicalRecord | Rejected] = list(map(CanonicalRecord, data, ids))  # type: ignore[arg-type]
    for i, reason, detail in rejected:
        results[i] = Rejected(reason, detail)
    return results


def _worker_started() -> None:
    # The worker's objects after its imports live as long as it does: keep them out of the cyclic
    # collector's passes (as the service does, service._freeze_startup_objects).
    gc.collect()
    gc.freeze()


class Encoder:
    """:func:`encode_raw` on ``workers`` processes (``0``: called in this process). Awaitable on a
    batch of raw payloads (the bus's ``decode_batch``). A worker that dies fails the batch it had
    (the bus redelivers it) and the pool is started again for the next one.

    A batch of fewer than ``inline_below`` payloads is encoded in this process all the same: a worker
    round trip costs ~0.4 ms of CPU over the two processes (and as much latency), more than encoding
    a few dozen events, and small fetches mean the ledger keeps up anyway. Workers pay off on a
    backlog, where they run beside the append (docs/BENCHMARKS.md, 2026-11-22)."""

    def __init__(self, workers: int, inline_below: int = 0) -> None:
        if workers < 0:
            raise ValueError(f"workers must be >= 0, got {workers}")
        if inline_below < 0:
            raise ValueError(f"inline_below must be >= 0, got {inline_below}")
        self.workers = workers
        self.inline_below = inline_below
        self.inline_batches = 0  # batches encoded in this process (counted for tests and metrics)
        self._pool: ProcessPoolExecutor | None = None

    def start(self) -> None:
        if self.workers and self._pool is None:
            # spawn, not fork: the service's process has an event loop, threads and open sockets.
            self._pool = ProcessPoolExecutor(self.workers, mp_context=multiprocessing.get_context("spawn"),
                                             initializer=_worker_started)

    async def warm_up(self) -> None:
        """Start the workers now (imports take ~1 s), not on the first batch."""
        self.start()
        if self._pool is not None:
            loop = asyncio.get_running_loop()
            await asyncio.gather(*(loop.run_in_executor(self._pool, encode_compact, []) for _ in range(self.workers)))

    async def __call__(self, payloads: list[bytes]) -> list[CanonicalRecord | Rejected]:
        if not self.workers or len(payloads) < self.inline_below:
            self.inline_batches += 1
            return encode_raw(payloads)
        self.start()
        assert self._pool is not None
        try:
            return expand(await asyncio.get_running_loop().run_in_executor(self._pool, encode_compact, payloads))
        except BrokenProcessPool:
            log.warning("an encoder worker process died; starting the pool again (the batch is redelivered)")
            self.close()
            raise

    def close(self) -> None:
        pool, self._pool = self._pool, None
        if pool is not None:
            pool.shutdown(wait=False, cancel_futures=True)
