"""The orchestrator's request to a peer, with and without tracing, against a hand-made peer on real NATS:
what goes on the wire, and a reply that is not a valid result ending the task ``failed`` with the reason."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import pytest
from nats.aio.msg import Msg

from venom_common.bus import Bus
from venom_common.events import decode, encode, make_event, subjects
from venom_common.events.payloads import TaskResultV1, TaskV1
from venom_common import bus as bus_module
from venom_common.embedded import free_port
from venom_orchestrator.harness import RunningOrchestrator, announce, start_orchestrator
from venom_orchestrator.settings import OrchestratorSettings
from support.waiting import until

pytestmark = pytest.mark.integration


async def orchestrator(nats_url: str, unique: str) -> RunningOrchestrator:
    # health_timeout_s 2 s, not 0.5 s: two pings timed out in a row on a CPU-starved machine would take
    # the live peer out of dispatch.
    return await start_orchestrator(OrchestratorSettings(
        nats_url=nats_url, node_id=f"orch{unique}", port=free_port(), grpc_port=0, api_token="t",
        health_interval_s=0.2, health_timeout_s=2.0, reply_grace_s=0.5, self_peer=False))


def healthy(o: RunningOrchestrator, node: str) -> Callable[[], bool]:
    return lambda: (p := o.service.peers.get(node)) is not None and bool(p.healthy)


class HandMadePeer:
    """Answers pings with a valid result and every other task with ``reply`` (bytes; None: a valid
    result; ``SILENT``: no answer at all); keeps the headers each task request carried."""

    SILENT = b"<silent>"

    def __init__(self, bus: Bus, node: str, reply: bytes | None) -> None:
        self.bus, self.node, self.reply = bus, node, reply
        self.headers: list[dict[str, str] | None] = []
        self.sub = None

    async def start(self) -> None:
        self.sub = await self.bus.nc.subscribe(subjects.task(self.node), cb=self._on_task)
        await self.bus.nc.flush()

    async def _on_task(self, msg: Msg) -> None:
        task = decode(msg.data, TaskV1).data
        if task.task_type != "ping":
            self.headers.append(msg.headers)
            if self.reply == self.SILENT:
                return
        if task.task_type == "ping" or self.reply is None:
            result = TaskResultV1(task_id=task.task_id, node=self.node, status="succeeded", result={"ok": True},
                                  elapsed_ms=0.1)
            await msg.respond(encode(make_event(result, source=f"/venom/{self.node}/test")))
        else:
            await msg.respond(self.reply)


@pytest.mark.parametrize("traced", [False, True], ids=["untraced", "traced"])
async def test_request_headers_follow_tracing(nats_url: str, unique: str, bus: Bus, traced: bool,
                                           monkeypatch: pytest.MonkeyPatch) -> None:
    node = f"p{unique}"
    peer = HandMadePeer(bus, node, reply=None)
    await peer.start()
    o = await orchestrator(nats_url, unique)
    monkeypatch.setattr(bus_module, "spans_may_record", lambda: traced)  # the session records spans
    try:
        await announce(bus, node)
        await until(healthy(o, node))
        _, runner = o.service.submit("echo", {"x": 1}, deadline_s=5.0)
        done = await asyncio.wait_for(runner, 10)
        assert done.status == "succeeded" and done.result == {"ok": True}
        (headers,) = peer.headers
        if traced:  # Bus.request: span, event id and trace context in the headers
            assert headers is not None and "traceparent" in headers and "Nats-Msg-Id" in headers
        else:  # nothing the worker would read
            assert headers is None
    finally:
        await o.stop()
        await peer.sub.unsubscribe()  # type: ignore[union-attr]


@pytest.mark.parametrize("traced", [False, True], ids=["untraced", "traced"])
@pytest.mark.parametrize("reply", [b"{not json", b'{"specversion":"1.0"}'], ids=["not_json", "not_an_event"])
async def test_an_invalid_reply_fails_the_task_with_the_reason(nats_url: str, unique: str, bus: Bus,
                                                               traced: bool, reply: bytes,
                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    node = f"p{unique}"
    peer = HandMadePeer(bus, node, reply=reply)
    await peer.start()
    o = await orchestrator(nats_url, unique)
    monkeypatch.setattr(bus_module, "spans_may_record", lambda: traced)
    try:
        await announce(bus, node)
        await until(healthy(o, node))
        _, runner = o.service.submit("hash", {"data": "x"}, deadline_s=5.0)
        done = await asyncio.wait_for(runner, 10)  # ends, and says why
        assert done.status == "failed" and done.finished_at is not None
        assert f"peer {node} answered with an invalid result" in (done.error or "")
        assert [(a.node, a.outcome) for a in done.attempts] == [(node, "failed")]
        p = o.service.peers.get(node)
        assert p is not None and p.in_flight == 0 and p.tasks_failed == 1 and p.healthy  # answered: not vanished
    finally:
        await o.stop()
        await peer.sub.unsubscribe()  # type: ignore[union-attr]


@pytest.mark.parametrize("traced", [False, True], ids=["untraced", "traced"])
@pytest.mark.parametrize("gone", ["no_responders", "timed_out"])
async def test_a_vanished_peer_ends_the_task_lost_on_either_path(nats_url: str, unique: str, bus: Bus,
                                                                  traced: bool, gone: str,
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    node = f"p{unique}"
    peer = HandMadePeer(bus, node, reply=HandMadePeer.SILENT)
    await peer.start()
    # health_timeout_s 2 s, not 0.5 s: the peer's first ping must succeed (the next is 30 s away), on a
    # CPU-starved machine too; the task's own request (0.2 s deadline + 0.3 s grace) is what times out.
    o = await start_orchestrator(OrchestratorSettings(
        nats_url=nats_url, node_id=f"orch{unique}", port=free_port(), grpc_port=0, api_token="t",
        health_interval_s=30.0, health_timeout_s=2.0, reply_grace_s=0.3, self_peer=False))
    monkeypatch.setattr(bus_module, "spans_may_record", lambda: traced)
    try:
        await announce(bus, node)
        await until(healthy(o, node))
        if gone == "no_responders":
            await peer.sub.unsubscribe()  # type: ignore[union-attr]
            await bus.nc.flush()
        # no_responders: the server answers at once, so a long deadline (a CI run on a starved machine saw
        # 0.5 s pass before the answer came) keeps the two paths apart; timed_out: 0.2 s + 0.3 s grace.
        _, runner = o.service.submit("hash", {"data": "x"}, deadline_s=5.0 if gone == "no_responders" else 0.2)
        done = await asyncio.wait_for(runner, 10)  # never hangs
        assert done.status == "lost" and [(a.node, a.outcome) for a in done.attempts] == [(node, gone)]
        p = o.service.peers.get(node)
        assert p is not None and p.healthy is False and p.in_flight == 0
    finally:
        await o.stop()
        if gone != "no_responders":
            await peer.sub.unsubscribe()  # type: ignore[union-attr]
