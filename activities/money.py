"""The money's activities: a call's envelopes set from its budget, a movement written to the
ledger once, and the reserve file to propose when funds are freed. The database guards the
ledger (migration 0008); these activities turn its refusals into French words."""

import logging
from datetime import UTC, datetime
from typing import Any

from pydantic import BaseModel, Field
from sqlalchemy import Engine, delete, insert, update
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select
from temporalio import activity
from temporalio.exceptions import ApplicationError

from domain.models import NOT_ALLOWED, ApplicationState, Grid
from domain.money import CENT, MOVEMENT_LABELS, Budget, LedgerEntry, Movement, fits, mad
from domain.scoring import rank_key
from domain.stages import ApplicationStage
from projection import ledger
from projection.ledger import ENVELOPES, LEDGER, YearBalance, cents
from projection.queries import application_state, call_state
from projection.tables import ApplicationRow, CallRow, LedgerRow

log = logging.getLogger(__name__)
M = Movement


class MoveOrder(BaseModel):
    key: str = Field(max_length=180)  # each row's key adds « /kind/year » (200 at most)
    call_id: str
    case_id: str
    kind: Movement
    amounts: dict[int, float] | None  # per contract year (1-based); None: all that remains
    actor: str
    basis: str


class ReserveProposal(BaseModel):
    application_id: str
    amounts: list[float]  # per contract year


# What a movement stays within per (case, budget year), as the database checks it: the kinds it
# draws from, the kinds already drawn, and how a refusal names what is left.
BOUNDS: dict[Movement, tuple[tuple[Movement, ...], tuple[Movement, ...], str]] = {
    M.COMMITTED: (
        (M.RESERVED,),
        (M.CANCELLED, M.COMMITTED),
        "à engager (réservé − annulé − engagé)",
    ),
    M.CANCELLED: (
        (M.RESERVED,),
        (M.COMMITTED, M.CANCELLED),
        "à annuler (réservé − engagé − annulé)",
    ),
    M.RELEASED: (
        (M.COMMITTED,),
        (M.RETURNED, M.RELEASED),
        "à ordonnancer (engagé − restitué − ordonnancé)",
    ),
    M.RETURNED: (
        (M.COMMITTED,),
        (M.RELEASED, M.RETURNED),
        "à restituer (engagé − ordonnancé − restitué)",
    ),
    M.PAID: ((M.RELEASED,), (M.PAID,), "à payer (ordonnancé − payé)"),
}
# The kinds an order may ask as « all that remains » (amounts None).
ALL_THAT_REMAINS = {M.CANCELLED, M.COMMITTED, M.RETURNED}


def remaining(balance: YearBalance, kind: Movement) -> float:
    """What is left of a case's year for a movement of `kind`."""
    drawn_from, drawn, _ = BOUNDS[kind]
    return cents(sum(balance.of(k) for k in drawn_from) - sum(balance.of(k) for k in drawn))


def refused(message: str) -> ApplicationError:
    return ApplicationError(message, type=NOT_ALLOWED, non_retryable=True)


def entry(row: LedgerRow) -> LedgerEntry:
    return LedgerEntry.model_validate(row, from_attributes=True)


def requested(state: ApplicationState) -> list[float]:
    """A reserve file's amounts per contract year: as decided, else as the applicant asked."""
    if state.decision and state.decision.amounts:
        return list(state.decision.amounts)
    return list(state.data.requested_amounts)


def ranked(grid: Grid, state: ApplicationState) -> tuple:
    """The call's ranking order (a file without a result, if any, after those with one)."""
    result = state.evaluation.result if state.evaluation else None
    if result is None:
        return (1, state.registered_at, state.id)
    return (0, rank_key(grid, result, state.registered_at), state.id)


def _prefix(order: MoveOrder) -> str:
    return f"{order.key}/{order.kind.value}/"


class Money:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    @activity.defn
    def set_envelopes(self, call_id: str, budget: Budget) -> None:
        """The call's envelope rows made to match `budget`, its rows locked meanwhile (a
        reservation on them waits); refused when a year would fall below what is engaged."""
        wanted = {y: cents(a) for y, a in zip(budget.years, budget.envelopes, strict=True)}
        with Session(self.engine) as db, db.begin():
            locked = (
                select(ENVELOPES.c.year, ENVELOPES.c.amount)
                .where(ENVELOPES.c.call_id == call_id)
                .order_by(ENVELOPES.c.year)
                .with_for_update()
            )
            current: dict[int, float] = dict(db.execute(locked).all())  # type: ignore[arg-type]
            for balance in ledger.call_balances(db, call_id):
                year, engaged = balance.year, balance.engaged
                if year not in wanted and engaged > CENT:
                    raise refused(
                        f"L'année {year} ne peut quitter le budget : {mad(engaged)} y sont "
                        "déjà réservés."
                    )
                if year in wanted and engaged > wanted[year] + CENT:
                    raise refused(
                        f"L'enveloppe {year} ({mad(wanted[year])}) serait inférieure aux "
                        f"montants déjà réservés ({mad(engaged)})."
                    )
            gone = [year for year in current if year not in wanted]
            if gone:
                db.execute(
                    delete(ENVELOPES).where(
                        ENVELOPES.c.call_id == call_id, ENVELOPES.c.year.in_(gone)
                    )
                )
            for year, amount in wanted.items():
                if year not in current:
                    db.execute(
                        insert(ENVELOPES), {"call_id": call_id, "year": year, "amount": amount}
                    )
                elif current[year] != amount:
                    db.execute(
                        update(ENVELOPES)
                        .where(ENVELOPES.c.call_id == call_id, ENVELOPES.c.year == year)
                        .values(amount=amount)
                    )

    def move(self, order: MoveOrder) -> list[LedgerEntry]:
        return self.moves([order])

    @activity.defn
    def moves(self, orders: list[MoveOrder]) -> list[LedgerEntry]:
        """The orders' rows (a transition's movements: a reservation given back, then a new
        one), one per budget year, in one transaction and once: a retry answers the rows as
        stored. A call without a budget writes nothing (money not tracked)."""
        writing: dict[str, Any] = {}
        order = orders[0] if orders else None
        written: list[dict[str, Any]] = []
        try:
            with Session(self.engine) as db, db.begin():
                stored = [e for o in orders for e in self._stored(db, o, _prefix(o))]
                if stored:
                    return stored
                for order in orders:
                    envelopes = ledger.envelopes(db, order.call_id)
                    if not envelopes:
                        continue
                    rows = self._rows(db, order, min(envelopes), _prefix(order))
                    for row in rows:  # one by one: a refusal names its year
                        writing = row
                        db.execute(insert(LEDGER), row)
                    written += rows
        except IntegrityError as error:
            reason = str(error.orig)
            assert order is not None
            if "fonds insuffisants" in reason:
                raise self._short(order, writing) from None
            if "montant au-delà" in reason:
                raise self._beyond(order, writing) from None
            with Session(self.engine) as db:
                stored = [e for o in orders for e in self._stored(db, o, _prefix(o))]
            if stored:  # another attempt of the same orders wrote them meanwhile
                return stored
            raise
        for row in written:
            log.info("money moved", extra={k: row[k] for k in ("key", "case_id", "amount")})
        return [LedgerEntry.model_validate(row) for row in written]

    @staticmethod
    def _stored(db: Session, order: MoveOrder, prefix: str) -> list[LedgerEntry]:
        """The rows an earlier attempt of the order wrote (found through the case's index)."""
        query = select(LedgerRow).where(
            LedgerRow.case_id == order.case_id,
            col(LedgerRow.key).startswith(prefix, autoescape=True),
        )
        rows = db.exec(query.order_by(col(LedgerRow.budget_year)))
        return [entry(r) for r in rows if r.key[len(prefix) :].isdigit()]

    @staticmethod
    def _rows(db: Session, order: MoveOrder, first_year: int, prefix: str) -> list[dict[str, Any]]:
        label = MOVEMENT_LABELS[order.kind]
        if order.amounts is None:
            if order.kind not in ALL_THAT_REMAINS:
                raise refused(f"Un mouvement « {label} » se fait sur des montants donnés.")
            balances = ledger.case_balances(db, order.case_id)
            per_year = {b.year: remaining(b, order.kind) for b in balances}
        else:
            if any(year < 1 for year in order.amounts):
                raise refused("Les années de la convention se comptent à partir de 1.")
            if any(amount < 0 for amount in order.amounts.values()):
                raise refused(f"Un montant « {label} » ne peut être négatif.")
            per_year = {first_year + y - 1: a for y, a in order.amounts.items()}
        at = datetime.now(UTC)
        return [
            {
                "key": f"{prefix}{year}",
                "call_id": order.call_id,
                "case_id": order.case_id,
                "budget_year": year,
                "kind": order.kind.value,
                "amount": cents(amount),
                "actor": order.actor,
                "basis": order.basis,
                "at": at,
            }
            for year, amount in sorted(per_year.items())
            if cents(amount) > 0
        ]

    def _short(self, order: MoveOrder, row: dict[str, Any]) -> ApplicationError:
        year, asked = row["budget_year"], mad(row["amount"])
        with Session(self.engine) as db:
            balance = next(
                (b for b in ledger.call_balances(db, order.call_id) if b.year == year), None
            )
        if balance is None or balance.available is None:
            return refused(
                f"Fonds insuffisants : l'appel n'a pas d'enveloppe pour {year} ({asked} demandés)."
            )
        left = mad(max(0.0, balance.available))
        return refused(
            f"Fonds insuffisants sur l'enveloppe {year} : il reste {left}, {asked} demandés."
        )

    def _beyond(self, order: MoveOrder, row: dict[str, Any]) -> ApplicationError:
        year, asked = row["budget_year"], mad(row["amount"])
        with Session(self.engine) as db:
            balances = ledger.case_balances(db, order.case_id)
        balance = next((b for b in balances if b.year == year), YearBalance(year=year))
        left = mad(max(0.0, remaining(balance, order.kind)))
        words = BOUNDS[order.kind][2]
        return refused(
            f"Montant au-delà de ce qui reste {words} sur {year} : il reste {left}, {asked} demandés."
        )

    @activity.defn
    def next_in_reserve(self, call_id: str, exclude: list[str]) -> ReserveProposal | None:
        """The first reserve file in ranking order whose amounts fit what the envelopes have
        left; None when none fits or the call has no budget."""
        with Session(self.engine) as db:
            call = db.get(CallRow, call_id)
            available = {
                b.year: b.available
                for b in ledger.call_balances(db, call_id)
                if b.available is not None
            }
            if call is None or not available:
                return None
            rows = db.exec(
                select(ApplicationRow).where(
                    ApplicationRow.call_id == call_id,
                    ApplicationRow.stage == ApplicationStage.RESERVE,
                    col(ApplicationRow.id).not_in(exclude),
                )
            )
            states = [application_state(r) for r in rows]
        grid = call_state(call).spec.grid
        first_year = min(available)
        for state in sorted(states, key=lambda s: ranked(grid, s)):
            amounts = requested(state)
            if amounts and fits(amounts, available, first_year):  # type: ignore[arg-type]
                return ReserveProposal(application_id=state.id, amounts=amounts)
        return None
