"""``venom bench mesh``: how fast N nodes on loopback know each other and notice a dead one (F-MESH-1).

Every node is a real :class:`MeshNode` with its own UDP sockets on 127.0.0.1, in
one process and one event loop. Two figures, each over ``rounds`` repetitions:

- ``converge_s``: from starting N nodes at once until every node has the N−1
  others in its table;
- ``detect_s``: from stopping one node (it falls silent) until every other node
  has dropped it. The design bound is ``(missed−1)·interval … missed·interval
  + interval/4`` (the last announcement may be up to one interval old when the
  node stops; expiry is checked four times an interval), reported beside it.
"""

from __future__ import annotations

import asyncio
import random
import secrets
import socket
import statistics
import time
from collections.abc import Callable
from typing import Literal

from venom_mesh_discovery.node import MeshNode, NodeConfig


def _free_udp_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def _until(cond: Callable[[], bool], timeout: float) -> float:
    t0 = time.perf_counter()
    while not cond():
        if time.perf_counter() - t0 > timeout:
            raise TimeoutError("mesh did not reach the expected state in time")
        await asyncio.sleep(0.001)
    return time.perf_counter() - t0


async def _round(n: int, interval_s: float, missed: int, mode: Literal["multicast", "unicast"]) -> tuple[float, float]:
    key = secrets.token_bytes(32)
    group = f"239.255.{random.randint(1, 254)}.{random.randint(1, 254)}"
    mport = _free_udp_port()
    uports = [_free_udp_port() for _ in range(n)]
    nodes = []
    for i in range(n):
        seeds = [("127.0.0.1", p) for j, p in enumerate(uports) if j != i] if mode == "unicast" else []
        nodes.append(MeshNode(NodeConfig(
            node=f"bench{i}", key=key, addresses=["127.0.0.1"], interval_s=interval_s, missed_intervals=missed,
            group=group if mode == "multicast" else "", port=mport, unicast_port=uports[i], seeds=seeds)))
    t0 = time.perf_counter()
    try:
        for node in nodes:
            await node.start()
        await _until(lambda: all(len(x.table) == n - 1 for x in nodes), timeout=30 + 5 * interval_s)
        converge = time.perf_counter() - t0
        # Let the mesh run a random fraction of an interval so the victim stops at a random phase.
        await asyncio.sleep(random.uniform(0, interval_s))
        victim, rest = nodes[0], nodes[1:]
        t1 = time.perf_counter()
        await victim.stop()
        await _until(lambda: all(victim.config.node not in x.table for x in rest),
                     timeout=(missed + 2) * interval_s + 5)
        detect = time.perf_counter() - t1
    finally:
        for node in nodes:
            await node.stop()
    return converge, detect


def _summary(xs: list[float]) -> dict[str, float]:
    xs = sorted(xs)
    return {"p50": round(statistics.median(xs), 4), "max": round(xs[-1], 4), "min": round(xs[0], 4)}


async def run_mesh_bench(nodes: int, interval_s: float, missed: int, rounds: int,
                         mode: Literal["multicast", "unicast"]) -> dict[str, object]:
    conv, det = [], []
    for _ in range(rounds):
        c, d = await _round(nodes, interval_s, missed, mode)
        conv.append(c)
        det.append(d)
    return {
        "mode": mode, "nodes": nodes, "interval_s": interval_s, "missed_intervals": missed, "rounds": rounds,
        "converge_s": _summary(conv), "detect_s": _summary(det),
        "detect_bound_s": [round((missed - 1) * interval_s, 4), round(missed * interval_s + interval_s / 4, 4)],
    }
