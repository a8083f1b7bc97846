"""The schema as it stood when migrations began (every table, for an empty database).

Revision ID: 0001
Revises:
Created: 2026-11-30 10:12:25.653903
"""

import sqlalchemy as sa
import sqlmodel
from alembic import op

import projection.tables

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "applications",
        sa.Column("id", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("call_id", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("previous_cluster_id", sqlmodel.sql.sqltypes.AutoString(), nullable=True),
        sa.Column("cluster_name", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("search_name", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("sector", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("stage", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("due_at", projection.tables.UTCDateTime(), nullable=True),
        sa.Column("registered_at", projection.tables.UTCDateTime(), nullable=False),
        sa.Column("state", sa.JSON(), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("updated_at", projection.tables.UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("applications", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_applications_call_id"), ["call_id"], unique=False)
        batch_op.create_index(
            "ix_applications_call_registered_name",
            ["call_id", "registered_at", "id", "search_name"],
            unique=False,
        )
        batch_op.create_index("ix_applications_call_stage", ["call_id", "stage"], unique=False)
        batch_op.create_index(batch_op.f("ix_applications_due_at"), ["due_at"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_applications_previous_cluster_id"), ["previous_cluster_id"], unique=False
        )
        batch_op.create_index(
            "ix_applications_registered_name", ["registered_at", "id", "search_name"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_applications_sector"), ["sector"], unique=False)
        batch_op.create_index(batch_op.f("ix_applications_stage"), ["stage"], unique=False)
    # An expression index, which autogenerate skips: the case list filtered by call and sector.
    op.create_index(
        "ix_applications_call_sector",
        "applications",
        ["call_id", sa.text("lower(sector)"), "registered_at", "id"],
    )

    op.create_table(
        "assignments",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("application_id", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("call_id", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("evaluator", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("status", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("due_at", projection.tables.UTCDateTime(), nullable=True),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("application_id", "evaluator", name="uq_assignment"),
    )
    with op.batch_alter_table("assignments", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_assignments_application_id"), ["application_id"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_assignments_evaluator"), ["evaluator"], unique=False)

    op.create_table(
        "audit_events",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("workflow_id", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("case_id", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("action", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("actor", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("role", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("at", projection.tables.UTCDateTime(), nullable=False),
        sa.Column("from_stage", sqlmodel.sql.sqltypes.AutoString(), nullable=True),
        sa.Column("to_stage", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("reason", sqlmodel.sql.sqltypes.AutoString(), nullable=True),
        sa.Column("payload", sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("workflow_id", "seq", name="uq_audit_workflow_seq"),
    )
    op.create_table(
        "calls",
        sa.Column("id", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("year", sa.Integer(), nullable=False),
        sa.Column("title", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("stage", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("opens_at", projection.tables.UTCDateTime(), nullable=False),
        sa.Column("deadline", projection.tables.UTCDateTime(), nullable=False),
        sa.Column("state", sa.JSON(), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("updated_at", projection.tables.UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("calls", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_calls_deadline"), ["deadline"], unique=False)
        batch_op.create_index(batch_op.f("ix_calls_stage"), ["stage"], unique=False)
        batch_op.create_index(batch_op.f("ix_calls_year"), ["year"], unique=False)

    op.create_table(
        "clusters",
        sa.Column("id", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("application_id", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("previous_cluster_id", sqlmodel.sql.sqltypes.AutoString(), nullable=True),
        sa.Column("call_id", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("cluster_name", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("sector", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("stage", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("year", sa.Integer(), nullable=False),
        sa.Column("anniversary_at", projection.tables.UTCDateTime(), nullable=True),
        sa.Column("report_due_at", projection.tables.UTCDateTime(), nullable=True),
        sa.Column("can_reapply", sa.Boolean(), nullable=False),
        sa.Column("state", sa.JSON(), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("updated_at", projection.tables.UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("clusters", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_clusters_anniversary_at"), ["anniversary_at"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_clusters_call_id"), ["call_id"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_clusters_previous_cluster_id"), ["previous_cluster_id"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_clusters_stage"), ["stage"], unique=False)

    op.create_table(
        "outbox",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("key", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("recipient", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("subject", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("body", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("created_at", projection.tables.UTCDateTime(), nullable=False),
        sa.Column("sent_at", projection.tables.UTCDateTime(), nullable=True),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("key"),
    )
    op.create_table(
        "support_payments",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("cluster_id", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("year", sa.Integer(), nullable=False),
        sa.Column("starts_at", projection.tables.UTCDateTime(), nullable=False),
        sa.Column("amount", sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("cluster_id", "year", name="uq_payment_year"),
    )
    with op.batch_alter_table("support_payments", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_support_payments_cluster_id"), ["cluster_id"], unique=False
        )

    op.create_table(
        "users",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("role", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("email", sqlmodel.sql.sqltypes.AutoString(), nullable=True),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("created_at", projection.tables.UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("name"),
    )
    op.create_table(
        "api_tokens",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("digest", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("created_at", projection.tables.UTCDateTime(), nullable=False),
        sa.Column("revoked_at", projection.tables.UTCDateTime(), nullable=True),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["users.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("digest"),
    )
    with op.batch_alter_table("api_tokens", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_api_tokens_user_id"), ["user_id"], unique=False)

    op.create_table(
        "console_sessions",
        sa.Column("digest", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("expires_at", projection.tables.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["users.id"],
        ),
        sa.PrimaryKeyConstraint("digest"),
    )
    with op.batch_alter_table("console_sessions", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_console_sessions_user_id"), ["user_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("console_sessions", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_console_sessions_user_id"))

    op.drop_table("console_sessions")
    with op.batch_alter_table("api_tokens", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_api_tokens_user_id"))

    op.drop_table("api_tokens")
    op.drop_table("users")
    with op.batch_alter_table("support_payments", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_support_payments_cluster_id"))

    op.drop_table("support_payments")
    op.drop_table("outbox")
    with op.batch_alter_table("clusters", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_clusters_stage"))
        batch_op.drop_index(batch_op.f("ix_clusters_previous_cluster_id"))
        batch_op.drop_index(batch_op.f("ix_clusters_call_id"))
        batch_op.drop_index(batch_op.f("ix_clusters_anniversary_at"))

    op.drop_table("clusters")
    with op.batch_alter_table("calls", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_calls_year"))
        batch_op.drop_index(batch_op.f("ix_calls_stage"))
        batch_op.drop_index(batch_op.f("ix_calls_deadline"))

    op.drop_table("calls")
    op.drop_table("audit_events")
    with op.batch_alter_table("assignments", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_assignments_evaluator"))
        batch_op.drop_index(batch_op.f("ix_assignments_application_id"))

    op.drop_table("assignments")
    with op.batch_alter_table("applications", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_applications_stage"))
        batch_op.drop_index(batch_op.f("ix_applications_sector"))
        batch_op.drop_index("ix_applications_registered_name")
        batch_op.drop_index(batch_op.f("ix_applications_previous_cluster_id"))
        batch_op.drop_index(batch_op.f("ix_applications_due_at"))
        batch_op.drop_index("ix_applications_call_stage")
        batch_op.drop_index("ix_applications_call_registered_name")
        batch_op.drop_index(batch_op.f("ix_applications_call_id"))

    op.drop_table("applications")
