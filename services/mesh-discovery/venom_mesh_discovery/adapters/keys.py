"""Where the shared mesh key comes from (F-MESH-1)."""

from __future__ import annotations

import logging
import os
import secrets

from venom_mesh_discovery.domain.announce import check_key
from venom_mesh_discovery.settings import MeshSettings

log = logging.getLogger("venom.mesh.keys")

KEY_FILE = "mesh.key"


class MeshKeyMissing(RuntimeError):
    pass


def load_mesh_key(settings: MeshSettings) -> bytes:
    """``VENOM_MESH_KEY``; else, in local mode (``VENOM_MESH_STATE_DIR``), a per-data-dir generated key.

    Without either the service refuses to start: an unauthenticated mesh would trust any packet.
    """
    if settings.mesh_key is not None:
        return check_key(settings.mesh_key.get_secret_value().encode())
    if settings.mesh_state_dir is None:
        raise MeshKeyMissing(
            "VENOM_MESH_KEY is not set: every node of a mesh needs the same secret key (at least 16 bytes), e.g. "
            "VENOM_MESH_KEY=$(python -c 'import secrets; print(secrets.token_hex(32))'); for a single-host "
            "mesh set VENOM_MESH_STATE_DIR instead and a key is generated there")
    path = settings.mesh_state_dir.expanduser() / KEY_FILE
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            pass
        else:
            with os.fdopen(fd, "w") as fh:
                fh.write(secrets.token_hex(32) + "\n")
            log.warning("generated a mesh key in %s: only nodes sharing this file (this host) form a mesh; "
                        "set VENOM_MESH_KEY on every node for more", path)
    return check_key(path.read_text().strip().encode())
