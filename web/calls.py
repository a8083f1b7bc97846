"""Calls for projects as both faces command and read them: their resource, a new call
(update-with-start), registering an application, a call's page and its ranking's file."""

import uuid
from datetime import UTC, datetime

from fastapi import HTTPException, Request, status
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
    Deposit,
    Registration,
)
from domain.stages import Action, CallStage
from projection import queries, visibility
from projection.exports import Format, table_response
from projection.ranking import ranking_table
from projection.tables import ClusterRow
from projection.views import CallDetail
from web.actions import Resource
from web.commands import acting, send
from web.deps import Db, engine_client
from workflows.call import CallWorkflow

CALLS = Resource(prefix="/calls", kind=Kind.CALL, workflow=CallWorkflow)


def _new_id(prefix: str, key: str | None) -> str:
    """Random, or derived from the Idempotency-Key so that a repeat targets the same case."""
    raw = uuid.uuid5(uuid.NAMESPACE_URL, f"{prefix}:{key}") if key else uuid.uuid4()
    return raw.hex[:12]


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
    actor = acting(actor, "POST", CALLS.prefix, spec)
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


async def revise(
    request: Request, db: Db, call_id: str, spec: CallSpec, actor: Actor, key: str | None
) -> CallState:
    """A draft call's spec replaced whole (the workflow refuses once it is published)."""
    _check_dates(spec)
    path = f"{CALLS.prefix}/{call_id}"
    return await CALLS.spec(Action.REVISE_CALL).send(request, call_id, actor, db, spec, key, path)


async def register(
    request: Request,
    db: Db,
    call_id: str,
    data: ApplicationInput,
    actor: Actor,
    key: str | None,
    files: list[Deposit] | None = None,
) -> ApplicationState:
    """Admit an application through its call's workflow, which refuses it once closed; `files`
    (already in storage) are its dossier, deposited with it (the portal's deposit)."""
    if data.previous_cluster_id and db.get(ClusterRow, data.previous_cluster_id) is None:
        raise HTTPException(
            status.HTTP_422_UNPROCESSABLE_CONTENT,
            f"Cluster inconnu : {data.previous_cluster_id} (previous_cluster_id).",
        )
    registration = Registration(
        application_id=_new_id(f"application:{call_id}", key), data=data, files=files or []
    )
    workflow_id = call_workflow_id(call_id)
    client = await engine_client(request)
    handle = client.get_workflow_handle_for(CallWorkflow.run, workflow_id)
    actor = acting(actor, "POST", f"{CALLS.prefix}/{call_id}/applications", data)
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


def call_detail(db: Db, call_id: str, actor: Actor) -> CallDetail:
    """The call, its applications per stage as `actor` may see them, and its audit trail."""
    state = queries.call_state(CALLS.row(db, call_id))
    return CallDetail(
        **visibility.call_view(state, actor).model_dump(),
        counts=visibility.counts_seen_by(queries.counts_by_stage(db, call_id), state, actor),
        audit=visibility.timeline(queries.audit_trail(db, call_workflow_id(call_id))),
    )


def ranking_file(db: Db, call_id: str, fmt: Format = "csv") -> Response:
    """The call's ranked list as a file; 404 for an unknown call."""
    return table_response(ranking_table(db, CALLS.row(db, call_id)), fmt)
