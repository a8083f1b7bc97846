"""Applications: every transition on one case, the case list and the case page."""

from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Query, status
from fastapi.responses import Response

from domain.ids import Kind, application_workflow_id
from domain.models import Actor, EvaluatorAssignment
from domain.stages import Action, ApplicationStage, Role
from projection import queries
from projection.exports import FILE_RESPONSES, FileFormat, table_response
from projection.views import ApplicationDetail, ApplicationView, Page
from web import identity
from web.actions import Resource
from web.deps import (
    CALL_ID,
    PRINTABLE,
    Anyone,
    ApplicationId,
    Db,
    PageQuery,
    Reader,
    sort_query,
)
from workflows.application import ApplicationWorkflow

router = APIRouter(prefix="/applications", tags=["candidatures"])


def _known_evaluators(db: Db, body: EvaluatorAssignment) -> None:
    known = set(identity.evaluator_names(db))
    if unknown := [name for name in body.evaluators if name not in known]:
        raise HTTPException(
            status.HTTP_422_UNPROCESSABLE_CONTENT,
            "Évaluateur(s) inconnu(s) : " + ", ".join(unknown),
        )


APPLICATIONS = Resource(
    router=router,
    kind=Kind.APPLICATION,
    workflow=ApplicationWorkflow,
    case_id=ApplicationId,
    checks={Action.ASSIGN_EVALUATORS: (_known_evaluators,)},
)


def application_filters(
    call_id: Annotated[str | None, Query(pattern=CALL_ID)] = None,
    stage: ApplicationStage | None = None,
    sector: Annotated[str | None, Query(max_length=200, pattern=PRINTABLE)] = None,
    overdue: bool | None = None,
    q: Annotated[
        str | None, Query(max_length=200, pattern=PRINTABLE, description="Nom du cluster contient…")
    ] = None,
) -> queries.ApplicationFilters:
    """The case list's query parameters, the same for a page and for an export."""
    return {"call_id": call_id, "stage": stage, "sector": sector, "overdue": overdue, "search": q}


Filters = Annotated[queries.ApplicationFilters, Depends(application_filters)]
Sort = sort_query(queries.APPLICATION_SORTS)


@router.get("", response_model=Page[ApplicationView])
def list_applications(
    actor: Reader, db: Db, paging: PageQuery, filters: Filters, sort: Sort = None
) -> Page[ApplicationView]:
    listing = queries.list_applications(db, paging=paging, sort=sort, **filters)
    return listing.model_copy(update={"items": [queries.seen_by(v, actor) for v in listing.items]})


# On the router's prefix itself: « /applications.csv » is no case id.
@router.get(".csv", response_class=Response, responses=FILE_RESPONSES["csv"])
@router.get(".xlsx", response_class=Response, responses=FILE_RESPONSES["xlsx"])
def export_applications(
    fmt: FileFormat, actor: Reader, db: Db, filters: Filters, sort: Sort = None
) -> Response:
    """Every case the filters match (not one page), in the list's order, as a spreadsheet."""
    return table_response(queries.applications_table(db, actor, sort, **filters), fmt)


@router.get("/{application_id}", response_model=ApplicationDetail)
def get_application(application_id: ApplicationId, actor: Anyone, db: Db) -> ApplicationDetail:
    return application_detail(db, application_id, actor)


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
    if actor.role == Role.EVALUATOR:
        audit = [e for e in audit if e.actor == actor.name]
    view = queries.seen_by(view, actor)
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
