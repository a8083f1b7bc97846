"""The money as read from the ledger: balances are sums over its rows, never stored; per call
and budget year against the envelope, per case, for the whole programme with what its running
contracts still need; and the ledger itself as an export."""

from collections import defaultdict
from collections.abc import Iterable

from pydantic import BaseModel
from sqlalchemy import func
from sqlmodel import Session, col, select

from domain.money import MOVEMENT_LABELS, Movement
from domain.stages import FINAL_CLUSTER_STAGES
from projection.exports import MAX_ROWS, Table
from projection.tables import ClusterRow, EnvelopeRow, LedgerRow

LEDGER = LedgerRow.__table__
ENVELOPES = EnvelopeRow.__table__
Sums = dict[int, dict[Movement, float]]  # per budget year, per kind


class YearBalance(BaseModel):
    year: int
    envelope: float | None = None
    reserved: float = 0.0
    cancelled: float = 0.0
    committed: float = 0.0
    returned: float = 0.0
    released: float = 0.0
    paid: float = 0.0
    engaged: float = 0.0  # reserved - cancelled - returned: what counts against the envelope
    available: float | None = None  # envelope - engaged

    def of(self, kind: Movement) -> float:
        return getattr(self, kind.value)


class ProgrammeYear(YearBalance):
    needs: float = 0.0  # what running contracts plan for the year and is not paid yet


def cents(amount: float) -> float:
    return round(amount, 2)


def sums(db: Session, *where: object) -> Sums:
    """The ledger's rows matching `where`, summed per budget year and kind."""
    query = (
        select(LEDGER.c.budget_year, LEDGER.c.kind, func.sum(LEDGER.c.amount))
        .where(*where)  # type: ignore[arg-type]
        .group_by(LEDGER.c.budget_year, LEDGER.c.kind)
    )
    result: Sums = defaultdict(dict)
    for year, kind, amount in db.execute(query):
        result[year][Movement(kind)] = cents(amount)
    return result


def balance(year: int, kinds: dict[Movement, float], envelope: float | None) -> YearBalance:
    amounts = {kind.value: kinds.get(kind, 0.0) for kind in Movement}
    engaged = cents(amounts["reserved"] - amounts["cancelled"] - amounts["returned"])
    available = cents(envelope - engaged) if envelope is not None else None
    return YearBalance(
        year=year, envelope=envelope, engaged=engaged, available=available, **amounts
    )


def envelopes(db: Session, call_id: str) -> dict[int, float]:
    """A call's envelope per budget year (empty: the call has no budget, money not tracked)."""
    query = select(ENVELOPES.c.year, ENVELOPES.c.amount).where(ENVELOPES.c.call_id == call_id)
    return dict(db.execute(query.order_by(ENVELOPES.c.year)).all())  # type: ignore[arg-type]


def call_balances(db: Session, call_id: str) -> list[YearBalance]:
    """Every envelope year of the call, and any year it has movements on."""
    amounts = envelopes(db, call_id)
    moved = sums(db, LEDGER.c.call_id == call_id)
    return [balance(y, moved.get(y, {}), amounts.get(y)) for y in sorted({*amounts, *moved})]


def case_balances(db: Session, case_id: str) -> list[YearBalance]:
    moved = sums(db, LEDGER.c.case_id == case_id)
    return [balance(year, moved[year], None) for year in sorted(moved)]


def first_years(db: Session) -> dict[str, int]:
    """Each call's first budget year (its contracts' year 1), for the calls with a budget."""
    query = select(ENVELOPES.c.call_id, func.min(ENVELOPES.c.year)).group_by(ENVELOPES.c.call_id)
    return dict(db.execute(query).all())  # type: ignore[arg-type]


def needs(db: Session) -> dict[int, float]:
    """Per budget year, what the running contracts plan and is not paid yet (a cluster's call
    without a budget is left out: its money is not tracked)."""
    firsts = first_years(db)
    rows = db.exec(
        select(ClusterRow).where(col(ClusterRow.stage).not_in(list(FINAL_CLUSTER_STAGES)))
    )
    planned: dict[tuple[str, int], float] = {}
    for row in rows:
        contract = row.state.get("contract") or {}
        if row.call_id not in firsts or not contract.get("planned_amounts"):
            continue
        for i, amount in enumerate(contract["planned_amounts"]):
            planned[(row.application_id, firsts[row.call_id] + i)] = amount
    paid = paid_by_case(db, {case for case, _ in planned})
    result: dict[int, float] = defaultdict(float)
    for (case, year), amount in planned.items():
        result[year] += max(0.0, amount - paid.get((case, year), 0.0))
    return {year: cents(amount) for year, amount in result.items()}


def paid_by_case(db: Session, cases: Iterable[str]) -> dict[tuple[str, int], float]:
    query = (
        select(LEDGER.c.case_id, LEDGER.c.budget_year, func.sum(LEDGER.c.amount))
        .where(LEDGER.c.kind == Movement.PAID, LEDGER.c.case_id.in_(list(cases)))
        .group_by(LEDGER.c.case_id, LEDGER.c.budget_year)
    )
    return {(case, year): amount for case, year, amount in db.execute(query)}


def programme_years(db: Session) -> list[ProgrammeYear]:
    """The whole programme per budget year: every call's envelopes and movements summed, and
    what running contracts still need."""
    query = select(ENVELOPES.c.year, func.sum(ENVELOPES.c.amount)).group_by(ENVELOPES.c.year)
    amounts: dict[int, float] = {year: cents(total) for year, total in db.execute(query)}
    moved, needed = sums(db), needs(db)
    return [
        ProgrammeYear(
            **balance(year, moved.get(year, {}), amounts.get(year)).model_dump(),
            needs=needed.get(year, 0.0),
        )
        for year in sorted({*amounts, *moved, *needed})
    ]


LEDGER_HEADER = [
    "Date",
    "Appel",
    "Dossier",
    "Année budgétaire",
    "Mouvement",
    "Montant (MAD)",
    "Acteur",
    "Fondement",
]


def ledger_table(db: Session, call_id: str | None = None) -> Table:
    """The ledger's rows, oldest first (all calls', or one call's)."""
    query = select(LedgerRow).order_by(col(LedgerRow.at), col(LedgerRow.id)).limit(MAX_ROWS + 1)
    if call_id is not None:
        query = query.where(LedgerRow.call_id == call_id)
    rows = [
        [r.at, r.call_id, r.case_id, r.budget_year, MOVEMENT_LABELS[Movement(r.kind)]]
        + [r.amount, r.actor, r.basis]
        for r in db.exec(query)
    ]
    title = f"Grand livre {call_id}" if call_id else "Grand livre"
    return Table(title, LEDGER_HEADER, rows)
