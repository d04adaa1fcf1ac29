"""Bad input to the arbiter: malformed metrics, malformed / stale / duplicate organ results — counted and
ignored; the arbiter never crashes and never counts a beat twice."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import pytest
from prometheus_client import REGISTRY

from venom_common.bus import Bus
from venom_common.events import decode, encode, make_event, subjects
from venom_common.events.payloads import FlowResultV1, OrganBeatRequestV1, OrganRequestV1, RegenResult
from venom_common.settings import VenomSettings

from support.beat import metrics, node_events, organs, publish_metrics, run_arbiter
from support.waiting import until

pytestmark = pytest.mark.integration


def ignored(why: str) -> float:
    return REGISTRY.get_sample_value("venom_organ_results_ignored_total", {"why": why}) or 0.0


def rejected(reason: str) -> float:
    return REGISTRY.get_sample_value("venom_events_rejected_total", {"reason": reason}) or 0.0


async def test_rogue_answers_are_counted_and_ignored(nats_url: str, tmp_path: Path, unique: str) -> None:
    node = f"n{unique}"
    bus = await Bus.connect(VenomSettings(nats_url=nats_url, node_id="t"), "test")
    await bus.ensure_streams()
    before = {w: ignored(w) for w in ("duplicate", "unknown_or_stale", "invalid", "mismatch")}

    held: list[tuple[str, bytes]] = []

    async def rogue(msg: Any) -> None:
        request: OrganBeatRequestV1 = decode(msg.data, OrganBeatRequestV1).data
        if request.node != node:
            return
        good = FlowResultV1(node=node, beat=request.beat, organ="regen", replica="rogue", elapsed_ms=0.1,
                            result=RegenResult(urgency=0.0, cost=0, issues=[], quarantined=[], improved=[],
                                               reinvested_mb=0))
        stale = good.model_copy(update={"beat": request.beat + 1000})
        await asyncio.sleep(0.005)  # after the real regen organ answered
        if request.beat == 0:  # beat 0's second answer comes three beats later: still a duplicate
            held.append((msg.reply, encode(make_event(good, source="/rogue"))))
        else:
            await msg.respond(encode(make_event(good, source="/rogue")))  # a second answer for the beat
        if request.beat == 3:
            for reply, data in held:
                await bus.nc.publish(reply, data)
        await bus.nc.publish(msg.reply.rsplit(".", 1)[0] + f".{request.beat + 1000}",
                             encode(make_event(stale, source="/rogue")))  # a result for a beat never asked
        await msg.respond(b'{"not": "an event"}')  # malformed
        await bus.nc.publish(msg.reply, encode(make_event(good.model_copy(update={"node": "other"}), source="/r")))
        # a result for another beat on this beat's reply subject, and one for another organ asked alone
        await bus.nc.publish(msg.reply, encode(make_event(good.model_copy(update={"beat": request.beat + 1}),
                                                          source="/r")))
        await bus.nc.publish(f"{msg.reply}.entropy", encode(make_event(good, source="/r")))

    def all_counted() -> bool:
        return (ignored("invalid") >= before["invalid"] + 4
                and ignored("unknown_or_stale") >= before["unknown_or_stale"] + 4
                and ignored("mismatch") >= before["mismatch"] + 12
                and ignored("duplicate") + ignored("late") >= before["duplicate"] + 4)

    sub = await bus.nc.subscribe(subjects.ORGANS_REQUEST, cb=rogue)  # no queue group: sees every request
    await bus.nc.flush()
    try:
        await publish_metrics(bus, node, [0, 1, 2, 3])
        async with organs(nats_url, tmp_path):
            # The default (generous) organ deadline, not 200 ms: an organ that misses it is asked alone for the
            # next beats, and after a stall that made all four miss, no beat would ask on venom.organs, the one
            # subject the rogue answers. The last beat's rogue answers are waited for while the arbiter still
            # listens (not raced against its shutdown).
            await run_arbiter(nats_url, node, beats=4, before_stop=lambda: until(all_counted))
    finally:
        await sub.unsubscribe()
    decisions = [e.data.beat for e in await node_events(bus, node, ("decision",))]
    flows = [e.data for e in await node_events(bus, node, ("flow",))]
    await bus.drain()
    assert decisions == [0, 1, 2, 3]
    assert sorted((f.beat, f.organ) for f in flows) == sorted((b, o) for b in range(4) for o in subjects.ORGANS)
    assert ignored("invalid") >= before["invalid"] + 4
    assert ignored("unknown_or_stale") >= before["unknown_or_stale"] + 4
    assert ignored("mismatch") >= before["mismatch"] + 12
    # the real organ or the rogue answered first; the other answer of each beat is a duplicate (or late), also
    # beat 0's, sent three beats after it
    assert ignored("duplicate") + ignored("late") >= before["duplicate"] + 4


async def test_malformed_metrics_are_rejected_and_beats_continue(nats_url: str, tmp_path: Path, unique: str) -> None:
    node = f"n{unique}"
    bus = await Bus.connect(VenomSettings(nats_url=nats_url, node_id="t"), "test")
    await bus.ensure_streams()
    before_payload, before_json, before_nan = rejected("payload"), rejected("not_json"), rejected("non_finite")
    await publish_metrics(bus, node, [0])
    good = json.loads(encode(make_event(metrics(node, 1, 2), source="/t")))
    await bus.js.publish(subjects.metrics(node), b"\x00garbage")
    await bus.js.publish(subjects.metrics(node), json.dumps({**good, "id": "m-bad", "data": {**good["data"], "anoms": -1}}).encode())
    await bus.js.publish(subjects.metrics(node), encode(make_event(metrics(node, 2, 3), source="/t")).replace(b'"cpu_percent":40.0', b'"cpu_percent":NaN'))
    await publish_metrics(bus, node, [4])
    async with organs(nats_url, tmp_path):
        await run_arbiter(nats_url, node, beats=2)
    pulses = [e.data for e in await node_events(bus, node, ("beat",))]
    await bus.drain()
    assert [p.beat for p in pulses] == [0, 1]
    assert rejected("payload") == before_payload + 1
    assert rejected("not_json") == before_json + 1
    assert rejected("non_finite") == before_nan + 1


async def test_late_organ_is_an_error_result_and_its_late_answer_is_ignored(nats_url: str, tmp_path: Path,
                                                                           unique: str) -> None:
    node = f"n{unique}"
    bus = await Bus.connect(VenomSettings(nats_url=nats_url, node_id="t"), "test")
    await bus.ensure_streams()
    late_before = ignored("late") + ignored("unknown_or_stale")

    async def slow_entropy(msg: Any) -> None:
        request: OrganRequestV1 | OrganBeatRequestV1 = decode(msg.data, (OrganRequestV1, OrganBeatRequestV1)).data
        await asyncio.sleep(0.3)  # past the 100 ms deadline
        flow = FlowResultV1(node=request.node, beat=request.beat, organ="entropy", replica="slow", elapsed_ms=300,
                            result=RegenResult(urgency=0, cost=0, issues=[], quarantined=[], improved=[],
                                               reinvested_mb=0))
        await msg.respond(encode(make_event(flow, source="/slow")))

    # an entropy organ that answers late, whether asked with the others or (after its first miss) alone
    sub = await bus.nc.subscribe(subjects.ORGANS_REQUEST, queue="organ-entropy", cb=slow_entropy)
    sub_alone = await bus.nc.subscribe(subjects.organ_request("entropy"), queue="organ-entropy", cb=slow_entropy)
    await bus.nc.flush()
    try:
        await publish_metrics(bus, node, [0, 0])
        async with organs(nats_url, tmp_path, which=("regen", "balance", "optimize")):
            # The last beat's late answer comes 0.3 s after its request: it is waited for while the arbiter
            # still listens, instead of counting on the arbiter's shutdown taking longer than that.
            await run_arbiter(nats_url, node, beats=2, organ_deadline_ms=100,
                              before_stop=lambda: until(
                                  lambda: ignored("late") + ignored("unknown_or_stale") >= late_before + 2))
    finally:
        await sub.unsubscribe()
        await sub_alone.unsubscribe()
    flows = [e.data for e in await node_events(bus, node, ("flow",))]
    await bus.drain()
    entropy = [f for f in flows if f.organ == "entropy"]
    assert [f.result.kind for f in entropy] == ["error", "error"]
    assert all("no answer within 100 ms" in f.result.error for f in entropy)
    assert ignored("late") + ignored("unknown_or_stale") >= late_before + 2


async def test_a_fault_in_the_beat_stops_the_arbiter_instead_of_retrying_forever(nats_url: str, tmp_path: Path,
                                                                                  unique: str) -> None:
    import venom_arbiter.service as service_module

    node = f"n{unique}"
    bus = await Bus.connect(VenomSettings(nats_url=nats_url, node_id="t"), "test")
    await bus.ensure_streams()
    await publish_metrics(bus, node, [0, 0, 0])
    original = service_module.decide
    calls = 0

    def broken(vector: Any) -> Any:
        nonlocal calls
        calls += 1
        if calls == 2:
            raise ZeroDivisionError("a bug in the rules")
        return original(vector)

    service_module.decide = broken
    try:
        async with organs(nats_url, tmp_path):
            svc = await run_arbiter(nats_url, node, beats=3)
    finally:
        service_module.decide = original
    decisions = [e.data.beat for e in await node_events(bus, node, ("decision",))]
    await bus.drain()
    assert svc.failed and decisions == [0] and calls == 2  # beat 1 was not retried forever nor half-stored
