"""What the reads answer, declared apart from what workflows hold and tables store: the faces'
response bodies (request bodies are the domain's input models). No internal field (seq, ids of
workflows, runs or updates, notice keys) is declared here; projection.visibility maps to them."""

from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from pydantic import BaseModel, Field

from domain.allocation import Rule
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
from domain.money import Budget
from domain.session import LikelyConflict, PvSignature, SessionSpec
from domain.stages import Action, ApplicationStage, CallStage, ClusterStage, Role, SessionStage
from domain.support import ContractTerms, SupportYear
from projection.ledger import ProgrammeYear, YearBalance

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
    budget: Budget | None = Field(
        default=None, description="Enveloppe par année budgétaire (absente : argent non suivi)."
    )
    promotions: list[str] = Field(
        default_factory=list,
        description="Dossiers de la liste d'attente proposés, dans l'ordre, quand des fonds "
        "se sont libérés.",
    )
    reserve_closed: bool = Field(default=False, description="Liste d'attente close.")
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
    dossier_url: str | None = Field(
        default=None,
        description="Le dossier de recours (PDF), une fois constitué ; pas pour un évaluateur.",
    )


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


# --- money (domain.money, projection.ledger) -------------------------------------------------
class PlacedView(BaseModel):
    """A file in the allocation proposal, or on a call's reserve list."""

    application_id: str
    cluster_name: str
    stage: ApplicationStage
    rank: int | None = Field(description="Rang parmi les dossiers proposés au-dessus des seuils.")
    amounts: list[float] = Field(description="Montants par année de convention (MAD).")


class Proposal(BaseModel):
    """The ranking walked within what the envelopes have left: it changes nothing."""

    rule: Rule
    rule_label: str
    available: dict[int, float] = Field(description="Disponible par année budgétaire, avant.")
    laureates: list[PlacedView]
    reserve: list[PlacedView] = Field(description="Liste d'attente proposée, dans l'ordre.")
    insufficient: list[PlacedView] = Field(description="Non retenus — fonds insuffisants.")
    below_threshold: list[PlacedView]
    remaining: dict[int, float] = Field(description="Disponible par année, lauréats déduits.")


class PromotionView(BaseModel):
    """A reserve file the call proposed when a laureate's funds came back."""

    application_id: str
    cluster_name: str
    stage: ApplicationStage
    amounts: list[float] = Field(description="Montants proposés par année de convention (MAD).")
    freed_by: str | None = Field(description="Le lauréat dont les fonds sont revenus.")
    proposed_at: Moment
    pending: bool = Field(description="Encore sur la liste d'attente : à retenir ou non.")


class CallBudget(BaseModel):
    call_id: str
    budget: Budget | None
    years: list[YearBalance] = Field(description="Soldes par année budgétaire (grand livre).")
    proposal: Proposal | None = Field(description="Absente tant que le budget n'est pas fixé.")
    reserve: list[PlacedView] = Field(
        description="La liste d'attente, dans l'ordre du classement, avec les dossiers qui "
        "l'ont quittée (retenus, non retenus)."
    )
    promotions: list[PromotionView]
    reserve_closed: bool


class ProgrammeYears(BaseModel):
    years: list[ProgrammeYear] = Field(
        description="Par année budgétaire : enveloppes et mouvements de tous les appels, et ce "
        "que les conventions en cours prévoient et n'ont pas encore payé."
    )


class ForecastYear(BaseModel):
    year: int
    planned: float = Field(description="Prévu par les conventions et pas encore payé (MAD).")
    expected: float = Field(description="Attendu selon le scénario (MAD).")


class Forecast(BaseModel):
    from_year: int
    stop_share: float = Field(description="Part des clusters qui s'arrêtent chaque année.")
    probation_share: float = Field(description="Part renouvelée sous probation chaque année.")
    probation_cut: float = Field(description="Réduction du montant d'une année sous probation.")
    contracts: int = Field(description="Conventions en cours prises en compte.")
    needs: list[ForecastYear]


# --- the committee's sessions (domain.session) -----------------------------------------------
class SessionSummary(BaseModel):
    """A session in a list."""

    id: str
    title: str
    stage: SessionStage
    meets_at: Moment
    call_ids: list[str]
    decided: int = Field(description="Dossiers de l'ordre du jour décidés.")
    pending: int = Field(description="Dossiers de l'ordre du jour restant à décider.")
    updated_at: Moment


class QuorumView(BaseModel):
    voting_present: int = Field(description="Membres votants présents (et sans conflit).")
    needed: int = Field(description="Membres votants présents qu'il faut.")
    reached: bool


class ItemDecisionView(BaseModel):
    outcome: ApplicationStage
    amounts: list[float] = Field(description="Montants accordés par année (MAD).")
    votes_for: int
    votes_against: int
    abstentions: int
    voters: list[str] = Field(description="Membres votants présents et sans conflit.")
    decided_at: Moment
    decided_by: str


class AgendaItemView(BaseModel):
    application_id: str
    call_id: str
    cluster_name: str
    rank: int
    score: float | None = Field(description="Note globale pondérée des évaluateurs.")
    consensus: bool | None = Field(description="Les évaluateurs s'accordent (écart faible).")
    likely: list[LikelyConflict] = Field(description="Conflits d'intérêts probables signalés.")
    added_at: Moment | None = Field(description="Ajouté après la convocation.")
    removed_at: Moment | None
    removed_reason: str | None
    opened_at: Moment | None
    withdrawn: list[str] = Field(description="Membres retirés pour conflit d'intérêts.")
    decision: ItemDecisionView | None
    pending: bool = Field(description="Ni décidé ni retiré de l'ordre du jour.")
    quorum: QuorumView = Field(
        description="Sur ce dossier : ses votants (les voix exprimées en font le compte)."
    )


class AgendaEntry(AgendaItemView):
    """An agenda item with its decision's texts, read from the session's audit trail."""

    motivation: str | None = Field(description="Motivation communiquée au candidat.")
    internal_note: str | None = Field(
        description="Note interne du comité : pour le comité et l'administration seuls."
    )


class StoredPdf(BaseModel):
    sha256: str
    built_at: Moment
    url: str


class PvView(BaseModel):
    """One version of the PV: signed, it never changes; a correction is a new version."""

    number: int
    sha256: str = Field(description="SHA-256 du PV tel qu'établi, avant signature.")
    signed_sha256: str | None = Field(description="SHA-256 du PV signé (ou du scan déposé).")
    built_at: Moment
    corrects: int | None = Field(description="Numéro du PV que celui-ci rectifie.")
    correction: str | None
    signatures: list[PvSignature]
    signed: bool = Field(description="Signé par le président et le secrétaire.")
    url: str = Field(description="Le PDF : signé s'il l'est, sinon tel qu'établi.")


class SessionView(BaseModel):
    id: str
    stage: SessionStage
    spec: SessionSpec
    agenda: list[AgendaItemView]
    current: str | None = Field(description="Dossier ouvert, en attente de sa décision.")
    present: list[str] = Field(description="Membres pointés présents.")
    quorum: QuorumView
    pack: StoredPdf | None = Field(description="Dossier de séance (établi à la convocation).")
    pvs: list[PvView]
    convened_at: Moment | None
    opened_at: Moment | None
    closed_at: Moment | None
    updated_at: Moment
    allowed_actions: list[Action] = Field(description="Ce que le lecteur peut faire à présent.")

    def item(self, application_id: str) -> AgendaItemView | None:
        return next((i for i in self.agenda if i.application_id == application_id), None)

    @property
    def pv(self) -> PvView | None:
        return self.pvs[-1] if self.pvs else None


class SessionDetail(SessionView):
    agenda: list[AgendaEntry]  # type: ignore[assignment]
    audit: list[AuditEntry]


# What an update's answer is shown as, per kind of case.
VIEWS: dict[Kind, type[BaseModel]] = {
    Kind.CALL: CallView,
    Kind.APPLICATION: ApplicationView,
    Kind.CLUSTER: ClusterView,
    Kind.SESSION: SessionView,
}
