"""Staff invitations: a one-time link mailed to a new person, who sets their own sign-in with it
(web.invitations). Only the secret's SHA-256 is stored.

Revision ID: 0006
Revises: 0005
Created: 2026-12-04 09:00:00
"""

import sqlalchemy as sa
import sqlmodel
from alembic import op

import projection.tables

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    utc = projection.tables.UTCDateTime
    text = sqlmodel.sql.sqltypes.AutoString
    op.create_table(
        "staff_invitations",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("digest", text(), nullable=False),
        sa.Column("invited_by", text(), nullable=False),
        sa.Column("created_at", utc(), nullable=False),
        sa.Column("expires_at", utc(), nullable=False),
        sa.Column("sent_at", utc(), nullable=True),
        sa.Column("send_error", text(), nullable=True),
        sa.Column("used_at", utc(), nullable=True),
        sa.Column("revoked_at", utc(), nullable=True),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("digest"),
    )
    with op.batch_alter_table("staff_invitations") as batch_op:
        batch_op.create_index("ix_staff_invitations_user_id", ["user_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("staff_invitations") as batch_op:
        batch_op.drop_index("ix_staff_invitations_user_id")
    op.drop_table("staff_invitations")
