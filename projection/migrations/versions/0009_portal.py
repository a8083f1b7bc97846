"""The applicants' portal (portal/): associations and their people, sign-in links and sessions
(only secrets' SHA-256 stored), and the dossiers' drafts with their uploaded files.

Revision ID: 0009
Revises: 0008
Created: 2026-12-04 12:18:49
"""

import sqlalchemy as sa
import sqlmodel
from alembic import op

import projection.tables

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "associations",
        sa.Column("id", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("name", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("created_at", projection.tables.UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_table(
        "portal_links",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("digest", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("email", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("client", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("created_at", projection.tables.UTCDateTime(), nullable=False),
        sa.Column("expires_at", projection.tables.UTCDateTime(), nullable=False),
        sa.Column("used_at", projection.tables.UTCDateTime(), nullable=True),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("digest"),
    )
    with op.batch_alter_table("portal_links", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_portal_links_client"), ["client"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_portal_links_created_at"), ["created_at"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_portal_links_email"), ["email"], unique=False)

    op.create_table(
        "portal_people",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("email", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("name", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("language", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("created_at", projection.tables.UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("email"),
    )
    op.create_table(
        "portal_drafts",
        sa.Column("id", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("association_id", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("call_id", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("data", sa.JSON(), nullable=False),
        sa.Column("updated_by", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("updated_at", projection.tables.UTCDateTime(), nullable=False),
        sa.Column("application_id", sqlmodel.sql.sqltypes.AutoString(), nullable=True),
        sa.Column("deposited_at", projection.tables.UTCDateTime(), nullable=True),
        sa.Column("receipt", sqlmodel.sql.sqltypes.AutoString(), nullable=True),
        sa.Column("receipt_pdf", sqlmodel.sql.sqltypes.AutoString(), nullable=True),
        sa.ForeignKeyConstraint(
            ["association_id"],
            ["associations.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("application_id"),
        sa.UniqueConstraint("association_id", "call_id", name="uq_portal_draft"),
    )
    with op.batch_alter_table("portal_drafts", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_portal_drafts_association_id"), ["association_id"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_portal_drafts_call_id"), ["call_id"], unique=False)

    op.create_table(
        "portal_members",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("association_id", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("email", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("role", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("invited_by", sqlmodel.sql.sqltypes.AutoString(), nullable=True),
        sa.Column("invited_at", projection.tables.UTCDateTime(), nullable=False),
        sa.Column("expires_at", projection.tables.UTCDateTime(), nullable=True),
        sa.Column("joined_at", projection.tables.UTCDateTime(), nullable=True),
        sa.ForeignKeyConstraint(
            ["association_id"],
            ["associations.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("association_id", "email", name="uq_portal_member"),
    )
    with op.batch_alter_table("portal_members", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_portal_members_association_id"), ["association_id"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_portal_members_email"), ["email"], unique=False)

    op.create_table(
        "portal_sessions",
        sa.Column("digest", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("person_id", sa.Integer(), nullable=False),
        sa.Column("expires_at", projection.tables.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["person_id"],
            ["portal_people.id"],
        ),
        sa.PrimaryKeyConstraint("digest"),
    )
    with op.batch_alter_table("portal_sessions", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_portal_sessions_person_id"), ["person_id"], unique=False
        )

    op.create_table(
        "portal_draft_files",
        sa.Column("id", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("draft_id", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("kind", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("filename", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("content_type", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("size", sa.Integer(), nullable=False),
        sa.Column("sha256", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("ref", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("uploaded_by", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("uploaded_at", projection.tables.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["draft_id"],
            ["portal_drafts.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("portal_draft_files", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_portal_draft_files_draft_id"), ["draft_id"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("portal_draft_files", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_portal_draft_files_draft_id"))

    op.drop_table("portal_draft_files")
    with op.batch_alter_table("portal_sessions", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_portal_sessions_person_id"))

    op.drop_table("portal_sessions")
    with op.batch_alter_table("portal_members", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_portal_members_email"))
        batch_op.drop_index(batch_op.f("ix_portal_members_association_id"))

    op.drop_table("portal_members")
    with op.batch_alter_table("portal_drafts", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_portal_drafts_call_id"))
        batch_op.drop_index(batch_op.f("ix_portal_drafts_association_id"))

    op.drop_table("portal_drafts")
    op.drop_table("portal_people")
    with op.batch_alter_table("portal_links", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_portal_links_email"))
        batch_op.drop_index(batch_op.f("ix_portal_links_created_at"))
        batch_op.drop_index(batch_op.f("ix_portal_links_client"))

    op.drop_table("portal_links")
    op.drop_table("associations")
