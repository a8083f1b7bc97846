"""Reads, all from the SQL projection (never from scanning Temporal)."""

from collections.abc import Callable, Iterable
from datetime import UTC, datetime, timedelta
from typing import Any, TypedDict, TypeVar, Unpack

from sqlalchemy import case, func
from sqlmodel import Session, col, select

from domain.clock import local
from domain.ids import Kind
from domain.lifecycle import TRANSITIONS
from domain.models import Actor, ApplicationState, AuditEvent, CallState, DocumentRef
from domain.notices import KINDS as NOTICE_KINDS
from domain.scoring import TIE_BREAK, rank_key
from domain.search import contains_pattern
from domain.stages import (
    DECIDED_STAGES,
    FINAL_CLUSTER_STAGES,
    STAGE_LABELS_FR,
    STAGES,
    ApplicationStage,
    CallStage,
    ClusterStage,
    Role,
    Step,
)
from domain.support import KPI_LABELS, ClusterState
from projection import visibility
from projection.exports import MAX_ROWS, Table, bounded
from projection.tables import (
    ApplicationRow,
    AssignmentRow,
    AuditRow,
    CallRow,
    ClusterRow,
    DocumentRow,
    DownloadRow,
    OutboxRow,
    PaymentRow,
)
from projection.views import (
    ApplicationView,
    CallView,
    ClusterView,
    Deadline,
    Download,
    EvaluatorCase,
    KpiLine,
    Page,
    Paging,
    RankedEntry,
    Ranking,
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
    query = _messages_query(status)
    if workflow_id:
        query = query.where(OutboxRow.key >= f"{workflow_id}:", OutboxRow.key < f"{workflow_id};")
    return _page(db, query, MESSAGE_ORDER, lambda row: row, paging)


MESSAGE_ORDER = (col(OutboxRow.created_at).desc(), col(OutboxRow.id).desc())


def _messages_query(status: str | None) -> Any:
    query = select(OutboxRow)
    return query.where(OutboxRow.status == status) if status else query


MESSAGES_HEADER = [
    "Écrit le",
    "Courrier",
    "Objet",
    "Destinataire",
    "État",
    "Envoyé le",
    "Essais",
    "Dernière erreur",
    "Dossier",
]
DELIVERY_FR = {"pending": "en attente", "sent": "envoyé", "failed": "échec"}


def messages_table(db: Session, status: str | None = None) -> Table:
    """The notices `messages` would page through (one status's, or all), the latest first."""
    query = _messages_query(status).order_by(*MESSAGE_ORDER)
    rows = db.exec(query.limit(MAX_ROWS + 1)).all()
    bounded(rows)
    lines = [
        [row.created_at, NOTICE_KINDS.get(row.kind, row.kind), row.subject]
        + [row.address or row.recipient, DELIVERY_FR.get(row.status, row.status), row.sent_at]
        + [row.attempts, row.last_error, row.key.partition(":")[0]]
        for row in rows
    ]
    return Table("Courriers", MESSAGES_HEADER, lines)


def call_deadlines(db: Session, call_ids: set[str]) -> dict[str, datetime]:
    query = select(CallRow.id, CallRow.deadline).where(col(CallRow.id).in_(call_ids))
    return dict(db.exec(query).all())


def application_views(db: Session, rows: Iterable[ApplicationRow]) -> list[ApplicationView]:
    """The cases of a page, each with its call's current deadline (one query for the page)."""
    states = [application_state(row) for row in rows]
    deadlines = call_deadlines(db, {s.call_id for s in states})
    return [application_view(s, deadlines.get(s.call_id)) for s in states]


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


def _page(
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
    return _page(db, query, order, lambda r: call_view(call_state(r)), paging)


class ApplicationFilters(TypedDict, total=False):
    """The case list's filters, for a page of it and for its export alike."""

    call_id: str | None
    stage: ApplicationStage | None
    sector: str | None
    overdue: bool | None
    search: str | None  # in the cluster's name, accents and case aside


def _application_conditions(
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
    conditions = _application_conditions(**filters)
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


def count_undecided(db: Session, call_id: str) -> int:
    """Applications of the call still waiting for the committee (or for their eligibility)."""
    query = select(func.count()).where(
        ApplicationRow.call_id == call_id, col(ApplicationRow.stage).not_in(list(DECIDED_STAGES))
    )
    return db.exec(query).one()


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


def ranking(db: Session, call: CallRow) -> Ranking:
    """Scored applications by the grid's rule; those below a threshold are listed apart."""
    grid = call_state(call).spec.grid
    rows = db.exec(select(ApplicationRow).where(ApplicationRow.call_id == call.id))
    states = [application_state(r) for r in rows]
    step = {s.id: STAGES[s.stage].step for s in states}
    scored = [
        s for s in states if s.evaluation and s.evaluation.result and step[s.id] >= Step.EVALUATED
    ]
    waiting = [s for s in states if step[s.id] == Step.ELIGIBLE]
    scored.sort(key=lambda s: rank_key(grid, s.evaluation.result, s.registered_at))  # type: ignore[union-attr]

    def entry(state: ApplicationState, rank: int | None) -> RankedEntry:
        assert state.evaluation and state.evaluation.result
        return RankedEntry(
            rank=rank,
            application_id=state.id,
            cluster_name=state.data.cluster_name,
            sector=state.data.sector,
            stage=state.stage,
            result=state.evaluation.result,
        )

    above = [s for s in scored if s.evaluation.result.thresholds_met]  # type: ignore[union-attr]
    below = [s for s in scored if not s.evaluation.result.thresholds_met]  # type: ignore[union-attr]
    return Ranking(
        call_id=call.id,
        tie_break=TIE_BREAK,
        ranked=[entry(s, i) for i, s in enumerate(above, start=1)],
        below_threshold=[entry(s, None) for s in below],
        not_scored=len(waiting),
    )


def ranking_table(db: Session, call: CallRow) -> Table:
    """The ranked list, then those below a threshold, each with its means per criterion."""
    result, grid = ranking(db, call), call_state(call).spec.grid
    header = (
        ["Rang", "Candidature", "Cluster", "Secteur", "Étape", "Score pondéré"]
        + [c.label for c in grid.criteria]
        + ["Écart entre évaluateurs", "Consensus à discuter", "Seuils atteints"]
    )
    rows = [
        [item.rank or "sous le seuil", item.application_id, item.cluster_name, item.sector]
        + [STAGE_LABELS_FR[ApplicationStage(item.stage)], item.result.weighted_score]
        + [item.result.criterion_means[c.code] for c in grid.criteria]
        + [item.result.spread, item.result.consensus_needed, item.result.thresholds_met]
        for item in result.ranked + result.below_threshold
    ]
    return Table(f"Classement {call.id}", header, rows)


def evaluator_cases(
    db: Session, evaluator: str | None, overdue: bool | None, paging: Paging
) -> Page[EvaluatorCase]:
    query = select(AssignmentRow).where(col(AssignmentRow.status) != "conflict")
    if evaluator:
        query = query.where(AssignmentRow.evaluator == evaluator)
    if overdue is not None:
        late = (col(AssignmentRow.due_at) < now()) & col(AssignmentRow.status).in_(
            ["assigned", "declared"]
        )
        query = query.where(late if overdue else ~late)
    order = (col(AssignmentRow.due_at), col(AssignmentRow.id))
    view = lambda r: EvaluatorCase.model_validate(r, from_attributes=True)  # noqa: E731
    return _page(db, query, order, view, paging)


def assignment(db: Session, application_id: str, evaluator: str) -> AssignmentRow | None:
    query = select(AssignmentRow).where(
        AssignmentRow.application_id == application_id, AssignmentRow.evaluator == evaluator
    )
    return db.exec(query).first()


def cluster_state(row: ClusterRow) -> ClusterState:
    return ClusterState.model_validate(row.state)


class ClusterFilters(TypedDict, total=False):
    """The labelled clusters' filters, for a page of them and for their exports alike."""

    stage: ClusterStage | None
    can_reapply: bool | None
    renewal_within: int | None  # days before the next anniversary


def _cluster_query(
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
    query = _cluster_query(**filters)
    order = ordered(CLUSTER_SORTS, CLUSTER_ORDER, sort)
    return _page(db, query, order, lambda r: cluster_view(cluster_state(r)), paging)


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


# --- exports: whole lists as tables (projection.exports writes them as CSV or XLSX) -------------


def cluster_names(db: Session, application_ids: set[str]) -> dict[str, str]:
    query = select(ApplicationRow.id, ApplicationRow.cluster_name)
    return dict(db.exec(query.where(col(ApplicationRow.id).in_(application_ids))).all())


def call_titles(db: Session, call_ids: set[str]) -> dict[str, str]:
    query = select(CallRow.id, CallRow.title).where(col(CallRow.id).in_(call_ids))
    return dict(db.exec(query).all())


def _is_late(due_at: datetime | None) -> bool:
    """Past the date the case waits for: the case list's `overdue` filter, row by row."""
    return due_at is not None and due_at < now()


def _cases_seen_by(actor: Actor) -> list:
    """An evaluator's cases: those they may open (assigned, declared free of conflict)."""
    if actor.role != Role.EVALUATOR:
        return []
    theirs = select(AssignmentRow.application_id).where(
        AssignmentRow.evaluator == actor.name,
        col(AssignmentRow.status).in_(["declared", "submitted"]),
    )
    return [col(ApplicationRow.id).in_(theirs)]


APPLICATIONS_HEADER = [
    "Identifiant",
    "Appel",
    "Identifiant de l'appel",
    "Cluster",
    "Secteur",
    "Forme juridique",
    "Membres",
    "Cluster existant",
    "Étape",
    "Score pondéré",
    "En retard",
    "Échéance en cours",
    "Reçue le",
    "Date limite de l'appel",
    "Contact",
    "Courriel du contact",
    "Mise à jour le",
]


def _application_line(view: ApplicationView, row: ApplicationRow, call_title: str | None) -> list:
    data, evaluation = view.data, view.evaluation
    result = evaluation.result if evaluation else None
    return [
        view.id,
        call_title,
        view.call_id,
        data.cluster_name,
        data.sector,
        data.legal_form,
        len(data.members),
        data.existing_cluster,
        STAGE_LABELS_FR[view.stage],
        result.weighted_score if result else None,
        _is_late(row.due_at),
        row.due_at,
        view.registered_at,
        view.deadline,
        data.contact.name,
        data.contact.email,
        view.updated_at,
    ]


def applications_table(
    db: Session, actor: Actor, sort: str | None = None, **filters: Unpack[ApplicationFilters]
) -> Table:
    """Every case `list_applications` would page through with `filters`, as `actor` sees it.
    An evaluator's stage filter applies to the stage they are shown (a decision not yet
    published is « évaluée » to them, and must not be found by its real stage)."""
    shown_stage = filters.pop("stage", None) if actor.role == Role.EVALUATOR else None
    conditions = _application_conditions(**filters) + _cases_seen_by(actor)
    query = (
        select(ApplicationRow)
        .where(*conditions)
        .order_by(*ordered(APPLICATION_SORTS, APPLICATION_ORDER, sort))
    )
    rows = db.exec(query.limit(MAX_ROWS + 1)).all()
    bounded(rows)
    views = [visibility.seen_by(view, actor) for view in application_views(db, rows)]
    titles = call_titles(db, {row.call_id for row in rows})
    lines = [
        _application_line(view, row, titles.get(row.call_id))
        for row, view in zip(rows, views, strict=True)
        if shown_stage is None or view.stage == shown_stage
    ]
    return Table("Candidatures", APPLICATIONS_HEADER, lines)


def _every_cluster(
    db: Session, filters: ClusterFilters, sort: str | None = None
) -> list[tuple[ClusterRow, ClusterState]]:
    order = ordered(CLUSTER_SORTS, CLUSTER_ORDER, sort)
    rows = db.exec(_cluster_query(**filters).order_by(*order).limit(MAX_ROWS + 1)).all()
    bounded(rows)
    return [(row, cluster_state(row)) for row in rows]


CLUSTERS_HEADER = [
    "Identifiant",
    "Cluster",
    "Secteur",
    "Appel",
    "Identifiant de l'appel",
    "Candidature",
    "Étape",
    "Labellisé le",
    "Début de la convention",
    "Années de soutien",
    "Années au plus",
    "Soutien accordé (MAD)",
    "Prochain anniversaire",
    "Rapport attendu le",
    "Peut candidater de nouveau",
    "Soutien antérieur",
]


def clusters_table(
    db: Session, sort: str | None = None, **filters: Unpack[ClusterFilters]
) -> Table:
    """The labelled clusters `list_clusters` would page through with `filters`, all of them."""
    clusters = _every_cluster(db, filters, sort)
    titles = call_titles(db, {state.origin.call_id for _, state in clusters})
    lines = [
        [
            state.id,
            state.origin.cluster_name,
            state.origin.sector,
            titles.get(state.origin.call_id),
            state.origin.call_id,
            state.origin.application_id,
            STAGE_LABELS_FR[state.stage],
            state.origin.labelled_at,
            state.contract.start_at if state.contract else None,
            len(state.years),
            state.origin.max_support_years,
            sum(year.amount for year in state.years),
            row.anniversary_at,
            row.report_due_at,
            state.can_reapply,
            state.origin.previous_cluster_id,
        ]
        for row, state in clusters
    ]
    return Table("Clusters labellisés", CLUSTERS_HEADER, lines)


SUPPORT_HEADER = [
    "Identifiant du cluster",
    "Cluster",
    "Secteur",
    "Étape du cluster",
    "Année de soutien",
    "Année civile",
    "Début",
    "Fin",
    "Montant (MAD)",
    "Rapport reçu le",
    "Décision",
    "Conditions de probation",
]


def _decision(action: str | None) -> str | None:
    """A year's decision as the timeline words it."""
    transition = TRANSITIONS.get(action) if action else None  # type: ignore[call-overload]
    return transition.event if transition else action


def support_table(db: Session, **filters: Unpack[ClusterFilters]) -> Table:
    """The support granted to each cluster `filters` select, one line per support year; its
    calendar year is the one `support_totals` counts it in."""
    lines = [
        [
            state.id,
            state.origin.cluster_name,
            state.origin.sector,
            STAGE_LABELS_FR[state.stage],
            year.year,
            local(year.starts_at).year,
            year.starts_at,
            year.ends_at,
            year.amount,
            year.report_received_at,
            _decision(year.decision),
            year.probation.conditions if year.probation else None,
        ]
        for _, state in _every_cluster(db, filters)
        for year in state.years
    ]
    return Table("Soutien par année", SUPPORT_HEADER, lines)


KPIS_HEADER = [
    "Identifiant du cluster",
    "Cluster",
    "Année de soutien",
    "Indicateur",
    "Objectif",
    "Réalisé",
]


def kpis_table(db: Session, **filters: Unpack[ClusterFilters]) -> Table:
    """Each indicator's target and actual, per cluster `filters` select and support year."""
    lines = [
        [state.id, state.origin.cluster_name, line.year, line.label, line.target, line.actual]
        for _, state in _every_cluster(db, filters)
        for line in kpi_table(state)
    ]
    return Table("Indicateurs", KPIS_HEADER, lines)
