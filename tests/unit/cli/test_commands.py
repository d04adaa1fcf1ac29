"""The commands' answers when nothing runs, and where `events tail` finds NATS (no servers needed)."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from typer.testing import CliRunner
from venom_cli.events_tail import resolve_nats_url
from venom_cli.main import app
from venom_cli.state import (
    InstanceLock,
    ProcessRef,
    ServerState,
    VenomState,
    write_state,
)
from venom_common.settings import DEFAULT_NATS_URL

runner = CliRunner()


def test_status_when_nothing_runs_says_so_and_exits_1(tmp_path: Path) -> None:
    result = runner.invoke(app, ["status", "--json", "--data-dir", str(tmp_path)])
    assert result.exit_code == 1
    report = json.loads(result.stdout)
    assert report["running"] is False and report["components"] == []
    human = runner.invoke(app, ["status", "--data-dir", str(tmp_path)])
    assert human.exit_code == 1 and "not running" in human.stdout


def test_down_when_nothing_runs_says_so_and_exits_0(tmp_path: Path) -> None:
    result = runner.invoke(app, ["down", "--data-dir", str(tmp_path)])
    assert result.exit_code == 0 and "not running" in result.stdout


def test_up_refuses_a_data_dir_that_is_locked_before_starting_anything(tmp_path: Path) -> None:
    lock = InstanceLock.acquire(tmp_path)
    try:
        for mode in ([], ["--detach"]):
            result = runner.invoke(app, ["up", *mode, "--data-dir", str(tmp_path)])
            assert result.exit_code == 1
            assert "already running" in result.output and f"pid {os.getpid()}" in result.output
    finally:
        lock.release()
    assert not (tmp_path / "nats").exists() and not (tmp_path / "postgres").exists()


def test_up_rejects_an_unknown_service_name(tmp_path: Path) -> None:
    result = runner.invoke(app, ["up", "--only", "hardware-agent,no-such-service", "--data-dir", str(tmp_path)])
    assert result.exit_code == 2 and "no-such-service" in result.output


def test_events_tail_finds_nats_flag_then_env_then_running_state_then_default(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("VENOM_NATS_URL", raising=False)
    assert resolve_nats_url(None, tmp_path) == DEFAULT_NATS_URL
    me = ProcessRef.of(os.getpid())
    assert me is not None
    state = VenomState(phase="running", process=me, started_at=0.0, data_dir=str(tmp_path), log_path="x",
                       nats=ServerState(name="nats", kind="nats", embedded=True, url="nats://127.0.0.1:4999"))
    write_state(tmp_path, state)
    assert resolve_nats_url(None, tmp_path) == "nats://127.0.0.1:4999"
    write_state(tmp_path, state.model_copy(update={"phase": "stopped"}))
    assert resolve_nats_url(None, tmp_path) == DEFAULT_NATS_URL
    monkeypatch.setenv("VENOM_NATS_URL", "nats://env:4222")
    assert resolve_nats_url(None, tmp_path) == "nats://env:4222"
    assert resolve_nats_url("nats://flag:4222", tmp_path) == "nats://flag:4222"
