"""`venom run` on a fresh data directory: brings the stack up, runs N beats, every beat ledgered, chain verified."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.e2e


def test_venom_run_ledgers_every_beat_verifies_and_joins_the_mesh(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k not in ("VENOM_NATS_URL", "VENOM_DATABASE_URL")}
    env["VENOM_NODE_ID"] = "e2e-run-host"
    result = subprocess.run(
        [sys.executable, "-m", "venom_cli", "run", "--beats", "25", "--data-dir", str(tmp_path / "v"), "--json",
         "--node", "e2e-run", "--mesh"],
        capture_output=True, text=True, env=env, timeout=300,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    summary = json.loads(result.stdout.strip().splitlines()[-1])
    assert summary["ok"] and summary["beats"] == 25
    assert summary["events_expected"] == 25 * 7 == summary["events_ledgered"]
    assert summary["chain_verified"] and len(summary["merkle_root"]) == 64
    assert summary["t_lambda_s"] == pytest.approx(0.004211, abs=1e-6)
    assert summary["delta_t"] == pytest.approx(-0.015789, abs=1e-6)
    assert summary["delta_v"] == pytest.approx(-0.015789, abs=1e-6) and summary["delta_v_negative"]
    assert sum(summary["decisions"].values()) == 25
    assert sum(summary["genome"].values()) == pytest.approx(1.0)
    assert "e2e-run-host" in summary["mesh_peers"]  # --mesh: the run's node met the stack's mesh-discovery
    # the stack it brought up is gone again
    status = subprocess.run([sys.executable, "-m", "venom_cli", "status", "--json", "--data-dir", str(tmp_path / "v")],
                            capture_output=True, text=True, env=env, timeout=60)
    assert json.loads(status.stdout)["running"] is False
