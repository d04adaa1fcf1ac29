"""The mesh-discovery service: a :class:`MeshNode` plus NATS (F-MESH-1, F-MESH-2, F-MESH-4).

- every peer change is published as a ``PeerV1`` on ``venom.mesh.peer.<node>``
  (JetStream stream VENOM_EVENTS), and this node itself as ``via="self"``;
- broadcast: a request on ``subjects.mesh_broadcast_request(<this node>)``
  carrying a ``MeshMessageV1`` is fanned out to every peer in the table but
  the sender, one copy on each peer's ``subjects.mesh_inbox(peer)``, through a
  FIFO queue with the seed's adaptive delay;
- what arrives in this node's inbox is kept in its NanoBot (role capacity,
  oldest evicted first);
- HTTP (127.0.0.1 by default): ``GET /peers``, ``GET /nanobot``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from datetime import UTC, datetime
from typing import Any

from fastapi import APIRouter
from nats.aio.msg import Msg
from prometheus_client import Counter

from venom_common.events import Envelope, encode, make_event, subjects
from venom_common.events.payloads import MeshMessageV1, PeerV1
from venom_common.runner import ServiceContext
from venom_mesh_discovery.adapters.keys import load_mesh_key
from venom_mesh_discovery.domain.broadcast import FifoDeliveryQueue, fan_out
from venom_mesh_discovery.domain.nanobots import NanoBot
from venom_mesh_discovery.domain.peers import Peer, PeerChange
from venom_mesh_discovery.node import MeshNode, NodeConfig
from venom_mesh_discovery.settings import MeshSettings

log = logging.getLogger("venom.mesh.service")

DELIVERED = Counter("venom_mesh_broadcast_delivered_total", "Broadcast copies published to a peer's inbox")
RECEIVED = Counter("venom_mesh_broadcast_received_total", "Broadcast messages received into the NanoBot")
EVICTED = Counter("venom_mesh_nanobot_evicted_total", "NanoBot items evicted (FIFO, F-MESH-4)")


def node_config(settings: MeshSettings, key: bytes) -> NodeConfig:
    return NodeConfig(
        node=settings.node_id, key=key, addresses=settings.addresses, version=settings.mesh_version,
        capabilities=settings.capabilities, role=settings.mesh_role, group=settings.mesh_group,
        port=settings.mesh_port, interface=settings.mesh_interface, ttl=settings.mesh_ttl,
        unicast_bind=settings.mesh_unicast_bind, unicast_port=settings.mesh_unicast_port,
        interval_s=settings.mesh_interval_s, missed_intervals=settings.mesh_missed_intervals,
        replay_window_s=settings.mesh_replay_window_s, nonce_cache=settings.mesh_nonce_cache,
        seeds=settings.seeds, dns_names=settings.dns_names, dns_refresh_s=settings.mesh_dns_refresh_s,
        peers_file=settings.peers_file,
    )


def peer_payload(peer: Peer, status: str) -> PeerV1:
    return PeerV1(node=peer.node, status=status, addresses=list(peer.addresses),  # type: ignore[arg-type]
                  version=peer.version, capabilities=list(peer.capabilities), role=peer.role, via=peer.via,
                  last_seen=datetime.fromtimestamp(peer.last_seen, UTC))


class MeshService:
    name = "mesh-discovery"

    def __init__(self, settings: MeshSettings) -> None:
        self.settings = settings
        self.node: MeshNode | None = None
        self.nanobot: NanoBot[MeshMessageV1] = NanoBot(settings.mesh_role)
        self.queue: FifoDeliveryQueue[MeshMessageV1] = FifoDeliveryQueue()
        self._changes: asyncio.Queue[PeerChange] = asyncio.Queue()
        self._wake = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []
        self._ctx: ServiceContext | None = None
        self._started = False

    def ready(self) -> bool:
        return self._started

    async def start(self, ctx: ServiceContext) -> None:
        self._ctx = ctx
        key = load_mesh_key(self.settings)
        self.node = MeshNode(node_config(self.settings, key), on_change=self._changes.put_nowait)
        await self.node.start()
        await self._publish_self("joined")
        await ctx.bus.subscribe(subjects.mesh_inbox(self.settings.node_id), self._on_inbox,
                                expected=MeshMessageV1, name="mesh-inbox")
        await ctx.bus.subscribe(subjects.mesh_broadcast_request(self.settings.node_id), self._on_broadcast,
                                expected=MeshMessageV1, name="mesh-broadcast")
        self._tasks = [asyncio.create_task(self._publish_changes(), name="mesh-publish"),
                       asyncio.create_task(self._deliver(), name="mesh-deliver")]
        self._routes(ctx)
        self._started = True

    async def stop(self) -> None:
        self._started = False
        if self.node is not None:
            await self.node.stop()
        # Let queued peer events and deliveries go out before the bus drains.
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(self._flush(), 2.0)
        for t in self._tasks:
            t.cancel()
        for t in self._tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await t
        if self._ctx is not None:
            with contextlib.suppress(Exception):
                await self._publish_self("left")

    async def _flush(self) -> None:
        while not self._changes.empty() or len(self.queue):
            await asyncio.sleep(0.01)

    # --- peers → events -------------------------------------------------------------------------

    async def _publish_self(self, status: str) -> None:
        assert self._ctx is not None and self.node is not None
        s = self.settings
        payload = PeerV1(node=s.node_id, status=status, addresses=s.addresses,  # type: ignore[arg-type]
                         version=s.mesh_version, capabilities=s.capabilities, role=s.mesh_role, via="self",
                         last_seen=datetime.now(UTC))
        await self._ctx.bus.publish(subjects.mesh_peer(s.node_id),
                                    make_event(payload, source=self._ctx.source, subject=subjects.mesh_peer(s.node_id)))

    async def _publish_changes(self) -> None:
        assert self._ctx is not None
        while True:
            change = await self._changes.get()
            subject = subjects.mesh_peer(change.peer.node)
            event = make_event(peer_payload(change.peer, change.status), source=self._ctx.source, subject=subject)
            while True:
                try:
                    await self._ctx.bus.publish(subject, event)
                    break
                except Exception as exc:  # NATS down: keep the order, retry the same event (same id: deduplicated)
                    log.warning("cannot publish peer %s %s yet: %s", change.peer.node, change.status, exc)
                    await asyncio.sleep(1.0)

    # --- broadcast and NanoBot (F-MESH-2, F-MESH-4) ---------------------------------------------

    def broadcast(self, message: MeshMessageV1) -> list[str]:
        """Queue one copy for every known peer but the sender; returns the recipients."""
        assert self.node is not None
        targets = fan_out(message.sender, (p.node for p in self.node.table.peers()))
        self.queue.enqueue(targets, message)
        self._wake.set()
        return targets

    async def _on_broadcast(self, env: Envelope[Any], msg: Msg) -> None:
        message: MeshMessageV1 = env.data
        if message.sender != self.settings.node_id:
            reply = {"error": f"sender must be this node ({self.settings.node_id})"}
            recipients: list[str] = []
        else:
            recipients = self.broadcast(message)
            reply = {"queued": len(recipients)}
        if msg.reply:
            assert self._ctx is not None
            ack = MeshMessageV1(message_id=message.message_id, sender=self.settings.node_id,
                                topic="broadcast.ack", body={**reply, "recipients": recipients},
                                sent_at=datetime.now(UTC))
            await msg.respond(encode(make_event(ack, source=self._ctx.source)))

    async def _deliver(self) -> None:
        assert self._ctx is not None
        while True:
            nxt = self.queue.next_delivery()
            if nxt is None:
                self._wake.clear()
                await self._wake.wait()
                continue
            delivery, delay = nxt
            subject = subjects.mesh_inbox(delivery.target)
            try:
                await self._ctx.bus.publish_core(subject, make_event(delivery.message, source=self._ctx.source,
                                                                     subject=subject))
                DELIVERED.inc()
            except Exception as exc:
                log.warning("broadcast to %s failed: %s", delivery.target, exc)
            await asyncio.sleep(delay)

    async def _on_inbox(self, env: Envelope[Any], msg: Msg) -> None:
        message: MeshMessageV1 = env.data
        if message.sender == self.settings.node_id:
            return  # never deliver a broadcast to its sender
        RECEIVED.inc()
        if self.nanobot.store(message) is not None:
            EVICTED.inc()

    # --- HTTP -----------------------------------------------------------------------------------

    def _routes(self, ctx: ServiceContext) -> None:
        router = APIRouter(tags=["mesh"])

        @router.get("/peers")
        async def peers() -> dict[str, object]:
            """The peer table (this node excluded)."""
            assert self.node is not None
            return {"node": self.settings.node_id,
                    "peers": [peer_payload(p, "joined").model_dump(mode="json") for p in self.node.table.peers()],
                    "rejected": self.node.rejected}

        @router.get("/nanobot")
        async def nanobot() -> dict[str, object]:
            """This node's NanoBot: role, capacity and the messages it holds, oldest first."""
            return {"role": self.nanobot.role, "capacity": self.nanobot.capacity, "held": len(self.nanobot),
                    "evicted": self.nanobot.evicted,
                    "messages": [m.model_dump(mode="json") for m in self.nanobot.items()[-50:]]}

        ctx.app.include_router(router)
