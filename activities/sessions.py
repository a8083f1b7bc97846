"""What a committee session asks of the rest of the service: its agenda read from the projection
(the evaluated files of its calls, ranked, with the likely conflicts of its members), the files
told they are on its agenda, and each decision sent to its file's workflow, which records it
through its usual transition (one writer per case)."""

import asyncio
from datetime import timedelta

from pydantic import BaseModel
from sqlalchemy import Engine
from sqlmodel import Session, col, select
from temporalio import activity
from temporalio.client import Client, WorkflowUpdateFailedError
from temporalio.common import RetryPolicy
from temporalio.exceptions import ApplicationError
from temporalio.service import RPCError, RPCStatusCode

from domain.bodies import SessionDecision
from domain.ids import application_workflow_id
from domain.lifecycle import APPLICATION
from domain.models import NOT_ALLOWED, Actor, ApplicationState
from domain.session import (
    MAX_AGENDA,
    OUTCOMES,
    AgendaItem,
    Function,
    SessionSpec,
    likely_conflicts,
)
from domain.stages import Action, ApplicationStage, Role, SessionStage
from projection.tables import ApplicationRow, CommitteeSessionRow, SessionItemRow, UserRow

# Building a document takes a second or two of CPU: a regular activity, retried, on any worker.
DOCUMENT = dict(
    start_to_close_timeout=timedelta(minutes=5),
    retry_policy=RetryPolicy(maximum_interval=timedelta(minutes=1)),
)
ON_AGENDA = "on_agenda"  # workflows.application.ON_AGENDA (not imported: no workflow code here)
# The application's transition for each outcome a session may decide.
DECIDES = {APPLICATION[a].target: a for a in (Action.LABEL, Action.PUT_ON_RESERVE, Action.REJECT)}
assert set(DECIDES) == set(OUTCOMES)


class AgendaQuery(BaseModel):
    session_id: str
    spec: SessionSpec
    application_id: str | None = None  # one file (added later); None: every evaluated file


class AgendaSignal(BaseModel):
    application_ids: list[str]
    session_id: str | None  # None: taken off the agenda


class SignOrder(BaseModel):
    sha256: str  # the PV's bytes as they stand
    name: str
    function: Function


class DecisionOrder(BaseModel):
    application_id: str
    update_id: str  # the session's transition: a retry is the same update, applied once
    actor: Actor
    body: SessionDecision
    outcome: ApplicationStage


class Sessions:
    def __init__(self, engine: Engine, client: Client) -> None:
        self.engine = engine
        self.client = client

    @activity.defn
    def agenda(self, query: AgendaQuery) -> list[AgendaItem]:
        """The files a session may decide, best first: evaluated, of its calls, on no other
        session's agenda that still holds them."""
        with Session(self.engine) as db:
            taken = select(SessionItemRow.application_id).where(
                SessionItemRow.session_id != query.session_id,
                SessionItemRow.status != "removed",
                col(SessionItemRow.session_id).in_(
                    select(CommitteeSessionRow.id).where(
                        CommitteeSessionRow.stage != SessionStage.DRAFT
                    )
                ),
            )
            rows = select(ApplicationRow).where(
                col(ApplicationRow.call_id).in_(query.spec.call_ids),
                ApplicationRow.stage == ApplicationStage.SCORED,
                col(ApplicationRow.id).not_in(taken),
            )
            if query.application_id:
                rows = rows.where(ApplicationRow.id == query.application_id)
            states = [ApplicationState.model_validate(r.state) for r in db.exec(rows)]
            names = [m.name for m in query.spec.members]
            emails = dict(
                db.exec(
                    select(UserRow.name, UserRow.email).where(col(UserRow.name).in_(names))
                ).all()
            )
        members = [(m, emails.get(m.name)) for m in query.spec.members]

        def score(state: ApplicationState) -> float:
            result = state.evaluation.result if state.evaluation else None
            return result.weighted_score if result else 0.0

        states.sort(key=lambda s: (-score(s), s.registered_at, s.id))
        items = []
        for rank, state in enumerate(states[:MAX_AGENDA], 1):
            result = state.evaluation.result if state.evaluation else None
            items.append(
                AgendaItem(
                    application_id=state.id,
                    call_id=state.call_id,
                    cluster_name=state.data.cluster_name,
                    rank=rank,
                    score=result.weighted_score if result else None,
                    consensus=not result.consensus_needed if result else None,
                    likely=likely_conflicts(
                        members, state.data.contact.email, [m.name for m in state.data.members]
                    ),
                )
            )
        return items

    @activity.defn
    async def tell_agenda(self, signal: AgendaSignal) -> None:
        """Each file learns it is on the session's agenda (or off it); signals are idempotent."""

        async def tell(application_id: str) -> None:
            handle = self.client.get_workflow_handle(application_workflow_id(application_id))
            try:
                await handle.signal(ON_AGENDA, signal.session_id)
            except RPCError as error:
                if error.status != RPCStatusCode.NOT_FOUND:
                    raise

        await asyncio.gather(*(tell(i) for i in signal.application_ids))

    @activity.defn
    async def decide(self, order: DecisionOrder) -> None:
        """The file's workflow records the session's decision (LABEL, PUT_ON_RESERVE, REJECT);
        its refusal is the session's, said as the file said it."""
        action = DECIDES[order.outcome]
        handle = self.client.get_workflow_handle(application_workflow_id(order.application_id))
        actor = order.actor.model_copy(update={"role": Role.COMMITTEE})
        try:
            await handle.execute_update(action.value, args=[actor, order.body], id=order.update_id)
        except WorkflowUpdateFailedError as failed:
            cause = failed.cause
            message = cause.message if isinstance(cause, ApplicationError) else str(cause)
            raise ApplicationError(
                f"Le dossier refuse la décision : {message}", type=NOT_ALLOWED, non_retryable=True
            ) from None
