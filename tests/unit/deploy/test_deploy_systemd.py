"""deploy/systemd: one unit per service for bare-metal installs (F-PLAT-8), parsed and verified.

`systemd-analyze verify` runs where it is installed (it reads the units as systemd would, and warns
about unknown keys or bad values — any output fails the test); the structural checks run everywhere.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from collections import defaultdict
from pathlib import Path

import pytest

from unit.deploy.helpers import ROOT, SERVICES

UNITS = ROOT / "deploy" / "systemd"
#: unit file → the module it runs
EXPECTED = {
    "venom-hardware-agent.service": "venom_hardware_agent",
    "venom-arbiter.service": "venom_arbiter",
    "venom-ledger.service": "venom_ledger",
    "venom-organ@.service": "venom_organs",
    "venom-mesh-discovery.service": "venom_mesh_discovery",
    "venom-orchestrator.service": "venom_orchestrator",
}
HARDENING = ("NoNewPrivileges=yes", "ProtectSystem=strict", "ProtectHome=yes", "PrivateTmp=yes",
             "CapabilityBoundingSet=", "RestrictNamespaces=yes", "SystemCallFilter=@system-service")


def parse_unit(path: Path) -> dict[str, dict[str, list[str]]]:
    """systemd's unit syntax: [Section] headers, Key=Value lines (keys may repeat), # or ; comments."""
    sections: dict[str, dict[str, list[str]]] = defaultdict(lambda: defaultdict(list))
    current = None
    for number, raw in enumerate(path.read_text().splitlines(), 1):
        line = raw.strip()
        if not line or line[0] in "#;":
            continue
        if line.startswith("[") and line.endswith("]"):
            current = line[1:-1]
            continue
        assert current is not None, f"{path}:{number}: key outside a section"
        key, sep, value = line.partition("=")
        assert sep and key.strip() and key.strip().replace("-", "").isalnum(), f"{path}:{number}: {line!r}"
        sections[current][key.strip()].append(value.strip())
    return sections


def test_one_unit_per_service() -> None:
    assert sorted(p.name for p in UNITS.glob("*.service")) == sorted(EXPECTED)
    assert set(EXPECTED.values()) == {package for package, *_ in SERVICES.values()}


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_unit_has_what_a_service_needs(name: str) -> None:
    unit = parse_unit(UNITS / name)
    assert set(unit) == {"Unit", "Service", "Install"}
    assert unit["Unit"]["Description"] and "network-online.target" in unit["Unit"]["After"][0]
    service = unit["Service"]
    assert service["ExecStart"] == [f"/opt/venom/venv/bin/python -m {EXPECTED[name]}"]
    assert service["Restart"] == ["on-failure"] and service["RestartSec"]
    assert "/etc/venom/venom.env" in service["EnvironmentFile"]
    assert service["User"] == ["venom"] and service["Group"] == ["venom"]
    assert service["KillSignal"] == ["SIGTERM"]
    text = (UNITS / name).read_text().splitlines()
    for option in HARDENING:
        assert option in text, f"{name}: {option}"
    assert unit["Install"]["WantedBy"] == ["multi-user.target"]
    if name == "venom-organ@.service":
        env = " ".join(service["Environment"])
        assert "VENOM_ORGAN=%i" in env


def test_systemd_analyze_verify(tmp_path: Path) -> None:
    """systemd itself reads every unit without a warning (the organ template as venom-organ@regen)."""
    analyze = shutil.which("systemd-analyze")
    if analyze is None:
        pytest.skip("systemd-analyze is not installed (the structural checks above still ran)")
    paths = []
    for source in sorted(UNITS.glob("*.service")):
        name = source.name.replace("@.service", "@regen.service")
        # verify checks that ExecStart exists: point it at this interpreter, which has the project
        text = source.read_text().replace("/opt/venom/venv/bin/python", sys.executable)
        (tmp_path / name).write_text(text)
        paths.append(str(tmp_path / name))
    out = subprocess.run([analyze, "verify", "--man=no", *paths], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    problems = [line for line in (out.stdout + out.stderr).splitlines() if line.strip()]
    assert problems == []


def test_systemd_analyze_verify_catches_a_bad_unit(tmp_path: Path) -> None:
    """The verify test can fail: a misspelt key and a bad restart policy are reported."""
    analyze = shutil.which("systemd-analyze")
    if analyze is None:
        pytest.skip("systemd-analyze is not installed")
    text = (UNITS / "venom-arbiter.service").read_text().replace("/opt/venom/venv/bin/python", sys.executable)
    bad = tmp_path / "venom-arbiter.service"
    bad.write_text(text.replace("Restart=on-failure", "Restart=sometimes").replace("Type=exec", "Typ=exec"))
    out = subprocess.run([analyze, "verify", "--man=no", str(bad)], capture_output=True, text=True, timeout=60)
    assert "Typ" in out.stderr and "sometimes" in out.stderr
