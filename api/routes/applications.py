"""Applications: every transition on one case, the case list and the case page."""

from typing import Annotated, Any, NoReturn

from fastapi import APIRouter, HTTPException, Query, Request, status
from pydantic import BaseModel

from activities.tables import ApplicationRow
from api import queries
from api.actions import add_action
from api.commands import conflict
from api.deps import (
    CALL_ID,
    PRINTABLE,
    Anyone,
    ApplicationId,
    Db,
    PageNumber,
    PageSize,
    Reader,
)
from api.schemas import ApplicationDetail, ApplicationView, Page
from domain.models import (
    Actor,
    Amendment,
    ApplicationState,
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


def _missing(db: Db, application_id: str) -> NoReturn:
    """No workflow: an unknown case, or one whose workflow is over."""
    raise conflict("Ce dossier est clos.", ApplicationStage(_row(db, application_id).stage))


def _respond(state: ApplicationState, actor: Actor) -> ApplicationView:
    view = queries.application_view(state)
    return queries.for_evaluator(view, actor.name) if actor.role == Role.EVALUATOR else view


def _known_evaluators(request: Request, body: EvaluatorAssignment) -> None:
    known = {a.name for a in request.app.state.tokens.values() if a.role == Role.EVALUATOR}
    if unknown := [name for name in body.evaluators if name not in known]:
        raise HTTPException(
            status.HTTP_422_UNPROCESSABLE_CONTENT,
            "Évaluateur(s) inconnu(s) : " + ", ".join(unknown),
        )


def _action(update: Any, body: type[BaseModel], summary: str, **options: Any) -> None:
    add_action(
        router,
        update,
        summary,
        rule=APPLICATION_RULES[Action(update.__name__)],
        case_id=ApplicationId,
        workflow_id=lambda case: f"application-{case}",
        missing=_missing,
        respond=_respond,
        response_model=ApplicationView,
        body=body,
        **options,
    )


W = ApplicationWorkflow
_action(W.amend, Amendment, "Modifier la candidature (avant la date limite)")
_action(W.withdraw, Withdrawal, "Retirer la candidature", optional_body=True)
_action(W.mark_eligible, EligibleDecision, "Déclarer recevable", optional_body=True)
_action(W.mark_ineligible, IneligibleDecision, "Déclarer irrecevable (motif)")
_action(W.request_complements, ComplementsAsk, "Demander des compléments")
_action(W.submit_complements, ComplementsReply, "Enregistrer les compléments reçus")
_action(
    W.assign_evaluators,
    EvaluatorAssignment,
    "Affecter des évaluateurs (noms de leurs jetons)",
    check=_known_evaluators,
)
_action(W.declare_interest, InterestDeclaration, "Évaluateur : déclarer ses intérêts")
_action(W.submit_scores, ScoreSheet, "Évaluateur : transmettre la grille notée")
_action(W.label, CommitteeDecision, "Comité : labelliser")
_action(W.put_on_reserve, CommitteeDecision, "Comité : inscrire en liste d'attente")
_action(W.reject, CommitteeDecision, "Comité : rejeter (motif)")
_action(W.request_review, ReviewRequest, "Demander un réexamen (dans le délai de recours)")
_action(W.uphold_rejection, ReviewAnswer, "Comité : maintenir le rejet")
_action(W.order_re_evaluation, ReviewAnswer, "Comité : ordonner une nouvelle évaluation")


@router.get("", response_model=Page[ApplicationView])
def list_applications(
    _: Reader,
    db: Db,
    call_id: Annotated[str | None, Query(pattern=CALL_ID)] = None,
    stage: ApplicationStage | None = None,
    sector: Annotated[str | None, Query(max_length=200, pattern=PRINTABLE)] = None,
    overdue: bool | None = None,
    q: Annotated[
        str | None, Query(max_length=200, pattern=PRINTABLE, description="Nom du cluster contient…")
    ] = None,
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
        check_evaluator_access(db, application_id, actor.name)
    view = queries.application_view(queries.application_state(_row(db, application_id)))
    audit = queries.audit_trail(db, f"application-{application_id}")
    if actor.role == Role.EVALUATOR:
        view = queries.for_evaluator(view, actor.name)
        audit = [e for e in audit if e.actor == actor.name]
    return ApplicationDetail(**view.model_dump(), audit=audit)


def check_evaluator_access(db: Db, application_id: str, evaluator: str) -> None:
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
