"""The programme's money: a call's envelope per budget year, the ledger's movements, and the
tranches a contract year's support is paid in, with their conditions.

A contract year maps to one budget year: year 1 of a call's contracts is its budget's first
year, and so on. Amounts requested, granted and committed are lists indexed the same way.
"""

from datetime import datetime
from enum import StrEnum
from typing import Annotated

from pydantic import BaseModel, Field, StringConstraints, model_validator

from domain.fields import Input, LongText, Moment, Text, TextList, text

MAX_AMOUNT = 1e10
# Moroccan dirhams (MAD): never negative, never past ten billion, never NaN or infinite.
Amount = Annotated[float, Field(ge=0, le=MAX_AMOUNT, allow_inf_nan=False)]
MAX_YEARS = 30  # a call's budget years, as its contracts' maximum years of support
MAX_TRANCHES = 6  # per contract year
Amounts = list[Amount]
Reference = text(60)  # an accounting reference: budget line, commitment number, order, bank ref
CENT = 0.005  # amounts are compared to the centime


def mad(value: float) -> str:
    """An amount in dirhams, thousands apart (narrow no-break spaces): « 1 200 000 MAD »."""
    return f"{value:,.0f}".replace(",", "\u202f") + " MAD"


class Budget(Input):
    """A call's envelope per budget year, from `first_year` on; set by the admin."""

    first_year: int = Field(ge=2000, le=2100, description="Première année budgétaire.")
    envelopes: Amounts = Field(
        min_length=1,
        max_length=MAX_YEARS,
        description="Enveloppe par année budgétaire, en MAD, à partir de la première.",
    )
    reserve_until: Moment | None = Field(
        default=None,
        description="Fin de la liste d'attente : au-delà, « non retenu — fonds insuffisants ».",
    )
    reserve_size: int = Field(
        default=5,
        ge=0,
        le=200,
        description="Dossiers gardés en liste d'attente par la proposition.",
    )
    tie_break: TextList = Field(
        default_factory=list,
        description="Ordre des critères qui départagent les ex aequo (vide : l'ordre de la grille).",
    )

    @property
    def years(self) -> list[int]:
        return [self.first_year + i for i in range(len(self.envelopes))]

    def year_of(self, index: int) -> int:
        """The budget year of contract year `index + 1`."""
        return self.first_year + index


class BudgetChange(Budget):
    """The budget set or changed (a change needs its reason: it is audited)."""

    reason: LongText | None = None

    def budget(self) -> Budget:
        return Budget.model_validate(self.model_dump(exclude={"reason"}))


class Movement(StrEnum):
    """A ledger row's kind; balances are sums over the rows (projection.ledger)."""

    RESERVED = "reserved"  # granted by the committee: earmarked on the envelope
    CANCELLED = "cancelled"  # a reservation given back (laureate lost): back to the envelope
    COMMITTED = "committed"  # the contract signed: the reservation becomes a commitment
    RETURNED = "returned"  # a commitment not spent (support ended early): back to the envelope
    RELEASED = "released"  # a tranche released for payment
    PAID = "paid"  # a tranche paid


MOVEMENT_LABELS = {
    Movement.RESERVED: "réservé",
    Movement.CANCELLED: "annulé",
    Movement.COMMITTED: "engagé",
    Movement.RETURNED: "restitué",
    Movement.RELEASED: "ordonnancé",
    Movement.PAID: "payé",
}
assert set(MOVEMENT_LABELS) == set(Movement)


class LedgerEntry(BaseModel):
    """One movement, as an activity writes it once (its key makes a retry write nothing)."""

    key: str = Field(max_length=200)
    call_id: str
    case_id: str  # the application's id (its cluster's is the same)
    budget_year: int
    kind: Movement
    amount: Amount = Field(gt=0, le=MAX_AMOUNT)
    actor: str
    basis: str = Field(max_length=200)  # the decision, contract or tranche it rests on
    at: datetime


def fits(amounts: list[float], available: dict[int, float], first_year: int) -> bool:
    """Whether amounts per contract year fit what is left of each budget year's envelope."""
    return all(
        amount <= available.get(first_year + i, 0.0) + CENT for i, amount in enumerate(amounts)
    )


# --- tranches ----------------------------------------------------------------------------


class ConditionKind(StrEnum):
    CONTRACT_SIGNED = "contract_signed"
    REPORT_APPROVED = "report_approved"  # the annual report of a support year, approved
    DOCUMENT = "document"  # a document of a kind received on the cluster's case
    MANUAL = "manual"  # an approval by a programme manager


CONDITION_LABELS = {
    ConditionKind.CONTRACT_SIGNED: "convention signée",
    ConditionKind.REPORT_APPROVED: "rapport annuel approuvé",
    ConditionKind.DOCUMENT: "document reçu",
    ConditionKind.MANUAL: "approbation du gestionnaire",
}
assert set(CONDITION_LABELS) == set(ConditionKind)


class ConditionSpec(Input):
    kind: ConditionKind
    # REPORT_APPROVED: which year's report, relative to the tranche's year (0: its own, -1: the
    # year before); DOCUMENT: the document's kind.
    offset: int = Field(default=0, ge=-1, le=0)
    document_kind: Text | None = None

    @model_validator(mode="after")
    def _document_named(self) -> "ConditionSpec":
        if (self.kind == ConditionKind.DOCUMENT) != (self.document_kind is not None):
            raise ValueError("une condition « document reçu » nomme son type de document")
        return self


class TrancheSpec(Input):
    """One tranche of every contract year: a share, a fixed amount, or the rest of the year."""

    label: Text
    percent: float | None = Field(default=None, gt=0, le=100)
    amount: Amount | None = Field(default=None, gt=0, le=MAX_AMOUNT)
    conditions: list[ConditionSpec] = Field(default_factory=list, max_length=5)

    @model_validator(mode="after")
    def _one_way(self) -> "TrancheSpec":
        if self.percent is not None and self.amount is not None:
            raise ValueError("une tranche est un pourcentage ou un montant, pas les deux")
        return self

    @property
    def rest(self) -> bool:
        return self.percent is None and self.amount is None


def default_schedule() -> list[TrancheSpec]:
    """60 % once the contract is signed (then, each later year, once the previous year's
    report is approved), the rest once the year's own report is approved."""
    return [
        TrancheSpec(
            label="Première tranche",
            percent=60,
            conditions=[ConditionSpec(kind=ConditionKind.REPORT_APPROVED, offset=-1)],
        ),
        TrancheSpec(
            label="Solde",
            conditions=[ConditionSpec(kind=ConditionKind.REPORT_APPROVED, offset=0)],
        ),
    ]


def check_schedule(schedule: list[TrancheSpec]) -> None:
    rests = sum(t.rest for t in schedule)
    if rests > 1:
        raise ValueError("une seule tranche peut être le solde de l'année")
    if not rests and any(t.amount is not None for t in schedule):
        raise ValueError("avec des montants fixes, une tranche doit être le solde de l'année")
    if not rests and abs(sum(t.percent or 0 for t in schedule) - 100) > 1e-6:
        raise ValueError("les pourcentages des tranches font 100 %, ou une tranche est le solde")
    if sum(t.percent or 0 for t in schedule) > 100 + 1e-6:
        raise ValueError("les pourcentages des tranches dépassent 100 %")


def split(schedule: list[TrancheSpec], total: float) -> list[float]:
    """The amounts of a year's tranches, summing to `total` exactly (the rest takes the
    rounding). Raises ValueError when fixed amounts exceed the year's grant."""
    amounts = [
        round(total * t.percent / 100, 2) if t.percent is not None else (t.amount or 0.0)
        for t in schedule
    ]
    rest = round(total - sum(amounts), 2)
    if rest < -CENT:
        raise ValueError(f"les tranches dépassent le soutien de l'année ({mad(total)})")
    rests = [i for i, t in enumerate(schedule) if t.rest]
    if rests:
        amounts[rests[0]] = rest
    elif amounts:
        amounts[-1] = round(amounts[-1] + rest, 2)
    return amounts


class Condition(BaseModel):
    kind: ConditionKind
    year: int | None = None  # REPORT_APPROVED: the support year whose report counts
    document_kind: str | None = None
    met_at: Moment | None = None
    met_by: str | None = None

    def describe(self) -> str:
        label = CONDITION_LABELS[self.kind]
        if self.kind == ConditionKind.REPORT_APPROVED:
            return f"{label} (année {self.year})"
        if self.kind == ConditionKind.DOCUMENT:
            return f"{label} : {self.document_kind}"
        return label


class TrancheStatus(StrEnum):
    PLANNED = "planned"  # its year not yet begun
    COMMITTED = "committed"  # its year's money committed, conditions awaited
    ELIGIBLE = "eligible"  # every condition met: may be released
    RELEASED = "released"  # released for payment (budget line, commitment number)
    PAID = "paid"  # paid (payment order, bank reference)
    SUSPENDED = "suspended"  # a condition refused (a report refused)
    CANCELLED = "cancelled"  # support ended: its money returned
    FAILED = "failed"  # a payment order rejected: to be issued again


TRANCHE_LABELS = {
    TrancheStatus.PLANNED: "prévue",
    TrancheStatus.COMMITTED: "engagée",
    TrancheStatus.ELIGIBLE: "exigible",
    TrancheStatus.RELEASED: "ordonnancée",
    TrancheStatus.PAID: "payée",
    TrancheStatus.SUSPENDED: "suspendue",
    TrancheStatus.CANCELLED: "annulée",
    TrancheStatus.FAILED: "paiement rejeté",
}
assert set(TRANCHE_LABELS) == set(TrancheStatus)


class Payment(BaseModel):
    payment_order: str
    bank_reference: str | None = None
    paid_at: Moment | None = None
    paid_by: str | None = None
    replaces: str | None = None  # the payment order this one re-issues
    failed: str | None = None  # why the bank rejected it


class Tranche(BaseModel):
    id: str  # « {year}-{number} »: the routes name it
    year: int  # the support year
    number: int
    label: str
    amount: Amount
    conditions: list[Condition]
    status: TrancheStatus
    budget_line: str | None = None
    commitment_number: str | None = None
    released_at: Moment | None = None
    released_by: str | None = None
    payments: list[Payment] = Field(default_factory=list)
    suspended_reason: str | None = None

    @property
    def conditions_met(self) -> bool:
        return all(c.met_at is not None for c in self.conditions)


# --- bodies of the tranches' transitions ---------------------------------------------------


TrancheId = Annotated[str, StringConstraints(pattern=r"^\d{1,2}-\d{1,2}$", max_length=5)]


class TrancheRef(Input):
    tranche: TrancheId = Field(description="La tranche (« année-numéro »).")


class ConditionApproval(TrancheRef):
    note: LongText | None = None


class Release(TrancheRef):
    budget_line: Reference = Field(description="Ligne budgétaire")
    commitment_number: Reference = Field(description="Numéro d'engagement")


class PaymentRecord(TrancheRef):
    payment_order: Reference = Field(description="Numéro de l'ordre de paiement")
    bank_reference: Reference = Field(description="Référence bancaire du virement")


class PaymentFailure(TrancheRef):
    payment_order: Reference = Field(description="L'ordre de paiement rejeté")
    reason: LongText


class Promotion(Input):
    """A reserve file labelled when funds are freed: the amounts granted per contract year."""

    amounts: Amounts = Field(min_length=1, max_length=MAX_YEARS)
    reason: LongText = Field(description="Motif communiqué au candidat.")
