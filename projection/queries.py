"""Reads, all from the SQL projection (never from scanning Temporal)."""

from collections.abc import Callable, Iterable
from datetime import UTC, datetime, timedelta
from typing import Any, TypedDict, TypeVar, Unpack

from sqlalchemy import case, func
from sqlmodel import Session, col, select

from domain.clock import local
from domain.ids import Kind
from domain.models import ApplicationState, AuditEvent, CallState, DocumentRef
from domain.search import contains_pattern
from domain.stages import (
    DECIDED_STAGES,
    FINAL_CLUSTER_STAGES,
    STAGES,
    ApplicationStage,
    CallStage,
    ClusterStage,
    SessionStage,
)
from domain.support import KPI_LABELS, ClusterState
from projection.tables import (
    ApplicationRow,
    AuditRow,
    CallRow,
    ClusterRow,
    CommitteeSessionRow,
    DocumentRow,
    DownloadRow,
    OutboxRow,
    PaymentRow,
    SessionItemRow,
)
from projection.views import (
    ApplicationView,
    CallView,
    ClusterView,
    Deadline,
    Download,
    KpiLine,
    Page,
    Paging,
    SupportTotals,
)
from projection.visibility import application_view, call_view, cluster_view

T = TypeVar("T")
FIRST_PAGE = Paging()


def now() -> datetime:
    return datetime.now(UTC)


# Views are built with `model_construct` from a state validated when it was read: validating
# every field a second time, 50 cases to a page, was pure cost.
def documents(db: Session, kind: Kind, case_id: str) -> list[DocumentRef]:
    """A case's files, each kind's versions oldest first."""
    query = select(DocumentRow).where(DocumentRow.case_kind == kind, DocumentRow.case_id == case_id)
    rows = db.exec(query.order_by(col(DocumentRow.kind), col(DocumentRow.uploaded_at)))
    return [DocumentRef.model_validate(row, from_attributes=True) for row in rows]


def downloads(db: Session, kind: Kind, case_id: str) -> list[Download]:
    """Who read which file of the case, and when, the latest first."""
    query = (
        select(
            DownloadRow.document_id,
            DocumentRow.filename,
            DownloadRow.actor,
            DownloadRow.role,
            DownloadRow.at,
        )
        .join(DocumentRow, DocumentRow.id == DownloadRow.document_id)
        .where(DownloadRow.case_kind == kind, DownloadRow.case_id == case_id)
        .order_by(col(DownloadRow.at).desc(), col(DownloadRow.id).desc())
    )
    fields = ("document_id", "filename", "actor", "role", "at")
    return [Download(**dict(zip(fields, row, strict=True))) for row in db.exec(query)]


def messages(
    db: Session,
    *,
    status: str | None = None,
    workflow_id: str | None = None,
    paging: Paging = FIRST_PAGE,
) -> Page[OutboxRow]:
    """The notices and their delivery, the latest first: all, one status's, or one case's (its
    keys begin with its workflow id and a colon: a range, so the unique index serves it)."""
    query = messages_query(status)
    if workflow_id:
        query = query.where(OutboxRow.key >= f"{workflow_id}:", OutboxRow.key < f"{workflow_id};")
    return paged(db, query, MESSAGE_ORDER, lambda row: row, paging)


MESSAGE_ORDER = (col(OutboxRow.created_at).desc(), col(OutboxRow.id).desc())


def messages_query(status: str | None) -> Any:
    query = select(OutboxRow)
    return query.where(OutboxRow.status == status) if status else query


RESULTS_OUT = (CallStage.RESULTS_PUBLISHED, CallStage.ARCHIVED)


def application_views(db: Session, rows: Iterable[ApplicationRow]) -> list[ApplicationView]:
    """The cases of a page, each with its call's current deadline and whether its results are
    out (one query for the page)."""
    states = [application_state(row) for row in rows]
    query = select(CallRow.id, CallRow.deadline, CallRow.stage).where(
        col(CallRow.id).in_({s.call_id for s in states})
    )
    calls = {id_: (deadline, stage) for id_, deadline, stage in db.exec(query).all()}
    return [
        application_view(
            s,
            calls[s.call_id][0] if s.call_id in calls else None,
            s.call_id in calls and calls[s.call_id][1] in RESULTS_OUT,
        )
        for s in states
    ]


def call_state(row: CallRow) -> CallState:
    return CallState.model_validate(row.state)


def application_state(row: ApplicationRow) -> ApplicationState:
    return ApplicationState.model_validate(row.state)


def audit_trail(db: Session, workflow_id: str) -> list[AuditEvent]:
    rows = db.exec(
        select(AuditRow).where(AuditRow.workflow_id == workflow_id).order_by(col(AuditRow.seq))
    )
    return [AuditEvent.model_validate(row, from_attributes=True) for row in rows]


def calls_by_deadline(db: Session, stage: CallStage | None = None) -> list[CallState]:
    """Every call (or those at `stage`), the latest deadline first (the open ones: the nearest)."""
    query = select(CallRow)
    if stage is None:
        query = query.order_by(col(CallRow.deadline).desc())
    else:
        query = query.where(CallRow.stage == stage).order_by(col(CallRow.deadline))
    return [call_state(row) for row in db.exec(query)]


def paged(
    db: Session, query: Any, order: tuple, view: Callable[[Any], T], paging: Paging
) -> Page[T]:
    """One page of `query`'s rows in `order`, each shown by `view`, and their total."""
    total = db.exec(select(func.count()).select_from(query.subquery())).one()
    rows = db.exec(query.order_by(*order).offset(_offset(paging)).limit(paging.size))
    return Page(items=[view(r) for r in rows], total=total, page=paging.page, page_size=paging.size)


def _offset(paging: Paging) -> int:
    return (paging.page - 1) * paging.size


def list_calls(
    db: Session, year: int | None, stage: CallStage | None, paging: Paging
) -> Page[CallView]:
    query = select(CallRow)
    if year is not None:
        query = query.where(CallRow.year == year)
    if stage is not None:
        query = query.where(CallRow.stage == stage)
    order = (col(CallRow.deadline).desc(),)
    return paged(db, query, order, lambda r: call_view(call_state(r)), paging)


class ApplicationFilters(TypedDict, total=False):
    """The case list's filters, for a page of it and for its export alike."""

    call_id: str | None
    stage: ApplicationStage | None
    sector: str | None
    overdue: bool | None
    search: str | None  # in the cluster's name, accents and case aside


def application_conditions(
    call_id: str | None = None,
    stage: ApplicationStage | None = None,
    sector: str | None = None,
    overdue: bool | None = None,
    search: str | None = None,
) -> list:
    conditions = []
    if call_id:
        conditions.append(ApplicationRow.call_id == call_id)
    if stage:
        conditions.append(ApplicationRow.stage == stage)
    if sector:
        conditions.append(func.lower(ApplicationRow.sector) == sector.strip().lower())
    if search:
        conditions.append(col(ApplicationRow.search_name).like(contains_pattern(search), "\\"))
    if overdue is not None:
        late = col(ApplicationRow.due_at) < now()
        conditions.append(late if overdue else (col(ApplicationRow.due_at).is_(None) | ~late))
    return conditions


APPLICATION_ORDER = (col(ApplicationRow.registered_at), col(ApplicationRow.id))


def stage_order(stages: type[ApplicationStage] | type[ClusterStage], column: Any) -> Any:
    """A stage column sorted in the lifecycle's order, not the alphabet's."""
    return case({stage.value: i for i, stage in enumerate(stages)}, value=column)


# A list's sortable columns (`-key`: descending); the list's own order breaks ties.
APPLICATION_SORTS: dict[str, Any] = {
    "cluster": col(ApplicationRow.search_name),
    "appel": select(CallRow.title).where(CallRow.id == ApplicationRow.call_id).scalar_subquery(),
    "secteur": func.lower(ApplicationRow.sector),
    "etape": stage_order(ApplicationStage, col(ApplicationRow.stage)),
    "enregistree": col(ApplicationRow.registered_at),
    "echeance": col(ApplicationRow.due_at),
}
CLUSTER_SORTS: dict[str, Any] = {
    "cluster": func.lower(ClusterRow.cluster_name),
    "secteur": func.lower(ClusterRow.sector),
    "etape": stage_order(ClusterStage, col(ClusterRow.stage)),
    "annee": col(ClusterRow.year),
    "anniversaire": col(ClusterRow.anniversary_at),
    "soutien": select(func.coalesce(func.sum(PaymentRow.amount), 0.0))
    .where(PaymentRow.cluster_id == ClusterRow.id)
    .scalar_subquery(),
}


def ordered(sorts: dict[str, Any], default: tuple, sort: str | None) -> tuple:
    """`default`, after the column `sort` names (one it does not know: `default` alone)."""
    column = sorts.get((sort or "").removeprefix("-"))
    if column is None:
        return default
    first = column.desc() if (sort or "").startswith("-") else column.asc()
    return (first.nulls_last(), *default)


def list_applications(
    db: Session,
    *,
    paging: Paging = FIRST_PAGE,
    sort: str | None = None,
    **filters: Unpack[ApplicationFilters],
) -> Page[ApplicationView]:
    conditions = application_conditions(**filters)
    total = db.exec(select(func.count()).select_from(ApplicationRow).where(*conditions)).one()
    rows = db.exec(
        select(ApplicationRow)
        .where(*conditions)
        .order_by(*ordered(APPLICATION_SORTS, APPLICATION_ORDER, sort))
        .offset(_offset(paging))
        .limit(paging.size)
    )
    items = application_views(db, rows)
    return Page(items=items, total=total, page=paging.page, page_size=paging.size)


def counts_by_stage(db: Session, call_id: str | None = None) -> dict[str, int]:
    """Applications per stage, of one call or of all."""
    query = select(ApplicationRow.stage, func.count()).group_by(ApplicationRow.stage)
    if call_id is not None:
        query = query.where(ApplicationRow.call_id == call_id)
    counts = dict(db.exec(query).all())
    return {stage: counts[stage] for stage in ApplicationStage if stage in counts}  # in order


def count_undecided(db: Session, call_id: str) -> dict[str, int]:
    """Applications of the call not decided yet, counted by whom each waits on (the operator,
    the evaluators, the committee, …), in that order."""
    query = (
        select(ApplicationRow.stage, func.count())
        .where(
            ApplicationRow.call_id == call_id,
            col(ApplicationRow.stage).not_in(list(DECIDED_STAGES)),
        )
        .group_by(ApplicationRow.stage)
    )
    counts: dict[str, int] = {}
    for stage in sorted(db.exec(query).all(), key=lambda row: list(ApplicationStage).index(row[0])):
        party = STAGES[ApplicationStage(stage[0])].waits_on
        counts[str(party)] = counts.get(str(party), 0) + stage[1]
    # A decision taken in session is published once its PV is signed, never before.
    unsigned = db.exec(
        select(func.count())
        .select_from(SessionItemRow)
        .join(CommitteeSessionRow, col(CommitteeSessionRow.id) == SessionItemRow.session_id)
        .where(
            SessionItemRow.call_id == call_id,
            SessionItemRow.status == "decided",
            CommitteeSessionRow.stage != SessionStage.SIGNED,
        )
    ).one()
    if unsigned:
        counts[UNSIGNED] = unsigned
    return counts


UNSIGNED = "la signature du procès-verbal de leur séance"


def overdue_applications(db: Session) -> list[ApplicationRow]:
    """Cases past the date they wait for (complements, evaluators' scores), the oldest first."""
    query = select(ApplicationRow).where(col(ApplicationRow.due_at) < now())
    return list(db.exec(query.order_by(col(ApplicationRow.due_at))))


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
        if start <= call.deadline <= end:  # an open call's opening is past, its deadline may be far
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
            kind="complements_due"
            if app.stage == ApplicationStage.COMPLEMENTS_REQUESTED
            else "evaluation_due",
            at=app.due_at,
            call_id=app.call_id,
            application_id=app.id,
            title=app.cluster_name,
        )
        for app in waiting
        if app.due_at
    ]
    return sorted(items, key=lambda d: d.at)


def cluster_state(row: ClusterRow) -> ClusterState:
    return ClusterState.model_validate(row.state)


class ClusterFilters(TypedDict, total=False):
    """The labelled clusters' filters, for a page of them and for their exports alike."""

    stage: ClusterStage | None
    can_reapply: bool | None
    renewal_within: int | None  # days before the next anniversary


def cluster_query(
    stage: ClusterStage | None = None,
    can_reapply: bool | None = None,
    renewal_within: int | None = None,
) -> Any:
    query = select(ClusterRow)
    if stage:
        query = query.where(ClusterRow.stage == stage)
    if can_reapply is not None:
        query = query.where(ClusterRow.can_reapply == can_reapply)
    if renewal_within is not None:
        query = query.where(
            col(ClusterRow.stage).not_in(list(FINAL_CLUSTER_STAGES)),
            col(ClusterRow.anniversary_at) >= now(),
            col(ClusterRow.anniversary_at) <= now() + timedelta(days=renewal_within),
        )
    return query


CLUSTER_ORDER = (col(ClusterRow.anniversary_at), col(ClusterRow.id))


def list_clusters(
    db: Session,
    *,
    paging: Paging = FIRST_PAGE,
    sort: str | None = None,
    **filters: Unpack[ClusterFilters],
) -> Page[ClusterView]:
    query = cluster_query(**filters)
    order = ordered(CLUSTER_SORTS, CLUSTER_ORDER, sort)
    return paged(db, query, order, lambda r: cluster_view(cluster_state(r)), paging)


def later_applications(db: Session, cluster_id: str) -> list[str]:
    query = select(ApplicationRow.id).where(ApplicationRow.previous_cluster_id == cluster_id)
    return list(db.exec(query.order_by(col(ApplicationRow.registered_at))))


def later_clusters(db: Session, cluster_id: str) -> list[str]:
    query = select(ClusterRow.id).where(ClusterRow.previous_cluster_id == cluster_id)
    return list(db.exec(query.order_by(col(ClusterRow.id))))


def kpi_table(state: ClusterState) -> list[KpiLine]:
    return [
        KpiLine(
            year=year.year,
            indicator=code,
            label=label,
            target=getattr(year.kpi_targets, code),
            actual=getattr(year.report.kpi_actuals, code) if year.report else None,
            reported=year.report is not None,
        )
        for year in state.years
        for code, label in KPI_LABELS.items()
    ]


def support_totals(db: Session) -> SupportTotals:
    rows = db.exec(select(PaymentRow.starts_at, PaymentRow.amount))
    by_year: dict[int, float] = {}
    for starts_at, amount in rows:
        year = local(starts_at).year
        by_year[year] = by_year.get(year, 0.0) + amount
    return SupportTotals(by_year=dict(sorted(by_year.items())), total=sum(by_year.values()))
