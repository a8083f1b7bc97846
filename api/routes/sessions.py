"""The committee's sessions: prepared, revised, convened, sat (attendance, files opened and
decided), closed, their PV signed or its signed scan deposited, corrected; their list, page,
meeting pack and PVs, for the committee and the programme's managers."""

from typing import Annotated

from fastapi import APIRouter, Query, Request, status
from fastapi.exceptions import RequestValidationError
from fastapi.responses import Response

from api.routes.transitions import add_transition_routes
from domain.session import SessionSpec
from domain.stages import SessionStage
from projection import visibility
from projection.views import Page, SessionDetail, SessionSummary, SessionView
from web.deps import Admin, Db, IdempotencyKey, PageQuery
from web.sessions import (
    SESSIONS,
    SessionId,
    Sitting,
    deposit_scan,
    pack_file,
    pv_file,
    revise,
    session_detail,
    session_list,
    start_session,
)
from web.uploads import FILE, Missing

router = APIRouter(prefix=SESSIONS.prefix, tags=["séances du comité"])
add_transition_routes(router, SESSIONS, SessionId)
PDF = {200: {"content": {"application/pdf": {}}}}
# The scan's form in the schema: read by the route as it streams in (web.uploads), so the role
# and the session are checked before the body, which FastAPI would read whole first.
SCAN_FORM = {
    "requestBody": {
        "required": True,
        "content": {
            "multipart/form-data": {
                "schema": {
                    "type": "object",
                    "title": "Body_deposit_signed_pv",
                    "required": [FILE],
                    "properties": {
                        FILE: {
                            "type": "string",
                            "contentMediaType": "application/pdf",
                            "description": "Le PV signé, scanné (PDF)",
                        }
                    },
                }
            }
        },
    }
}


@router.post("", status_code=status.HTTP_201_CREATED, response_model=SessionView)
async def create_session(
    spec: SessionSpec, actor: Admin, db: Db, request: Request, key: IdempotencyKey = None
) -> SessionView:
    """Préparer une séance : ses membres (comptes du comité ou de l'administration) et leurs
    fonctions, les appels dont elle décide les dossiers évalués."""
    state = await start_session(request, db, spec, actor, key)
    return visibility.session_view(state, actor)


@router.put("/{case_id}", response_model=SessionView)
async def revise_session(
    case_id: SessionId,
    spec: SessionSpec,
    actor: Admin,
    db: Db,
    request: Request,
    key: IdempotencyKey = None,
) -> SessionView:
    """A draft session's whole spec, replaced (refused once its members are convened)."""
    return visibility.session_view(await revise(request, db, case_id, spec, actor, key), actor)


@router.post(
    "/{case_id}/deposit_signed_pv",
    response_model=SessionView,
    summary="Déposer le PV signé (scan PDF ; multipart : file)",
    openapi_extra=SCAN_FORM,
)
async def deposit_signed_pv(
    case_id: SessionId, request: Request, actor: Admin, db: Db, key: IdempotencyKey = None
) -> SessionView:
    try:
        state = await deposit_scan(request, db, case_id, actor, key)
    except Missing as missing:  # as FastAPI tells a missing form field
        error = {"type": "missing", "loc": ("body", missing.field), "msg": "", "input": None}
        raise RequestValidationError([error]) from None
    return visibility.session_view(state, actor)


@router.get("", response_model=Page[SessionSummary])
def list_sessions(
    _: Sitting, db: Db, paging: PageQuery, stage: SessionStage | None = None
) -> Page[SessionSummary]:
    return session_list(db, paging, stage)


@router.get("/{case_id}", response_model=SessionDetail)
def get_session(case_id: SessionId, actor: Sitting, db: Db) -> SessionDetail:
    return session_detail(db, case_id, actor)


@router.get(
    "/{case_id}/pv.pdf", response_class=Response, responses=PDF, summary="Un procès-verbal (PDF)"
)
def pv(
    case_id: SessionId,
    request: Request,
    _: Sitting,
    db: Db,
    number: Annotated[
        int | None, Query(ge=1, le=1000, description="Sa version ; par défaut la dernière.")
    ] = None,
) -> Response:
    """Signed, the PV's signed bytes (or the scan deposited); else as built."""
    return pv_file(request, db, case_id, number)


@router.get(
    "/{case_id}/pack.pdf",
    response_class=Response,
    responses=PDF,
    summary="Le dossier de séance des membres (PDF)",
)
def pack(case_id: SessionId, request: Request, _: Sitting, db: Db) -> Response:
    return pack_file(request, db, case_id)
