"""Alembic migrations of the ledger's schema (run by ``venom_ledger.db.migrate``)."""
