"""The arbiter against real NATS and real organ services (in-process)."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import pytest
from prometheus_client import REGISTRY

from venom_arbiter.service import quarantine_status
from venom_common.bus import Bus
from venom_common.events import make_event, subjects
from venom_common.events.payloads import InjectDataV1

from support.beat import metrics, node_events, organs, publish_metrics, run_arbiter

pytestmark = pytest.mark.integration



async def test_each_beat_publishes_pulse_four_flows_decision_genome(bus: Bus, nats_url: str, tmp_path: Path,
                                                                   unique: str) -> None:
    node = f"n{unique}"
    anoms = [0, 1, 5, 20, 40, 2]
    await publish_metrics(bus, node, anoms)
    async with organs(nats_url, tmp_path):
        await run_arbiter(nats_url, node, beats=len(anoms))
    events = await node_events(bus, node)
    by_type: dict[str, list[Any]] = {}
    for e in events:
        by_type.setdefault(e.type, []).append(e)
    assert [e.data.beat for e in by_type["venom.beat.v1"]] == list(range(6))
    assert len(by_type["venom.flow.v1"]) == 24
    assert all(e.data.result.kind != "error" for e in by_type["venom.flow.v1"])
    decisions = [e.data for e in by_type["venom.decision.v1"]]
    assert [d.beat for d in decisions] == list(range(6))
    # 40 anoms → sigmoid(0.12·40) = 0.992 → QUARANTINE; 20 → 0.917 → QUARANTINE; 5 → 0.6457 → ALERT
    assert [d.action for d in decisions][2:5] == ["ALERT", "QUARANTINE", "QUARANTINE"]
    assert decisions[2].vector.threat == pytest.approx(0.6457, abs=5e-5)
    genomes = [e.data for e in by_type["venom.genome.v1"]]
    assert all(abs(sum(g.weights.model_dump().values()) - 1) < 1e-9 for g in genomes)
    assert genomes[0].pid.delta_v == pytest.approx(-0.015789, abs=1e-6)
    alerts = by_type["venom.alert.v1"]
    assert [a.data.action for a in alerts] == ["ALERT", "QUARANTINE", "QUARANTINE"]
    status = await quarantine_status(bus, node)
    assert status is not None and status["beat"] == 3 and "threat" in status["reason"]


async def test_the_detectors_graded_level_reaches_the_entropy_model(bus: Bus, nats_url: str, tmp_path: Path,
                                                                   unique: str) -> None:
    """F-ML-1/F-ML-3: the agent's anomaly_level (anoms is its integer part) is what the entropy model scores."""
    node = f"l{unique}"
    sample = metrics(node, 0, 4).model_copy(update={"anomaly_level": 4.9})
    await bus.publish(subjects.metrics(node), make_event(sample, source=f"/venom/{node}/t"))
    async with organs(nats_url, tmp_path):
        await run_arbiter(nats_url, node, beats=1)
    decision = [e.data for e in await node_events(bus, node, ("decision",))][0]
    assert decision.evidence["anoms"] == 4 and decision.evidence["anomaly_level"] == pytest.approx(4.9)
    assert decision.vector.threat == pytest.approx(1 / (1 + math.exp(-0.12 * 4.9)), abs=5e-5)  # 0.6429, not 0.6177


async def test_missing_organ_is_an_error_result_and_the_beat_completes(bus: Bus, nats_url: str, tmp_path: Path,
                                                                      unique: str) -> None:
    node = f"n{unique}"
    await publish_metrics(bus, node, [0, 0])
    async with organs(nats_url, tmp_path, which=("regen", "balance", "optimize")):
        # The three running organs must all answer within the deadline (failed_organs below names entropy
        # alone): 2 s, not 100 ms nor 1 s, which a CPU-starved machine stalled for a second can miss. Only
        # beat 0 waits it out.
        await run_arbiter(nats_url, node, beats=2, organ_deadline_ms=2000)
    flows = [e.data for e in await node_events(bus, node, ("flow",))]
    entropy = sorted((f for f in flows if f.organ == "entropy"), key=lambda f: f.beat)
    assert len(entropy) == 2 and all(f.result.kind == "error" for f in entropy)
    # beat 0 asked the four organs in one request: no entropy answer by the deadline; beat 1 asked entropy
    # alone, and NATS said at once that nothing listens
    assert "no answer within 2000 ms" in entropy[0].result.error
    assert "no entropy organ is running" in entropy[1].result.error
    decisions = [e.data for e in await node_events(bus, node, ("decision",))]
    assert [d.beat for d in decisions] == [0, 1]
    assert decisions[0].evidence["failed_organs"] == "entropy"


async def test_inject_data_applies_valid_and_refuses_absurd(bus: Bus, nats_url: str, tmp_path: Path, unique: str) -> None:
    node = f"n{unique}"
    await bus.publish(subjects.command(node, "inject"),
                      make_event(InjectDataV1(node=node, anoms=5, ml_weight=0.12), source="/t"))
    bad = make_event(InjectDataV1(node=node, anoms=1), source="/t")
    raw = bad.model_dump_json().replace('"anoms":1', '"anoms":-3').encode()
    await bus.js.publish(subjects.command(node, "inject"), raw)
    before = REGISTRY.get_sample_value("venom_events_rejected_total", {"reason": "payload"}) or 0
    await publish_metrics(bus, node, [0] * 20)
    async with organs(nats_url, tmp_path):
        await run_arbiter(nats_url, node, beats=20)
    genomes = [e.data for e in await node_events(bus, node, ("genome",))]
    risks = [g.risk_anoms for g in genomes]
    first = risks.index(5)  # applied at the next beat after the command arrived, and kept
    assert set(risks[:first]) <= {0} and set(risks[first:]) == {5}
    decisions = [e.data for e in await node_events(bus, node, ("decision",))]
    assert decisions[first].vector.threat == pytest.approx(0.6457, abs=5e-5)  # 0 observed + 5 risk anoms
    assert decisions[first].action == "ALERT"
    after = REGISTRY.get_sample_value("venom_events_rejected_total", {"reason": "payload"}) or 0
    assert after == before + 1


async def test_without_tracing_a_beat_sends_no_trace_headers_and_keeps_its_message_ids(
        bus: Bus, nats_url: str, tmp_path: Path, unique: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """When no span can be recorded (no exporter; this test session has one, so the services are told so):
    organ requests go without headers, and every stored event still carries its id as Nats-Msg-Id
    (JetStream's duplicate window drops a re-sent beat's copies by it)."""
    from nats.js import api as js_api

    import venom_arbiter.service
    import venom_common.bus
    from venom_common.events import decode
    from venom_common.streams import EVENTS

    monkeypatch.setattr(venom_arbiter.service, "spans_may_record", lambda: False)  # the pulse span
    monkeypatch.setattr(venom_common.bus, "spans_may_record", lambda: False)  # the bus's, both services
    node = f"h{unique}"
    await publish_metrics(bus, node, [0, 3])
    seen: list[Any] = []

    async def watch(msg: Any) -> None:  # a plain subscriber (no queue group) sees every request too
        if decode(msg.data).data.node == node:
            seen.append(msg)

    spy = await bus.nc.subscribe(subjects.ORGANS_REQUEST, cb=watch)
    try:
        async with organs(nats_url, tmp_path):
            await run_arbiter(nats_url, node, beats=2)
    finally:
        await spy.unsubscribe()
    assert len(seen) == 2 and all(not m.headers for m in seen)
    sub = await bus.js.subscribe(f"venom.*.{node}.>", ordered_consumer=True, stream=EVENTS.name,
                                 deliver_policy=js_api.DeliverPolicy.ALL)
    sub_top = await bus.js.subscribe(f"venom.*.{node}", ordered_consumer=True, stream=EVENTS.name,
                                     deliver_policy=js_api.DeliverPolicy.ALL)
    try:
        stored = [await sub.next_msg(timeout=20) for _ in range(8)]  # four flows per beat
        stored += [await sub_top.next_msg(timeout=20) for _ in range(6)]  # pulse, decision, genome per beat
    finally:
        await sub.unsubscribe()
        await sub_top.unsubscribe()
    for msg in stored:
        assert msg.headers["Nats-Msg-Id"] == decode(msg.data).id
        assert "traceparent" not in msg.headers


async def test_an_organ_missing_the_one_request_is_asked_alone_then_together_again(
        bus: Bus, nats_url: str, tmp_path: Path, unique: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """An entropy organ that only answers venom.organ.entropy (an organ service from before venom.organs):
    beat 0 asks the four organs together and gets no entropy answer by the deadline; the next SOLO_BEATS
    beats ask entropy alone (answered); then together again (missed again, and so on)."""
    import venom_arbiter.service
    from venom_common.events import decode, encode
    from venom_common.events.payloads import EntropyResult, FlowResultV1, OrganRequestV1

    monkeypatch.setattr(venom_arbiter.service, "SOLO_BEATS", 2)
    node = f"n{unique}"

    async def entropy_alone(msg: Any) -> None:
        request: OrganRequestV1 = decode(msg.data, OrganRequestV1).data
        flow = FlowResultV1(node=request.node, beat=request.beat, organ="entropy", replica="old", elapsed_ms=0.1,
                            result=EntropyResult(threat_score=0.1, explanation="old", model_version="seed",
                                                 threats=[], vulnerabilities=[], defended=0))
        await msg.respond(encode(make_event(flow, source="/old")))

    sub = await bus.nc.subscribe(subjects.organ_request("entropy"), queue="organ-entropy", cb=entropy_alone)
    await bus.nc.flush()
    try:
        await publish_metrics(bus, node, [0] * 6)
        async with organs(nats_url, tmp_path, which=("regen", "balance", "optimize")):
            # Beats 0 and 3 wait the whole deadline for entropy; it stays generous so that the organs that do
            # answer are never late on a loaded CI machine (150 ms was, once; stalls of ~1 s are seen there).
            await run_arbiter(nats_url, node, beats=6, organ_deadline_ms=2000)
    finally:
        await sub.unsubscribe()
    flows = [e.data for e in await node_events(bus, node, ("flow",))]
    entropy = {f.beat: f for f in flows if f.organ == "entropy"}
    assert [entropy[b].replica for b in range(6)] == [None, "old", "old", None, "old", "old"]
    assert all(f.result.kind == "regen" for f in flows if f.organ == "regen")
