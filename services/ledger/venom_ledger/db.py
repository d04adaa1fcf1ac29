"""Database plumbing: the async engine, the ledger's tables, and running its migrations (F-LEDGER-2).

The schema is created by the Alembic migrations in ``venom_ledger/migrations`` (they ship inside
the package); the ``Table`` objects below describe the same tables for queries.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

from sqlalchemy import BigInteger, Column, LargeBinary, MetaData, SmallInteger, Table, Text, text
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

metadata = MetaData()

entries = Table(
    "ledger_entries",
    metadata,
    Column("chain", Text, primary_key=True),
    Column("idx", BigInteger, primary_key=True),
    Column("timestamp", Text, nullable=False),
    Column("data", Text, nullable=False),  # canonical JSON, the exact bytes hashed
    Column("previous_hash", Text, nullable=False),
    Column("hash", Text, nullable=False),
    Column("event_id", Text, nullable=True),
)

nodes = Table(
    "ledger_merkle_nodes",
    metadata,
    Column("chain", Text, primary_key=True),
    Column("level", SmallInteger, primary_key=True),
    Column("idx", BigInteger, primary_key=True),
    Column("hash", LargeBinary, nullable=False),
)

checkpoints = Table(
    "ledger_checkpoints",
    metadata,
    Column("chain", Text, primary_key=True),
    Column("tree_size", BigInteger, primary_key=True),
    Column("root_hash", Text, nullable=False),
    Column("timestamp", Text, nullable=False),
    Column("key_id", Text, nullable=False),
    Column("signature", Text, nullable=False),
)

MIGRATIONS_DIR = Path(__file__).parent / "migrations"
VERSION_TABLE = "ledger_alembic_version"


def lock_key(name: str) -> int:
    """A stable signed 64-bit PostgreSQL advisory-lock key for ``name``."""
    return int.from_bytes(hashlib.sha3_256(f"venom-ledger:{name}".encode()).digest()[:8], "big", signed=True)


def async_url(url: str) -> str:
    """``postgresql://…`` → ``postgresql+asyncpg://…`` (SQLAlchemy's asyncpg dialect)."""
    for prefix in ("postgresql+asyncpg://", "postgresql://", "postgres://"):
        if url.startswith(prefix):
            return "postgresql+asyncpg://" + url[len(prefix):]
    raise ValueError(f"database URL must start with postgresql://, got {url.split('://')[0]}://…")


def make_engine(url: str, *, pool_size: int = 5, pre_ping: bool = True) -> AsyncEngine:
    """The async engine. ``pre_ping`` checks every pooled connection with a round trip before use; the
    service turns it off (its reads retry once on a dead connection, ``LedgerStore._read``, and its
    writer notices a lost session itself), which takes one round trip off every read, e.g. a proof."""
    return create_async_engine(async_url(url), pool_size=pool_size, max_overflow=10, pool_pre_ping=pre_ping)


def _upgrade(connection: Connection, revision: str) -> None:
    from alembic import command
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    cfg.attributes["connection"] = connection
    command.upgrade(cfg, revision)


async def migrate(engine: AsyncEngine, revision: str = "head") -> None:
    """Bring the schema to ``revision``; safe when several instances start at once."""
    async with engine.begin() as conn:
        await conn.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": lock_key("migrations")})
        await conn.run_sync(_upgrade, revision)
