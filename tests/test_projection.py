"""The SQL projection on SQLite and PostgreSQL: written once, never overwritten by an older state."""

from datetime import UTC, datetime, timedelta

from sqlalchemy import Engine
from sqlmodel import Session, func, select

from activities.records import Records
from domain.models import (
    ApplicationInput,
    ApplicationRecord,
    ApplicationState,
    AuditEvent,
    ComplementRequest,
    Notification,
)
from domain.stages import Action, ApplicationStage, Role
from projection import queries
from projection.tables import ApplicationRow, AuditRow, OutboxRow
from projection.views import Paging
from tests.conftest import APPLICATION

T0 = datetime(2025, 7, 24, 14, 0, tzinfo=UTC)


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
    records = Records(any_engine)
    first = record("a1", 1, ApplicationStage.RECEIVED)
    assert records.record_application(first) == first  # the history keeps what was written
    records.record_application(first)  # a retry of the local activity
    records.projection.write(first, rebuilding=True)  # a rebuild over it
    assert (count(any_engine, AuditRow), count(any_engine, OutboxRow)) == (1, 1)
    with Session(any_engine) as db:
        event = db.exec(select(AuditRow)).one()
        assert event.at == first.event.at and event.at.tzinfo is not None
        assert event.payload == {"note": "é"}


def test_an_older_state_arriving_late_does_not_overwrite_a_newer_one(any_engine: Engine) -> None:
    projection = Records(any_engine)
    projection.record_application(record("a1", 2, ApplicationStage.ELIGIBILITY_REVIEW))
    projection.record_application(record("a1", 1, ApplicationStage.RECEIVED))
    with Session(any_engine) as db:
        row = db.get(ApplicationRow, "a1")
        assert (row.stage, row.seq) == ("eligibility_review", 2)
        assert queries.application_state(row).stage == ApplicationStage.ELIGIBILITY_REVIEW
        assert [e.seq for e in queries.audit_trail(db, "application-a1")] == [1, 2]


def test_queries_filter_count_and_flag_overdue(any_engine: Engine) -> None:
    projection = Records(any_engine)
    projection.record_application(record("a1", 1, ApplicationStage.RECEIVED))
    green = {"cluster_name": "Cluster 100% Vert", "sector": "TIC"}
    projection.record_application(record("a2", 1, ApplicationStage.RECEIVED, data=green))
    past = datetime.now(UTC) - timedelta(days=1)
    late = ComplementRequest(items=["statuts"], requested_at=past - timedelta(days=5), due_at=past)
    projection.record_application(
        record("a2", 2, ApplicationStage.COMPLEMENTS_REQUESTED, data=green, complements=late)
    )
    with Session(any_engine) as db:
        page = queries.list_applications(db, call_id="2025-abc", overdue=True, paging=Paging(1, 10))
        assert [a.id for a in page.items] == ["a2"] and page.items[0].overdue
        on_time = queries.list_applications(db, overdue=False, paging=Paging(1, 10))
        assert [a.id for a in on_time.items] == ["a1"]
        percent = queries.list_applications(db, sector="tic", search="100%", paging=Paging(1, 10))
        assert [a.id for a in percent.items] == ["a2"]
        folded = queries.list_applications(  # case and accents aside, as people type
            db, search=" AERONAUTIQUE  du ", paging=Paging(1, 10)
        )
        assert [a.id for a in folded.items] == ["a1"] and folded.total == 1
        assert queries.counts_by_stage(db, "2025-abc") == {
            "received": 1,
            "complements_requested": 1,
        }
