"""The one registry of VENOM services that ``venom up`` can run (F-PLAT-6).

Each entry says which Python module is the service (``python -m <module>``),
its default HTTP port (health, metrics, API) and any extra environment it
needs. ``venom up`` starts "every service that exists": an entry whose module
is not installed, or has no ``__main__``, is skipped, so the registry can name
services before they are written.
"""

from __future__ import annotations

import importlib.util
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from venom_common.events.subjects import ORGANS


@dataclass(frozen=True)
class ServiceSpec:
    """How to run one service as a supervised child process."""

    name: str
    module: str
    port: int
    env: Mapping[str, str] = field(default_factory=dict)
    health_path: str = "/healthz"
    ready_path: str = "/readyz"
    #: Where a person reads the service's API documentation, if it has one (a path on its port).
    docs_path: str | None = None

    def argv(self) -> list[str]:
        """The command line of the child: this interpreter, ``-m <module>``."""
        return [sys.executable, "-m", self.module]

    def with_port(self, port: int) -> ServiceSpec:
        return ServiceSpec(self.name, self.module, port, dict(self.env), self.health_path, self.ready_path,
                           self.docs_path)


_ORGAN_BASE_PORT = 9111

#: Every service of the system, in start order. Ports: ARCHITECTURE.md "Configuration and operations".
REGISTRY: tuple[ServiceSpec, ...] = (
    ServiceSpec("hardware-agent", "venom_hardware_agent", 9101),
    ServiceSpec("arbiter", "venom_arbiter", 9102),
    ServiceSpec("ledger", "venom_ledger", 9103),
    ServiceSpec("mesh-discovery", "venom_mesh_discovery", 9104),
    *(
        ServiceSpec(f"organ-{organ}", "venom_organs", _ORGAN_BASE_PORT + i, {"VENOM_ORGAN": organ})
        for i, organ in enumerate(ORGANS)
    ),
    ServiceSpec("orchestrator", "venom_orchestrator", 8000, docs_path="/docs"),
)


def module_is_runnable(module: str) -> bool:
    """True when ``module`` is an installed package with a ``__main__`` — found without importing it
    (importing a service package could pull in heavy dependencies such as torch)."""
    try:
        spec = importlib.util.find_spec(module)
    except (ImportError, ValueError):
        return False
    if spec is None:
        return False
    for location in spec.submodule_search_locations or ():
        if (Path(location) / "__main__.py").is_file():
            return True
    return False


def available_services(registry: Sequence[ServiceSpec] = REGISTRY) -> list[ServiceSpec]:
    """The services of ``registry`` that exist in this installation."""
    return [spec for spec in registry if module_is_runnable(spec.module)]


def missing_services(registry: Sequence[ServiceSpec] = REGISTRY) -> list[ServiceSpec]:
    return [spec for spec in registry if not module_is_runnable(spec.module)]
