"""Whole lists as tables with French headers and cells (projection.exports writes them as CSV
or XLSX): applications, clusters, support per year, KPIs, notices."""

from datetime import datetime
from typing import Unpack

from pydantic import BaseModel
from sqlmodel import Session, col, select

from domain.clock import local
from domain.lifecycle import TRANSITIONS
from domain.models import Actor
from domain.notices import KINDS as NOTICE_KINDS
from domain.stages import (
    STAGE_LABELS_FR,
    Role,
)
from domain.support import ClusterState
from projection import visibility
from projection.exports import MAX_ROWS, Table, bounded
from projection.queries import (
    APPLICATION_ORDER,
    APPLICATION_SORTS,
    CLUSTER_ORDER,
    CLUSTER_SORTS,
    MESSAGE_ORDER,
    ApplicationFilters,
    ClusterFilters,
    application_conditions,
    application_views,
    cluster_query,
    cluster_state,
    kpi_table,
    messages_query,
    now,
    ordered,
)
from projection.tables import (
    ApplicationRow,
    AssignmentRow,
    CallRow,
    ClusterRow,
)
from projection.views import (
    ApplicationView,
)

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
OPEN = ("assigned", "declared")  # an assignment still waiting on its evaluator


def messages_table(db: Session, status: str | None = None) -> Table:
    """The notices `messages` would page through (one status's, or all), the latest first."""
    query = messages_query(status).order_by(*MESSAGE_ORDER)
    rows = db.exec(query.limit(MAX_ROWS + 1)).all()
    bounded(rows)
    lines = [
        [row.created_at, NOTICE_KINDS.get(row.kind, row.kind), row.subject]
        + [row.address or row.recipient, DELIVERY_FR.get(row.status, row.status), row.sent_at]
        + [row.attempts, row.last_error, row.key.partition(":")[0]]
        for row in rows
    ]
    return Table("Courriers", MESSAGES_HEADER, lines)


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
    conditions = application_conditions(**filters) + _cases_seen_by(actor)
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
    rows = db.exec(cluster_query(**filters).order_by(*order).limit(MAX_ROWS + 1)).all()
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


NOT_DECLARED = "non déclaré"  # a report's indicator left out: never a zero


def kpis_table(db: Session, **filters: Unpack[ClusterFilters]) -> Table:
    """Each indicator's target and actual, per cluster `filters` select and support year."""
    lines = [
        [
            state.id,
            state.origin.cluster_name,
            line.year,
            line.label,
            line.target,
            NOT_DECLARED if line.reported and line.actual is None else line.actual,
        ]
        for _, state in _every_cluster(db, filters)
        for line in kpi_table(state)
    ]
    return Table("Indicateurs", KPIS_HEADER, lines)


class Workload(BaseModel):
    """An evaluator's open work: assignments neither submitted nor gone, and the sectors of the
    cases they evaluate now (evaluators have no sector of their own)."""

    open: int = 0
    sectors: list[str] = []


def evaluator_workloads(db: Session, evaluators: list[str]) -> dict[str, Workload]:
    """Each of `evaluators`' open workload, for the admin choosing whom to assign."""
    loads = {name: Workload() for name in evaluators}
    rows = db.exec(
        select(AssignmentRow.evaluator, AssignmentRow.status, ApplicationRow.sector)
        .join(ApplicationRow, ApplicationRow.id == AssignmentRow.application_id)
        .where(col(AssignmentRow.evaluator).in_(evaluators), col(AssignmentRow.status).in_(OPEN))
    )
    for name, _, sector in rows:
        loads[name].open += 1
        if sector not in loads[name].sectors:
            loads[name].sectors.append(sector)
    for load in loads.values():
        load.sectors.sort()
    return loads


def case_assignments(db: Session, application_ids: set[str]) -> dict[str, dict[str, str]]:
    """Each case's assignments, evaluator → status (gone ones included: a conflict is never
    assigned the case again)."""
    query = select(AssignmentRow.application_id, AssignmentRow.evaluator, AssignmentRow.status)
    found: dict[str, dict[str, str]] = {i: {} for i in application_ids}
    for case, who, status in db.exec(
        query.where(col(AssignmentRow.application_id).in_(application_ids))
    ):
        found[case][who] = status
    return found
