"""The peers file (seed: ``~/.venom_peers.json``), written atomically."""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path

from venom_mesh_discovery.domain.peers import Peer


def peers_document(node: str, peers: list[Peer]) -> dict[str, object]:
    return {
        "node": node,
        "peers": [
            {"node": p.node, "addresses": list(p.addresses), "version": p.version,
             "capabilities": list(p.capabilities), "role": p.role, "via": p.via,
             "first_seen": p.first_seen, "last_seen": p.last_seen}
            for p in peers
        ],
    }


def write_peers_file(path: Path, node: str, peers: list[Peer]) -> None:
    """Write to a temporary file in the same directory, fsync, then rename over ``path``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    data = json.dumps(peers_document(node, peers), indent=1, sort_keys=True).encode()
    fd, tmp = tempfile.mkstemp(prefix=".peers-", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        with_suppress_unlink(tmp)
        raise


def with_suppress_unlink(tmp: str) -> None:
    try:
        os.unlink(tmp)
    except FileNotFoundError:
        pass
