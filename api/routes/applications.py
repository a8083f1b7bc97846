"""Applications: the operator's transitions on one case, the case list and the case page."""

from typing import Annotated, Any, NoReturn

from fastapi import APIRouter, HTTPException, Query, status
from pydantic import BaseModel

from activities.tables import ApplicationRow
from api import queries
from api.commands import conflict, send, update_id
from api.deps import ApplicationId, Db, Desk, IdempotencyKey, PageNumber, PageSize, Reader, Temporal
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


def _row(db: Db, application_id: ApplicationId) -> ApplicationRow:
    row = db.get(ApplicationRow, application_id)
    if row is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, NOT_FOUND)
    return row


async def _transition(
    client: Temporal,
    db: Db,
    application_id: ApplicationId,
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


def _action(update: Any, body_type: type[BaseModel], summary: str, required: bool = True) -> None:
    """POST /applications/{id}/{action}: one operator transition, named as in allowed_actions."""
    name = update.__name__
    if required:

        async def act(
            application_id: ApplicationId,
            body: body_type,  # type: ignore[valid-type]
            actor: Desk,
            client: Temporal,
            db: Db,
            key: IdempotencyKey = None,
        ) -> ApplicationView:
            return await _transition(client, db, application_id, update, actor, body, key)

    else:

        async def act(
            application_id: ApplicationId,
            actor: Desk,
            client: Temporal,
            db: Db,
            body: body_type | None = None,  # type: ignore[valid-type]
            key: IdempotencyKey = None,
        ) -> ApplicationView:
            body = body or body_type()
            return await _transition(client, db, application_id, update, actor, body, key)

    router.post(
        f"/{{application_id}}/{name}", response_model=ApplicationView, name=name, summary=summary
    )(act)


_action(ApplicationWorkflow.amend, Amendment, "Modifier la candidature (avant la date limite)")
_action(ApplicationWorkflow.withdraw, Withdrawal, "Retirer la candidature", required=False)
_action(ApplicationWorkflow.mark_eligible, EligibleDecision, "Déclarer recevable", required=False)
_action(ApplicationWorkflow.mark_ineligible, IneligibleDecision, "Déclarer irrecevable (motif)")
_action(ApplicationWorkflow.request_complements, ComplementsAsk, "Demander des compléments")
_action(
    ApplicationWorkflow.submit_complements, ComplementsReply, "Enregistrer les compléments reçus"
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
    page: PageNumber = 1,
    page_size: PageSize = 50,
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
def get_application(application_id: ApplicationId, _: Reader, db: Db) -> ApplicationDetail:
    view = queries.application_view(queries.application_state(_row(db, application_id)))
    return ApplicationDetail(
        **view.model_dump(), audit=queries.audit_trail(db, f"application-{application_id}")
    )
