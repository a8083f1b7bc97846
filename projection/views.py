"""What the reads answer, declared apart from what workflows hold and tables store: the faces'
response bodies (request bodies are the domain's input models). No internal field (seq, ids of
workflows, runs or updates, notice keys) is declared here; projection.visibility maps to them."""

from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from pydantic import BaseModel, Field

from domain.fields import Moment
from domain.ids import Kind
from domain.models import (
    ApplicationInput,
    CallSpec,
    CheckItem,
    ClusterStart,
    Decision,
    DocumentRef,
    Evaluation,
    EvaluationResult,
)
from domain.stages import Action, ApplicationStage, CallStage, ClusterStage, Role
from domain.support import ContractTerms, SupportYear

T = TypeVar("T")


class AuditEntry(BaseModel):
    """One event of a case's timeline, as its reader may see it (projection.visibility)."""

    action: Action
    actor: str
    role: Role
    at: Moment
    from_stage: str | None
    to_stage: str
    reason: str | None = None
    payload: dict[str, Any] = Field(default_factory=dict)


class CallView(BaseModel):
    id: str
    stage: CallStage
    spec: CallSpec
    updated_at: Moment
    allowed_actions: list[Action]


class CallDetail(CallView):
    counts: dict[str, int] = Field(description="Candidatures par étape.")
    audit: list[AuditEntry]


class ComplementsView(BaseModel):
    items: list[str]
    note: str | None = None
    requested_at: Moment
    answered_at: Moment | None = None
    due_at: Moment | None = Field(description="Inconnue tant que le courrier n'est pas parti.")
    undelivered: bool = Field(description="Courrier non remis : aucun délai ne court.")


class RedressView(BaseModel):
    requested_at: Moment | None = None
    reason: str | None = None
    answer: str | None = None
    due_at: Moment | None = Field(description="Fin du délai de recours.")
    undelivered: bool


class ApplicationView(BaseModel):
    """An application as staff read it: what is stored or held by its workflow is mapped here
    field by field (projection.visibility), so a change of state is not a change of answer."""

    id: str
    call_id: str
    stage: ApplicationStage
    data: ApplicationInput
    deadline: Moment
    registered_at: Moment
    checklist: list[CheckItem]
    complements: ComplementsView | None
    reason: str | None
    evaluation: Evaluation | None
    decision: Decision | None
    redress: RedressView | None
    cluster_id: str | None
    files: list[DocumentRef]
    updated_at: Moment
    due_at: Moment | None = Field(description="Échéance de ce qu'attend le dossier.")
    allowed_actions: list[Action]
    overdue: bool = Field(description="Une échéance (compléments, évaluation) est dépassée.")


class Download(BaseModel):
    document_id: str
    filename: str
    actor: str
    role: str
    at: Moment


class ApplicationDetail(ApplicationView):
    audit: list[AuditEntry]
    downloads: list[Download] = Field(
        default_factory=list,
        description="Qui a lu quel fichier, et quand (pas pour un évaluateur).",
    )


@dataclass(frozen=True)
class Paging:
    """Which page of a list: numbered from 1, `size` items each."""

    page: int = 1
    size: int = 50


class Page(BaseModel, Generic[T]):
    items: list[T]
    total: int
    page: int
    page_size: int


class StageCounts(BaseModel):
    call_id: str
    total: int
    by_stage: dict[str, int]


class Deadline(BaseModel):
    kind: str = Field(description="call_opening, call_deadline, complements_due ou evaluation_due")
    at: Moment
    call_id: str
    application_id: str | None = None
    title: str


class RankedEntry(BaseModel):
    rank: int | None = Field(description="Rang parmi les candidatures au-dessus des seuils.")
    application_id: str
    cluster_name: str
    sector: str
    stage: str
    result: EvaluationResult


class Ranking(BaseModel):
    call_id: str
    tie_break: str
    ranked: list[RankedEntry]
    below_threshold: list[RankedEntry]
    not_scored: int = Field(description="Candidatures recevables pas encore entièrement notées.")


class EvaluatorCase(BaseModel):
    """One assignment as its evaluator sees it in their list."""

    application_id: str
    call_id: str
    evaluator: str
    status: str
    due_at: Moment | None


class ClusterView(BaseModel):
    id: str
    stage: ClusterStage
    origin: ClusterStart
    contract: ContractTerms | None
    years: list[SupportYear]
    suspended_from: ClusterStage | None
    reason: str | None
    can_reapply: bool
    files: list[DocumentRef]
    updated_at: Moment
    report_due_at: Moment | None = Field(description="Échéance du rapport annuel attendu.")
    allowed_actions: list[Action]
    total_support: float = Field(description="Soutien accordé, toutes années (MAD).")
    previous_cluster_id: str | None = Field(
        description="Dossier de soutien d'une labellisation antérieure de ce cluster."
    )


class ClusterDetail(ClusterView):
    later_applications: list[str] = Field(
        description="Candidatures ultérieures de ce cluster (comme cluster existant)."
    )
    later_clusters: list[str] = Field(
        description="Dossiers de soutien des labellisations ultérieures de ce cluster."
    )
    kpis: list["KpiLine"] = Field(description="Objectif et réalisé, par année et indicateur.")
    audit: list[AuditEntry]
    downloads: list[Download] = Field(
        default_factory=list, description="Qui a lu quel fichier, et quand."
    )


class KpiLine(BaseModel):
    year: int
    indicator: str
    label: str
    target: int
    actual: int | None  # None: no report yet, or the report left it undeclared
    reported: bool  # the year's report is in


class SupportTotals(BaseModel):
    by_year: dict[int, float] = Field(
        description="Soutien accordé par année civile de début (MAD)."
    )
    total: float


# What an update's answer is shown as, per kind of case.
VIEWS: dict[Kind, type[BaseModel]] = {
    Kind.CALL: CallView,
    Kind.APPLICATION: ApplicationView,
    Kind.CLUSTER: ClusterView,
}
