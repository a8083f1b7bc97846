"""The write of a transition's record: the case's row, its audit event and notifications, once."""

import logging
from typing import Any

from sqlalchemy import Connection, Engine, Table, delete, insert, select, update
from sqlalchemy.exc import IntegrityError

from domain.ids import Kind
from domain.models import (
    ApplicationRecord,
    ApplicationState,
    Assignment,
    AuditEvent,
    CallRecord,
    CallState,
)
from domain.search import folded
from domain.session import AgendaItem, SessionRecord, SessionState
from domain.support import ClusterRecord, ClusterState
from projection.tables import (
    ApplicationRow,
    AssignmentRow,
    AuditRow,
    CallRow,
    ClusterRow,
    CommitteeSessionRow,
    DocumentRow,
    OutboxRow,
    PaymentRow,
    SessionItemRow,
)

log = logging.getLogger(__name__)
Row = dict[str, Any]
# The rows derived from a case's state and replaced with it.
Children = tuple[Table, Row, list[Row]]  # a table, the columns naming the case, its rows
# Core statements, not the ORM: a write is on every transition's path, and the ORM's unit of work
# cost several times the SQL itself.
AUDIT = AuditRow.__table__
OUTBOX = OutboxRow.__table__


def call_row(state: CallState) -> Row:
    return {
        "id": state.id,
        "year": state.spec.year,
        "title": state.spec.title,
        "stage": state.stage,
        "opens_at": state.spec.opens_at,
        "deadline": state.spec.deadline,
        "state": state.model_dump(mode="json"),
        "seq": state.seq,
        "updated_at": state.updated_at,
    }


def _status(assignment: Assignment) -> str:
    if assignment.conflict:
        return "conflict"
    if assignment.released_at:
        return "released"
    if assignment.submitted_at:
        return "submitted"
    return "declared" if assignment.declared_at else "assigned"


def assignment_rows(state: ApplicationState) -> list[Row]:
    evaluation = state.evaluation
    if evaluation is None:
        return []
    return [
        {
            "application_id": state.id,
            "call_id": state.call_id,
            "evaluator": a.evaluator,
            "status": _status(a),
            "due_at": evaluation.due_at,
        }
        for a in evaluation.assignments
    ]


def application_row(state: ApplicationState) -> Row:
    return {
        "id": state.id,
        "call_id": state.call_id,
        "cluster_name": state.data.cluster_name,
        "search_name": folded(state.data.cluster_name),
        "sector": state.data.sector,
        "stage": state.stage,
        "due_at": state.due_at(),
        "registered_at": state.registered_at,
        "previous_cluster_id": state.data.previous_cluster_id,
        "state": state.model_dump(mode="json"),
        "seq": state.seq,
        "updated_at": state.updated_at,
    }


def cluster_row(state: ClusterState) -> Row:
    year = state.current
    return {
        "id": state.id,
        "application_id": state.origin.application_id,
        "previous_cluster_id": state.origin.previous_cluster_id,
        "call_id": state.origin.call_id,
        "cluster_name": state.origin.cluster_name,
        "sector": state.origin.sector,
        "stage": state.stage,
        "year": year.year if year else 0,
        "anniversary_at": year.ends_at if year else None,
        "report_due_at": state.report_due(),
        "can_reapply": state.can_reapply,
        "state": state.model_dump(mode="json"),
        "seq": state.seq,
        "updated_at": state.updated_at,
    }


def payment_rows(state: ClusterState) -> list[Row]:
    return [
        {"cluster_id": state.id, "year": y.year, "starts_at": y.starts_at, "amount": y.amount}
        for y in state.years
    ]


def session_row(state: SessionState) -> Row:
    return {
        "id": state.id,
        "title": state.spec.title,
        "stage": state.stage,
        "meets_at": state.spec.meets_at,
        "state": state.model_dump(mode="json"),
        "seq": state.seq,
        "updated_at": state.updated_at,
    }


def _item_status(item: AgendaItem) -> str:
    if item.removed_at:
        return "removed"
    if item.decision:
        return "decided"
    return "opened" if item.opened_at else "pending"


def session_item_rows(state: SessionState) -> list[Row]:
    return [
        {
            "session_id": state.id,
            "application_id": i.application_id,
            "call_id": i.call_id,
            "rank": i.rank,
            "status": _item_status(i),
            "outcome": i.decision.outcome if i.decision else None,
        }
        for i in state.agenda
    ]


Record = CallRecord | ApplicationRecord | ClusterRecord | SessionRecord


def files(kind: Kind, state: ApplicationState | ClusterState) -> Children:
    key = {"case_kind": kind, "case_id": state.id}
    return DocumentRow.__table__, key, [key | f.model_dump() for f in state.files]


def rows_of(record: Record) -> tuple[Table, Row, list[Children]]:
    """The case's table and row, and the rows derived from its state that are replaced with it."""
    if isinstance(record, CallRecord):
        return CallRow.__table__, call_row(record.state), []
    if isinstance(record, SessionRecord):
        state = record.state
        items = (SessionItemRow.__table__, {"session_id": state.id}, session_item_rows(state))
        return CommitteeSessionRow.__table__, session_row(state), [items]
    if isinstance(record, ApplicationRecord):
        state = record.state
        return (
            ApplicationRow.__table__,
            application_row(state),
            [
                (AssignmentRow.__table__, {"application_id": state.id}, assignment_rows(state)),
                files(Kind.APPLICATION, state),
            ],
        )
    state = record.state
    payments = (PaymentRow.__table__, {"cluster_id": state.id}, payment_rows(state))
    return ClusterRow.__table__, cluster_row(state), [payments, files(Kind.CLUSTER, state)]


class Projection:
    """The one writer of the projection: each transition's record in one transaction."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def write(self, record: Record, rebuilding: bool = False) -> None:
        """One transaction; a retry, or a late older snapshot, changes nothing. When rebuilding
        from histories, notifications are kept as already sent."""
        event = record.event
        try:
            with self.engine.begin() as db:
                if self._recorded(db, event):
                    return
                self._apply(db, record, rebuilding)
        except IntegrityError:
            with self.engine.connect() as db:
                if not self._recorded(db, event):
                    raise  # a real conflict: let Temporal retry
            return  # written meanwhile by another writer of the same transition
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
    def _apply(db: Connection, record: Record, rebuilding: bool) -> None:
        table, row, children = rows_of(record)
        event = record.event
        # The seq is compared in the UPDATE itself: two writers at once never bring back an older
        # state. No row updated and none there: the case's first write.
        older = (table.c.id == row["id"]) & (table.c.seq < row["seq"])
        newer = db.execute(update(table).where(older), row).rowcount == 1
        present = select(table.c.id).where(table.c.id == row["id"])
        if not newer and db.execute(present).first() is None:
            db.execute(insert(table), row)  # a concurrent first write: IntegrityError, retried
            newer = True
        for child_table, key, rows in children if newer else []:
            db.execute(delete(child_table).where(*(child_table.c[c] == v for c, v in key.items())))
            if rows:
                db.execute(insert(child_table), rows)
        audit = event.model_dump(exclude={"payload"})
        audit["payload"] = event.model_dump(mode="json", include={"payload"})["payload"]
        db.execute(insert(AUDIT), audit)
        notices = [
            {
                "key": f"{event.workflow_id}:{event.seq}:{position}",
                "created_at": event.at,
                "sent_at": event.at if rebuilding else None,
                "status": "sent" if rebuilding else "pending",
                **notice.model_dump(),
            }
            for position, notice in enumerate(record.notifications)
        ]
        if notices:
            db.execute(insert(OUTBOX), notices)

    @staticmethod
    def _recorded(db: Connection, event: AuditEvent) -> bool:
        query = select(AUDIT.c.id).where(
            AUDIT.c.workflow_id == event.workflow_id, AUDIT.c.seq == event.seq
        )
        return db.execute(query).first() is not None
