"""Reads, all from the SQL projection (never from scanning Temporal)."""

from datetime import UTC, datetime, timedelta

from sqlalchemy import func
from sqlmodel import Session, col, select

from activities.tables import ApplicationRow, AuditRow, CallRow
from api.schemas import ApplicationView, CallView, Deadline, Page
from domain.models import ApplicationState, AuditEvent, CallState
from domain.stages import ApplicationStage, CallStage, allowed_actions


def now() -> datetime:
    return datetime.now(UTC)


def call_view(state: CallState) -> CallView:
    return CallView(**state.model_dump(), allowed_actions=allowed_actions(state.stage))


def application_view(state: ApplicationState) -> ApplicationView:
    due = state.complements.due_at if state.complements else None
    overdue = (
        state.stage == ApplicationStage.COMPLEMENTS_REQUESTED and due is not None and due < now()
    )
    return ApplicationView(
        **state.model_dump(), allowed_actions=allowed_actions(state.stage), overdue=overdue
    )


def call_state(row: CallRow) -> CallState:
    return CallState.model_validate(row.state)


def application_state(row: ApplicationRow) -> ApplicationState:
    return ApplicationState.model_validate(row.state)


def audit_trail(db: Session, workflow_id: str) -> list[AuditEvent]:
    rows = db.exec(
        select(AuditRow).where(AuditRow.workflow_id == workflow_id).order_by(col(AuditRow.seq))
    )
    return [AuditEvent.model_validate(row, from_attributes=True) for row in rows]


def list_calls(
    db: Session, year: int | None, stage: CallStage | None, page: int, size: int
) -> Page[CallView]:
    query = select(CallRow)
    if year is not None:
        query = query.where(CallRow.year == year)
    if stage is not None:
        query = query.where(CallRow.stage == stage)
    total = db.exec(select(func.count()).select_from(query.subquery())).one()
    rows = db.exec(
        query.order_by(col(CallRow.deadline).desc()).offset((page - 1) * size).limit(size)
    )
    return Page(
        items=[call_view(call_state(r)) for r in rows], total=total, page=page, page_size=size
    )


def list_applications(
    db: Session,
    *,
    call_id: str | None,
    stage: ApplicationStage | None,
    sector: str | None,
    overdue: bool | None,
    search: str | None,
    page: int,
    size: int,
) -> Page[ApplicationView]:
    query = select(ApplicationRow)
    if call_id:
        query = query.where(ApplicationRow.call_id == call_id)
    if stage:
        query = query.where(ApplicationRow.stage == stage)
    if sector:
        query = query.where(func.lower(ApplicationRow.sector) == sector.strip().lower())
    if search:
        pattern = "%" + search.strip().lower().replace("%", r"\%").replace("_", r"\_") + "%"
        query = query.where(func.lower(ApplicationRow.cluster_name).like(pattern, escape="\\"))
    if overdue is not None:
        late = col(ApplicationRow.due_at) < now()
        query = query.where(late if overdue else (col(ApplicationRow.due_at).is_(None) | ~late))
    total = db.exec(select(func.count()).select_from(query.subquery())).one()
    rows = db.exec(
        query.order_by(col(ApplicationRow.registered_at), col(ApplicationRow.id))
        .offset((page - 1) * size)
        .limit(size)
    )
    return Page(
        items=[application_view(application_state(r)) for r in rows],
        total=total,
        page=page,
        page_size=size,
    )


def counts_by_stage(db: Session, call_id: str) -> dict[str, int]:
    rows = db.exec(
        select(ApplicationRow.stage, func.count())
        .where(ApplicationRow.call_id == call_id)
        .group_by(ApplicationRow.stage)
    )
    return {stage: count for stage, count in rows}


def upcoming_deadlines(db: Session, days: int) -> list[Deadline]:
    start, end = now(), now() + timedelta(days=days)
    items: list[Deadline] = []
    calls = db.exec(
        select(CallRow).where(
            col(CallRow.stage).in_([CallStage.SCHEDULED, CallStage.OPEN]),
            (col(CallRow.opens_at) <= end) | (col(CallRow.deadline) <= end),
        )
    )
    for call in calls:
        if call.stage == CallStage.SCHEDULED and start <= call.opens_at <= end:
            items.append(
                Deadline(kind="call_opening", at=call.opens_at, call_id=call.id, title=call.title)
            )
        if call.deadline >= start:
            items.append(
                Deadline(kind="call_deadline", at=call.deadline, call_id=call.id, title=call.title)
            )
    waiting = db.exec(
        select(ApplicationRow).where(
            col(ApplicationRow.due_at).is_not(None),
            col(ApplicationRow.due_at) >= start,
            col(ApplicationRow.due_at) <= end,
        )
    )
    items += [
        Deadline(
            kind="complements_due",
            at=app.due_at,
            call_id=app.call_id,
            application_id=app.id,
            title=app.cluster_name,
        )
        for app in waiting
        if app.due_at
    ]
    return sorted(items, key=lambda d: d.at)
