"""Applications: every transition on one case, the case list and the case page."""

from typing import Annotated

from fastapi import APIRouter, Depends, Query
from fastapi.responses import Response

from api.routes.transitions import add_transition_routes
from domain.stages import ApplicationStage
from projection import listings, queries, visibility
from projection.exports import FILE_RESPONSES, FileFormat, table_response
from projection.views import ApplicationDetail, ApplicationView, Page
from web.applications import APPLICATIONS, application_detail
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

router = APIRouter(prefix=APPLICATIONS.prefix, tags=["candidatures"])
add_transition_routes(router, APPLICATIONS, ApplicationId)


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
    return listing.model_copy(
        update={"items": [visibility.seen_by(v, actor) for v in listing.items]}
    )


# On the router's prefix itself: « /applications.csv » is no case id.
@router.get(".csv", response_class=Response, responses=FILE_RESPONSES["csv"])
@router.get(".xlsx", response_class=Response, responses=FILE_RESPONSES["xlsx"])
def export_applications(
    fmt: FileFormat, actor: Reader, db: Db, filters: Filters, sort: Sort = None
) -> Response:
    """Every case the filters match (not one page), in the list's order, as a spreadsheet."""
    return table_response(listings.applications_table(db, actor, sort, **filters), fmt)


@router.get("/{application_id}", response_model=ApplicationDetail)
def get_application(application_id: ApplicationId, actor: Anyone, db: Db) -> ApplicationDetail:
    return application_detail(db, application_id, actor)
