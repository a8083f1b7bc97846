"""Committee sessions and their agenda's files; a notice's response time in working days and the
document attached to it (a result letter).

Revision ID: 0007
Revises: 0006
Created: 2026-12-04 10:00:00
"""

import sqlalchemy as sa
import sqlmodel
from alembic import op

import projection.tables

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    utc = projection.tables.UTCDateTime
    text = sqlmodel.sql.sqltypes.AutoString
    op.create_table(
        "committee_sessions",
        sa.Column("id", text(), nullable=False),
        sa.Column("title", text(), nullable=False),
        sa.Column("stage", text(), nullable=False),
        sa.Column("meets_at", utc(), nullable=False),
        sa.Column("state", sa.JSON(), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("updated_at", utc(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("committee_sessions") as batch_op:
        batch_op.create_index("ix_committee_sessions_stage", ["stage"], unique=False)
        batch_op.create_index("ix_committee_sessions_meets_at", ["meets_at"], unique=False)
    op.create_table(
        "session_items",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("session_id", text(), nullable=False),
        sa.Column("application_id", text(), nullable=False),
        sa.Column("call_id", text(), nullable=False),
        sa.Column("rank", sa.Integer(), nullable=False),
        sa.Column("status", text(), nullable=False),
        sa.Column("outcome", text(), nullable=True),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("session_id", "application_id", name="uq_session_item"),
    )
    with op.batch_alter_table("session_items") as batch_op:
        for column in ("session_id", "application_id", "call_id"):
            batch_op.create_index(f"ix_session_items_{column}", [column], unique=False)
    with op.batch_alter_table("outbox") as batch_op:
        batch_op.add_column(
            sa.Column("due_working", sa.Boolean(), nullable=False, server_default=sa.false())
        )
        batch_op.add_column(sa.Column("attachment", text(), nullable=True))
        batch_op.add_column(sa.Column("attachment_sha256", text(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("outbox") as batch_op:
        for column in ("attachment_sha256", "attachment", "due_working"):
            batch_op.drop_column(column)
    with op.batch_alter_table("session_items") as batch_op:
        for column in ("call_id", "application_id", "session_id"):
            batch_op.drop_index(f"ix_session_items_{column}")
    op.drop_table("session_items")
    with op.batch_alter_table("committee_sessions") as batch_op:
        batch_op.drop_index("ix_committee_sessions_meets_at")
        batch_op.drop_index("ix_committee_sessions_stage")
    op.drop_table("committee_sessions")
