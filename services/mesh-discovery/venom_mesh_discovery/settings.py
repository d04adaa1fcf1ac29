"""Mesh discovery settings (``VENOM_`` prefix; see docs/MESH.md)."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field, SecretStr, field_validator

from venom_common.settings import VenomSettings
from venom_mesh_discovery.domain.announce import Role


def _split(value: str) -> list[str]:
    return [part.strip() for part in value.split(",") if part.strip()]


def parse_host_port(item: str, default_port: int) -> tuple[str, int]:
    """``host`` or ``host:port`` → (host, port); the host is an IPv4 address or a name."""
    if item.startswith("[") or item.count(":") > 1:
        raise ValueError(f"{item!r}: IPv6 seeds are not supported (the mesh sockets are IPv4)")
    if item.count(":") == 1:
        host, _, p = item.partition(":")
        port = int(p)
    else:
        host, port = item, default_port
    if not host or not 0 < port < 65536:
        raise ValueError(f"{item!r} is not host[:port]")
    return host, port


class MeshSettings(VenomSettings):
    port: int = Field(9104, ge=0, le=65535, description="HTTP port: health, metrics, GET /peers, GET /nanobot")
    mesh_key: SecretStr | None = Field(
        None, description="shared HMAC-SHA256 key, at least 16 bytes (secret: environment only)")
    mesh_state_dir: Path | None = Field(
        None, description="local mode: a key generated here (mesh.key, 0600) when VENOM_MESH_KEY is unset; "
                          "the peers file defaults to <dir>/peers.json")
    mesh_peers_file: Path | None = Field(None, description="peer table file; default ~/.venom_peers.json (seed)")
    mesh_group: str = Field("239.255.86.77", description="multicast group (empty: no multicast)")
    mesh_port: int = Field(47100, ge=1, le=65535, description="multicast UDP port")
    mesh_interface: str = Field("127.0.0.1", description="IPv4 address of the interface that sends and joins "
                                                         "multicast; 127.0.0.1 keeps the mesh on this host")
    mesh_ttl: int = Field(1, ge=0, le=255, description="multicast TTL (1: this subnet only)")
    mesh_unicast_bind: str = Field("127.0.0.1", description="address the unicast UDP socket binds")
    mesh_unicast_port: int = Field(47101, ge=0, le=65535,
                                   description="unicast UDP port seeds and DNS peers announce to (0: any free)")
    mesh_interval_s: float = Field(1.0, gt=0, le=3600, description="announce interval")
    mesh_missed_intervals: int = Field(3, ge=1, le=1000, description="a peer silent this many intervals expires")
    mesh_replay_window_s: float = Field(30.0, gt=0, le=3600, description="timestamps further than this are stale")
    mesh_nonce_cache: int = Field(8192, ge=16, le=1_000_000, description="nonces remembered (bounded)")
    mesh_seeds: str = Field("", description="static peers, comma separated host:port (unicast announcements)")
    mesh_dns_names: str = Field("", description="DNS names (e.g. a Kubernetes headless Service), comma separated "
                                                "name[:port]; resolved every mesh_dns_refresh_s")
    mesh_dns_refresh_s: float = Field(30.0, gt=0, le=86400)
    mesh_addresses: str = Field("", description="addresses this node announces (default: the interface address)")
    mesh_capabilities: str = Field("tasks,metrics", description="capabilities announced, comma separated")
    mesh_role: Role = Field("generic", description="NanoBot role (F-MESH-4)")
    mesh_version: str = Field("0.1.0", min_length=1, max_length=64)

    @field_validator("mesh_seeds", "mesh_dns_names")
    @classmethod
    def _host_ports(cls, value: str) -> str:
        for item in _split(value):
            parse_host_port(item, 1)
        return value

    @property
    def seeds(self) -> list[tuple[str, int]]:
        return [parse_host_port(s, self.mesh_unicast_port or 47101) for s in _split(self.mesh_seeds)]

    @property
    def dns_names(self) -> list[tuple[str, int]]:
        return [parse_host_port(s, self.mesh_unicast_port or 47101) for s in _split(self.mesh_dns_names)]

    @property
    def capabilities(self) -> list[str]:
        return _split(self.mesh_capabilities)

    @property
    def addresses(self) -> list[str]:
        return _split(self.mesh_addresses) or [self.mesh_interface]

    @property
    def peers_file(self) -> Path:
        if self.mesh_peers_file is not None:
            return self.mesh_peers_file.expanduser()
        if self.mesh_state_dir is not None:
            return self.mesh_state_dir.expanduser() / "peers.json"
        return Path.home() / ".venom_peers.json"
