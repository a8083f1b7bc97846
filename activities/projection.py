"""Projection activities: each transition's case row, audit event and notifications, written once."""

import logging
from typing import Any

from sqlalchemy import Engine
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, SQLModel, col, func, select
from temporalio import activity

from activities.tables import (
    ApplicationRow,
    AssignmentRow,
    AuditRow,
    CallRow,
    ClusterRow,
    OutboxRow,
    PaymentRow,
)
from domain.models import (
    ApplicationRecord,
    ApplicationState,
    Assignment,
    AuditEvent,
    CallRecord,
    CallState,
)
from domain.search import folded
from domain.stages import DECIDED_STAGES
from domain.support import ClusterRecord, ClusterState

log = logging.getLogger(__name__)
Children = tuple[type[SQLModel], Any, list[SQLModel]]


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


def _status(assignment: Assignment) -> str:
    if assignment.conflict:
        return "conflict"
    if assignment.submitted_at:
        return "submitted"
    return "declared" if assignment.declared_at else "assigned"


def assignment_rows(state: ApplicationState) -> list[AssignmentRow]:
    evaluation = state.evaluation
    if evaluation is None:
        return []
    return [
        AssignmentRow(
            application_id=state.id,
            call_id=state.call_id,
            evaluator=a.evaluator,
            status=_status(a),
            due_at=evaluation.due_at,
        )
        for a in evaluation.assignments
    ]


def application_row(state: ApplicationState) -> ApplicationRow:
    return ApplicationRow(
        id=state.id,
        call_id=state.call_id,
        cluster_name=state.data.cluster_name,
        search_name=folded(state.data.cluster_name),
        sector=state.data.sector,
        stage=state.stage,
        due_at=state.due_at(),
        registered_at=state.registered_at,
        previous_cluster_id=state.data.previous_cluster_id,
        state=state.model_dump(mode="json"),
        seq=state.seq,
        updated_at=state.updated_at,
    )


def cluster_row(state: ClusterState) -> ClusterRow:
    year = state.current
    return ClusterRow(
        id=state.id,
        application_id=state.origin.application_id,
        call_id=state.origin.call_id,
        cluster_name=state.origin.cluster_name,
        sector=state.origin.sector,
        stage=state.stage,
        year=year.year if year else 0,
        anniversary_at=year.ends_at if year else None,
        report_due_at=state.report_due(),
        can_reapply=state.can_reapply,
        state=state.model_dump(mode="json"),
        seq=state.seq,
        updated_at=state.updated_at,
    )


def payment_rows(state: ClusterState) -> list[PaymentRow]:
    return [
        PaymentRow(cluster_id=state.id, year=y.year, starts_at=y.starts_at, amount=y.amount)
        for y in state.years
    ]


Record = CallRecord | ApplicationRecord | ClusterRecord


def rows_of(record: Record) -> tuple[SQLModel, Children | None]:
    """The case row, and the rows derived from its state that are replaced with it."""
    if isinstance(record, CallRecord):
        return call_row(record.state), None
    if isinstance(record, ApplicationRecord):
        children = assignment_rows(record.state)
        return application_row(record.state), (
            AssignmentRow,
            AssignmentRow.application_id,
            children,
        )
    return cluster_row(record.state), (
        PaymentRow,
        PaymentRow.cluster_id,
        payment_rows(record.state),
    )


class Projection:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    # Each write answers its record: a local activity's history keeps its result, not its input,
    # and the projection is rebuilt from those histories.
    @activity.defn
    def record_call(self, record: CallRecord) -> CallRecord:
        self.write(record)
        return record

    @activity.defn
    def record_application(self, record: ApplicationRecord) -> ApplicationRecord:
        self.write(record)
        return record

    @activity.defn
    def record_cluster(self, record: ClusterRecord) -> ClusterRecord:
        self.write(record)
        return record

    @activity.defn
    def count_undecided(self, call_id: str) -> int:
        """Applications of the call still waiting for the committee (or for their eligibility)."""
        with Session(self.engine) as session:
            query = select(func.count()).where(
                ApplicationRow.call_id == call_id,
                col(ApplicationRow.stage).not_in(list(DECIDED_STAGES)),
            )
            return session.exec(query).one()

    def write(self, record: Record, rebuilding: bool = False) -> None:
        """One transaction; a retry, or a late older snapshot, changes nothing.

        When rebuilding from histories, notifications are kept as already sent.
        """
        row, children = rows_of(record)
        event = record.event
        with Session(self.engine) as session:
            if self._recorded(session, event):
                return
            current = session.get(type(row), row.id)
            newer = current is None or current.seq < row.seq
            if current is None:
                session.add(row)
            elif newer:
                session.merge(row)
            if children and newer:
                table, parent_key, rows = children
                for old in session.exec(select(table).where(parent_key == row.id)):
                    session.delete(old)
                session.flush()
                session.add_all(rows)
            session.add(
                AuditRow(
                    **event.model_dump(exclude={"payload"}),
                    payload=event.model_dump(mode="json")["payload"],
                )
            )
            for position, notice in enumerate(record.notifications):
                session.add(
                    OutboxRow(
                        key=f"{event.workflow_id}:{event.seq}:{position}",
                        created_at=event.at,
                        sent_at=event.at if rebuilding else None,
                        **notice.model_dump(),
                    )
                )
            try:
                session.commit()
            except IntegrityError:
                session.rollback()
                if not self._recorded(session, event):
                    raise  # a real conflict: let Temporal retry
                return
        log.info(
            "transition recorded",
            extra={
                "case_id": event.case_id,
                "workflow_id": event.workflow_id,
                "action": event.action,
                "seq": event.seq,
                "from_stage": event.from_stage,
                "to_stage": event.to_stage,
                "actor": event.actor,
            },
        )

    @staticmethod
    def _recorded(session: Session, event: AuditEvent) -> bool:
        query = select(AuditRow.id).where(
            AuditRow.workflow_id == event.workflow_id, AuditRow.seq == event.seq
        )
        return session.exec(query).first() is not None
