"""The SQL tables: one row per case, its audit trail and the notification outbox (the projection,
written by the workflows alone), and the staff accounts (written by web.identity)."""

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import JSON, DateTime, Index, TypeDecorator, UniqueConstraint, text
from sqlmodel import Column, Field, SQLModel

from domain.ids import Kind


class UTCDateTime(TypeDecorator):
    """Aware UTC in Python, naive UTC in the column: the same on SQLite and PostgreSQL."""

    impl = DateTime
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        return value.astimezone(UTC).replace(tzinfo=None)

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        return value.replace(tzinfo=UTC) if value is not None else None


def utc_column(index: bool = False, nullable: bool = False) -> Any:
    return Field(sa_column=Column(UTCDateTime, index=index, nullable=nullable))


class CallRow(SQLModel, table=True):
    __tablename__ = "calls"

    id: str = Field(primary_key=True)
    year: int = Field(index=True)
    title: str
    stage: str = Field(index=True)
    opens_at: datetime = utc_column()
    deadline: datetime = utc_column(index=True)
    state: dict[str, Any] = Field(sa_column=Column(JSON, nullable=False))
    seq: int
    updated_at: datetime = utc_column()


class ApplicationRow(SQLModel, table=True):
    __tablename__ = "applications"
    # The case list pages in registration order, filtered by call, stage or sector: covered here,
    # so a page never sorts the whole table. The folded name rides along in the order's indexes,
    # so a name search reads the index alone and only fetches the rows of its page.
    __table_args__ = (
        Index("ix_applications_call_stage", "call_id", "stage"),
        Index("ix_applications_registered_name", "registered_at", "id", "search_name"),
        Index(
            "ix_applications_call_registered_name", "call_id", "registered_at", "id", "search_name"
        ),
        Index(
            "ix_applications_call_sector", "call_id", text("lower(sector)"), "registered_at", "id"
        ),
    )

    id: str = Field(primary_key=True)
    call_id: str = Field(index=True)
    previous_cluster_id: str | None = Field(default=None, index=True)
    cluster_name: str
    search_name: str  # domain.search.folded(cluster_name)
    sector: str = Field(index=True)
    stage: str = Field(index=True)
    due_at: datetime | None = utc_column(index=True, nullable=True)
    registered_at: datetime = utc_column()
    state: dict[str, Any] = Field(sa_column=Column(JSON, nullable=False))
    seq: int
    updated_at: datetime = utc_column()


class AuditRow(SQLModel, table=True):
    __tablename__ = "audit_events"
    __table_args__ = (UniqueConstraint("workflow_id", "seq", name="uq_audit_workflow_seq"),)

    id: int | None = Field(default=None, primary_key=True)
    workflow_id: str
    seq: int
    case_id: str
    action: str
    actor: str
    role: str
    at: datetime = utc_column()
    from_stage: str | None = None
    to_stage: str
    reason: str | None = None
    payload: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))


class OutboxRow(SQLModel, table=True):
    __tablename__ = "outbox"

    id: int | None = Field(default=None, primary_key=True)
    key: str = Field(unique=True)  # workflow id, sequence and position: written once
    recipient: str  # an address, or whom it names (« évaluateur:Nom », « programme »)
    kind: str = ""  # which notice (domain.notices): complements_requested, …
    due_days: int | None = None  # a response time counted from the sending (notices.DUE)
    due_working: bool = False  # … in Morocco's working days
    subject: str
    body: str
    created_at: datetime = utc_column()
    sent_at: datetime | None = utc_column(nullable=True)
    # Its delivery (activities.mail): the address it went to; pending, sent or failed.
    address: str | None = None
    status: str = Field(default="pending", index=True)
    attempts: int = 0
    last_error: str | None = None
    # A document built as it is sent and attached (a result letter): where storage keeps it.
    attachment: str | None = None
    attachment_sha256: str | None = None


class AssignmentRow(SQLModel, table=True):
    """Who evaluates what: the evaluators' own list and their access checks read it."""

    __tablename__ = "assignments"
    __table_args__ = (UniqueConstraint("application_id", "evaluator", name="uq_assignment"),)

    id: int | None = Field(default=None, primary_key=True)
    application_id: str = Field(index=True)
    call_id: str
    evaluator: str = Field(index=True)
    status: str  # assigned, declared, conflict, submitted
    due_at: datetime | None = utc_column(nullable=True)


class ClusterRow(SQLModel, table=True):
    """A labelled cluster's support case."""

    __tablename__ = "clusters"

    id: str = Field(primary_key=True)
    application_id: str
    previous_cluster_id: str | None = Field(default=None, index=True)
    call_id: str = Field(index=True)
    cluster_name: str
    sector: str
    stage: str = Field(index=True)
    year: int
    anniversary_at: datetime | None = utc_column(index=True, nullable=True)
    report_due_at: datetime | None = utc_column(nullable=True)
    can_reapply: bool = False
    state: dict[str, Any] = Field(sa_column=Column(JSON, nullable=False))
    seq: int
    updated_at: datetime = utc_column()


class PaymentRow(SQLModel, table=True):
    """Support granted to a cluster for one of its years."""

    __tablename__ = "support_payments"
    __table_args__ = (UniqueConstraint("cluster_id", "year", name="uq_payment_year"),)

    id: int | None = Field(default=None, primary_key=True)
    cluster_id: str = Field(index=True)
    year: int
    starts_at: datetime = utc_column()
    amount: float


class DocumentRow(SQLModel, table=True):
    """A file of a case (an application's dossier, a cluster's reports), as its workflow
    recorded it (the bytes are in storage). A cluster's id is its application's: the kind tells
    them apart."""

    __tablename__ = "documents"
    __table_args__ = (Index("ix_documents_case", "case_kind", "case_id"),)

    id: str = Field(primary_key=True)
    case_kind: str
    case_id: str
    kind: str
    filename: str
    content_type: str
    size: int
    sha256: str
    uploaded_by: str
    uploaded_at: datetime = utc_column()


class DownloadRow(SQLModel, table=True):
    """Who read which file, when (written by the API as it serves the file)."""

    __tablename__ = "downloads"
    __table_args__ = (Index("ix_downloads_case", "case_kind", "case_id"),)

    id: int | None = Field(default=None, primary_key=True)
    document_id: str = Field(index=True)
    case_kind: str
    case_id: str
    actor: str
    role: str
    at: datetime = utc_column()


# --- staff accounts (web.identity) ---------------------------------------------------------
class UserRow(SQLModel, table=True):
    __tablename__ = "users"

    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(unique=True)  # what the audit trail shows; evaluators are assigned by it
    role: str
    email: str | None = None
    active: bool = True
    created_at: datetime = utc_column()


class TokenRow(SQLModel, table=True):
    __tablename__ = "api_tokens"

    id: int | None = Field(default=None, primary_key=True)
    user_id: int = Field(index=True, foreign_key="users.id")
    digest: str = Field(unique=True)  # SHA-256 of the token
    created_at: datetime = utc_column()
    revoked_at: datetime | None = utc_column(nullable=True)


class SessionRow(SQLModel, table=True):
    __tablename__ = "console_sessions"

    digest: str = Field(primary_key=True)  # SHA-256 of the session id in the cookie
    user_id: int = Field(index=True, foreign_key="users.id")
    token_id: int = Field(index=True, foreign_key="api_tokens.id")  # revoked: the session ends
    expires_at: datetime = utc_column()


class CommitteeSessionRow(SQLModel, table=True):
    """A committee session (its agenda's files are in session_items)."""

    __tablename__ = "committee_sessions"

    id: str = Field(primary_key=True)
    title: str
    stage: str = Field(index=True)
    meets_at: datetime = utc_column(index=True)
    state: dict[str, Any] = Field(sa_column=Column(JSON, nullable=False))
    seq: int
    updated_at: datetime = utc_column()


class SessionItemRow(SQLModel, table=True):
    """A file on a session's agenda: which session decides a case, and how far it went."""

    __tablename__ = "session_items"
    __table_args__ = (UniqueConstraint("session_id", "application_id", name="uq_session_item"),)

    id: int | None = Field(default=None, primary_key=True)
    session_id: str = Field(index=True)
    application_id: str = Field(index=True)
    call_id: str = Field(index=True)
    rank: int
    status: str  # pending, opened, decided, removed
    outcome: str | None = None


# The row of each kind of case.
CASE_ROWS: dict[Kind, type[SQLModel]] = {
    Kind.CALL: CallRow,
    Kind.APPLICATION: ApplicationRow,
    Kind.CLUSTER: ClusterRow,
    Kind.SESSION: CommitteeSessionRow,
}


class InvitationRow(SQLModel, table=True):
    """A one-time link sent to a new staff member (web.invitations): its secret's digest only."""

    __tablename__ = "staff_invitations"

    id: int | None = Field(default=None, primary_key=True)
    user_id: int = Field(index=True, foreign_key="users.id")
    digest: str = Field(unique=True)  # SHA-256 of the link's secret
    invited_by: str
    created_at: datetime = utc_column()
    expires_at: datetime = utc_column()
    sent_at: datetime | None = utc_column(nullable=True)
    send_error: str | None = None  # the last attempt's failure, said to the admin
    used_at: datetime | None = utc_column(nullable=True)
    revoked_at: datetime | None = utc_column(nullable=True)  # replaced, or the user deactivated


# --- money (projection.ledger, activities.money; guarded by triggers: migration 0008) ----------
class EnvelopeRow(SQLModel, table=True):
    """A call's envelope for one budget year (domain.money.Budget), as its activity writes it."""

    __tablename__ = "budget_envelopes"

    call_id: str = Field(primary_key=True)
    year: int = Field(primary_key=True)
    amount: float


class LedgerRow(SQLModel, table=True):
    """One movement of money, appended once and never changed (the database refuses it)."""

    __tablename__ = "ledger"

    id: int | None = Field(default=None, primary_key=True)
    key: str = Field(unique=True, max_length=200)  # the order's key, kind and budget year
    call_id: str = Field(index=True)
    case_id: str = Field(index=True)
    budget_year: int
    kind: str  # a domain.money.Movement
    amount: float  # > 0
    actor: str
    basis: str
    at: datetime = utc_column()


# --- the applicants' portal (portal/): its people, their associations, drafts and sign-ins -----
class AssociationRow(SQLModel, table=True):
    """An applicant association (the future cluster), as its people created it in the portal."""

    __tablename__ = "associations"

    id: str = Field(primary_key=True)
    name: str
    created_at: datetime = utc_column()


class PersonRow(SQLModel, table=True):
    """Someone who signs in to the portal by a link sent to their address."""

    __tablename__ = "portal_people"

    id: int | None = Field(default=None, primary_key=True)
    email: str = Field(unique=True)  # lower-cased
    name: str = ""  # asked at the first sign-in
    language: str = "fr"  # the pages and e-mails they read: fr or ar
    created_at: datetime = utc_column()


class MembershipRow(SQLModel, table=True):
    """A person's role in an association: representative, contributor or reader; or an invitation
    not yet accepted (`joined_at` empty), which expires."""

    __tablename__ = "portal_members"
    __table_args__ = (UniqueConstraint("association_id", "email", name="uq_portal_member"),)

    id: int | None = Field(default=None, primary_key=True)
    association_id: str = Field(index=True, foreign_key="associations.id")
    email: str = Field(index=True)
    role: str
    invited_by: str | None = None  # the representative who invited them
    invited_at: datetime = utc_column()
    expires_at: datetime | None = utc_column(nullable=True)  # an invitation's end
    joined_at: datetime | None = utc_column(nullable=True)


class SignInLinkRow(SQLModel, table=True):
    """A sign-in link sent by e-mail: its secret's SHA-256, used once, for a quarter of an hour.
    The rows of the last quarter count the links asked per address and per client."""

    __tablename__ = "portal_links"

    id: int | None = Field(default=None, primary_key=True)
    digest: str = Field(unique=True)
    email: str = Field(index=True)
    client: str = Field(index=True)
    created_at: datetime = utc_column(index=True)
    expires_at: datetime = utc_column()
    used_at: datetime | None = utc_column(nullable=True)


class PortalSessionRow(SQLModel, table=True):
    __tablename__ = "portal_sessions"

    digest: str = Field(primary_key=True)  # SHA-256 of the session id in the cookie
    person_id: int = Field(index=True, foreign_key="portal_people.id")
    expires_at: datetime = utc_column()


class DraftRow(SQLModel, table=True):
    """An association's dossier for a call, saved as it is written, until it is deposited (then
    `application_id` names the case it became)."""

    __tablename__ = "portal_drafts"
    __table_args__ = (UniqueConstraint("association_id", "call_id", name="uq_portal_draft"),)

    id: str = Field(primary_key=True)
    association_id: str = Field(index=True, foreign_key="associations.id")
    call_id: str = Field(index=True)
    data: dict[str, Any] = Field(sa_column=Column(JSON, nullable=False))
    updated_by: str
    updated_at: datetime = utc_column()
    application_id: str | None = Field(default=None, unique=True)
    deposited_at: datetime | None = utc_column(nullable=True)
    receipt: str | None = None  # the signed receipt.json's SHA-256 (kept in storage by it)
    receipt_pdf: str | None = None  # the same receipt as PDF


class DraftFileRow(SQLModel, table=True):
    """A file uploaded to a draft (the bytes in storage, held by `ref` until the deposit)."""

    __tablename__ = "portal_draft_files"

    id: str = Field(primary_key=True)
    draft_id: str = Field(index=True, foreign_key="portal_drafts.id")
    kind: str
    filename: str
    content_type: str
    size: int
    sha256: str
    ref: str
    uploaded_by: str
    uploaded_at: datetime = utc_column()
