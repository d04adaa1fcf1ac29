"""A small HTTP/1.1 load generator for ``venom bench dispatch``, run as its own process.

``python -m venom_orchestrator.loadgen URL TOKEN TASKS CONCURRENCY [WARMUP]`` prints one JSON object
(throughput, latency percentiles, statuses, tasks by peer) on stdout.

Why not httpx: in the first measurements the httpx client in the bench process used more CPU per
request than the orchestrator itself (connection-pool bookkeeping, anyio, response streaming) and
shared the machine's two cores with it, so the figure measured the client. This client keeps
``CONCURRENCY`` keep-alive connections, each sending ``POST /tasks?wait=true`` and reading the whole
answer before the next (closed loop: at most ``CONCURRENCY`` requests in flight), and parses every
answer's JSON body to count its status and peer. It is a real HTTP client over real sockets; it
only leaves out what a benchmark does not need (redirects, chunked bodies, TLS).
"""

from __future__ import annotations

import asyncio
import json
import sys
import time
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from venom_orchestrator.domain.simulation import percentile


class HttpError(RuntimeError):
    """An answer this client cannot read (no Content-Length, connection closed mid-answer)."""


@dataclass
class Tally:
    latencies_s: list[float] = field(default_factory=list)
    statuses: dict[str, int] = field(default_factory=dict)
    nodes: dict[str, int] = field(default_factory=dict)

    def count(self, status: str, node: str | None) -> None:
        self.statuses[status] = self.statuses.get(status, 0) + 1
        if node:
            self.nodes[node] = self.nodes.get(node, 0) + 1


async def _read_answer(reader: asyncio.StreamReader) -> tuple[int, bytes]:
    head = await reader.readuntil(b"\r\n\r\n")
    lines = head.split(b"\r\n")
    status = int(lines[0].split(b" ", 2)[1])
    length = None
    for line in lines[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value)
    if length is None:
        raise HttpError(f"answer without Content-Length: {head[:200]!r}")
    return status, await reader.readexactly(length)


async def run_load(url: str, token: str, tasks: int, concurrency: int, *, first_index: int = 0,
                   task_type: str = "hash") -> tuple[float, Tally]:
    """``tasks`` POSTs over ``concurrency`` keep-alive connections; returns (wall seconds, tally)."""
    parts = urlsplit(url)
    host, port = parts.hostname or "127.0.0.1", parts.port or 80
    tally = Tally()
    next_index = first_index
    end = first_index + tasks

    async def connection() -> None:
        nonlocal next_index
        reader, writer = await asyncio.open_connection(host, port)
        try:
            while next_index < end:
                i = next_index
                next_index += 1
                body = json.dumps({"task_type": task_type, "payload": {"data": f"v-{i}"}}).encode()
                request = (f"POST /tasks?wait=true HTTP/1.1\r\nHost: {host}:{port}\r\n"
                           f"Authorization: Bearer {token}\r\nContent-Type: application/json\r\n"
                           f"Content-Length: {len(body)}\r\n\r\n").encode() + body
                start = time.perf_counter()
                writer.write(request)
                status, answer = await _read_answer(reader)
                tally.latencies_s.append(time.perf_counter() - start)
                if status in (200, 202):
                    record = json.loads(answer)
                    tally.count(record["status"], record.get("node"))
                else:
                    tally.count(f"http_{status}", None)
        finally:
            writer.close()

    start = time.perf_counter()
    await asyncio.gather(*(connection() for _ in range(max(1, min(concurrency, tasks)))))
    return time.perf_counter() - start, tally


async def measure(url: str, token: str, tasks: int, concurrency: int, warmup: int) -> dict[str, object]:
    if warmup:
        await run_load(url, token, warmup, concurrency, first_index=tasks)
    cpu0 = time.process_time()
    wall, tally = await run_load(url, token, tasks, concurrency)
    cpu_s = time.process_time() - cpu0
    ordered = sorted(x * 1000.0 for x in tally.latencies_s)
    return {"tasks_per_s": round(tasks / wall, 1), "task_ms_p50": round(percentile(ordered, 50), 3),
            "task_ms_p99": round(percentile(ordered, 99), 3), "task_ms_max": round(ordered[-1], 3),
            "statuses": tally.statuses, "tasks_by_peer": tally.nodes, "wall_s": round(wall, 3),
            "client_cpu_ms_per_task": round(1000.0 * cpu_s / tasks, 4)}


def main(argv: list[str]) -> None:
    url, token, tasks, concurrency = argv[0], argv[1], int(argv[2]), int(argv[3])
    warmup = int(argv[4]) if len(argv) > 4 else min(200, tasks)
    try:
        import uvloop
    except ImportError:  # the orchestrator extra installs it; plain asyncio works too
        result = asyncio.run(measure(url, token, tasks, concurrency, warmup))
    else:
        result = uvloop.run(measure(url, token, tasks, concurrency, warmup))
    sys.stdout.write(json.dumps(result) + "\n")


if __name__ == "__main__":
    main(sys.argv[1:])
