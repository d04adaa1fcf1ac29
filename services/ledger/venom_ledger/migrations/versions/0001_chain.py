"""The hash chain, its Merkle nodes and its signed checkpoints.

Revision ID: 0001_chain
Revises:
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001_chain"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "ledger_entries",
        sa.Column("chain", sa.Text, nullable=False),
        sa.Column("idx", sa.BigInteger, nullable=False),
        sa.Column("timestamp", sa.Text, nullable=False),
        sa.Column("data", sa.Text, nullable=False),
        sa.Column("previous_hash", sa.Text, nullable=False),
        sa.Column("hash", sa.Text, nullable=False),
        sa.Column("event_id", sa.Text, nullable=True),
        sa.PrimaryKeyConstraint("chain", "idx", name="ledger_entries_pkey"),
        # F-LEDGER-2: an event is recorded once per chain (NULL for entries that are not events).
        sa.UniqueConstraint("chain", "event_id", name="ledger_entries_event_id_key"),
        sa.CheckConstraint("idx >= 0", name="ledger_entries_idx_nonneg"),
    )
    op.create_table(
        "ledger_merkle_nodes",
        sa.Column("chain", sa.Text, nullable=False),
        sa.Column("level", sa.SmallInteger, nullable=False),
        sa.Column("idx", sa.BigInteger, nullable=False),
        sa.Column("hash", sa.LargeBinary, nullable=False),
        sa.PrimaryKeyConstraint("chain", "level", "idx", name="ledger_merkle_nodes_pkey"),
    )
    op.create_table(
        "ledger_checkpoints",
        sa.Column("chain", sa.Text, nullable=False),
        sa.Column("tree_size", sa.BigInteger, nullable=False),
        sa.Column("root_hash", sa.Text, nullable=False),
        sa.Column("timestamp", sa.Text, nullable=False),
        sa.Column("key_id", sa.Text, nullable=False),
        sa.Column("signature", sa.Text, nullable=False),
        sa.PrimaryKeyConstraint("chain", "tree_size", name="ledger_checkpoints_pkey"),
    )


def downgrade() -> None:
    op.drop_table("ledger_checkpoints")
    op.drop_table("ledger_merkle_nodes")
    op.drop_table("ledger_entries")
