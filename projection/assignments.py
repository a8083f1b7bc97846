"""Who evaluates what, read from the projection: an evaluator's own cases, the cases left short
of evaluators (and why), and one assignment's state for the access checks."""

from pydantic import BaseModel
from sqlmodel import Session, col, select

from domain.stages import ApplicationStage, CallStage
from projection.queries import call_state, now, paged
from projection.tables import ApplicationRow, AssignmentRow, CallRow, UserRow
from projection.views import EvaluatorCase, Page, Paging

# An assignment that no longer counts: a conflict declared, or the evaluator withdrawn.
GONE = ("conflict", "released")


def evaluator_cases(
    db: Session, evaluator: str | None, overdue: bool | None, paging: Paging
) -> Page[EvaluatorCase]:
    query = select(AssignmentRow).where(col(AssignmentRow.status).not_in(GONE))
    if evaluator:
        query = query.where(AssignmentRow.evaluator == evaluator)
    if overdue is not None:
        late = (col(AssignmentRow.due_at) < now()) & col(AssignmentRow.status).in_(
            ["assigned", "declared"]
        )
        query = query.where(late if overdue else ~late)
    order = (col(AssignmentRow.due_at), col(AssignmentRow.id))
    view = lambda r: EvaluatorCase.model_validate(r, from_attributes=True)  # noqa: E731
    return paged(db, query, order, view, paging)


class Short(BaseModel):
    """A case under evaluation with fewer evaluators than its call requires, and why."""

    id: str
    cluster_name: str
    call_id: str
    missing: int
    why: str


def short_of_evaluators(db: Session) -> list[Short]:
    """Cases under evaluation left short of evaluators (a conflict declared, an evaluator
    withdrawn or deactivated before submitting, an assignment knowingly incomplete): the
    admin's « À traiter » lists them, with why."""
    calls = db.exec(select(CallRow).where(CallRow.stage == CallStage.UNDER_EVALUATION)).all()
    deactivated = set(db.exec(select(UserRow.name).where(col(UserRow.active).is_(False))).all())
    found: list[Short] = []
    for call in calls:
        required = call_state(call).spec.evaluators_per_application
        cases = db.exec(
            select(ApplicationRow.id, ApplicationRow.cluster_name)
            .where(
                ApplicationRow.call_id == call.id,
                ApplicationRow.stage == ApplicationStage.EVALUATION,
            )
            .order_by(ApplicationRow.id)
        ).all()
        held: dict[str, list[tuple[str, str]]] = {}
        for row in db.exec(
            select(AssignmentRow.application_id, AssignmentRow.evaluator, AssignmentRow.status)
            .join(ApplicationRow, ApplicationRow.id == AssignmentRow.application_id)
            .where(
                ApplicationRow.call_id == call.id,
                ApplicationRow.stage == ApplicationStage.EVALUATION,
            )
        ):
            held.setdefault(row[0], []).append((row[1], row[2]))
        for id_, name in cases:
            why, active = [], 0
            for who, status in held.get(id_, []):
                if status == "conflict":
                    why.append(f"conflit déclaré par {who}")
                elif status == "released":
                    why.append(f"retrait de {who}")
                elif status != "submitted" and who in deactivated:
                    why.append(f"compte désactivé de {who} : retirez-le du dossier")
                else:
                    active += 1
            if active < required:
                found.append(
                    Short(
                        id=id_,
                        cluster_name=name,
                        call_id=call.id,
                        missing=required - active,
                        why=" ; ".join(why) or "affectation incomplète",
                    )
                )
    return found


def open_assignments(db: Session, evaluator: str) -> list[str]:
    """The cases under evaluation where `evaluator` still holds an assignment not scored."""
    query = (
        select(AssignmentRow.application_id)
        .join(ApplicationRow, ApplicationRow.id == AssignmentRow.application_id)
        .where(
            AssignmentRow.evaluator == evaluator,
            col(AssignmentRow.status).in_(["assigned", "declared"]),
            ApplicationRow.stage == ApplicationStage.EVALUATION,
        )
    )
    return list(db.exec(query))


def assignment(db: Session, application_id: str, evaluator: str) -> AssignmentRow | None:
    query = select(AssignmentRow).where(
        AssignmentRow.application_id == application_id, AssignmentRow.evaluator == evaluator
    )
    return db.exec(query).first()
