"""Projection activities: each transition's case row, audit event and notifications, written once."""

from sqlalchemy import Engine
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, SQLModel, select
from temporalio import activity

from activities.tables import ApplicationRow, AuditRow, CallRow, OutboxRow
from domain.models import (
    ApplicationRecord,
    ApplicationState,
    AuditEvent,
    CallRecord,
    CallState,
    Notification,
)
from domain.stages import ApplicationStage


def call_row(state: CallState) -> CallRow:
    return CallRow(
        id=state.id,
        year=state.spec.year,
        title=state.spec.title,
        stage=state.stage,
        opens_at=state.spec.opens_at,
        deadline=state.spec.deadline,
        state=state.model_dump(mode="json"),
        seq=state.seq,
        updated_at=state.updated_at,
    )


def application_row(state: ApplicationState) -> ApplicationRow:
    waiting = state.stage == ApplicationStage.COMPLEMENTS_REQUESTED and state.complements
    return ApplicationRow(
        id=state.id,
        call_id=state.call_id,
        cluster_name=state.data.cluster_name,
        sector=state.data.sector,
        stage=state.stage,
        due_at=state.complements.due_at if waiting else None,
        registered_at=state.registered_at,
        state=state.model_dump(mode="json"),
        seq=state.seq,
        updated_at=state.updated_at,
    )


class Projection:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    @activity.defn
    def record_call(self, record: CallRecord) -> None:
        self.record(call_row(record.state), record.event, [])

    @activity.defn
    def record_application(self, record: ApplicationRecord) -> None:
        self.record(application_row(record.state), record.event, record.notifications)

    def record(self, row: SQLModel, event: AuditEvent, notifications: list[Notification]) -> None:
        """One transaction; a retry, or a late older snapshot, changes nothing."""
        with Session(self.engine) as session:
            if self._recorded(session, event):
                return
            current = session.get(type(row), row.id)
            if current is None:
                session.add(row)
            elif current.seq < row.seq:
                session.merge(row)
            session.add(
                AuditRow(
                    **event.model_dump(exclude={"payload"}),
                    payload=event.model_dump(mode="json")["payload"],
                )
            )
            for position, notice in enumerate(notifications):
                session.add(
                    OutboxRow(
                        key=f"{event.workflow_id}:{event.seq}:{position}",
                        created_at=event.at,
                        **notice.model_dump(),
                    )
                )
            try:
                session.commit()
            except IntegrityError:
                session.rollback()
                if not self._recorded(session, event):
                    raise  # a real conflict: let Temporal retry

    @staticmethod
    def _recorded(session: Session, event: AuditEvent) -> bool:
        query = select(AuditRow.id).where(
            AuditRow.workflow_id == event.workflow_id, AuditRow.seq == event.seq
        )
        return session.exec(query).first() is not None
