import socket

import pytest
from pydantic import ValidationError

from venom_common.settings import VenomSettings, default_node_id, sanitize_token


def test_defaults_work_locally(monkeypatch: pytest.MonkeyPatch) -> None:
    for key in ("VENOM_NATS_URL", "VENOM_DATABASE_URL", "VENOM_NODE_ID", "VENOM_BIND_HOST"):
        monkeypatch.delenv(key, raising=False)
    s = VenomSettings()
    assert s.nats_url == "nats://127.0.0.1:4222"
    assert s.bind_host == "127.0.0.1"
    assert s.node_id == default_node_id() == sanitize_token(socket.gethostname())
    assert s.otlp_endpoint is None


def test_env_prefix(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("VENOM_NATS_URL", "nats://a:1,nats://b:2")
    monkeypatch.setenv("VENOM_NODE_ID", "edge-7")
    monkeypatch.setenv("VENOM_PORT", "9999")
    s = VenomSettings()
    assert s.nats_servers == ["nats://a:1", "nats://b:2"]
    assert s.node_id == "edge-7" and s.port == 9999


@pytest.mark.parametrize("bad", ["a.b", "x y", "n*", ">"])
def test_node_id_must_be_a_subject_token(monkeypatch: pytest.MonkeyPatch, bad: str) -> None:
    monkeypatch.setenv("VENOM_NODE_ID", bad)
    with pytest.raises(ValidationError, match="subject token"):
        VenomSettings()


def test_port_range(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("VENOM_PORT", "70000")
    with pytest.raises(ValidationError):
        VenomSettings()


def test_services_run_on_uvloop_unless_turned_off() -> None:
    import uvloop

    from venom_common.runner import event_loop_factory

    assert event_loop_factory(VenomSettings()) is uvloop.new_event_loop
    assert event_loop_factory(VenomSettings(uvloop=False)) is None  # asyncio's own loop
