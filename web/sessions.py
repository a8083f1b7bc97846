"""The committee's sessions as both faces command and read them: their resource (its routed
transitions, the checks made before an update), a new session (update-with-start), its spec
revised, a signed PV deposited as a scan, a session's page and its documents (the meeting pack,
each PV)."""

import asyncio
from datetime import UTC, datetime
from typing import Annotated

from fastapi import Depends, HTTPException, Path, Request, status
from fastapi.responses import Response
from sqlmodel import col, select
from temporalio.client import WithStartWorkflowOperation
from temporalio.common import WorkflowIDConflictPolicy

from domain.fields import MAX_FILE_BYTES
from domain.ids import Kind, session_workflow_id
from domain.models import Actor
from domain.session import ScanDeposit, SessionSpec, SessionStart, SessionState
from domain.session_lifecycle import SITTING
from domain.stages import Action, Role, SessionStage
from projection import queries, sessions, visibility
from projection.queries import FIRST_PAGE
from projection.storage import Storage, TooLarge, Unaccepted
from projection.tables import CallRow, UserRow
from projection.views import Page, Paging, SessionDetail, SessionSummary
from web.actions import Resource
from web.calls import _new_id
from web.commands import acting, send
from web.deps import Db, engine_client, require
from web.errors import conflict
from web.files import FILE_HEADERS, _maybe_taken
from web.uploads import FORM_BYTES, Upload
from workflows.session import SessionWorkflow

SessionId = Annotated[str, Path(pattern=r"^[0-9a-f]{1,32}$", description="ex. 3f9a2c01b7de")]
# Who reads a session, its PV and its pack: the committee and the programme's managers.
Sitting = Annotated[Actor, Depends(require(*SITTING))]
# Who may sit in a session: an active account of the committee or of the administration.
MEMBER_ROLES = (Role.COMMITTEE, Role.ADMIN)
NOT_PDF = "Le PV signé se dépose en PDF."


def check_spec(db: Db, spec: SessionSpec) -> None:
    """Every member an active account of the committee or the administration, every call known:
    the workflow cannot know either (a 422 naming what is wrong)."""
    names = [m.name for m in spec.members]
    query = select(UserRow.name, UserRow.role).where(
        col(UserRow.name).in_(names), col(UserRow.active).is_(True)
    )
    roles = dict(db.exec(query).all())
    problems = []
    unknown = [n for n in names if n not in roles]
    if unknown:
        problems.append("compte inconnu ou désactivé : " + ", ".join(unknown))
    others = [n for n in names if n in roles and roles[n] not in MEMBER_ROLES]
    if others:
        problems.append("ni du comité ni de l'administration : " + ", ".join(others))
    known = set(db.exec(select(CallRow.id).where(col(CallRow.id).in_(spec.call_ids))))
    missing = [c for c in spec.call_ids if c not in known]
    if missing:
        problems.append("appel(s) inconnu(s) : " + ", ".join(missing))
    if problems:
        raise HTTPException(
            status.HTTP_422_UNPROCESSABLE_CONTENT, "Séance refusée — " + " ; ".join(problems) + "."
        )


SESSIONS = Resource(
    prefix="/sessions",
    kind=Kind.SESSION,
    workflow=SessionWorkflow,
    checks={Action.REVISE_SESSION: (check_spec,)},
)


async def start_session(
    request: Request, db: Db, spec: SessionSpec, actor: Actor, key: str | None
) -> SessionState:
    """Start the session's workflow and its create update at once (update-with-start)."""
    check_spec(db, spec)
    session_id = _new_id("session", key)
    workflow_id = session_workflow_id(session_id)
    start = SessionStart(
        state=SessionState(
            id=session_id, stage=SessionStage.DRAFT, spec=spec, updated_at=datetime.now(UTC)
        )
    )
    operation = WithStartWorkflowOperation(
        SessionWorkflow.run,
        start,
        id=workflow_id,
        task_queue=request.app.state.settings.task_queue,
        id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
    )
    client = await engine_client(request)
    actor = acting(actor, "POST", SESSIONS.prefix, spec)
    return await send(
        lambda id_: client.execute_update_with_start_workflow(
            SessionWorkflow.create_session, actor, start_workflow_operation=operation, id=id_
        ),
        actor,
        Action.CREATE_SESSION,
        key,
        workflow_id,
        lambda: SESSIONS.missing(db, session_id),
    )


async def revise(
    request: Request, db: Db, session_id: str, spec: SessionSpec, actor: Actor, key: str | None
) -> SessionState:
    """A draft session's spec replaced whole (the workflow refuses once it is convened); an
    unknown session is a 404 whatever its new spec."""
    SESSIONS.row(db, session_id)
    path = f"{SESSIONS.prefix}/{session_id}"
    update = SESSIONS.spec(Action.REVISE_SESSION)
    return await update.send(request, session_id, actor, db, spec, key, path)


async def deposit_scan(
    request: Request, db: Db, session_id: str, actor: Actor, key: str | None
) -> SessionState:
    """The PV signed on paper, scanned: its PDF streamed to storage, then its hash recorded by
    the session's workflow. The session and its stage are checked before a byte is read; a
    refusal keeps nothing."""
    row = SESSIONS.row(db, session_id)
    deposit = SESSIONS.spec(Action.DEPOSIT_SIGNED_PV)
    if row.stage not in deposit.row.sources:
        stage = SessionStage(row.stage)
        raise conflict("Le PV signé se dépose une fois la séance close, avant sa signature.", stage)
    upload = Upload(request, lambda fields: None)
    declared = upload.declared_length()
    too_large = HTTPException(
        status.HTTP_413_CONTENT_TOO_LARGE,
        f"Fichier trop volumineux : {MAX_FILE_BYTES // 2**20} Mio au plus.",
    )
    if declared is not None and declared > MAX_FILE_BYTES + FORM_BYTES:
        raise too_large
    storage: Storage = request.app.state.storage
    try:
        stored = await storage.save(upload.chunks(), MAX_FILE_BYTES)
    except TooLarge:
        raise too_large from None
    except Unaccepted:
        raise HTTPException(status.HTTP_415_UNSUPPORTED_MEDIA_TYPE, NOT_PDF) from None
    try:
        if stored.content_type != "application/pdf":
            raise HTTPException(status.HTTP_415_UNSUPPORTED_MEDIA_TYPE, NOT_PDF)
        body = ScanDeposit(sha256=stored.sha256)
        path = f"{SESSIONS.prefix}/{session_id}/{Action.DEPOSIT_SIGNED_PV}"
        return await deposit.send(request, session_id, actor, db, body, key, path)
    except BaseException as error:
        if not _maybe_taken(error):  # refused (or never sent): nothing kept
            await asyncio.to_thread(storage.remove, stored)
        raise


def session_list(
    db: Db, paging: Paging = FIRST_PAGE, stage: SessionStage | None = None
) -> Page[SessionSummary]:
    """A page of sessions, the latest meeting first, as both faces list them."""
    return sessions.list_sessions(db, paging, stage)


def session_detail(db: Db, session_id: str, actor: Actor) -> SessionDetail:
    """The session as `actor` may read it: its agenda with each decision's texts, its
    attendance and quorum, its PVs, and its timeline."""
    state = sessions.session_state(SESSIONS.row(db, session_id))
    events = queries.audit_trail(db, session_workflow_id(session_id))
    return visibility.session_detail(state, sessions.decision_texts(events), events, actor)


def _pdf(request: Request, sha256: str, filename: str) -> Response:
    storage: Storage = request.app.state.storage
    size = storage.fs.size(storage.path(sha256))
    return storage.response(sha256, size, "application/pdf", filename, request, FILE_HEADERS)


def pv_file(request: Request, db: Db, session_id: str, number: int | None) -> Response:
    """A PV's PDF (the latest by default): its signed bytes once signed, else as built."""
    state = sessions.session_state(SESSIONS.row(db, session_id))
    pv = state.pv if number is None else next((p for p in state.pvs if p.number == number), None)
    if pv is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, "Procès-verbal inconnu pour cette séance.")
    filename = f"proces-verbal-{session_id}-{pv.number}.pdf"
    return _pdf(request, pv.signed_sha256 or pv.sha256, filename)


def pack_file(request: Request, db: Db, session_id: str) -> Response:
    """The meeting pack's PDF, built when the members were convened."""
    state = sessions.session_state(SESSIONS.row(db, session_id))
    if state.pack is None:
        raise HTTPException(
            status.HTTP_404_NOT_FOUND,
            "Pas encore de dossier de séance : il est établi à la convocation des membres.",
        )
    return _pdf(request, state.pack.sha256, f"dossier-de-seance-{session_id}.pdf")
