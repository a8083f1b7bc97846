"""A committee session's reads, all from the projection: a page of sessions with their files
decided and pending, one session's state, and its decisions' texts as its audit trail keeps
them (the session's state holds none: domain.session)."""

from sqlalchemy import case, func
from sqlmodel import Session, col, select

from domain.models import AuditEvent
from domain.session import SessionState
from domain.stages import Action, SessionStage
from projection.queries import paged
from projection.tables import CommitteeSessionRow, SessionItemRow
from projection.views import Page, Paging, SessionSummary

# An agenda item's status (projection.writes): still to decide, or decided; a removed one is
# neither.
PENDING = ("pending", "opened")
DECIDED = "decided"
SESSION_ORDER = (col(CommitteeSessionRow.meets_at).desc(), col(CommitteeSessionRow.id))


def session_state(row: CommitteeSessionRow) -> SessionState:
    return SessionState.model_validate(row.state)


def list_sessions(
    db: Session, paging: Paging, stage: SessionStage | None = None
) -> Page[SessionSummary]:
    """The sessions, the latest meeting first, each with its files decided and pending (one
    query for the page's counts)."""
    query = select(CommitteeSessionRow)
    if stage is not None:
        query = query.where(CommitteeSessionRow.stage == stage)
    page = paged(db, query, SESSION_ORDER, lambda row: row, paging)
    counts = _item_counts(db, [row.id for row in page.items])
    items = [
        SessionSummary(
            id=row.id,
            title=row.title,
            stage=SessionStage(row.stage),
            meets_at=row.meets_at,
            call_ids=row.state["spec"]["call_ids"],
            decided=counts.get(row.id, (0, 0))[0],
            pending=counts.get(row.id, (0, 0))[1],
            updated_at=row.updated_at,
        )
        for row in page.items
    ]
    return Page(items=items, total=page.total, page=page.page, page_size=page.page_size)


def _item_counts(db: Session, session_ids: list[str]) -> dict[str, tuple[int, int]]:
    """(decided, pending) files per session."""
    if not session_ids:
        return {}
    status = col(SessionItemRow.status)
    query = (
        select(
            SessionItemRow.session_id,
            func.sum(case((status == DECIDED, 1), else_=0)),
            func.sum(case((status.in_(PENDING), 1), else_=0)),
        )
        .where(col(SessionItemRow.session_id).in_(session_ids))
        .group_by(SessionItemRow.session_id)
    )
    return {sid: (int(decided), int(pending)) for sid, decided, pending in db.exec(query)}


def decision_texts(events: list[AuditEvent]) -> dict[str, tuple[str | None, str | None]]:
    """Each decided file's (motivation, internal note), from the session's `events` in order:
    a file decided again keeps its latest decision's."""
    return {
        event.payload["application_id"]: (
            event.payload.get("motivation"),
            event.payload.get("internal_note"),
        )
        for event in events
        if event.action == Action.DECIDE_ITEM and "application_id" in event.payload
    }
