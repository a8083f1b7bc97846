"""The dossier's files: deposit (streamed to storage, then recorded by the case's workflow), the
list of an application's files, each file's download and the whole dossier as a ZIP, every
download recorded."""

import re
import unicodedata
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Annotated

from fastapi import APIRouter, HTTPException, Path, Request, UploadFile, status
from fastapi.params import File, Form
from fastapi.responses import FileResponse, Response, StreamingResponse
from zipstream import ZipStream

from api.commands import acting, send
from api.deps import Anyone, ApplicationId, Db, Desk, IdempotencyKey, engine_client
from api.routes.applications import APPLICATIONS, check_evaluator_access
from api.routes.calls import CALLS
from api.storage import CHUNK, Storage, TooLarge, Unaccepted
from domain.ids import application_workflow_id
from domain.lifecycle import APPLICATION
from domain.models import Actor, Deposit, DocumentRef
from domain.stages import Action, ApplicationStage, Role
from projection import queries
from projection.tables import DocumentRow, DownloadRow
from workflows.application import ApplicationWorkflow

router = APIRouter(tags=["documents"])
OTHER_KINDS = ("complément", "autre")
DocumentId = Annotated[str, Path(pattern=r"^[0-9a-f]{32}$", description="id du document")]


def clean_name(name: str | None) -> str:
    """A file name safe to store and to send back: no path, no control character, 200 at most."""
    base = re.split(r"[\\\\/]", name or "")[-1]
    base = "".join(
        c for c in unicodedata.normalize("NFC", base) if unicodedata.category(c)[0] != "C"
    )
    base = " ".join(base.split()).strip(". ")
    return base[:200] or "document"


async def _chunks(upload: UploadFile) -> AsyncIterator[bytes]:
    while chunk := await upload.read(CHUNK):
        yield chunk


@router.post(
    "/applications/{application_id}/documents",
    status_code=status.HTTP_201_CREATED,
    response_model=DocumentRef,
    summary="Déposer un fichier du dossier (multipart : file, kind)",
)
async def deposit(
    application_id: ApplicationId,
    request: Request,
    actor: Desk,
    db: Db,
    file: Annotated[UploadFile, File(description="PDF, DOCX, XLSX, ODT, JPEG ou PNG")],
    kind: Annotated[
        str, Form(max_length=200, description="Pièce requise par l'appel, complément ou autre")
    ],
    key: IdempotencyKey = None,
) -> DocumentRef:
    state = queries.application_state(APPLICATIONS.row(db, application_id))
    rules = queries.call_state(CALLS.row(db, state.call_id)).spec
    kinds = [*rules.required_documents, *OTHER_KINDS]
    if kind not in kinds:
        raise HTTPException(422, "Type de pièce inconnu ; attendu : " + ", ".join(kinds) + ".")
    # The workflow decides (add_document's check); this asks the same before a byte is stored:
    # the table's stages, and the call's deadline (its current one: an extension included).
    open_to_files = state.stage in APPLICATION[Action.ADD_DOCUMENT].sources and (
        state.stage != ApplicationStage.RECEIVED or datetime.now(UTC) < rules.deadline
    )
    if not open_to_files:
        raise HTTPException(409, "Le dossier n'accepte plus de fichiers (date limite passée).")
    storage: Storage = request.app.state.storage
    try:
        stored = await storage.save(_chunks(file), rules.max_file_bytes)
    except TooLarge:
        limit = rules.max_file_bytes // 2**20
        raise HTTPException(413, f"Fichier trop volumineux : {limit} Mio au plus.") from None
    except Unaccepted:
        raise HTTPException(
            415, "Type de fichier refusé : PDF, DOCX, XLSX, ODT, JPEG ou PNG."
        ) from None
    body = Deposit(
        id=uuid.uuid5(uuid.NAMESPACE_URL, f"{application_id}:{key}").hex
        if key
        else uuid.uuid4().hex,
        kind=kind,
        filename=clean_name(file.filename),
        content_type=stored.content_type,
        size=stored.size,
        sha256=stored.sha256,
    )
    workflow_id = application_workflow_id(application_id)
    handle = (await engine_client(request)).get_workflow_handle(workflow_id)
    actor = acting(actor, "POST", f"/applications/{application_id}/documents", body)
    try:
        state = await send(
            lambda id_: handle.execute_update(
                ApplicationWorkflow.add_document, args=[actor, body], id=id_
            ),
            actor,
            Action.ADD_DOCUMENT,
            key,
            workflow_id,
            lambda: APPLICATIONS.missing(db, application_id),
        )
    except HTTPException:
        storage.remove(stored)  # refused by the case: nothing kept
        raise
    return next(f for f in state.files if f.id == body.id)


def _readable(db: Db, application_id: str, actor: Actor) -> None:
    """Admin, operator, committee; an evaluator once assigned and free of conflict."""
    if actor.role == Role.EVALUATOR:
        check_evaluator_access(db, application_id, actor.name)


@router.get("/applications/{application_id}/documents", response_model=list[DocumentRef])
def documents(application_id: ApplicationId, actor: Anyone, db: Db) -> list[DocumentRef]:
    """Every file of the dossier, each kind's versions oldest first."""
    _readable(db, application_id, actor)
    APPLICATIONS.row(db, application_id)
    return queries.documents(db, application_id)


@router.get("/applications/{application_id}/documents.zip", response_class=StreamingResponse)
def dossier(application_id: ApplicationId, request: Request, actor: Anyone, db: Db) -> Response:
    """The whole dossier as one ZIP, streamed as it is made: a folder per kind, every version."""
    refs = documents(application_id, actor, db)
    storage: Storage = request.app.state.storage
    archive = ZipStream(sized=True)
    seen: set[str] = set()
    for ref in refs:
        name = f"{clean_name(ref.kind)}/{ref.filename}"
        while name in seen:  # the same name deposited again: its versions side by side
            stem, dot, ext = name.rpartition(".")
            name = f"{stem} (bis).{ext}" if dot else f"{name} (bis)"
        seen.add(name)
        archive.add_path(storage.local_path(ref.sha256), name)
    _record(db, application_id, [ref.id for ref in refs], actor)
    return StreamingResponse(
        archive,
        media_type="application/zip",
        headers={
            "Content-Disposition": f'attachment; filename="dossier-{application_id}.zip"',
            "Content-Length": str(len(archive)),
        },
    )


def _record(db: Db, application_id: str, document_ids: list[str], actor: Actor) -> None:
    """Who read which file, when: shown on the case."""
    now = datetime.now(UTC)
    for document_id in document_ids:
        db.add(
            DownloadRow(
                document_id=document_id,
                application_id=application_id,
                actor=actor.name,
                role=actor.role,
                at=now,
            )
        )
    db.commit()


@router.get("/documents/{document_id}", response_class=FileResponse)
def download(document_id: DocumentId, request: Request, actor: Anyone, db: Db) -> FileResponse:
    """The file, under its original name (Range requests served); each download recorded."""
    row = db.get(DocumentRow, document_id)
    if row is None:
        raise HTTPException(404, "Document inconnu.")
    _readable(db, row.application_id, actor)
    _record(db, row.application_id, [row.id], actor)
    path = request.app.state.storage.local_path(row.sha256)
    return FileResponse(path, media_type=row.content_type, filename=row.filename)
