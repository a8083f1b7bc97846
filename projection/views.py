"""What the reads answer: the API's response bodies (request bodies are the domain's input models)."""

from dataclasses import dataclass
from typing import Generic, TypeVar

from pydantic import BaseModel, Field

from domain.ids import Kind
from domain.models import ApplicationState, AuditEvent, CallState, EvaluationResult, Moment
from domain.stages import Action
from domain.support import ClusterState

T = TypeVar("T")


class CallView(CallState):
    allowed_actions: list[Action]


class CallDetail(CallView):
    counts: dict[str, int] = Field(description="Candidatures par étape.")
    audit: list[AuditEvent]


class ApplicationView(ApplicationState):
    allowed_actions: list[Action]
    overdue: bool = Field(description="Une échéance (compléments, évaluation) est dépassée.")


class Download(BaseModel):
    document_id: str
    filename: str
    actor: str
    role: str
    at: Moment


class ApplicationDetail(ApplicationView):
    audit: list[AuditEvent]
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


class ClusterView(ClusterState):
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
    audit: list[AuditEvent]
    downloads: list[Download] = Field(
        default_factory=list, description="Qui a lu quel fichier, et quand."
    )


class KpiLine(BaseModel):
    year: int
    indicator: str
    label: str
    target: int
    actual: int | None


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
