"""A case's files as both faces handle them (an application's dossier, a cluster's annual
reports): what each kind of case accepts and who may read it, a deposit (streamed to storage,
then recorded by the case's workflow), the case's files, one file's download and the whole set
as a ZIP, every download recorded."""

import asyncio
import functools
import re
import unicodedata
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime

from fastapi import HTTPException, Request, status
from fastapi.responses import Response, StreamingResponse
from temporalio.client import WorkflowUpdateRPCTimeoutOrCancelledError
from temporalio.service import RPCError, RPCStatusCode

from domain.fields import MAX_FILE_BYTES
from domain.ids import Kind
from domain.lifecycle import TRANSITIONS
from domain.models import Actor, DocumentRef
from domain.stages import Action, ApplicationStage, Role
from domain.support import REPORT_FILES
from projection import queries
from projection.storage import Storage, TooLarge, Unaccepted
from projection.tables import DocumentRow, DownloadRow
from web.actions import ActionSpec, Resource
from web.applications import APPLICATIONS, check_evaluator_access
from web.calls import CALLS
from web.clusters import CLUSTERS
from web.deps import READERS, Db
from web.errors import ApiError
from web.uploads import FORM_BYTES, Forged, Missing, Upload

OTHER_KINDS = ("complément", "autre")
CONTRACT_FILE = "convention signée"  # a cluster's signed programme contract, kept with its case
# A file is sent as what it was typed as, never sniffed, and never run as a page of ours (the
# console sets its own policy for its preview frame).
FILE_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "Content-Security-Policy": "default-src 'none'; sandbox",
}


@dataclass(frozen=True)
class Accepts:
    """What a case takes now: the kinds of file, the largest file, and whether it is open."""

    kinds: list[str]
    max_bytes: int
    open: bool
    closed_because: str = "Le dossier n'accepte pas de fichiers à cette étape."


def _application_accepts(db: Db, case_id: str) -> Accepts:
    """The call's required documents; before the deadline (its current one, an extension
    included), or in answer to a complements request. The workflow decides (add_document's
    check): this asks the same before a byte is stored."""
    state = queries.application_state(APPLICATIONS.row(db, case_id))
    rules = queries.call_state(CALLS.row(db, state.call_id)).spec
    open_ = _open(state.stage, Action.ADD_DOCUMENT) and (
        state.stage != ApplicationStage.RECEIVED or datetime.now(UTC) < rules.deadline
    )
    return Accepts(
        [*rules.required_documents, *OTHER_KINDS],
        rules.max_file_bytes,
        open_,
        "Le dossier n'accepte plus de fichiers (date limite passée).",
    )


def _cluster_accepts(db: Db, case_id: str) -> Accepts:
    """The annual report's files, or any other, while the support runs."""
    stage = CLUSTERS.row(db, case_id).stage
    return Accepts(
        [CONTRACT_FILE, *REPORT_FILES.values(), "autre"],
        MAX_FILE_BYTES,
        _open(stage, Action.ADD_CLUSTER_DOCUMENT),
    )


def _open(stage: str, action: Action) -> bool:
    return stage in TRANSITIONS[action].sources


def _application_readable(db: Db, case_id: str, actor: Actor) -> None:
    """Admin, operator, committee; an evaluator once assigned and free of conflict."""
    if actor.role == Role.EVALUATOR:
        check_evaluator_access(db, case_id, actor.name)
    APPLICATIONS.row(db, case_id)


def _cluster_readable(db: Db, case_id: str, actor: Actor) -> None:
    if actor.role not in READERS:
        raise HTTPException(status.HTTP_403_FORBIDDEN, "Dossier de soutien réservé au programme.")
    CLUSTERS.row(db, case_id)


@dataclass(frozen=True)
class Files:
    """One kind of case that holds files: the update that records a deposit, what it accepts
    and who may read it."""

    resource: Resource
    action: Action
    accepts: Callable[[Db, str], Accepts]
    readable: Callable[[Db, str, Actor], None]

    @functools.cached_property
    def deposit(self) -> ActionSpec:
        return self.resource.spec(self.action)

    @property
    def kind(self) -> Kind:
        return self.resource.kind

    @property
    def prefix(self) -> str:
        return self.resource.prefix


FILES = {
    Kind.APPLICATION: Files(
        APPLICATIONS, Action.ADD_DOCUMENT, _application_accepts, _application_readable
    ),
    Kind.CLUSTER: Files(CLUSTERS, Action.ADD_CLUSTER_DOCUMENT, _cluster_accepts, _cluster_readable),
}


def clean_name(name: str | None) -> str:
    """A file name safe to store and to send back: no path, no control character, 200 at most."""
    base = re.split(r"[\\\\/]", name or "")[-1]
    base = "".join(
        c for c in unicodedata.normalize("NFC", base) if unicodedata.category(c)[0] != "C"
    )
    base = " ".join(base.split()).strip(". ")
    return base[:200] or "document"


async def deposit_upload(
    files: Files,
    request: Request,
    case_id: str,
    actor: Actor,
    db: Db,
    key: str | None,
    key_of: Callable[[Mapping[str, str]], str | None] | None = None,
) -> DocumentRef:
    """The request's multipart form (`file`, `kind`; `key_of(fields)` reads the key when the
    form carries it) streamed to storage, then recorded by the case's workflow: the API's route
    and the console's form both deposit through here. The role, the case and the declared
    length are checked before one byte of the body is read, the fields sent before the file as
    it starts, its size while it streams in; a refusal keeps nothing."""
    if actor.role not in files.deposit.row.roles:
        raise HTTPException(status.HTTP_403_FORBIDDEN, NOT_YOURS.format(role=actor.role))
    accepts = files.accepts(db, case_id)
    if not accepts.open:
        raise HTTPException(status.HTTP_409_CONFLICT, accepts.closed_because)

    def before_the_file(fields: dict[str, str]) -> None:  # what came before it, checked
        if "kind" in fields:
            _kind(fields["kind"], accepts)
        if key_of:
            _forged_unless(key_of, fields)

    upload = Upload(request, before_the_file)
    declared = upload.declared_length()
    if declared is not None and declared > accepts.max_bytes + FORM_BYTES:
        raise _too_large(accepts)
    storage: Storage = request.app.state.storage
    try:
        stored = await storage.save(upload.chunks(), accepts.max_bytes)
    except TooLarge:
        raise _too_large(accepts) from None
    except Unaccepted as refused:
        raise HTTPException(status.HTTP_415_UNSUPPORTED_MEDIA_TYPE, str(refused)) from None
    try:
        if "kind" not in upload.fields:
            raise Missing("kind", "Choisissez le type de pièce.")
        kind = _kind(upload.fields["kind"], accepts)
        key = _forged_unless(key_of, upload.fields) if key_of else key
        document_id = (
            uuid.uuid5(uuid.NAMESPACE_URL, f"{files.kind}:{case_id}:{key}").hex
            if key
            else uuid.uuid4().hex
        )
        body = stored.deposit(document_id, kind, clean_name(upload.filename))
        path = f"{files.prefix}/{case_id}/documents"
        state = await files.deposit.send(request, case_id, actor, db, body, key, path)
        return next(f for f in state.files if f.id == body.id)
    except BaseException as error:
        if not _maybe_taken(error):  # refused by the case (or never sent): nothing kept
            await asyncio.to_thread(storage.remove, stored)
        raise


NOT_YOURS = "Le rôle « {role} » n'a pas accès à cette opération."
# What the engine answers when an update may have been taken all the same (no answer in time,
# a connection lost): its bytes stay, for a repeat with the same key gets the first answer.
UNANSWERED = (
    RPCStatusCode.DEADLINE_EXCEEDED,
    RPCStatusCode.CANCELLED,
    RPCStatusCode.UNAVAILABLE,
    RPCStatusCode.UNKNOWN,
)


def _maybe_taken(error: BaseException) -> bool:
    if isinstance(error, ApiError):
        return error.extra.get("code") == "Timeout"
    if isinstance(error, RPCError):
        return error.status in UNANSWERED
    return isinstance(error, (asyncio.CancelledError, WorkflowUpdateRPCTimeoutOrCancelledError))


def _forged_unless(
    key_of: Callable[[Mapping[str, str]], str | None], fields: Mapping
) -> str | None:
    """The form's key, by the face's own rule; one it refuses was forged."""
    try:
        return key_of(fields)
    except HTTPException as refused:
        raise Forged(str(refused.detail)) from None


def _kind(kind: str, accepts: Accepts) -> str:
    if kind not in accepts.kinds:
        raise HTTPException(
            status.HTTP_422_UNPROCESSABLE_CONTENT,
            "Type de pièce inconnu ; attendu : " + ", ".join(accepts.kinds) + ".",
        )
    return kind


def _too_large(accepts: Accepts) -> HTTPException:
    limit = accepts.max_bytes // 2**20
    return HTTPException(
        status.HTTP_413_CONTENT_TOO_LARGE, f"Fichier trop volumineux : {limit} Mio au plus."
    )


def _record(db: Db, kind: Kind, case_id: str, document_ids: list[str], actor: Actor) -> None:
    """Who read which file, when: shown on the case."""
    now = datetime.now(UTC)
    for document_id in document_ids:
        db.add(
            DownloadRow(
                document_id=document_id,
                case_kind=kind,
                case_id=case_id,
                actor=actor.name,
                role=actor.role,
                at=now,
            )
        )
    db.commit()


def case_documents(files: Files, db: Db, case_id: str, actor: Actor) -> list[DocumentRef]:
    files.readable(db, case_id, actor)
    return queries.documents(db, files.kind, case_id)


def case_zip(files: Files, request: Request, db: Db, case_id: str, actor: Actor) -> Response:
    """The case's files as one ZIP, streamed as it is made: a folder per kind, every version."""
    refs = case_documents(files, db, case_id, actor)
    storage: Storage = request.app.state.storage
    entries, seen = [], set()
    for ref in refs:
        name = f"{clean_name(ref.kind)}/{ref.filename}"
        while name in seen:  # the same name deposited again: its versions side by side
            stem, dot, ext = name.rpartition(".")
            name = f"{stem} (bis).{ext}" if dot else f"{name} (bis)"
        seen.add(name)
        entries.append((ref.sha256, ref.size, name))
    archive = storage.zip(entries)
    _record(db, files.kind, case_id, [ref.id for ref in refs], actor)
    return StreamingResponse(
        archive,
        media_type="application/zip",
        headers={
            **FILE_HEADERS,
            "Content-Disposition": f'attachment; filename="dossier-{case_id}.zip"',
            "Content-Length": str(len(archive)),
        },
    )


def document_response(request: Request, db: Db, document_id: str, actor: Actor) -> Response:
    """The file, under its original name (Range requests served); each download recorded."""
    row = db.get(DocumentRow, document_id)
    if row is None:
        raise HTTPException(404, "Document inconnu.")
    FILES[Kind(row.case_kind)].readable(db, row.case_id, actor)
    _record(db, Kind(row.case_kind), row.case_id, [row.id], actor)
    storage: Storage = request.app.state.storage
    return storage.response(
        row.sha256, row.size, row.content_type, row.filename, request, FILE_HEADERS
    )
