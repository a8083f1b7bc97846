"""Applications as both faces read them: their resource (with the check made before assigning
evaluators), a case's page as its reader may see it, and an evaluator's access to it."""

from fastapi import HTTPException, status

from domain.ids import Kind, application_workflow_id
from domain.models import Actor, EvaluatorAssignment
from domain.stages import Action, Role
from projection import queries, visibility
from projection.views import ApplicationDetail
from web import identity
from web.actions import Resource
from web.deps import Db
from workflows.application import ApplicationWorkflow


def _known_evaluators(db: Db, body: EvaluatorAssignment) -> None:
    known = set(identity.evaluator_names(db))
    if unknown := [name for name in body.evaluators if name not in known]:
        raise HTTPException(
            status.HTTP_422_UNPROCESSABLE_CONTENT,
            "Évaluateur(s) inconnu(s) : " + ", ".join(unknown),
        )


APPLICATIONS = Resource(
    prefix="/applications",
    kind=Kind.APPLICATION,
    workflow=ApplicationWorkflow,
    checks={Action.ASSIGN_EVALUATORS: (_known_evaluators,)},
)


def application_detail(db: Db, application_id: str, actor: Actor) -> ApplicationDetail:
    """The case and its audit trail; an evaluator sees it once assigned and free of conflict,
    with their own sheet and their own events only."""
    if actor.role == Role.EVALUATOR:
        check_evaluator_access(db, application_id, actor.name)
    [view] = queries.application_views(db, [APPLICATIONS.row(db, application_id)])
    audit = queries.audit_trail(db, application_workflow_id(application_id))
    read = (
        []
        if actor.role == Role.EVALUATOR
        else queries.downloads(db, Kind.APPLICATION, application_id)
    )
    view = visibility.seen_by(view, actor)
    audit = visibility.audit_seen_by(audit, actor)
    return ApplicationDetail(**view.model_dump(), audit=audit, downloads=read)


def check_evaluator_access(db: Db, application_id: str, evaluator: str) -> None:
    row = queries.assignment(db, application_id, evaluator)
    if row is None or row.status == "conflict":
        raise HTTPException(
            status.HTTP_403_FORBIDDEN, "Cette candidature ne vous est pas affectée."
        )
    if row.status == "assigned":
        raise HTTPException(
            status.HTTP_403_FORBIDDEN,
            "Déclarez l'absence de conflit d'intérêts (« Déclarer mes intérêts ») avant de "
            "consulter le dossier.",
        )
