"""Each notification's kind and delivery: where it went, its state, its attempts, last error.

Revision ID: 0004
Revises: 0003
Created: 2026-11-30 12:20:00
"""

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("outbox") as batch_op:
        batch_op.add_column(sa.Column("kind", sa.String(), nullable=False, server_default=""))
        batch_op.add_column(sa.Column("due_days", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("address", sa.String(), nullable=True))
        batch_op.add_column(
            sa.Column("status", sa.String(), nullable=False, server_default="pending")
        )
        batch_op.add_column(sa.Column("attempts", sa.Integer(), nullable=False, server_default="0"))
        batch_op.add_column(sa.Column("last_error", sa.String(), nullable=True))
    op.execute("UPDATE outbox SET status = 'sent' WHERE sent_at IS NOT NULL")
    op.create_index("ix_outbox_status", "outbox", ["status"])


def downgrade() -> None:
    op.drop_index("ix_outbox_status", "outbox")
    with op.batch_alter_table("outbox") as batch_op:
        for column in ("last_error", "attempts", "status", "address", "due_days", "kind"):
            batch_op.drop_column(column)
