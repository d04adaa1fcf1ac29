"""The `venom-omega` entry point as an installed console script, run as a real process (F-HW-4)."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.integration

SCRIPT = Path(sys.executable).parent / "venom-omega"


def run(*args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    exe = str(SCRIPT) if SCRIPT.exists() else shutil.which("venom-omega")
    assert exe, "venom-omega is not installed (pip install -e .)"
    return subprocess.run([exe, *args], capture_output=True, text=True, timeout=timeout, check=False)


def test_entry_point_scan_and_compress_with_this_hosts_capacity() -> None:
    scan = run("scan", "--json", "--no-probe-torch")
    assert scan.returncode == 0, scan.stderr
    derived = json.loads(scan.stdout)["derived"]
    compress = run("compress", "10", "--json", "--no-probe-torch")
    assert compress.returncode == 0, compress.stderr
    out = json.loads(compress.stdout)
    assert out["kind"] == "model" and out["inputs_from"]["theta"] == "measured on this host"
    est = out["estimates"][1]
    assert est["strategy"] == "adaptive" and est["lambda_wrap"] == derived["lambda_wrap"]
    assert est["workers_n"] == derived["workers_n"] and 0 <= est["theta"] <= 1


def test_entry_point_refuses_bad_input_with_exit_2() -> None:
    result = run("compress", "10", "--theta", "0.5", "--lambda", "100", "--p", "1.5", "--n", "2")
    assert result.returncode == 2 and "P (parallel fraction) must be in [0, 1]" in result.stderr
