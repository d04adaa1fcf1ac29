"""The ledger's encoder on worker processes: the same records as in the service's own process, invalid
events rejected with their reason, and a worker that dies costs one batch (redelivered), not the service."""

from __future__ import annotations

import os
import signal

import pytest

from venom_common.bus import Rejected
from venom_common.events import encode
from venom_ledger.bench import _events
from venom_ledger.encoder import Encoder, encode_raw
from venom_ledger.ledger import encode_events

pytestmark = pytest.mark.integration


def _payloads() -> tuple[list[bytes], list[object]]:
    events = _events(50, "enc")
    raws = [encode(e) for e in events]
    raws[7] = b"{not json"
    raws[20] = raws[20].replace(b'"venom.beat.v1"', b'"venom.nope.v1"')
    raws[33] = b'{"specversion":"1.0"}'
    expected: list[object] = list(encode_events(events))
    for i in (7, 20, 33):
        expected[i] = None
    return raws, expected


async def test_workers_give_the_records_the_service_process_gives() -> None:
    raws, expected = _payloads()
    in_process = await Encoder(0)(raws)
    encoder = Encoder(1)
    try:
        await encoder.warm_up()
        on_worker = await encoder(raws)
    finally:
        encoder.close()
    assert on_worker == in_process == encode_raw(raws)
    for i, result in enumerate(on_worker):
        if expected[i] is None:
            assert isinstance(result, Rejected), i
        else:
            assert result == expected[i], i  # byte for byte the canonical data and the event id
    reasons = {i: r.reason for i, r in enumerate(on_worker) if isinstance(r, Rejected)}
    assert reasons == {7: "not_json", 20: "unknown_type", 33: "envelope"}


async def test_a_dead_worker_fails_one_batch_and_the_next_gets_a_new_one() -> None:
    from concurrent.futures.process import BrokenProcessPool

    raws, _ = _payloads()
    encoder = Encoder(1)
    try:
        await encoder.warm_up()
        assert encoder._pool is not None
        for pid in list(encoder._pool._processes):  # the worker is killed as the OOM killer would
            os.kill(pid, signal.SIGKILL)
        with pytest.raises(BrokenProcessPool):
            for _ in range(20):  # the pool notices the death on its next call at the latest
                await encoder(raws)
        assert await encoder(raws) == encode_raw(raws)  # a fresh pool
    finally:
        encoder.close()


def test_negative_workers_are_refused() -> None:
    with pytest.raises(ValueError):
        Encoder(-1)


async def test_small_batches_are_encoded_in_process_large_ones_on_a_worker() -> None:
    raws, _ = _payloads()
    encoder = Encoder(1, inline_below=10)
    try:
        assert await encoder(raws[:9]) == encode_raw(raws[:9])
        assert encoder.inline_batches == 1 and encoder._pool is None  # no worker was needed
        assert await encoder(raws) == encode_raw(raws)  # 50 payloads: on the worker
        assert encoder.inline_batches == 1 and encoder._pool is not None
    finally:
        encoder.close()
    with pytest.raises(ValueError):
        Encoder(1, inline_below=-1)


def test_the_service_encodes_small_fetches_in_process_by_default() -> None:
    from venom_ledger.settings import LedgerSettings

    settings = LedgerSettings(_env_file=None)
    assert settings.ledger_encode_workers == 1 and settings.ledger_encode_inline_below == 64
