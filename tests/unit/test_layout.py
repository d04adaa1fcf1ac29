"""The repository layout of the design card, and a compose file that parses."""

from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]


def test_design_card_layout() -> None:
    for path in ("docker-compose.yml", "README.md", "libs/venom_common", "tests", "k8s",
                 *(f"services/{s}" for s in ("arbiter", "organs", "ledger", "mesh-discovery", "orchestrator",
                                             "hardware-agent"))):
        assert (ROOT / path).exists(), path
    for service, package in (("arbiter", "venom_arbiter"), ("organs", "venom_organs"), ("ledger", "venom_ledger"),
                             ("hardware-agent", "venom_hardware_agent")):
        assert (ROOT / "services" / service / package / "__main__.py").is_file()


def test_compose_parses_and_binds_loopback() -> None:
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    for name, service in compose["services"].items():
        assert "healthcheck" in service, name
        for port in service.get("ports", []):
            assert str(port).startswith("127.0.0.1:"), f"{name} publishes {port} on every interface"


def test_torch_pinned() -> None:
    text = (ROOT / "pyproject.toml").read_text()
    assert '"torch==2.13.0"' in text and "torch>" not in text and "torch<" not in text
