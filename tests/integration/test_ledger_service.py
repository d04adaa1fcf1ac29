"""The ledger service against real NATS (JetStream) and PostgreSQL."""

from __future__ import annotations

import asyncio
import json
import uuid
from typing import Any

import pytest
from prometheus_client import REGISTRY

from venom_common.events import decode, encode, subjects
from venom_common.events.payloads import CheckpointV1
from venom_ledger.domain import merkle
from venom_ledger.domain.checkpoint import verify_signature
from venom_ledger.domain.export import checkpoint_from_json

from .test_ledger_helpers import pulse_event, ledger_settings, running_ledger, wait_until

pytestmark = pytest.mark.integration



async def recorded_ids(run: Any) -> list[str]:
    head = await run.service.store.head()
    return [e.event_id for e in await run.service.store.entries(1, head.tree_size) if e.event_id]


async def test_events_are_recorded_once_checkpointed_and_served(bus, nc, nats_url, postgres_url, unique, tmp_path):
    import httpx

    node = f"n{unique}"
    settings = ledger_settings(nats_url, postgres_url, f"s{unique}", tmp_path, ledger_checkpoint_every=10)
    checkpoints: list[CheckpointV1] = []

    async def on_checkpoint(msg: Any) -> None:
        event = decode(msg.data, CheckpointV1)
        if event.data.chain == settings.ledger_chain:
            checkpoints.append(event.data)

    sub = await nc.subscribe(subjects.LEDGER_CHECKPOINT, cb=on_checkpoint)
    async with running_ledger(settings) as run:
        await wait_until(run.service.ready, what="ledger ready")
        events = [pulse_event(node, i) for i in range(25)]
        for ev in events:
            await bus.publish(subjects.beat(node), ev)
        # The same event id again under a different JetStream message id: past the stream's de-duplication.
        await nc.jetstream().publish(subjects.beat(node), encode(events[3]), headers={"Nats-Msg-Id": uuid.uuid4().hex})
        mine = {ev.id for ev in events}

        async def all_in() -> bool:
            return mine <= set(await recorded_ids(run))

        await wait_until(all_in, what="all events recorded")
        await wait_until(lambda: any(c.tree_size >= 26 for c in checkpoints), what="checkpoint published")
        ids = [i for i in await recorded_ids(run) if i in mine]
        assert len(ids) == len(mine) == 25  # recorded once, the duplicate skipped
        entry = await run.service.store.entry_by_event(events[0].id)
        assert entry.data["id"] == events[0].id and entry.data["data"]["beat"] == 0
        assert "traceparent" not in entry.data

        async with httpx.AsyncClient(base_url=run.url, timeout=10) as http:
            head = (await http.get("/ledger/head")).json()
            assert head["tree_size"] >= 26
            key = (await http.get("/ledger/public-key")).json()
            cp = (await http.get("/ledger/checkpoint")).json()
            assert verify_signature(checkpoint_from_json(cp), key["public_key"])
            assert all(verify_signature(checkpoint_from_json(c.model_dump()), key["public_key"]) for c in checkpoints)
            got = (await http.get(f"/ledger/events/{events[5].id}")).json()
            assert got["index"] == entry.index + 5
            assert (await http.get("/ledger/verify")).json()["ok"] is True
            size = head["tree_size"]
            inc = (await http.get(f"/ledger/proof/inclusion/{entry.index}", params={"size": size})).json()
            assert merkle.verify_inclusion(merkle.leaf_hash(bytes.fromhex(entry.hash)), entry.index, size,
                                           [bytes.fromhex(h) for h in inc["proof"]], bytes.fromhex(head["root_hash"]))
            first_cp = min(c.tree_size for c in checkpoints)
            cons = (await http.get("/ledger/proof/consistency", params={"first": first_cp, "second": size})).json()
            assert merkle.verify_consistency(first_cp, size, bytes.fromhex(cons["first_root"]),
                                             bytes.fromhex(head["root_hash"]), [bytes.fromhex(h) for h in cons["proof"]])
            signed_first = next(c for c in checkpoints if c.tree_size == first_cp)
            assert cons["first_root"] == signed_first.root_hash  # the published checkpoint is a prefix of today's tree
            page = (await http.get("/ledger/entries", params={"start": entry.index, "limit": 5})).json()["entries"]
            assert [e["index"] for e in page] == list(range(entry.index, entry.index + 5))
            manifest = (await http.get("/ledger/manifest")).json()
            assert manifest["hash_algorithm"] == "SHA3-256" and manifest["public_key"] == key["public_key"]
            assert (await http.get("/ledger/entries", params={"limit": 5000})).status_code == 422
            assert (await http.get("/ledger/entries/999999999")).status_code == 404
            assert (await http.get("/ledger/proof/inclusion/5", params={"size": 3})).status_code == 400
            assert (await http.get("/readyz")).status_code == 200
            assert (await http.post("/ledger/entries", json={})).status_code == 405  # read-only
    await sub.unsubscribe()


async def test_malformed_events_are_rejected_counted_and_never_block(bus, nc, nats_url, postgres_url, unique, tmp_path):
    node = f"n{unique}"
    settings = ledger_settings(nats_url, postgres_url, f"m{unique}", tmp_path)

    def ledger_rejected(reason: str) -> float:
        return REGISTRY.get_sample_value("venom_ledger_events_rejected_total", {"reason": reason}) or 0.0

    before = {r: ledger_rejected(r) for r in ("not_json", "payload", "unexpected_type", "envelope")}
    async with running_ledger(settings) as run:
        await wait_until(run.service.ready, what="ledger ready")
        js = nc.jetstream()
        good_before = pulse_event(node, 1)
        await bus.publish(subjects.beat(node), good_before)
        await js.publish(subjects.beat(node), b"{not json")
        bad_payload = json.loads(encode(pulse_event(node, 2)))
        bad_payload["data"]["t_lambda_s"] = -1
        await js.publish(subjects.beat(node), json.dumps(bad_payload).encode())
        from venom_common.events import make_event
        from venom_common.events.payloads import AlertV1

        alert = make_event(AlertV1(node=node, beat=1, action="ALERT", threat=0.9, reason="x", decision_id="d"),
                           source="/venom/x/arbiter")
        await js.publish(subjects.beat(node), encode(alert))  # a valid event of a kind the ledger does not record
        no_envelope = json.loads(encode(pulse_event(node, 3)))
        del no_envelope["id"]
        await js.publish(subjects.decision(node), json.dumps(no_envelope).encode())
        good_after = pulse_event(node, 4)
        await bus.publish(subjects.beat(node), good_after)

        async def both_good() -> bool:
            return {good_before.id, good_after.id} <= set(await recorded_ids(run))

        await wait_until(both_good, what="valid events after the malformed ones recorded")
        await wait_until(lambda: all(ledger_rejected(r) >= before[r] + 1 for r in before), what="rejections counted")
        head = await run.service.store.head()
        recorded = await run.service.store.entries(0, head.tree_size)
        assert not any(e.data.get("type") == AlertV1.EVENT_TYPE for e in recorded)
        assert not any(e.data.get("data", {}).get("beat") in (2, 3) and e.data.get("data", {}).get("node") == node
                       for e in recorded)
        assert (await run.service.ledger.verify_chain()).ok
        await asyncio.sleep(2.5)  # past ack_wait: terminated messages must not come back
        info = await js.consumer_info("VENOM_EVENTS", f"ledger-{settings.ledger_chain}")
        assert info.num_ack_pending == 0
