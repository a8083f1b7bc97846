"""The SQL projection on SQLite and PostgreSQL: written once, never overwritten by an older state."""

from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import Engine, inspect, text
from sqlmodel import Session, func, select

from activities.database import create_schema, make_engine
from activities.intents import Intents
from activities.projection import Projection
from activities.tables import ApplicationRow, AuditRow, OutboxRow
from api import queries
from domain.models import (
    ApplicationInput,
    ApplicationRecord,
    ApplicationState,
    AuditEvent,
    ComplementRequest,
    Notification,
)
from domain.stages import Action, ApplicationStage, Role
from tests.conftest import APPLICATION

T0 = datetime(2025, 7, 24, 14, 0, tzinfo=UTC)
OLD_APPLICATIONS = """CREATE TABLE applications (
    id VARCHAR PRIMARY KEY, call_id VARCHAR NOT NULL, cluster_name VARCHAR NOT NULL,
    sector VARCHAR NOT NULL, stage VARCHAR NOT NULL, due_at DATETIME,
    registered_at DATETIME NOT NULL, state JSON NOT NULL, seq INTEGER NOT NULL,
    updated_at DATETIME NOT NULL)"""  # as the first version made it
OLD_ROW = """INSERT INTO applications VALUES ('a1', '2025-abc', 'Cluster Aéronautique du Nord', 'TIC',
    'received', NULL, '2025-07-21 14:00:00', :state, 1, '2025-07-24 14:01:00')"""


def record(application_id: str, seq: int, stage: ApplicationStage, **changes) -> ApplicationRecord:
    state = ApplicationState(
        id=application_id,
        call_id="2025-abc",
        stage=stage,
        data=ApplicationInput.model_validate({**APPLICATION, **changes.pop("data", {})}),
        deadline=T0,
        registered_at=T0 - timedelta(days=3),
        seq=seq,
        updated_at=T0 + timedelta(minutes=seq),
        **changes,
    )
    event = AuditEvent(
        workflow_id=f"application-{application_id}",
        seq=seq,
        case_id=application_id,
        action=Action.REGISTER if seq == 1 else Action.CLOSE_SUBMISSIONS,
        actor="Omar",
        role=Role.OPERATOR,
        at=state.updated_at,
        from_stage=None,
        to_stage=stage,
        payload={"note": "é"},
    )
    notice = Notification(recipient="a@b.ma", subject=f"étape {seq}", body="…")
    return ApplicationRecord(state=state, event=event, notifications=[notice])


def count(engine: Engine, table: type) -> int:
    with Session(engine) as db:
        return db.exec(select(func.count()).select_from(table)).one()


def test_a_retried_write_changes_nothing(any_engine: Engine) -> None:
    projection = Projection(any_engine)
    first = record("a1", 1, ApplicationStage.RECEIVED)
    projection.write(first, fresh=True)  # the API's write-through
    projection.record_application(first)
    projection.write(first, fresh=True)  # the API's, after the workflow's
    projection.settle_applications([first])
    assert (count(any_engine, AuditRow), count(any_engine, OutboxRow)) == (1, 1)
    with Session(any_engine) as db:
        event = db.exec(select(AuditRow)).one()
        assert event.at == first.event.at and event.at.tzinfo is not None
        assert event.payload == {"note": "é"}


def test_an_older_state_arriving_late_does_not_overwrite_a_newer_one(any_engine: Engine) -> None:
    projection = Projection(any_engine)
    projection.record_application(record("a1", 2, ApplicationStage.ELIGIBILITY_REVIEW))
    projection.record_application(record("a1", 1, ApplicationStage.RECEIVED))
    with Session(any_engine) as db:
        row = db.get(ApplicationRow, "a1")
        assert (row.stage, row.seq) == ("eligibility_review", 2)
        assert queries.application_state(row).stage == ApplicationStage.ELIGIBILITY_REVIEW
        assert [e.seq for e in queries.audit_trail(db, "application-a1")] == [1, 2]


def test_queries_filter_count_and_flag_overdue(any_engine: Engine) -> None:
    projection = Projection(any_engine)
    projection.record_application(record("a1", 1, ApplicationStage.RECEIVED))
    green = {"cluster_name": "Cluster 100% Vert", "sector": "TIC"}
    projection.record_application(record("a2", 1, ApplicationStage.RECEIVED, data=green))
    past = datetime.now(UTC) - timedelta(days=1)
    late = ComplementRequest(items=["statuts"], requested_at=past - timedelta(days=5), due_at=past)
    projection.record_application(
        record("a2", 2, ApplicationStage.COMPLEMENTS_REQUESTED, data=green, complements=late)
    )
    with Session(any_engine) as db:
        page = queries.list_applications(
            db,
            call_id="2025-abc",
            stage=None,
            sector=None,
            overdue=True,
            search=None,
            page=1,
            size=10,
        )
        assert [a.id for a in page.items] == ["a2"] and page.items[0].overdue
        on_time = queries.list_applications(
            db, call_id=None, stage=None, sector=None, overdue=False, search=None, page=1, size=10
        )
        assert [a.id for a in on_time.items] == ["a1"]
        percent = queries.list_applications(
            db, call_id=None, stage=None, sector="tic", overdue=None, search="100%", page=1, size=10
        )
        assert [a.id for a in percent.items] == ["a2"]
        folded = queries.list_applications(  # case and accents aside, as people type
            db,
            call_id=None,
            stage=None,
            sector=None,
            overdue=None,
            search=" AERONAUTIQUE  du ",
            page=1,
            size=10,
        )
        assert [a.id for a in folded.items] == ["a1"] and folded.total == 1
        assert queries.counts_by_stage(db, "2025-abc") == {
            "received": 1,
            "complements_requested": 1,
        }


def test_a_database_made_by_the_first_version_gains_new_columns_and_indexes(
    tmp_path: Path,
) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'old.db'}")
    with engine.begin() as connection:
        connection.execute(text(OLD_APPLICATIONS))
        connection.execute(
            text(OLD_ROW),
            {"state": record("a1", 1, ApplicationStage.RECEIVED).state.model_dump_json()},
        )
        connection.execute(
            text(
                "CREATE INDEX ix_applications_call_registered ON applications (call_id, registered_at, id)"
            )
        )
    create_schema(engine)
    create_schema(engine)  # twice: nothing left to add the second time
    assert "previous_cluster_id" in {c["name"] for c in inspect(engine).get_columns("applications")}
    with engine.connect() as connection:
        query = text("SELECT name FROM sqlite_master WHERE type = 'index'")
        names = set(connection.execute(query).scalars())
    assert {"ix_applications_call_sector", "ix_applications_call_registered_name"} <= names
    assert "ix_applications_call_registered" not in names  # the longer index replaces it
    with Session(engine) as db:  # the old row is found by a name search, accents aside
        found = queries.list_applications(
            db,
            call_id=None,
            stage=None,
            sector=None,
            overdue=None,
            search="AERONAUTIQUE",
            page=1,
            size=10,
        )
    assert [a.id for a in found.items] == ["a1"]


def test_a_retry_after_the_sweeper_read_keeps_the_intent(any_engine: Engine) -> None:
    """The sweeper clears what it read, not a retry that came since (its update may be new)."""
    intents = Intents(any_engine)
    assert intents.add("call-x", "api:publish:k")
    [read] = intents.tried_before(datetime.now(UTC) + timedelta(seconds=1))
    assert not intents.add("call-x", "api:publish:k")  # the retry: not this request's to clear
    intents.clear(read.workflow_id, read.update_id, read.attempted_at)
    [kept] = intents.tried_before(datetime.now(UTC) + timedelta(seconds=1))
    assert kept.created_at == read.created_at and kept.attempted_at > read.attempted_at
    intents.clear(kept.workflow_id, kept.update_id, kept.attempted_at)
    assert intents.tried_before(datetime.now(UTC) + timedelta(seconds=1)) == []
