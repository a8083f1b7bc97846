"""Applications: the operator's transitions on one case, the case list and the case page."""

from typing import Annotated, Any, NoReturn

from fastapi import APIRouter, HTTPException, Query, status

from activities.tables import ApplicationRow
from api import queries
from api.commands import conflict, send, update_id
from api.deps import Db, Desk, IdempotencyKey, Reader, Temporal
from api.schemas import ApplicationDetail, ApplicationView, Page
from domain.models import (
    Actor,
    Amendment,
    ComplementsAsk,
    ComplementsReply,
    EligibleDecision,
    IneligibleDecision,
    Withdrawal,
)
from domain.stages import ApplicationStage
from workflows.application import ApplicationWorkflow

router = APIRouter(prefix="/applications", tags=["candidatures"])
NOT_FOUND = "Candidature inconnue."


def _row(db: Db, application_id: str) -> ApplicationRow:
    row = db.get(ApplicationRow, application_id)
    if row is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, NOT_FOUND)
    return row


async def _transition(
    client: Temporal,
    db: Db,
    application_id: str,
    update: Any,
    actor: Actor,
    body: Any,
    key: str | None,
) -> ApplicationView:
    def missing() -> NoReturn:  # no workflow: unknown case, or one that is over
        raise conflict("Ce dossier est clos.", ApplicationStage(_row(db, application_id).stage))

    handle = client.get_workflow_handle_for(
        ApplicationWorkflow.run, f"application-{application_id}"
    )
    state = await send(
        lambda: handle.execute_update(
            update, args=[actor, body], id=update_id(update.__name__, key)
        ),
        missing,
    )
    return queries.application_view(state)


@router.post("/{application_id}/amend", response_model=ApplicationView)
async def amend(
    application_id: str,
    body: Amendment,
    actor: Desk,
    client: Temporal,
    db: Db,
    key: IdempotencyKey = None,
) -> ApplicationView:
    return await _transition(
        client, db, application_id, ApplicationWorkflow.amend, actor, body, key
    )


@router.post("/{application_id}/withdraw", response_model=ApplicationView)
async def withdraw(
    application_id: str,
    actor: Desk,
    client: Temporal,
    db: Db,
    body: Withdrawal | None = None,
    key: IdempotencyKey = None,
) -> ApplicationView:
    return await _transition(
        client, db, application_id, ApplicationWorkflow.withdraw, actor, body or Withdrawal(), key
    )


@router.post("/{application_id}/mark_eligible", response_model=ApplicationView)
async def mark_eligible(
    application_id: str,
    actor: Desk,
    client: Temporal,
    db: Db,
    body: EligibleDecision | None = None,
    key: IdempotencyKey = None,
) -> ApplicationView:
    return await _transition(
        client,
        db,
        application_id,
        ApplicationWorkflow.mark_eligible,
        actor,
        body or EligibleDecision(),
        key,
    )


@router.post("/{application_id}/mark_ineligible", response_model=ApplicationView)
async def mark_ineligible(
    application_id: str,
    body: IneligibleDecision,
    actor: Desk,
    client: Temporal,
    db: Db,
    key: IdempotencyKey = None,
) -> ApplicationView:
    return await _transition(
        client, db, application_id, ApplicationWorkflow.mark_ineligible, actor, body, key
    )


@router.post("/{application_id}/request_complements", response_model=ApplicationView)
async def request_complements(
    application_id: str,
    body: ComplementsAsk,
    actor: Desk,
    client: Temporal,
    db: Db,
    key: IdempotencyKey = None,
) -> ApplicationView:
    return await _transition(
        client, db, application_id, ApplicationWorkflow.request_complements, actor, body, key
    )


@router.post("/{application_id}/submit_complements", response_model=ApplicationView)
async def submit_complements(
    application_id: str,
    body: ComplementsReply,
    actor: Desk,
    client: Temporal,
    db: Db,
    key: IdempotencyKey = None,
) -> ApplicationView:
    return await _transition(
        client, db, application_id, ApplicationWorkflow.submit_complements, actor, body, key
    )


@router.get("", response_model=Page[ApplicationView])
def list_applications(
    _: Reader,
    db: Db,
    call_id: str | None = None,
    stage: ApplicationStage | None = None,
    sector: Annotated[str | None, Query(max_length=200)] = None,
    overdue: bool | None = None,
    q: Annotated[str | None, Query(max_length=200, description="Nom du cluster contient…")] = None,
    page: Annotated[int, Query(ge=1)] = 1,
    page_size: Annotated[int, Query(ge=1, le=200)] = 50,
) -> Page[ApplicationView]:
    return queries.list_applications(
        db,
        call_id=call_id,
        stage=stage,
        sector=sector,
        overdue=overdue,
        search=q,
        page=page,
        size=page_size,
    )


@router.get("/{application_id}", response_model=ApplicationDetail)
def get_application(application_id: str, _: Reader, db: Db) -> ApplicationDetail:
    view = queries.application_view(queries.application_state(_row(db, application_id)))
    return ApplicationDetail(
        **view.model_dump(), audit=queries.audit_trail(db, f"application-{application_id}")
    )
