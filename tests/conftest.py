"""Shared fixtures: real servers, started on free ports in temporary directories.

``VENOM_NATS_URL`` / ``VENOM_DATABASE_URL`` in the environment switch the
fixtures to external servers instead of embedded ones.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from venom_common.embedded import EmbeddedNats, EmbeddedPostgres

REPO = Path(__file__).resolve().parent.parent
SHARED = REPO.parent / "shared"


@pytest.fixture(scope="session")
def nats_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A JetStream-enabled nats-server for the whole session (or VENOM_NATS_URL)."""
    external = os.environ.get("VENOM_NATS_URL")
    if external:
        yield external
        return
    server = EmbeddedNats(tmp_path_factory.mktemp("nats")).start()
    try:
        yield server.url
    finally:
        server.stop()


@pytest.fixture(scope="session")
def postgres_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A PostgreSQL for the whole session (or VENOM_DATABASE_URL)."""
    external = os.environ.get("VENOM_DATABASE_URL")
    if external:
        yield external
        return
    server = EmbeddedPostgres(tmp_path_factory.mktemp("pg")).start()
    try:
        yield server.url
    finally:
        server.stop()


@pytest.fixture
def unique() -> str:
    """A short unique token, for stream, consumer and node names that must not collide between tests."""
    return uuid.uuid4().hex[:10]


@pytest.fixture
async def nc(nats_url: str) -> AsyncIterator[object]:
    import nats

    client = await nats.connect(nats_url)
    try:
        yield client
    finally:
        await client.drain()


@pytest.fixture(scope="session", autouse=True)
def span_exporter() -> Iterator[object]:
    """Spans of in-process services, recorded for the whole session (cleared by tests that read them).

    Set up first, so that this process's one tracer provider records spans (without an exporter
    the services record none)."""
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

    from venom_common.telemetry.tracing import setup_tracing

    exporter = InMemorySpanExporter()
    setup_tracing("test", "test", None, extra_processors=[SimpleSpanProcessor(exporter)])
    yield exporter


@pytest.fixture
async def bus(nats_url: str) -> AsyncIterator[object]:
    """A connected venom_common Bus with the streams ensured (a test publisher's view of the bus)."""
    from venom_common.bus import Bus
    from venom_common.settings import VenomSettings

    b = await Bus.connect(VenomSettings(nats_url=nats_url, node_id="test"), "test")
    await b.ensure_streams()
    try:
        yield b
    finally:
        await b.drain()
