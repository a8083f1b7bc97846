"""Each console session remembers the API token it was opened with, so revoking that one token
ends it. Sessions opened before knew no token: they end here (their people sign in again).

Revision ID: 0005
Revises: 0004
Created: 2026-12-01 09:00:00
"""

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("DELETE FROM console_sessions")
    with op.batch_alter_table("console_sessions") as batch_op:
        batch_op.add_column(sa.Column("token_id", sa.Integer(), nullable=False))
        batch_op.create_foreign_key(
            "fk_console_sessions_token_id_api_tokens", "api_tokens", ["token_id"], ["id"]
        )
        batch_op.create_index("ix_console_sessions_token_id", ["token_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("console_sessions") as batch_op:
        batch_op.drop_index("ix_console_sessions_token_id")
        batch_op.drop_constraint("fk_console_sessions_token_id_api_tokens", type_="foreignkey")
        batch_op.drop_column("token_id")
