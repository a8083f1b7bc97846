"""Applications: every transition on one case, the case list and the case page."""

from typing import Annotated, Any, NoReturn

from fastapi import APIRouter, Depends, HTTPException, Query, Request, status
from pydantic import BaseModel

from activities.tables import ApplicationRow
from api import queries
from api.commands import conflict, send, update_id
from api.deps import (
    Admin,
    Anyone,
    ApplicationId,
    Db,
    IdempotencyKey,
    PageNumber,
    PageSize,
    Reader,
    Temporal,
    require,
)
from api.schemas import ApplicationDetail, ApplicationView, Page
from domain.models import (
    Actor,
    Amendment,
    CommitteeDecision,
    ComplementsAsk,
    ComplementsReply,
    EligibleDecision,
    EvaluatorAssignment,
    IneligibleDecision,
    InterestDeclaration,
    ReviewAnswer,
    ReviewRequest,
    ScoreSheet,
    Withdrawal,
)
from domain.stages import APPLICATION_RULES, Action, ApplicationStage, Role
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
    view = queries.application_view(state)
    return queries.for_evaluator(view, actor.name) if actor.role == Role.EVALUATOR else view


def _action(update: Any, body_type: type[BaseModel], summary: str, required: bool = True) -> None:
    """POST /applications/{id}/{action}: one transition, named as in allowed_actions."""
    name = update.__name__
    Allowed = Annotated[Actor, Depends(require(*APPLICATION_RULES[Action(name)].roles))]
    if required:

        async def act(
            application_id: ApplicationId,
            body: body_type,  # type: ignore[valid-type]
            actor: Allowed,
            client: Temporal,
            db: Db,
            key: IdempotencyKey = None,
        ) -> ApplicationView:
            return await _transition(client, db, application_id, update, actor, body, key)

    else:

        async def act(
            application_id: ApplicationId,
            actor: Allowed,
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


W = ApplicationWorkflow
_action(W.amend, Amendment, "Modifier la candidature (avant la date limite)")
_action(W.withdraw, Withdrawal, "Retirer la candidature", required=False)
_action(W.mark_eligible, EligibleDecision, "Déclarer recevable", required=False)
_action(W.mark_ineligible, IneligibleDecision, "Déclarer irrecevable (motif)")
_action(W.request_complements, ComplementsAsk, "Demander des compléments")
_action(W.submit_complements, ComplementsReply, "Enregistrer les compléments reçus")
_action(W.declare_interest, InterestDeclaration, "Évaluateur : déclarer ses intérêts")
_action(W.submit_scores, ScoreSheet, "Évaluateur : transmettre la grille notée")
_action(W.label, CommitteeDecision, "Comité : labelliser")
_action(W.put_on_reserve, CommitteeDecision, "Comité : inscrire en liste d'attente")
_action(W.reject, CommitteeDecision, "Comité : rejeter (motif)")
_action(W.request_review, ReviewRequest, "Demander un réexamen (dans le délai de recours)")
_action(W.uphold_rejection, ReviewAnswer, "Comité : maintenir le rejet")
_action(W.order_re_evaluation, ReviewAnswer, "Comité : ordonner une nouvelle évaluation")


@router.post("/{application_id}/assign_evaluators", response_model=ApplicationView)
async def assign_evaluators(
    application_id: ApplicationId,
    body: EvaluatorAssignment,
    actor: Admin,
    client: Temporal,
    db: Db,
    request: Request,
    key: IdempotencyKey = None,
) -> ApplicationView:
    """Affecter des évaluateurs (noms de leurs jetons) ; au moins le nombre fixé par l'appel."""
    known = {a.name for a in request.app.state.tokens.values() if a.role == Role.EVALUATOR}
    if unknown := [name for name in body.evaluators if name not in known]:
        raise HTTPException(
            status.HTTP_422_UNPROCESSABLE_CONTENT,
            "Évaluateur(s) inconnu(s) : " + ", ".join(unknown),
        )
    return await _transition(client, db, application_id, W.assign_evaluators, actor, body, key)


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
def get_application(application_id: ApplicationId, actor: Anyone, db: Db) -> ApplicationDetail:
    """The case and its audit trail; an evaluator sees it once assigned and free of conflict."""
    if actor.role == Role.EVALUATOR:
        _check_evaluator_access(db, application_id, actor.name)
    view = queries.application_view(queries.application_state(_row(db, application_id)))
    audit = queries.audit_trail(db, f"application-{application_id}")
    if actor.role == Role.EVALUATOR:
        view = queries.for_evaluator(view, actor.name)
        audit = [e for e in audit if e.actor == actor.name]
    return ApplicationDetail(**view.model_dump(), audit=audit)


def _check_evaluator_access(db: Db, application_id: str, evaluator: str) -> None:
    row = queries.assignment(db, application_id, evaluator)
    if row is None or row.status == "conflict":
        raise HTTPException(
            status.HTTP_403_FORBIDDEN, "Cette candidature ne vous est pas affectée."
        )
    if row.status == "assigned":
        raise HTTPException(
            status.HTTP_403_FORBIDDEN,
            "Déclarez l'absence de conflit d'intérêts avant de consulter le dossier "
            f"(POST /applications/{application_id}/declare_interest).",
        )
