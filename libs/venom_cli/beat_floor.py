"""The message floor of a beat: what one beat's messages cost on this machine when nothing else is done.

``venom bench beats`` measures the real services and then, on the same servers, this raw baseline
(``floor_*`` in its output; ``--floor-duration 0`` skips it). Standalone, on an embedded nats-server:
``python -m venom_cli.beat_floor --duration 10``.

The same processes exchange the same messages per beat as in ``venom bench beats``, with no work at all:

* **arbiter** (one process): asks the organs once per beat (core NATS request, answered by four queue
  groups), waits for the four replies, then publishes the beat's seven events to JetStream, each with its
  acknowledgement awaited in the background (at most ``--depth`` beats' events unacknowledged), as the
  arbiter does by default; with ``--atomic``, as one atomic batch with one acknowledgement (the arbiter's
  ``VENOM_ATOMIC_BATCHES``). Beats of one node are serial through the organ round trip, as the arbiter's
  are (beat n + 1's request needs beat n's results).
* **organs** (four processes): each answers every request with one reply.
* **ledger** (one process): the project's durable pull consumer (``Bus.consume``, the ledger's own path:
  fetches of up to 500, one write of acknowledgements per fetch) with a handler that stores nothing.
* **nats-server** with JetStream (file storage), as the embedded server.

Payloads are bytes of the real events' sizes; no validation, encoding, database, spans or metrics. The
arbiter and organs use nats-py directly on uvloop, as the services do. Prints JSON: the beats/s reached
at full speed, the organ round trip, and the CPU per beat of each process (the ledger's and the server's
until the ledger has consumed every event).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing
import os
import queue
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

REQUEST = b"r" * 600  # an OrganBeatRequestV1 with its features and genome (608 bytes in the arbiter's)
REPLY = b"o" * 500  # a FlowResultV1 reply (430-604 bytes, by organ)
EVENT = b"e" * 500  # a recorded event (PulseV1 ~0.5 kB)
EVENTS_PER_BEAT = 7  # pulse, four flow results, decision, genome update
ORGANS = ("regen", "balance", "entropy", "optimize")


def _run(coro: Any) -> None:
    try:
        import uvloop
    except ImportError:  # pragma: no cover - the project installs it on Linux
        asyncio.run(coro)
    else:
        uvloop.run(coro)


def organ(url: str, prefix: str, group: str, ready: Any) -> None:
    async def main() -> None:
        import nats

        nc = await nats.connect(url)

        async def answer(msg: Any) -> None:
            await nc.publish(msg.reply, REPLY)

        await nc.subscribe(f"{prefix}.organs", queue=group, cb=answer)
        await nc.flush()
        ready.set()
        await asyncio.Event().wait()

    _run(main())


def ledger(url: str, prefix: str, stream: str, ready: Any, counter: Any) -> None:
    async def main() -> None:
        from venom_common.bus import Bus
        from venom_common.settings import VenomSettings

        bus = await Bus.connect(VenomSettings(nats_url=url, node_id="floor"), "floor-ledger")

        async def nothing(batch: list[Any]) -> None:
            with counter.get_lock():
                counter.value += len(batch)

        async def as_is(payloads: list[bytes]) -> list[bytes]:
            return payloads

        await bus.consume(stream=stream, durable="floor-ledger", subjects=[f"{prefix}.ev.>"], batch_handler=nothing,
                          decode_batch=as_is, batch=500)
        ready.set()
        await asyncio.Event().wait()

    _run(main())


async def _arbiter(url: str, prefix: str, duration: float, depth: int, atomic: bool) -> dict[str, Any]:
    import nats

    nc = await nats.connect(url)
    loop = asyncio.get_running_loop()
    inbox = nc.new_inbox()
    waiting: dict[str, list[Any]] = {}

    async def on_reply(msg: Any) -> None:
        entry = waiting.get(msg.subject)
        if entry is not None:
            entry[0] -= 1
            if entry[0] == 0 and not entry[1].done():
                entry[1].set_result(None)

    await nc.subscribe(f"{inbox}.*", cb=on_reply)
    ack_inbox = nc.new_inbox()
    unacked: dict[str, asyncio.Future[None]] = {}
    refused = 0

    async def on_ack(msg: Any) -> None:
        nonlocal refused
        if b'"error"' in msg.data:
            refused += 1
        future = unacked.pop(msg.subject, None)
        if future is not None and not future.done():
            future.set_result(None)

    await nc.subscribe(f"{ack_inbox}.*", cb=on_ack)
    await nc.flush()
    kinds = ["pulse", *ORGANS, "decision", "genome"]
    beats = 0
    round_trips: list[float] = []
    cpu_start = time.process_time()  # this process's CPU from here on (not its start-up)
    start = time.perf_counter()
    end = start + duration
    while time.perf_counter() < end:
        reply = f"{inbox}.{beats}"
        answered = loop.create_future()
        waiting[reply] = [len(ORGANS), answered]
        sent = time.perf_counter()
        await nc.publish(f"{prefix}.organs", REQUEST, reply=reply)
        await asyncio.wait_for(answered, 5.0)
        round_trips.append(time.perf_counter() - sent)
        del waiting[reply]
        batch_id = uuid.uuid4().hex
        for n, kind in enumerate(kinds, 1):
            if not atomic:  # as the arbiter by default: one publish and one ack per event
                ack = f"{ack_inbox}.{beats}-{n}"
                unacked[ack] = loop.create_future()
                await nc.publish(f"{prefix}.ev.{kind}", EVENT, reply=ack, headers={"Nats-Msg-Id": f"{batch_id}-{n}"})
                continue
            headers = {"Nats-Msg-Id": f"{batch_id}-{n}", "Nats-Batch-Id": batch_id, "Nats-Batch-Sequence": str(n)}
            if n < len(kinds):
                await nc.publish(f"{prefix}.ev.{kind}", EVENT, headers=headers)
            else:
                headers["Nats-Batch-Commit"] = "1"
                ack = f"{ack_inbox}.{beats}"
                unacked[ack] = loop.create_future()
                await nc.publish(f"{prefix}.ev.{kind}", EVENT, reply=ack, headers=headers)
        beats += 1
        if len(unacked) >= depth * (1 if atomic else len(kinds)):
            await asyncio.wait(list(unacked.values()), return_when=asyncio.FIRST_COMPLETED)
    elapsed = time.perf_counter() - start
    if unacked:
        await asyncio.wait(list(unacked.values()), timeout=10)
    await nc.drain()
    cpu_s = time.process_time() - cpu_start
    round_trips.sort()
    return {"beats": beats, "elapsed_s": elapsed, "cpu_s": cpu_s, "refused_batches": refused,
            "organ_round_trip_ms_p50": round(round_trips[len(round_trips) // 2] * 1e3, 3),
            "organ_round_trip_ms_p99": round(round_trips[int(len(round_trips) * 0.99)] * 1e3, 3)}


def arbiter(url: str, prefix: str, duration: float, depth: int, atomic: bool, out: Any) -> None:
    result: dict[str, Any] = {}

    async def main() -> None:
        result.update(await _arbiter(url, prefix, duration, depth, atomic))

    _run(main())
    out.put(result)


async def _stream(url: str, prefix: str, stream: str, create: bool) -> None:
    import nats
    from nats.js import api as js_api

    nc = await nats.connect(url)
    try:
        js = nc.jetstream()
        if create:
            await js.add_stream(js_api.StreamConfig(name=stream, subjects=[f"{prefix}.ev.>"],
                                                    storage=js_api.StorageType.FILE, allow_atomic=True))
        else:
            await js.delete_stream(stream)
    finally:
        await nc.close()


def run_floor(nats_url: str, duration: float = 10.0, depth: int = 8, atomic: bool = False,
              server_pid: int | None = None) -> dict[str, Any]:
    """Run the floor against the nats-server at ``nats_url`` for ``duration`` seconds at full speed (its own
    stream and subjects, deleted afterwards). ``server_pid``: the server's process, for its CPU per beat.
    Blocking; it runs its own event loop (call it from a thread inside one)."""
    from venom_common.cpu import CpuMeter

    if duration <= 0 or depth < 1:
        raise ValueError("duration must be > 0 and depth >= 1")
    ctx = multiprocessing.get_context("spawn")
    run_id = uuid.uuid4().hex[:8]
    prefix, stream = f"floor{run_id}", f"FLOOR_{run_id}"
    asyncio.run(_stream(nats_url, prefix, stream, create=True))
    procs: dict[str, Any] = {}
    try:
        counter = ctx.Value("q", 0)
        readies = []
        for name in ORGANS:
            ready = ctx.Event()
            procs[name] = ctx.Process(target=organ, args=(nats_url, prefix, name, ready), daemon=True)
            readies.append(ready)
        ready = ctx.Event()
        procs["ledger"] = ctx.Process(target=ledger, args=(nats_url, prefix, stream, ready, counter), daemon=True)
        readies.append(ready)
        for p in procs.values():
            p.start()
        for r in readies:
            if not r.wait(90):
                raise RuntimeError("a floor process did not start in 90 s")
        groups: dict[str, list[int | None]] = {"organs": [procs[name].pid for name in ORGANS],
                                               "ledger": [procs["ledger"].pid]}
        if server_pid is not None:
            groups["nats-server"] = [server_pid]
        meter = CpuMeter(groups)
        meter.start()
        out = ctx.Queue()
        procs["arbiter"] = ctx.Process(target=arbiter, args=(nats_url, prefix, duration, depth, atomic, out), daemon=True)
        procs["arbiter"].start()
        try:
            result = out.get(timeout=duration + 120)
        except queue.Empty:
            raise RuntimeError(f"the floor's arbiter gave no result (exit code {procs['arbiter'].exitcode})") from None
        beats = result.pop("beats")
        deadline = time.monotonic() + 30
        while counter.value < beats * EVENTS_PER_BEAT and time.monotonic() < deadline:
            time.sleep(0.05)
        used = meter.used_s()
        del used["machine"]
        used["arbiter"] = result.pop("cpu_s")  # measured by the arbiter itself: it has exited by now
        return {
            "beats_per_s": round(beats / result.pop("elapsed_s"), 1),
            "beats": beats,
            **result,
            "events_consumed": counter.value,
            "events_expected": beats * EVENTS_PER_BEAT,
            "cpu_ms_per_beat": {name: round(v / max(beats, 1) * 1e3, 3) for name, v in sorted(used.items())},
            "cpu_ms_per_beat_total": round(sum(used.values()) / max(beats, 1) * 1e3, 3),
            "atomic_batches": atomic,
            "depth": depth,
        }
    finally:
        for p in procs.values():
            if p.is_alive():
                p.kill()
        for p in procs.values():
            p.join(5)
        try:
            asyncio.run(_stream(nats_url, prefix, stream, create=False))
        except Exception:  # noqa: BLE001 - a leftover scratch stream; the run's figures stand
            pass


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--duration", type=float, default=10.0, help="seconds at full speed")
    parser.add_argument("--depth", type=int, default=8, help="beats whose events may be unacknowledged")
    parser.add_argument("--atomic", action="store_true",
                        help="a beat's events as one atomic batch (VENOM_ATOMIC_BATCHES; off by default, as there)")
    args = parser.parse_args()

    from venom_common.embedded import EmbeddedNats

    with tempfile.TemporaryDirectory(prefix="venom-floor-") as tmp:
        server = EmbeddedNats(Path(tmp) / "nats").start()
        try:
            load_before = os.getloadavg()[0]
            result = run_floor(server.url, args.duration, args.depth, args.atomic, server_pid=server.pid)
            print(json.dumps({**result, "cores": os.cpu_count(), "load_before": round(load_before, 2)}, indent=2))
        finally:
            server.stop()


if __name__ == "__main__":
    main()
