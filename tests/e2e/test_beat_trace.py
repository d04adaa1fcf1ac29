"""F-PLAT-4: one beat is one trace across the services. Every service runs as its own process and exports
its spans over OTLP/HTTP to a receiver in this test (as they would to Jaeger); the pulse span must be the
ancestor of the organs' spans and of the ledger's append spans of that beat."""

from __future__ import annotations

import asyncio
import os
import subprocess
import time
from pathlib import Path

import pytest

from venom_cli.bench_beats import spawn_service, wait_ready
from venom_common.bus import Bus
from venom_common.embedded import free_port, stop_processes
from venom_common.settings import VenomSettings

from support.beat import publish_metrics
from support.otlp import OtlpReceiver, ReceivedSpan

pytestmark = pytest.mark.e2e


def ancestors(span: ReceivedSpan, by_id: dict[str, ReceivedSpan]) -> list[ReceivedSpan]:
    chain = []
    while span.parent_id and span.parent_id in by_id:
        span = by_id[span.parent_id]
        chain.append(span)
    return chain


async def test_one_beat_is_one_trace(nats_url: str, postgres_url: str, tmp_path: Path, unique: str) -> None:
    node = f"tr{unique}"
    procs: list[subprocess.Popen[bytes]] = []
    with OtlpReceiver() as receiver:
        base = {**os.environ, "VENOM_NATS_URL": nats_url, "VENOM_DATABASE_URL": postgres_url,
                "VENOM_OTLP_ENDPOINT": receiver.endpoint, "OTEL_BSP_SCHEDULE_DELAY": "100",
                "VENOM_LOG_JSON": "false", "VENOM_MODEL_DIR": str(tmp_path / "models")}
        ports = {}
        try:
            ports["ledger"] = free_port()
            procs.append(spawn_service("venom_ledger", {**base, "VENOM_PORT": str(ports["ledger"]),
                                                "VENOM_LEDGER_CHAIN": f"trace{unique}",
                                                "VENOM_LEDGER_STATE_DIR": str(tmp_path / "ledger")},
                               tmp_path / "ledger.log"))
            for organ in ("regen", "balance", "entropy", "optimize"):
                ports[organ] = free_port()
                procs.append(spawn_service("venom_organs", {**base, "VENOM_ORGAN": organ, "VENOM_PORT": str(ports[organ])},
                                   tmp_path / f"{organ}.log"))
            for port in ports.values():
                await wait_ready(port)
            bus = await Bus.connect(VenomSettings(nats_url=nats_url, node_id="t"), "test")
            await bus.ensure_streams()
            await publish_metrics(bus, node, [1, 30, 2])
            await bus.drain()
            ports["arbiter"] = free_port()
            arbiter = spawn_service("venom_arbiter", {**base, "VENOM_NODE_ID": node, "VENOM_PORT": str(ports["arbiter"]),
                                              "VENOM_DRIVE": "metrics", "VENOM_BEATS": "3", "VENOM_ORGAN_DEADLINE_MS": "5000"}, tmp_path / "arbiter.log")
            procs.append(arbiter)
            # wait until the ledger's spans for the arbiter's three beats have arrived
            deadline = time.monotonic() + 90
            while time.monotonic() < deadline:
                spans = receiver.snapshot()
                pulses = [s for s in spans if s.name == "pulse" and s.attributes.get("venom.node") == node]
                traces = {p.trace_id for p in pulses}
                ledger_spans = [s for s in spans if s.service == "venom-ledger" and s.trace_id in traces]
                if len(pulses) == 3 and len(ledger_spans) >= 3 * 7:
                    break
                await asyncio.sleep(0.2)
        finally:
            stop_processes(procs)
        spans = receiver.snapshot()
    by_id = {s.span_id: s for s in spans}
    pulses = [s for s in spans if s.name == "pulse" and s.attributes.get("venom.node") == node]
    assert len(pulses) == 3, (tmp_path / "arbiter.log").read_text()[-2000:]
    for pulse in pulses:
        assert pulse.service == "venom-arbiter" and not pulse.parent_id  # the root of its beat's trace
        in_trace = [s for s in spans if s.trace_id == pulse.trace_id]
        organ_spans = [s for s in in_trace if s.service.startswith("venom-organ-")]
        assert {s.service for s in organ_spans} == {"venom-organ-regen", "venom-organ-balance",
                                                    "venom-organ-entropy", "venom-organ-optimize"}
        ledger_spans = [s for s in in_trace if s.service == "venom-ledger"]
        kinds = sorted(s.name.rsplit(" ", 1)[-1] for s in ledger_spans)
        assert kinds == ["beat", "decision", "flow", "flow", "flow", "flow", "genome"], kinds
        for span in organ_spans + ledger_spans:
            assert pulse in ancestors(span, by_id), f"{span.service}/{span.name} does not descend from the pulse"
