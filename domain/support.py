"""Cluster support: the programme contract, its years, reports, KPIs and decisions."""

from datetime import UTC, datetime

from pydantic import BaseModel, Field, create_model, model_validator

from domain.clock import RABAT
from domain.fields import DocumentId, LongText, Moment
from domain.models import AuditEvent, ClusterStart, DocumentRef, Input, Notification
from domain.money import (
    MAX_TRANCHES,
    Amount,
    Tranche,
    TrancheSpec,
    check_schedule,
    default_schedule,
)
from domain.stages import STAGES, ClusterStage, Due


class KPIs(Input):
    """The five indicators a cluster commits to, per year."""

    rd_projects: int = Field(default=0, ge=0, le=100_000, description="Projets R&D collaboratifs")
    patents: int = Field(default=0, ge=0, le=100_000, description="Brevets")
    startups: int = Field(default=0, ge=0, le=100_000, description="Start-ups créées")
    rd_jobs: int = Field(default=0, ge=0, le=100_000, description="Emplois R&D")
    trainings: int = Field(default=0, ge=0, le=100_000, description="Formations")


# What a report declares: each indicator, or nothing (« non déclaré », never taken for zero).
ReportedKPIs = create_model(
    "ReportedKPIs",
    __base__=Input,
    __doc__="The indicators a report declares; one left out is « non déclaré », not zero.",
    **{
        name: (int | None, Field(default=None, ge=0, le=100_000, description=f.description))
        for name, f in KPIs.model_fields.items()
    },
)

KPI_LABELS = {
    "rd_projects": "Projets R&D collaboratifs",
    "patents": "Brevets",
    "startups": "Start-ups créées",
    "rd_jobs": "Emplois R&D",
    "trainings": "Formations",
}


class ContractTerms(Input):
    start_at: Moment = Field(description="Début de la convention-programme (date seule : 15h00).")
    planned_amounts: list[Amount] = Field(
        min_length=1,
        max_length=30,
        description="Soutien prévu par année, en MAD (dégressif permis).",
    )
    kpi_targets: KPIs
    schedule: list[TrancheSpec] = Field(
        default_factory=default_schedule,
        min_length=1,
        max_length=MAX_TRANCHES,
        description="Les tranches de chaque année (pourcentage, montant fixe ou solde).",
    )

    @model_validator(mode="after")
    def _amounts_positive(self) -> "ContractTerms":
        check_schedule(self.schedule)
        return self


# The files of an annual report: the report's field, and the kind the file is deposited as.
REPORT_FILES = {
    "activity_report": "rapport d'activité",
    "financial_statements": "états financiers",
    "indicators_table": "tableau des indicateurs",
}


class AnnualReport(Input):
    activity_report: DocumentId = Field(description="Rapport d'activité (id du fichier déposé)")
    financial_statements: DocumentId = Field(description="États financiers (id du fichier déposé)")
    indicators_table: DocumentId = Field(
        description="Tableau des indicateurs (id du fichier déposé)"
    )
    kpi_actuals: ReportedKPIs  # type: ignore[valid-type]
    next_year_plan: LongText


class Renewal(Input):
    amount: Amount | None = Field(
        default=None,
        ge=0,
        le=1e10,
        description="Soutien de l'année qui vient (MAD) ; par défaut, le montant prévu.",
    )
    reason: LongText | None = None


class ProbationRenewal(Renewal):
    conditions: LongText
    review_at: Moment = Field(description="Date de revue de la probation.")


class Reason(Input):
    reason: LongText


class Note(Input):
    note: LongText | None = None


class Probation(BaseModel):
    conditions: str
    review_at: Moment
    reviewed: bool = False


class SupportYear(BaseModel):
    year: int
    starts_at: Moment
    ends_at: Moment  # the anniversary: the annual report is due then
    amount: Amount
    kpi_targets: KPIs
    report_requested_at: Moment | None = None
    reminders_sent: int = 0
    overdue: bool = False
    report: AnnualReport | None = None
    report_received_at: Moment | None = None
    decision: str | None = None
    probation: Probation | None = None
    report_refused: str | None = None  # why the last report was refused (a new one is awaited)
    tranches: list[Tranche] = Field(default_factory=list)


class ClusterState(BaseModel):
    id: str
    stage: ClusterStage
    origin: ClusterStart
    contract: ContractTerms | None = None
    years: list[SupportYear] = Field(default_factory=list)
    suspended_from: ClusterStage | None = None
    reason: str | None = None
    can_reapply: bool = False
    files: list[DocumentRef] = Field(default_factory=list)
    seq: int = 0
    updated_at: Moment

    @property
    def current(self) -> SupportYear | None:
        return self.years[-1] if self.years else None

    def report_due(self) -> datetime | None:
        """The annual report's due date, while its stage's record says the case waits on it."""
        if STAGES[self.stage].due == Due.REPORT and self.current:
            return self.current.ends_at
        return None


class ClusterRecord(BaseModel):
    state: ClusterState
    event: AuditEvent
    notifications: list[Notification] = Field(default_factory=list)


def add_years(moment: datetime, years: int) -> datetime:
    """The same calendar day and clock time in Rabat `years` later (29 February falls on the
    28th), as UTC: Rabat's offset may differ then (Ramadan), a contract's hour does not."""
    local = moment.astimezone(RABAT)
    try:
        later = local.replace(year=local.year + years)
    except ValueError:
        later = local.replace(year=local.year + years, day=28)
    return later.astimezone(UTC)
