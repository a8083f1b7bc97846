"""The money ledger on SQLite and PostgreSQL: the database refuses a reservation beyond its
envelope, a movement beyond what the case allows, and any change to a written row; the
activities say why in French, write each order once, and read balances as sums."""

import multiprocessing
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from alembic import command
from sqlalchemy import Engine, create_engine, event, insert, inspect, text
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, func, select
from temporalio.exceptions import ApplicationError

from activities.money import Money, MoveOrder
from domain.ids import application_workflow_id, call_workflow_id, cluster_workflow_id
from domain.models import (
    DEFAULT_GRID,
    NOT_ALLOWED,
    ApplicationRecord,
    AuditEvent,
    CallRecord,
    CallSpec,
    CallState,
    ClusterStart,
    Decision,
    Evaluation,
    EvaluationResult,
)
from domain.money import Budget, Movement, mad
from domain.stages import Action, ApplicationStage, CallStage, ClusterStage, Role
from domain.support import ClusterRecord, ClusterState, ContractTerms, KPIs
from projection import queries
from projection.database import alembic_config, migrate
from projection.ledger import call_balances, case_balances, ledger_table, programme_years
from projection.tables import ApplicationRow, LedgerRow
from projection.writes import Projection, application_row
from tests.conftest import POSTGRES_URL, postgres_engine
from tests.test_projection import record

CALL = "2027-fonds"
T0 = datetime(2027, 3, 1, 10, 0, tzinfo=UTC)
R, X, C, B, L, P = (
    Movement.RESERVED,
    Movement.CANCELLED,
    Movement.COMMITTED,
    Movement.RETURNED,
    Movement.RELEASED,
    Movement.PAID,
)


def order(key: str, case: str, kind: Movement, amounts: dict[int, float] | None) -> MoveOrder:
    return MoveOrder(
        key=key, call_id=CALL, case_id=case, kind=kind, amounts=amounts, actor="Amina", basis=key
    )


def budget(*envelopes: float, first_year: int = 2027) -> Budget:
    return Budget(first_year=first_year, envelopes=list(envelopes))


def refusal(attempt: Callable[[], object]) -> str:
    """The French message of a refusal that Temporal will not retry."""
    with pytest.raises(ApplicationError) as refused:
        attempt()
    assert refused.value.type == NOT_ALLOWED and refused.value.non_retryable
    return refused.value.message


def count(engine: Engine) -> int:
    with Session(engine) as db:
        return db.exec(select(func.count()).select_from(LedgerRow)).one()


def raw(engine: Engine, kind: str, amount: float, case: str = "a1", year: int = 2027) -> None:
    """A row written past the activity, as any SQL client could."""
    with engine.begin() as db:
        db.execute(
            insert(LedgerRow.__table__),
            {
                "key": f"raw/{case}/{kind}/{year}/{amount}",
                "call_id": CALL,
                "case_id": case,
                "budget_year": year,
                "kind": kind,
                "amount": amount,
                "actor": "psql",
                "basis": "à la main",
                "at": T0,
            },
        )


def refused_by_database(engine: Engine, marker: str, *args: Any) -> None:
    with pytest.raises(IntegrityError) as refused:
        raw(engine, *args)
    assert marker in str(refused.value.orig)


def test_a_reservation_beyond_its_envelope_is_refused_and_writes_nothing(
    any_engine: Engine,
) -> None:
    money = Money(any_engine)
    money.set_envelopes(CALL, budget(1_000_000, 500_000))
    written = money.move(order("label/a1", "a1", R, {1: 700_000, 2: 200_000}))
    assert [(e.budget_year, e.amount, e.kind) for e in written] == [
        (2027, 700_000, R),
        (2028, 200_000, R),
    ]
    message = refusal(lambda: money.move(order("label/a2", "a2", R, {1: 300_000, 2: 400_000})))
    assert message == (
        f"Fonds insuffisants sur l'enveloppe 2028 : il reste {mad(300_000)}, "
        f"{mad(400_000)} demandés."
    )
    assert count(any_engine) == 2  # not even the 2027 row that fitted
    refused_by_database(any_engine, "fonds insuffisants", "reserved", 300_000.01, "a2")
    refused_by_database(any_engine, "fonds insuffisants", "reserved", 1, "a2", 2030)  # no envelope
    raw(any_engine, "reserved", 300_000, "a2")  # exactly what is left
    message = refusal(lambda: money.move(order("label/a3", "a3", R, {3: 10})))
    assert (
        message
        == f"Fonds insuffisants : l'appel n'a pas d'enveloppe pour 2029 ({mad(10)} demandés)."
    )


def test_no_movement_goes_beyond_what_its_case_allows(any_engine: Engine) -> None:
    """committed ≤ reserved − cancelled; released ≤ committed − returned; paid ≤ released;
    cancelled ≤ reserved − committed; returned ≤ committed − released."""
    money = Money(any_engine)
    money.set_envelopes(CALL, budget(1_000))
    raw(any_engine, "reserved", 100)
    steps = [("committed", 101, 60), ("cancelled", 41, 40), ("released", 61, 50)]
    steps += [("returned", 11, 10), ("paid", 51, 50)]
    for kind, beyond, within in steps:
        refused_by_database(any_engine, "montant au-delà", kind, beyond)
        raw(any_engine, kind, within)
    for kind in ("committed", "cancelled", "released", "returned", "paid"):
        refused_by_database(any_engine, "montant au-delà", kind, 0.01)
    refused_by_database(any_engine, "montant au-delà", "committed", 1, "a2")  # nothing reserved
    message = refusal(lambda: money.move(order("sign/a1", "a1", C, {1: 5})))
    assert message == (
        "Montant au-delà de ce qui reste à engager (réservé − annulé − engagé) sur 2027 : "
        f"il reste {mad(0)}, {mad(5)} demandés."
    )
    with Session(any_engine) as db:
        [year] = case_balances(db, "a1")
    assert (year.reserved, year.cancelled, year.committed, year.returned) == (100, 40, 60, 10)
    assert (year.released, year.paid, year.engaged, year.envelope) == (50, 50, 50, None)


def test_the_ledger_is_append_only(any_engine: Engine) -> None:
    Money(any_engine).set_envelopes(CALL, budget(1_000))
    raw(any_engine, "reserved", 100)
    for statement in ("update ledger set amount = 1", "delete from ledger"):
        with pytest.raises(IntegrityError) as refused, any_engine.begin() as db:
            db.execute(text(statement))
        assert "ajout seul" in str(refused.value.orig)
    with Session(any_engine) as db:
        assert db.exec(select(LedgerRow.amount)).all() == [100]


def test_a_retried_move_writes_nothing_twice(any_engine: Engine) -> None:
    money = Money(any_engine)
    money.set_envelopes(CALL, budget(1_000_000, 1_000_000))
    reserve = order("label/a1", "a1", R, {1: 400_000, 2: 0, 3: 0})  # zeros are skipped
    first = money.move(reserve)
    assert money.move(reserve) == first and count(any_engine) == 1
    sign = order("sign/a1", "a1", C, None)  # all that remains reserved
    signed = money.move(sign)
    assert [(e.kind, e.budget_year, e.amount) for e in signed] == [(C, 2027, 400_000)]
    assert money.move(sign) == signed and count(any_engine) == 2  # the stored rows, not []
    assert money.move(order("sign/a1", "a1", C, {1: 1})) == signed  # same key: a retry
    # « all that remains » once nothing remains writes nothing.
    assert money.move(order("cancel/a1", "a1", X, None)) == []
    ended = money.move(order("end/a1", "a1", B, None))
    assert [(e.kind, e.amount) for e in ended] == [(B, 400_000)]
    assert refusal(lambda: money.move(order("pay/a1", "a1", P, None))) == (
        "Un mouvement « payé » se fait sur des montants donnés."
    )
    with Session(any_engine) as db:
        [balance, *_] = call_balances(db, CALL)
    assert (balance.engaged, balance.available) == (0, 1_000_000)


def test_a_call_without_budget_tracks_no_money(any_engine: Engine) -> None:
    money = Money(any_engine)
    assert money.move(order("label/a1", "a1", R, {1: 1e6})) == []
    assert money.move(order("sign/a1", "a1", C, None)) == []
    assert count(any_engine) == 0
    assert money.next_in_reserve(CALL, []) is None
    with Session(any_engine) as db:
        assert call_balances(db, CALL) == []


def test_envelopes_follow_the_budget_never_below_what_is_engaged(any_engine: Engine) -> None:
    money = Money(any_engine)
    money.set_envelopes(CALL, budget(1_000_000, 500_000, 500_000))
    money.move(order("label/a1", "a1", R, {1: 800_000, 2: 100_000}))
    assert refusal(lambda: money.set_envelopes(CALL, budget(700_000, 500_000))) == (
        f"L'enveloppe 2027 ({mad(700_000)}) serait inférieure aux montants déjà réservés "
        f"({mad(800_000)})."
    )
    assert refusal(lambda: money.set_envelopes(CALL, budget(900_000))) == (
        f"L'année 2028 ne peut quitter le budget : {mad(100_000)} y sont déjà réservés."
    )
    for _ in range(2):  # idempotent: 2029 (nothing engaged) leaves, 2027 shrinks to what fits
        money.set_envelopes(CALL, budget(800_000, 600_000))
        with Session(any_engine) as db:
            balances = [(b.year, b.envelope, b.available) for b in call_balances(db, CALL)]
        assert balances == [(2027, 800_000, 0), (2028, 600_000, 500_000)]
    message = refusal(lambda: money.move(order("label/a2", "a2", R, {1: 1})))
    assert message.startswith("Fonds insuffisants sur l'enveloppe 2027 : il reste 0 MAD")


def audit(workflow_id: str, case_id: str, action: Action, to: str) -> AuditEvent:
    return AuditEvent(
        workflow_id=workflow_id,
        seq=1,
        case_id=case_id,
        action=action,
        actor="Comité",
        role=Role.COMMITTEE,
        at=T0,
        from_stage=None,
        to_stage=to,
    )


def write_call(engine: Engine) -> None:
    spec = CallSpec(year=2027, title="Appel 2027", opens_at=T0 - timedelta(days=90), deadline=T0)
    state = CallState(id=CALL, stage=CallStage.UNDER_EVALUATION, spec=spec, seq=1, updated_at=T0)
    Projection(engine).write(
        CallRecord(
            state=state, event=audit(call_workflow_id(CALL), CALL, Action.CREATE, state.stage)
        )
    )


def write_application(
    engine: Engine, case: str, score: float, amounts: list[float], stage: ApplicationStage
) -> None:
    """A scored file as its workflow records it, decided with `amounts` per contract year."""
    means = {c.code: score for c in DEFAULT_GRID.criteria}
    result = EvaluationResult(
        weighted_score=score,
        criterion_means=means,
        evaluator_scores={},
        spread=0,
        consensus_needed=False,
        thresholds_met=True,
        failed_criteria=[],
    )
    decision = Decision(
        outcome=stage, reason="Classé", decided_by="Comité", decided_at=T0, amounts=amounts
    )
    state = record(case, 1, stage).state.model_copy(
        update={"call_id": CALL, "evaluation": Evaluation(result=result), "decision": decision}
    )
    wid = application_workflow_id(case)
    Projection(engine).write(
        ApplicationRecord(state=state, event=audit(wid, case, Action.PUT_ON_RESERVE, stage))
    )


def test_the_next_in_reserve_is_the_first_that_fits_in_rank_order(any_engine: Engine) -> None:
    money = Money(any_engine)
    write_call(any_engine)
    reserve = ApplicationStage.RESERVE
    write_application(any_engine, "best", 4.5, [600_000, 100_000], reserve)  # too much in 2027
    write_application(any_engine, "second", 4.0, [300_000, 300_000], reserve)
    write_application(any_engine, "third", 3.5, [100_000], reserve)
    write_application(any_engine, "none", 3.9, [], reserve)  # no amounts: nothing to propose
    write_application(any_engine, "laureate", 5.0, [100_000], ApplicationStage.LABELLED)
    assert money.next_in_reserve(CALL, []) is None  # no budget yet
    money.set_envelopes(CALL, budget(1_000_000, 1_000_000))
    money.move(order("label/laureate", "laureate", R, {1: 500_000}))
    proposal = money.next_in_reserve(CALL, [])
    assert proposal and (proposal.application_id, proposal.amounts) == (
        "second",
        [300_000, 300_000],
    )
    proposal = money.next_in_reserve(CALL, ["second"])
    assert proposal and proposal.application_id == "third"
    money.move(order("label/other", "other", R, {1: 450_000}))  # 50 000 left in 2027
    assert money.next_in_reserve(CALL, []) is None


def write_cluster(engine: Engine, case: str, planned: list[float], stage: ClusterStage) -> None:
    origin = ClusterStart(
        cluster_id=case,
        application_id=case,
        call_id=CALL,
        cluster_name="Cluster",
        sector="aéronautique",
        labelled_at=T0,
        max_support_years=8,
    )
    terms = ContractTerms(start_at=T0, planned_amounts=planned, kpi_targets=KPIs())
    state = ClusterState(id=case, stage=stage, origin=origin, contract=terms, updated_at=T0, seq=1)
    wid = cluster_workflow_id(case)
    Projection(engine).write(
        ClusterRecord(state=state, event=audit(wid, case, Action.SIGN_CONTRACT, stage))
    )


def test_balances_are_sums_over_the_ledger(any_engine: Engine) -> None:
    money = Money(any_engine)
    money.set_envelopes(CALL, budget(1_000_000, 800_000))
    money.move(order("label/a1", "a1", R, {1: 500_000, 2: 400_000}))
    money.move(order("label/a2", "a2", R, {1: 300_000}))
    money.move(order("sign/a1", "a1", C, None))
    money.move(order("release/a1", "a1", L, {1: 300_000}))
    money.move(order("pay/a1", "a1", P, {1: 300_000}))
    money.move(order("lost/a2", "a2", X, None))
    write_cluster(any_engine, "a1", [500_000, 400_000], ClusterStage.ACTIVE)
    write_cluster(any_engine, "gone", [900_000], ClusterStage.TERMINATED)  # needs nothing more
    with Session(any_engine) as db:
        first, second = call_balances(db, CALL)
        assert (first.year, first.envelope, first.reserved, first.cancelled) == (
            2027,
            1_000_000,
            800_000,
            300_000,
        )
        assert (first.committed, first.released, first.paid) == (500_000, 300_000, 300_000)
        assert (first.engaged, first.available) == (500_000, 500_000)
        assert (second.year, second.engaged, second.available) == (2028, 400_000, 400_000)
        assert [(b.year, b.committed) for b in case_balances(db, "a1")] == [
            (2027, 500_000),
            (2028, 400_000),
        ]
        years = programme_years(db)
        assert [(y.year, y.envelope, y.engaged, y.needs) for y in years] == [
            (2027, 1_000_000, 500_000, 200_000),  # 500 000 planned, 300 000 paid
            (2028, 800_000, 400_000, 400_000),
        ]
        table = ledger_table(db, CALL)
        assert table.header == [
            "Date",
            "Appel",
            "Dossier",
            "Année budgétaire",
            "Mouvement",
            "Montant (MAD)",
            "Acteur",
            "Fondement",
        ]
        assert [row[4] for row in table.rows] == ["réservé"] * 3 + ["engagé"] * 2 + [
            "ordonnancé",
            "payé",
            "annulé",
        ]
        assert ledger_table(db, "autre").rows == [] and len(ledger_table(db).rows) == 8


# --- two processes reserving on one envelope at once (PostgreSQL) ----------------------------
ATTEMPTS, AMOUNT, ENVELOPE = 25, 100_000, 1_000_000


def reserve_many(
    url: str, schema: str, name: str, delay: float, barrier: Any, results: Any
) -> None:
    """One process's 25 reservations, started with the other's (after `delay`); how many it
    got."""
    engine = create_engine(url, connect_args={"options": f"-csearch_path={schema}"})
    # Each transaction lingers before its commit, as on a loaded server: without the lock, the
    # other process's check would pass meanwhile.
    event.listen(engine, "commit", lambda _connection: time.sleep(0.02))
    money, done = Money(engine), 0
    barrier.wait()
    time.sleep(delay)  # the other's transaction is then half-way: its row not yet committed
    for i in range(ATTEMPTS):
        try:
            money.move(order(f"label/{name}{i}", f"{name}{i}", R, {1: AMOUNT}))
            done += 1
        except ApplicationError as refused:
            assert "Fonds insuffisants" in refused.message
    results.put(done)
    engine.dispose()


@pytest.fixture
def pg_engine() -> Iterator[Engine]:
    yield from postgres_engine()


def test_two_processes_never_reserve_beyond_the_envelope_together(pg_engine: Engine) -> None:
    Money(pg_engine).set_envelopes(CALL, budget(ENVELOPE))
    with pg_engine.connect() as db:
        schema = db.execute(text("select current_schema()")).scalar()
    spawn = multiprocessing.get_context("spawn")
    barrier, results = spawn.Barrier(2), spawn.Queue()
    workers = [
        spawn.Process(target=reserve_many, args=(POSTGRES_URL, schema, n, d, barrier, results))
        for n, d in (("p", 0), ("q", 0.01))
    ]
    for worker in workers:
        worker.start()
    counts = [results.get(timeout=120) for _ in workers]
    for worker in workers:
        worker.join(timeout=30)
        assert worker.exitcode == 0
    assert sum(counts) == ENVELOPE // AMOUNT
    with Session(pg_engine) as db:
        [year] = call_balances(db, CALL)
    assert year.engaged == ENVELOPE and year.available == 0


def test_a_database_at_0007_upgrades_with_its_cases_and_gets_the_guards(
    empty_engine: Engine,
) -> None:
    with empty_engine.begin() as connection:
        config = alembic_config()
        config.attributes["connection"] = connection
        command.upgrade(config, "0007")
    state = record("a1", 1, ApplicationStage.RECEIVED).state
    with empty_engine.begin() as connection:
        connection.execute(insert(ApplicationRow.__table__), application_row(state))
    assert "ledger" not in inspect(empty_engine).get_table_names()
    migrate(empty_engine)
    assert {"ledger", "budget_envelopes"} <= set(inspect(empty_engine).get_table_names())
    with Session(empty_engine) as db:
        [case] = queries.list_applications(db, call_id="2025-abc").items
    assert case.id == "a1" and case.data.cluster_name == state.data.cluster_name
    refused_by_database(empty_engine, "fonds insuffisants", "reserved", 1)
    money = Money(empty_engine)
    money.set_envelopes(CALL, budget(100))
    assert len(money.move(order("label/a1", "a1", R, {1: 100}))) == 1
    refused_by_database(empty_engine, "fonds insuffisants", "reserved", 1, "a2")
    refused_by_database(empty_engine, "montant au-delà", "paid", 1)
    with pytest.raises(IntegrityError), empty_engine.begin() as db:
        db.execute(text("delete from ledger"))
