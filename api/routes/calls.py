"""Calls for projects: create, publish, extend, register applications, results; reads and ranking."""

import uuid
from datetime import UTC, datetime
from typing import Annotated

from fastapi import APIRouter, HTTPException, Query, Request, status
from fastapi.responses import Response
from temporalio.client import WithStartWorkflowOperation
from temporalio.common import WorkflowIDConflictPolicy

from domain.clock import local
from domain.ids import Kind, call_workflow_id
from domain.models import (
    Actor,
    ApplicationInput,
    ApplicationState,
    CallSpec,
    CallStart,
    CallState,
    Registration,
)
from domain.stages import Action, CallStage
from projection import queries
from projection.exports import FILE_RESPONSES, FileFormat, Format, table_response
from projection.tables import ClusterRow
from projection.views import ApplicationView, CallDetail, CallView, Page, Ranking, StageCounts
from web.actions import Resource
from web.commands import acting, send
from web.deps import Admin, Anyone, CallId, Db, Desk, IdempotencyKey, PageQuery, engine_client
from web.deps import Ranking as RankingReaders
from workflows.call import CallWorkflow

router = APIRouter(prefix="/calls", tags=["appels à projets"])


def _new_id(prefix: str, key: str | None) -> str:
    """Random, or derived from the Idempotency-Key so that a repeat targets the same case."""
    raw = uuid.uuid5(uuid.NAMESPACE_URL, f"{prefix}:{key}") if key else uuid.uuid4()
    return raw.hex[:12]


CALLS = Resource(router=router, kind=Kind.CALL, workflow=CallWorkflow, case_id=CallId)


def _check_dates(spec: CallSpec) -> None:
    """A call opens today or later (an opening earlier today: at its publication) and closes
    in the future."""
    now = datetime.now(UTC)
    if local(spec.opens_at).date() < local(now).date():
        raise HTTPException(
            status.HTTP_422_UNPROCESSABLE_CONTENT,
            "La date d'ouverture est déjà passée : choisissez aujourd'hui ou une date à venir.",
        )
    if spec.deadline <= now:
        raise HTTPException(
            status.HTTP_422_UNPROCESSABLE_CONTENT, "La date limite est déjà passée."
        )


async def start_call(
    request: Request, db: Db, spec: CallSpec, actor: Actor, key: str | None
) -> CallState:
    """Start the call's workflow and its create update at once (update-with-start)."""
    _check_dates(spec)
    call_id = f"{spec.year}-{_new_id('call', key)}"
    workflow_id = call_workflow_id(call_id)
    start = CallStart(
        state=CallState(id=call_id, stage=CallStage.DRAFT, spec=spec, updated_at=datetime.now(UTC))
    )
    operation = WithStartWorkflowOperation(
        CallWorkflow.run,
        start,
        id=workflow_id,
        task_queue=request.app.state.settings.task_queue,
        id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
    )
    client = await engine_client(request)
    actor = acting(actor, "POST", "/calls", spec)
    return await send(
        lambda id_: client.execute_update_with_start_workflow(
            CallWorkflow.create, actor, start_workflow_operation=operation, id=id_
        ),
        actor,
        Action.CREATE,
        key,
        workflow_id,
        lambda: CALLS.missing(db, call_id),
    )


async def register(
    request: Request, db: Db, call_id: str, data: ApplicationInput, actor: Actor, key: str | None
) -> ApplicationState:
    """Admit an application through its call's workflow, which refuses it once closed."""
    if data.previous_cluster_id and db.get(ClusterRow, data.previous_cluster_id) is None:
        raise HTTPException(
            status.HTTP_422_UNPROCESSABLE_CONTENT,
            f"Cluster inconnu : {data.previous_cluster_id} (previous_cluster_id).",
        )
    registration = Registration(application_id=_new_id(f"application:{call_id}", key), data=data)
    workflow_id = call_workflow_id(call_id)
    client = await engine_client(request)
    handle = client.get_workflow_handle_for(CallWorkflow.run, workflow_id)
    actor = acting(actor, "POST", f"/calls/{call_id}/applications", data)
    return await send(
        lambda id_: handle.execute_update(
            CallWorkflow.register_application, args=[actor, registration], id=id_
        ),
        actor,
        Action.REGISTER_APPLICATION,
        key,
        workflow_id,
        lambda: CALLS.missing(db, call_id),
    )


@router.post("", status_code=status.HTTP_201_CREATED, response_model=CallView)
async def create_call(
    spec: CallSpec, actor: Admin, db: Db, request: Request, key: IdempotencyKey = None
) -> CallView:
    return queries.call_view(await start_call(request, db, spec, actor, key))


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
    return queries.application_view(await register(request, db, call_id, data, actor, key))


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


def call_detail(db: Db, call_id: str, actor: Actor) -> CallDetail:
    """The call, its applications per stage as `actor` may see them, and its audit trail."""
    state = queries.call_state(CALLS.row(db, call_id))
    return CallDetail(
        **queries.call_view(state).model_dump(),
        counts=queries.counts_seen_by(queries.counts_by_stage(db, call_id), state, actor),
        audit=queries.audit_trail(db, call_workflow_id(call_id)),
    )


@router.get("/{call_id}/stats", response_model=StageCounts)
def call_stats(call_id: CallId, actor: Anyone, db: Db) -> StageCounts:
    counts = call_detail(db, call_id, actor).counts
    return StageCounts(call_id=call_id, total=sum(counts.values()), by_stage=counts)


@router.get("/{call_id}/ranking", response_model=Ranking)
def ranking(call_id: CallId, _: RankingReaders, db: Db) -> Ranking:
    return queries.ranking(db, CALLS.row(db, call_id))


@router.get("/{call_id}/ranking.csv", response_class=Response, responses=FILE_RESPONSES["csv"])
@router.get("/{call_id}/ranking.xlsx", response_class=Response, responses=FILE_RESPONSES["xlsx"])
def ranking_export(call_id: CallId, fmt: FileFormat, _: RankingReaders, db: Db) -> Response:
    """The ranked list as a spreadsheet: CSV (semicolons, decimal commas) or XLSX."""
    return ranking_file(db, call_id, fmt)


def ranking_file(db: Db, call_id: str, fmt: Format = "csv") -> Response:
    """The call's ranked list as a file; 404 for an unknown call."""
    return table_response(queries.ranking_table(db, CALLS.row(db, call_id)), fmt)
