"""The mesh-discovery service on real NATS: peer events, broadcast to every peer but the sender, NanoBots."""

from __future__ import annotations

import asyncio
import random
import socket
import uuid
from datetime import UTC, datetime

import httpx
import pytest

from venom_common.embedded import free_port
from venom_common.events import decode, encode, make_event, subjects
from venom_common.events.payloads import MeshMessageV1, PeerV1
from venom_common.runner import serve
from venom_mesh_discovery.service import MeshService
from venom_mesh_discovery.settings import MeshSettings

pytestmark = pytest.mark.integration


def free_udp_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


async def wait_until(cond, timeout: float = 15.0) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while not cond():
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(0.02)


async def test_peer_events_broadcast_and_nanobot(nats_url, nc, unique, tmp_path) -> None:
    group = f"239.255.{random.randint(1, 254)}.{random.randint(1, 254)}"
    port = free_udp_port()
    names = [f"mesh{unique}{c}" for c in "abc"]
    roles = ["generic", "signal_relay", "knowledge_keeper"]
    events: list[PeerV1] = []

    async def on_peer(msg) -> None:
        env = decode(msg.data, PeerV1)
        if env.data.node in names or msg.subject.split(".")[-1] in names:
            events.append(env.data)

    await nc.subscribe(subjects.MESH_PEER_ALL, cb=on_peer)
    runs = []
    for name, role in zip(names, roles, strict=True):
        s = MeshSettings(nats_url=nats_url, node_id=name, port=free_port(), log_json=False, mesh_key="k" * 32,
                         mesh_group=group, mesh_port=port, mesh_unicast_port=0, mesh_interval_s=0.1,
                         mesh_missed_intervals=3, mesh_role=role, mesh_peers_file=tmp_path / f"{name}.json")
        svc = MeshService(s)
        stop = asyncio.Event()
        runs.append((svc, s, stop, asyncio.create_task(serve(svc, s, stop=stop))))
    try:
        await wait_until(lambda: all(r[0].ready() and len(r[0].node.table) == 2 for r in runs))
        # Each node published itself, and each saw the two others join by multicast.
        await wait_until(lambda: sum(1 for e in events if e.via == "multicast" and e.status == "joined") >= 6)
        assert {e.node for e in events if e.via == "self"} == set(names)
        joined_relay = [e for e in events if e.node == names[1] and e.via == "multicast"]
        assert joined_relay and joined_relay[0].role == "signal_relay"

        async with httpx.AsyncClient() as http:
            body = (await http.get(f"http://127.0.0.1:{runs[0][1].port}/peers")).json()
        assert [p["node"] for p in body["peers"]] == sorted(names[1:])

        # Broadcast from a: b and c receive it, a (the sender) does not.
        msg = MeshMessageV1(message_id=str(uuid.uuid4()), sender=names[0], topic="genome.update",
                            body={"risk": 0.4}, sent_at=datetime.now(UTC))
        reply = await nc.request(subjects.mesh_broadcast_request(names[0]),
                                 encode(make_event(msg, source="/test")), timeout=5)
        ack = decode(reply.data, MeshMessageV1).data
        assert ack.body["recipients"] == sorted(names[1:])
        await wait_until(lambda: all(len(r[0].nanobot) == 1 for r in runs[1:]))
        assert len(runs[0][0].nanobot) == 0
        assert runs[1][0].nanobot.items()[0].message_id == msg.message_id
        assert runs[1][0].nanobot.capacity == 50 and runs[2][0].nanobot.capacity == 500

        # Only the node itself may broadcast in its name.
        forged = msg.model_copy(update={"sender": names[1]})
        reply = await nc.request(subjects.mesh_broadcast_request(names[0]),
                                 encode(make_event(forged, source="/test")), timeout=5)
        assert "error" in decode(reply.data, MeshMessageV1).data.body

        # c stops: the others publish it as left.
        svc_c, _, stop_c, task_c = runs.pop()
        stop_c.set()
        await asyncio.wait_for(task_c, 15)
        await wait_until(lambda: any(e.node == names[2] and e.status == "left" and e.via == "multicast"
                                     for e in events))
        assert any(e.node == names[2] and e.status == "left" and e.via == "self" for e in events)
    finally:
        for _, _, stop, task in runs:
            stop.set()
        for _, _, _, task in runs:
            await asyncio.wait_for(task, 15)
