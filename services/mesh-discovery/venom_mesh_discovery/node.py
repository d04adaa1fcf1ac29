"""One mesh node's discovery loop (F-MESH-1): announce, listen, verify, keep the peer table.

The node announces every ``interval`` on the multicast group and, by unicast,
to every seed, every address its DNS names resolve to, and every peer that
announced to it by unicast (so a seed list need only be one-sided). Every
received datagram goes through the same verifier: format, HMAC-SHA256 under
the shared key, timestamp window, nonce cache. Nothing unauthenticated ever
reaches the peer table. :class:`MeshNode` knows nothing of NATS: the service
publishes its changes; the benchmark runs nodes alone.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
import socket
import struct
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from prometheus_client import Counter, Gauge

from venom_mesh_discovery.adapters.peers_file import write_peers_file
from venom_mesh_discovery.domain.announce import (
    REJECT_REASONS,
    Announcement,
    AnnouncementRejected,
    ReplayGuard,
    Role,
    Verifier,
    sign,
)
from venom_mesh_discovery.domain.peers import PeerChange, PeerTable, Via

log = logging.getLogger("venom.mesh")

REJECTED = Counter("venom_mesh_announcements_rejected_total",
                   "Announcements ignored, by reason (malformed, bad_mac, stale, replayed)", ["reason"])
ACCEPTED = Counter("venom_mesh_announcements_accepted_total", "Authenticated announcements accepted", ["via"])
PEERS = Gauge("venom_mesh_peers", "Peers in the table")
for _reason in REJECT_REASONS:
    REJECTED.labels(_reason)


@dataclass(frozen=True)
class NodeConfig:
    node: str
    key: bytes
    addresses: list[str]
    version: str = "0.1.0"
    capabilities: list[str] = field(default_factory=list)
    role: Role = "generic"
    group: str = "239.255.86.77"
    port: int = 47100
    interface: str = "127.0.0.1"
    ttl: int = 1
    unicast_bind: str = "127.0.0.1"
    unicast_port: int = 0
    interval_s: float = 1.0
    missed_intervals: int = 3
    replay_window_s: float = 30.0
    nonce_cache: int = 8192
    seeds: list[tuple[str, int]] = field(default_factory=list)
    dns_names: list[tuple[str, int]] = field(default_factory=list)
    dns_refresh_s: float = 30.0
    peers_file: Path | None = None


def _is_ipv4(host: str) -> bool:
    try:
        socket.inet_aton(host)
    except OSError:
        return False
    return host.count(".") == 3


class _Protocol(asyncio.DatagramProtocol):
    def __init__(self, on_packet: Callable[[bytes, tuple[str, int]], None]) -> None:
        self.on_packet = on_packet

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:  # type: ignore[override]
        self.on_packet(data, addr[:2])

    def error_received(self, exc: Exception) -> None:
        log.debug("udp error: %s", exc)


def multicast_socket(group: str, port: int, interface: str) -> socket.socket:
    """A socket that receives ``group:port`` on ``interface``; several on one host share the port."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM, socket.IPPROTO_UDP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    if hasattr(socket, "SO_REUSEPORT"):
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    sock.bind((group, port))  # bound to the group: unicast to this port is not delivered here
    mreq = struct.pack("4s4s", socket.inet_aton(group), socket.inet_aton(interface))
    sock.setsockopt(socket.IPPROTO_IP, socket.IP_ADD_MEMBERSHIP, mreq)
    sock.setblocking(False)
    return sock


def unicast_socket(bind: str, port: int, interface: str, ttl: int) -> socket.socket:
    """The socket that sends every announcement (multicast and unicast) and receives unicast ones."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM, socket.IPPROTO_UDP)
    sock.bind((bind, port))
    sock.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_IF, socket.inet_aton(interface))
    sock.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_TTL, ttl)
    sock.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_LOOP, 1)
    sock.setblocking(False)
    return sock


class MeshNode:
    def __init__(self, config: NodeConfig, *, on_change: Callable[[PeerChange], None] | None = None,
                 clock: Callable[[], float] = time.time) -> None:
        self.config = config
        self.clock = clock
        self.on_change = on_change
        self.table = PeerTable(config.missed_intervals)
        self.verifier = Verifier(config.key, config.node, ReplayGuard(config.replay_window_s, config.nonce_cache))
        self.rejected: dict[str, int] = dict.fromkeys(REJECT_REASONS, 0)
        self.accepted = 0
        self.unicast_addr: tuple[str, int] | None = None
        self._dns_targets: set[tuple[str, int]] = set()
        # Seeds given as IPv4 literals are used as they are; named seeds are resolved with the DNS names
        # (never a blocking lookup inside sendto).
        self._seed_targets: set[tuple[str, int]] = {(h, p) for h, p in config.seeds if _is_ipv4(h)}
        self._named_seeds = [(h, p) for h, p in config.seeds if not _is_ipv4(h)]
        self._dns_ips: set[str] = set()
        self._reply_targets: dict[str, tuple[str, int]] = {}
        self._mc_transport: asyncio.DatagramTransport | None = None
        self._uc_transport: asyncio.DatagramTransport | None = None
        self._tasks: list[asyncio.Task[None]] = []
        self._dirty = False
        self.multicast = bool(config.group)

    # --- lifecycle ------------------------------------------------------------------------------

    async def start(self) -> None:
        loop = asyncio.get_running_loop()
        c = self.config
        uc = unicast_socket(c.unicast_bind, c.unicast_port, c.interface, c.ttl)
        self.unicast_addr = uc.getsockname()[:2]
        self._uc_transport, _ = await loop.create_datagram_endpoint(lambda: _Protocol(self._on_packet), sock=uc)
        if self.multicast:
            mc = multicast_socket(c.group, c.port, c.interface)
            self._mc_transport, _ = await loop.create_datagram_endpoint(lambda: _Protocol(self._on_packet), sock=mc)
        if c.dns_names or self._named_seeds:
            await self.resolve_dns()
        self._tasks = [asyncio.create_task(self._announce_loop(), name="mesh-announce"),
                       asyncio.create_task(self._expire_loop(), name="mesh-expire")]
        if c.dns_names or self._named_seeds:
            self._tasks.append(asyncio.create_task(self._dns_loop(), name="mesh-dns"))
        log.info("mesh node %s: multicast %s, unicast %s, %d seed(s), %d DNS name(s)", c.node,
                 f"{c.group}:{c.port} on {c.interface}" if self.multicast else "off", self.unicast_addr,
                 len(c.seeds), len(c.dns_names))

    async def stop(self) -> None:
        for t in self._tasks:
            t.cancel()
        for t in self._tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await t
        self._tasks = []
        for tr in (self._mc_transport, self._uc_transport):
            if tr is not None:
                tr.close()
        self._mc_transport = self._uc_transport = None
        self.save_peers()

    # --- announcing -----------------------------------------------------------------------------

    def announcement(self, mode: str) -> bytes:
        c = self.config
        ann = Announcement(node=c.node, addresses=c.addresses, version=c.version, capabilities=c.capabilities,
                           role=c.role, interval_s=c.interval_s, mode=mode,  # type: ignore[arg-type]
                           ts=self.clock(), nonce=secrets.token_hex(16))
        return sign(ann, c.key)

    def unicast_targets(self) -> set[tuple[str, int]]:
        targets = self._seed_targets | self._dns_targets | set(self._reply_targets.values())
        targets.discard(self.unicast_addr)  # type: ignore[arg-type]
        return targets

    def announce_once(self) -> None:
        tr = self._uc_transport
        if tr is None:
            return
        if self.multicast:
            tr.sendto(self.announcement("multicast"), (self.config.group, self.config.port))
        for target in self.unicast_targets():
            # A fresh nonce per copy: a receiver may get several copies; each must be new to it.
            try:
                tr.sendto(self.announcement("unicast"), target)
            except OSError as exc:  # one unreachable target must not silence the others
                log.debug("announce to %s failed: %s", target, exc)

    async def _announce_loop(self) -> None:
        while True:
            try:
                self.announce_once()
            except OSError as exc:
                log.warning("announce failed: %s", exc)
            await asyncio.sleep(self.config.interval_s)

    # --- receiving ------------------------------------------------------------------------------

    def _on_packet(self, data: bytes, addr: tuple[str, int]) -> None:
        now = self.clock()
        try:
            ann = self.verifier.verify(data, now)
        except AnnouncementRejected as exc:
            self.rejected[exc.reason] += 1
            if exc.reason != "self":
                REJECTED.labels(exc.reason).inc()
                log.debug("ignored announcement from %s: %s", addr, exc)
            return
        via: Via
        if ann.mode == "multicast" or (ann.mode == "reply" and self.multicast and addr not in self.unicast_targets()):
            via = "multicast"  # a reply to our multicast announcement
        elif ann.mode == "reply":
            via = "dns" if addr[0] in self._dns_ips else "seed"
        else:
            via = "dns" if addr[0] in self._dns_ips else "seed"
            # Authenticated unicast: announce back to the sender, so a seed list need only be one-sided.
            if addr not in self.unicast_targets() and len(self._reply_targets) < self.table.capacity:
                self._reply_targets[ann.node] = addr
        self.accepted += 1
        ACCEPTED.labels(via).inc()
        change = self.table.observe(ann, via, f"{addr[0]}:{addr[1]}", now)
        if change is not None:
            if ann.mode != "reply" and self._uc_transport is not None:
                # A newcomer missed our last announcement: answer it at once, by unicast to the socket it
                # announced from, instead of up to an interval later. One reply per join, never to a reply.
                try:
                    self._uc_transport.sendto(self.announcement("reply"), addr)
                except OSError as exc:
                    log.debug("reply to %s failed: %s", addr, exc)
            self._changed(change)

    def _changed(self, change: PeerChange) -> None:
        self._dirty = True
        PEERS.set(len(self.table))
        log.info("peer %s %s (via %s)", change.peer.node, change.status, change.peer.via)
        if self.on_change is not None:
            self.on_change(change)

    # --- expiry and persistence -----------------------------------------------------------------

    def expire_once(self) -> list[PeerChange]:
        changes = self.table.expire(self.clock())
        for ch in changes:
            self._reply_targets.pop(ch.peer.node, None)
            self._changed(ch)
        return changes

    async def _expire_loop(self) -> None:
        # Check four times an interval: a dead peer is noticed within a quarter interval of its deadline.
        tick = max(self.config.interval_s / 4, 0.01)
        while True:
            await asyncio.sleep(tick)
            self.expire_once()
            if self._dirty:
                self.save_peers()

    def save_peers(self) -> None:
        if self.config.peers_file is None:
            return
        try:
            write_peers_file(self.config.peers_file, self.config.node, self.table.peers())
            self._dirty = False
        except OSError as exc:
            log.warning("could not write %s: %s", self.config.peers_file, exc)

    # --- DNS ------------------------------------------------------------------------------------

    async def _resolve(self, names: list[tuple[str, int]]) -> set[tuple[str, int]]:
        loop = asyncio.get_running_loop()
        targets: set[tuple[str, int]] = set()
        for name, port in names:
            try:
                infos = await loop.getaddrinfo(name, port, family=socket.AF_INET, type=socket.SOCK_DGRAM)
            except (socket.gaierror, OSError) as exc:
                log.warning("cannot resolve %s: %s", name, exc)
                continue
            targets |= {(str(info[4][0]), port) for info in infos}
        return targets

    async def resolve_dns(self) -> None:
        """Resolve every DNS name (all A records: a headless Service lists every pod) and named seed."""
        self._dns_targets = await self._resolve(self.config.dns_names)
        self._dns_ips = {ip for ip, _ in self._dns_targets}
        if self._named_seeds:
            literal = {(h, p) for h, p in self.config.seeds if _is_ipv4(h)}
            self._seed_targets = literal | await self._resolve(self._named_seeds)

    async def _dns_loop(self) -> None:
        while True:
            await asyncio.sleep(self.config.dns_refresh_s)
            await self.resolve_dns()
