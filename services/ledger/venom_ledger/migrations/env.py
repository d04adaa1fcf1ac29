"""Alembic environment: runs on the connection ``venom_ledger.db.migrate`` hands over."""

from __future__ import annotations

from alembic import context

from venom_ledger.db import VERSION_TABLE

connection = context.config.attributes.get("connection")
if connection is None:
    raise RuntimeError("run the ledger migrations with `python -m venom_ledger migrate` (venom_ledger.db.migrate)")
context.configure(connection=connection, version_table=VERSION_TABLE, transactional_ddl=True)
with context.begin_transaction():
    context.run_migrations()
