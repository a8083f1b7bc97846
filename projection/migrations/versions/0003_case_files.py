"""Files belong to a case of either kind: a cluster keeps its annual reports as files too, and
shares its application's id, so a file names its case's kind beside its id.

Revision ID: 0003
Revises: 0002
Created: 2026-11-30 12:10:00
"""

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

TABLES = ("documents", "downloads")


def upgrade() -> None:
    for table in TABLES:
        with op.batch_alter_table(table) as batch_op:
            batch_op.drop_index(f"ix_{table}_application_id")
            batch_op.alter_column("application_id", new_column_name="case_id")
            batch_op.add_column(
                sa.Column("case_kind", sa.String(), nullable=False, server_default="application")
            )
        op.create_index(f"ix_{table}_case", table, ["case_kind", "case_id"])


def downgrade() -> None:
    for table in TABLES:
        op.execute(f"DELETE FROM {table} WHERE case_kind <> 'application'")
        op.drop_index(f"ix_{table}_case", table)
        with op.batch_alter_table(table) as batch_op:
            batch_op.drop_column("case_kind")
            batch_op.alter_column("case_id", new_column_name="application_id")
        op.create_index(f"ix_{table}_application_id", table, ["application_id"])
