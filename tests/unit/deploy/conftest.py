"""Fixtures of the deployment checks: the rendered Kubernetes manifests (helpers in helpers.py)."""

from __future__ import annotations

import pytest

from unit.deploy.helpers import K8S, Rendered, render


@pytest.fixture(scope="session")
def base() -> Rendered:
    return Rendered(render(K8S / "base"))


@pytest.fixture(scope="session")
def production() -> Rendered:
    return Rendered(render(K8S / "overlays" / "production"))
