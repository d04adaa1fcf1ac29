"""free_port: a port a server can bind a moment later, out of reach of outgoing connections."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest

from venom_common import embedded
from venom_common.embedded import LOWEST_PICKED_PORT, ephemeral_port_range, free_port, port_is_free


def test_the_ephemeral_range_is_read_and_a_bad_file_gives_none(tmp_path: Path) -> None:
    good = tmp_path / "range"
    good.write_text("32768\t60999\n")
    assert ephemeral_port_range(good) == (32768, 60999)
    bad = tmp_path / "bad"
    bad.write_text("not numbers")
    assert ephemeral_port_range(bad) is None
    assert ephemeral_port_range(tmp_path / "missing") is None


@pytest.mark.skipif(ephemeral_port_range() is None, reason="no ephemeral port range to read (not Linux)")
def test_ports_are_picked_below_the_ephemeral_range_bindable_and_never_twice() -> None:
    low, _ = ephemeral_port_range()  # type: ignore[misc]
    ports = [free_port() for _ in range(300)]
    assert len(set(ports)) == len(ports)
    assert all(LOWEST_PICKED_PORT <= p < low for p in ports)
    assert all(port_is_free(p) for p in ports[:20])


@pytest.mark.skipif(ephemeral_port_range() is None, reason="no ephemeral port range to read (not Linux)")
def test_a_port_in_use_is_not_picked(monkeypatch: pytest.MonkeyPatch) -> None:
    held = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        held.bind(("127.0.0.1", 0))
        busy = held.getsockname()[1]
        # Make the random pick offer the busy port first, then a free one.
        offers = iter([busy, LOWEST_PICKED_PORT + 7])

        class Offers:
            def randrange(self, a: int, b: int) -> int:
                return next(offers)

        monkeypatch.setattr(embedded, "_pick", Offers())
        monkeypatch.setattr(embedded, "ephemeral_port_range", lambda: (40000, 60999))
        monkeypatch.setattr(embedded, "_handed_out", set())
        if not port_is_free(LOWEST_PICKED_PORT + 7):
            pytest.skip("the test's free port is taken on this machine")
        assert free_port() == LOWEST_PICKED_PORT + 7
    finally:
        held.close()


def test_without_a_range_the_kernel_picks(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(embedded, "ephemeral_port_range", lambda: None)
    port = free_port()
    assert port_is_free(port)
