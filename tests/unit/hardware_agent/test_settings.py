"""Hardware agent settings: defaults, the 10 ms floor, replay options from the environment."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from venom_hardware_agent.settings import HardwareAgentSettings


def test_defaults() -> None:
    s = HardwareAgentSettings(node_id="n1")
    assert (s.port, s.interval_s, s.bind_host) == (9101, 1.0, "127.0.0.1")
    assert s.replay_file is None and s.replay_bad_rows == "error" and s.detector == "tail-surprise"


def test_interval_floor_is_10_ms() -> None:
    assert HardwareAgentSettings(node_id="n1", interval_s=0.01).interval_s == 0.01
    with pytest.raises(ValidationError):
        HardwareAgentSettings(node_id="n1", interval_s=0.005)


def test_replay_options_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("VENOM_REPLAY_FILE", "/data/x.csv")
    monkeypatch.setenv("VENOM_REPLAY_METRIC", "cpu_percent")
    monkeypatch.setenv("VENOM_REPLAY_BAD_ROWS", "skip")
    monkeypatch.setenv("VENOM_REPLAY_LOOP", "true")
    s = HardwareAgentSettings(node_id="n1")
    assert s.replay_file == Path("/data/x.csv") and s.replay_metric == "cpu_percent"
    assert s.replay_bad_rows == "skip" and s.replay_loop is True
    monkeypatch.setenv("VENOM_REPLAY_BAD_ROWS", "ignore")
    with pytest.raises(ValidationError):
        HardwareAgentSettings(node_id="n1")
