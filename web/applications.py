"""Applications as both faces read them: their resource (with the check made before assigning
evaluators), a case's page as its reader may see it, an evaluator's access to it, and what they
read of it before declaring their interests."""

from datetime import datetime

from fastapi import HTTPException, status
from pydantic import BaseModel

from domain.bodies import EvaluatorAssignment
from domain.ids import Kind, application_workflow_id
from domain.models import Actor, Member
from domain.stages import Action, Role
from projection import assignments, listings, queries, visibility
from projection.tables import AssignmentRow
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


def assignment_of(db: Db, application_id: str, evaluator: str) -> AssignmentRow:
    """The evaluator's assignment to the case while it holds (403 otherwise: never theirs,
    given up for a conflict, or withdrawn)."""
    row = assignments.assignment(db, application_id, evaluator)
    if row is not None and row.status not in assignments.GONE:
        return row
    why = {
        None: "Cette candidature ne vous est pas affectée.",
        "conflict": "Vous avez déclaré un conflit d'intérêts pour cette candidature : elle ne "
        "vous est plus affectée.",
    }
    text = why.get(row and row.status, "Cette candidature ne vous est plus affectée.")
    raise HTTPException(status.HTTP_403_FORBIDDEN, text)


def check_evaluator_access(db: Db, application_id: str, evaluator: str) -> None:
    if assignment_of(db, application_id, evaluator).status == "assigned":
        raise HTTPException(
            status.HTTP_403_FORBIDDEN,
            "Déclarez l'absence de conflit d'intérêts (« Déclarer mes intérêts ») avant de "
            "consulter le dossier.",
        )


class BeforeDeclaring(BaseModel):
    """What an evaluator sees of a case before declaring their interests: who applies, with
    which members, for which call; never its files, scores or other evaluators."""

    id: str
    cluster_name: str
    legal_form: str
    sector: str
    existing_cluster: bool
    members: list[Member]
    contact_name: str
    contact_organisation: str  # the domain of the contact's address
    call_title: str
    due_at: datetime | None


def declaration_view(db: Db, application_id: str, evaluator: str) -> BeforeDeclaring:
    """The case as its evaluator may read it before declaring (403: not theirs)."""
    assignment = assignment_of(db, application_id, evaluator)
    state = queries.application_state(APPLICATIONS.row(db, application_id))
    data = state.data
    title = state.call_title or listings.call_titles(db, {state.call_id}).get(state.call_id)
    return BeforeDeclaring(
        id=state.id,
        cluster_name=data.cluster_name,
        legal_form=data.legal_form,
        sector=data.sector,
        existing_cluster=data.existing_cluster,
        members=data.members,
        contact_name=data.contact.name,
        contact_organisation=data.contact.email.rpartition("@")[2],
        call_title=title or state.call_id,
        due_at=assignment.due_at,
    )
