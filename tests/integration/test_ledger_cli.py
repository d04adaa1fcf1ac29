"""`venom ledger …` against a running ledger service; `verify --offline` on its export."""

from __future__ import annotations

import asyncio
import json
import os
from typing import Any

import pytest
from typer.testing import CliRunner

from venom_cli.ledger_cmd import ledger_app
from venom_common.bus import Bus
from venom_common.events import subjects
from venom_common.settings import VenomSettings
from venom_ledger.domain.checkpoint import parse_private_key, public_key_raw
from venom_ledger.store import EntryNotFound

from .test_ledger_helpers import ledger_settings, pulse_event, running_ledger, wait_until

pytestmark = pytest.mark.integration


async def cli(*args: str) -> Any:
    return await asyncio.to_thread(CliRunner().invoke, ledger_app, list(args))


async def test_cli_reads_proves_exports_and_verifies_offline(nats_url, postgres_url, unique, tmp_path):
    node = f"n{unique}"
    key_hex = os.urandom(32).hex()
    settings = ledger_settings(nats_url, postgres_url, f"c{unique}", tmp_path, ledger_checkpoint_every=5,
                               ledger_signing_key=key_hex)
    bus = await Bus.connect(VenomSettings(nats_url=nats_url, node_id="test"), "test-publisher")
    try:
        async with running_ledger(settings) as run:
            await wait_until(run.service.ready, what="ledger ready")
            events = [pulse_event(node, i) for i in range(12)]
            for ev in events:
                await bus.publish(subjects.beat(node), ev)

            async def checkpointed() -> bool:
                cp = await run.service.store.latest_checkpoint()
                if cp is None:
                    return False
                try:  # the chain may first record what other tests left in the stream
                    entry = await run.service.store.entry_by_event(events[-1].id)
                except EntryNotFound:
                    return False
                return cp.head.tree_size > entry.index

            await wait_until(checkpointed, what="the last event under a checkpoint")
            last = (await run.service.store.entry_by_event(events[-1].id)).index
            first = (await run.service.store.entry_by_event(events[0].id)).index
            url = ["--url", run.url]

            head = await cli("head", "--json", *url)
            assert head.exit_code == 0, head.output
            assert json.loads(head.stdout)["tree_size"] > last

            shown = await cli("show", str(first), "--json", *url)
            assert json.loads(shown.stdout)["data"]["id"] == events[0].id

            proof = await cli("proof", str(first), "--size", str(last + 1), "--json", *url)
            assert proof.exit_code == 0 and json.loads(proof.stdout)["verified_locally"] is True

            assert (await cli("verify", *url)).exit_code == 0
            pub = await cli("public-key", *url)
            assert pub.stdout.strip() == public_key_raw(parse_private_key(key_hex)).hex()

            out = tmp_path / "export.json"
            exported = await cli("export", "--from", str(first), "--to", str(last), "-o", str(out), "--json", *url)
            assert exported.exit_code == 0, exported.output
            assert json.loads(exported.stdout)["to"] == last

            missing = await cli("show", "99999999", *url)
            assert missing.exit_code == 2 and "no entry" in missing.stderr
    finally:
        await bus.drain()

    # Offline: no service, no database.
    ok = await cli("verify", "--offline", str(out), "--public-key", pub.stdout.strip(), "--json")
    assert ok.exit_code == 0, ok.output
    assert json.loads(ok.stdout)["ok"] is True

    doc = json.loads(out.read_text())
    doc["entries"][3]["data"]["data"]["beat"] = 999
    (tmp_path / "tampered.json").write_text(json.dumps(doc))
    bad = await cli("verify", "--offline", str(tmp_path / "tampered.json"), "--json")
    assert bad.exit_code == 1
    fault = json.loads(bad.stdout)["fault"]
    assert fault["index"] == first + 3 and fault["reason"] == "hash"

    other_key = public_key_raw(parse_private_key(os.urandom(32).hex())).hex()
    wrong = await cli("verify", "--offline", str(out), "--public-key", other_key)
    assert wrong.exit_code == 1 and "signature" in wrong.stdout

    (tmp_path / "junk.json").write_text("[]")
    junk = await cli("verify", "--offline", str(tmp_path / "junk.json"))
    assert junk.exit_code == 2
