"""python -m venom_mesh_discovery"""

from __future__ import annotations

import sys

from venom_common.runner import run_service
from venom_mesh_discovery.adapters.keys import MeshKeyMissing, load_mesh_key
from venom_mesh_discovery.service import MeshService
from venom_mesh_discovery.settings import MeshSettings


def main() -> None:
    settings = MeshSettings()
    try:
        load_mesh_key(settings)  # refuse to start without a key, before anything listens
    except (MeshKeyMissing, ValueError) as exc:
        print(f"mesh-discovery: {exc}", file=sys.stderr)
        raise SystemExit(2) from None
    run_service(MeshService, settings, "mesh-discovery")


if __name__ == "__main__":
    main()
