"""Calls for projects: create, publish, extend, register applications, results; reads and ranking."""

from typing import Annotated

from fastapi import APIRouter, Query, Request, status
from fastapi.responses import Response

from api.routes.transitions import add_transition_routes
from domain.models import ApplicationInput, CallSpec
from domain.stages import CallStage
from projection import queries, visibility
from projection.exports import FILE_RESPONSES, FileFormat
from projection.ranking import call_ranking
from projection.views import ApplicationView, CallDetail, CallView, Page, Ranking, StageCounts
from web.calls import CALLS, call_detail, ranking_file, register, revise, start_call
from web.deps import Admin, Anyone, CallId, Db, Desk, IdempotencyKey, PageQuery
from web.deps import Ranking as RankingReaders

router = APIRouter(prefix=CALLS.prefix, tags=["appels à projets"])
add_transition_routes(router, CALLS, CallId)


@router.post("", status_code=status.HTTP_201_CREATED, response_model=CallView)
async def create_call(
    spec: CallSpec, actor: Admin, db: Db, request: Request, key: IdempotencyKey = None
) -> CallView:
    return visibility.call_view(await start_call(request, db, spec, actor, key))


@router.put("/{call_id}", response_model=CallView)
async def revise_call(
    call_id: CallId,
    spec: CallSpec,
    actor: Admin,
    db: Db,
    request: Request,
    key: IdempotencyKey = None,
) -> CallView:
    """A draft call's whole spec, replaced (refused once the call is published)."""
    return visibility.call_view(await revise(request, db, call_id, spec, actor, key))


@router.post(
    "/{call_id}/applications", status_code=status.HTTP_201_CREATED, response_model=ApplicationView
)
async def register_application(
    call_id: CallId,
    data: ApplicationInput,
    actor: Desk,
    db: Db,
    paging: PageQuery,
    request: Request,
    key: IdempotencyKey = None,
) -> ApplicationView:
    return visibility.application_view(await register(request, db, call_id, data, actor, key))


@router.get("", response_model=Page[CallView])
def list_calls(
    _: Anyone,
    db: Db,
    paging: PageQuery,
    year: Annotated[int | None, Query(ge=2000, le=2100)] = None,
    stage: CallStage | None = None,
) -> Page[CallView]:
    return queries.list_calls(db, year, stage, paging)


@router.get("/{call_id}", response_model=CallDetail)
def get_call(call_id: CallId, actor: Anyone, db: Db) -> CallDetail:
    return call_detail(db, call_id, actor)


@router.get("/{call_id}/stats", response_model=StageCounts)
def call_stats(call_id: CallId, actor: Anyone, db: Db) -> StageCounts:
    counts = call_detail(db, call_id, actor).counts
    return StageCounts(call_id=call_id, total=sum(counts.values()), by_stage=counts)


@router.get("/{call_id}/ranking", response_model=Ranking)
def ranking(call_id: CallId, _: RankingReaders, db: Db) -> Ranking:
    return call_ranking(db, CALLS.row(db, call_id))


@router.get("/{call_id}/ranking.csv", response_class=Response, responses=FILE_RESPONSES["csv"])
@router.get("/{call_id}/ranking.xlsx", response_class=Response, responses=FILE_RESPONSES["xlsx"])
def ranking_export(call_id: CallId, fmt: FileFormat, _: RankingReaders, db: Db) -> Response:
    """The ranked list as a spreadsheet: CSV (semicolons, decimal commas) or XLSX."""
    return ranking_file(db, call_id, fmt)
