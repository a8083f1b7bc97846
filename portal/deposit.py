"""An association's dossier for a call: its page (form, files, live checklist), the draft saved,
files uploaded one request each (the page's script sends several at once with their progress,
and sends again a file whose connection dropped), and « Déposer mon dossier ».

The deposit is the call's registration (web.calls.register, the operators' path) with the
draft's files, made as the applicant. Its arrival is the moment the request came in: at the
deadline (15:00:00 Rabat) or after, it is refused with that moment, and nothing changes; a
deposit completed before is untouched by the call's closing. A signed receipt (portal.receipt)
follows each deposit."""

import asyncio
import uuid
from datetime import datetime

from fastapi import HTTPException, Request, status
from fastapi.responses import HTMLResponse, JSONResponse, Response
from sqlmodel import Session
from starlette.concurrency import run_in_threadpool

from domain.models import Actor, CallState
from domain.stages import CallStage, Role
from portal import accounts, dossier, i18n, receipts
from portal.accounts import EDITORS, Membership
from portal.home import member
from portal.i18n import N_
from portal.pages import PREFIX, Person, back, database, language, render, router
from projection import queries
from projection.storage import Storage, Stored, TooLarge, Unaccepted
from projection.tables import CallRow, DraftFileRow, DraftRow, PersonRow
from web.calls import register
from web.errors import ApiError
from web.files import OTHER_KINDS, clean_name
from web.uploads import FORM_BYTES, Missing, Upload

CLOSED = N_(
    "Votre dépôt est arrivé le %(arrived)s, après la clôture de l'appel (%(deadline)s) : il n'est "
    "pas enregistré."
)
DEPOSITED = N_("Ce dossier est déjà déposé : il ne change plus.")


def applicant(person: PersonRow, membership: Membership) -> Actor:
    """Who acts in the case's trail: the person, for their association (the staff see both)."""
    return Actor(name=f"{person.name} ({membership.association.name})"[:200], role=Role.APPLICANT)


def open_call(db: Session, call_id: str) -> CallState:
    row = db.get(CallRow, call_id)
    if row is None or row.stage not in (CallStage.OPEN, CallStage.CLOSED):
        raise HTTPException(status.HTTP_404_NOT_FOUND, N_("Appel inconnu ou fermé."))
    return queries.call_state(row)


def _here(association_id: str, call_id: str) -> str:
    return f"{PREFIX}/associations/{association_id}/appels/{call_id}"


def _moment(request: Request, person: PersonRow | None, value: datetime) -> str:
    return i18n.Texts(language(request, person)).datetime(value, seconds=True)


@router.get("/associations/{association_id}/appels/{call_id}", response_class=HTMLResponse)
def dossier_page(request: Request, association_id: str, call_id: str, person: Person) -> Response:
    with database(request) as db:
        membership = member(db, person, association_id)
        call = open_call(db, call_id)
        draft = dossier.draft_for(db, association_id, call_id)
        uploaded = dossier.files(db, draft.id) if draft else []
    data = draft.data if draft else {}
    return render(
        request,
        "dossier.html",
        person,
        membership=membership,
        call=call,
        draft=draft,
        data=data,
        files=uploaded,
        checklist=dossier.checklist(call, uploaded),
        kinds=[*call.spec.required_documents, *OTHER_KINDS],
        member_types=dossier.MEMBER_TYPES,
        member_rows=max(dossier.MEMBER_ROWS, len(data.get("members", [])) + 3),
        may_edit=membership.role in EDITORS and not (draft and draft.application_id),
        is_open=call.stage == CallStage.OPEN and accounts.now() < call.spec.deadline,
    )


def _editable(db: Session, person: PersonRow, association_id: str, call_id: str) -> Membership:
    membership = member(db, person, association_id, *EDITORS)
    call = open_call(db, call_id)
    if call.stage != CallStage.OPEN or accounts.now() >= call.spec.deadline:
        raise HTTPException(
            status.HTTP_409_CONFLICT, N_("L'appel est clos : le dossier ne change plus.")
        )
    return membership


@router.post("/associations/{association_id}/appels/{call_id}")
async def save_draft(
    request: Request, association_id: str, call_id: str, person: Person
) -> Response:
    form = await request.form()
    with database(request) as db:
        _editable(db, person, association_id, call_id)
        try:
            dossier.save(
                db, association_id, call_id, dossier.typed_form(form), person.name, accounts.now()
            )
        except dossier.DraftClosed:
            return back(request, _here(association_id, call_id), "erreur", DEPOSITED)
    return back(request, _here(association_id, call_id), "succes", N_("Brouillon enregistré."))


class Refusal(HTTPException):
    """A refusal whose French source text takes values (translated where it is shown)."""

    def __init__(self, code: int, text: str, **values: object) -> None:
        super().__init__(code, text)
        self.values = values


def _upload_target(
    request: Request, person: PersonRow, association_id: str, call_id: str
) -> tuple[str, CallState]:
    """The draft a file goes to (made at the first file) and its call, or why none takes it."""
    with database(request) as db:
        _editable(db, person, association_id, call_id)
        call = open_call(db, call_id)
        draft = dossier.draft_for(db, association_id, call_id) or dossier.save(
            db, association_id, call_id, {}, person.name, accounts.now()
        )
        if draft.application_id:
            raise Refusal(409, DEPOSITED)
        if len(dossier.files(db, draft.id)) >= dossier.MAX_FILES:
            raise Refusal(409, TOO_MANY, count=dossier.MAX_FILES)
        return draft.id, call


def _keep_row(request: Request, row: DraftFileRow) -> None:
    with database(request) as db:
        db.add(row)
        db.commit()
        db.refresh(row)


TOO_MANY = N_("Un dossier compte au plus %(count)s fichiers.")


@router.post("/associations/{association_id}/appels/{call_id}/fichiers")
async def upload(request: Request, association_id: str, call_id: str, person: Person) -> Response:
    """One file of the dossier (`kind` sent before `file`), streamed to storage as it comes."""
    wants_json = "application/json" in request.headers.get("accept", "")
    here = _here(association_id, call_id)
    lang = language(request, person)

    def refused(code: int, text: str, **values: object) -> Response:
        shown = i18n.gettext(lang, text) % values if values else i18n.gettext(lang, text)
        if wants_json:
            return JSONResponse({"detail": shown}, status_code=code)
        return back(request, here, "erreur", text, **values)

    try:  # the database's work off the event loop, which carries the uploads' bytes
        draft_id, call = await run_in_threadpool(
            _upload_target, request, person, association_id, call_id
        )
    except HTTPException as error:
        return refused(error.status_code, str(error.detail), **getattr(error, "values", {}))
    kinds = [*call.spec.required_documents, *OTHER_KINDS]
    limit = call.spec.max_file_bytes

    def before_the_file(fields: dict[str, str]) -> None:
        if fields.get("kind") not in kinds:
            raise HTTPException(422, N_("Choisissez le type de pièce."))

    try:
        upload_ = Upload(request, before_the_file)
        declared = upload_.declared_length()
        if declared is not None and declared > limit + FORM_BYTES:
            raise TooLarge
        storage: Storage = request.app.state.storage
        stored = await storage.save(upload_.chunks(), limit)
    except TooLarge:
        return refused(
            413, N_("Fichier trop volumineux : %(mib)s Mio au plus."), mib=limit // 2**20
        )
    except Unaccepted:
        return refused(
            415, N_("Type de fichier refusé : PDF, image, tableur ou document de texte.")
        )
    except Missing:
        return refused(422, N_("Choisissez un fichier."))
    except HTTPException as error:
        return refused(error.status_code, str(error.detail))
    row = DraftFileRow(
        id=uuid.uuid4().hex,
        draft_id=draft_id,
        kind=upload_.fields.get("kind", ""),
        filename=clean_name(upload_.filename),
        content_type=stored.content_type,
        size=stored.size,
        sha256=stored.sha256,
        ref=stored.ref,
        uploaded_by=person.name,
        uploaded_at=accounts.now(),
    )
    await run_in_threadpool(_keep_row, request, row)
    if wants_json:
        return JSONResponse(
            {"id": row.id, "filename": row.filename, "kind": row.kind, "size": row.size}, 201
        )
    return back(request, here, "succes", N_("Fichier ajouté : %(name)s."), name=row.filename)


@router.post("/associations/{association_id}/appels/{call_id}/fichiers/{file_id}/retirer")
async def remove_file(
    request: Request, association_id: str, call_id: str, file_id: str, person: Person
) -> Response:
    here = _here(association_id, call_id)
    with database(request) as db:
        _editable(db, person, association_id, call_id)
        draft = dossier.draft_for(db, association_id, call_id)
        row = db.get(DraftFileRow, file_id)
        if draft is None or row is None or row.draft_id != draft.id:
            raise HTTPException(status.HTTP_404_NOT_FOUND, N_("Fichier inconnu."))
        if draft.application_id:
            return back(request, here, "erreur", DEPOSITED)
        stored = Stored(row.sha256, row.size, row.content_type, row.ref)
        db.delete(row)
        db.commit()
    await asyncio.to_thread(request.app.state.storage.remove, stored)
    return back(request, here, "succes", N_("Fichier retiré."))


@router.post("/associations/{association_id}/appels/{call_id}/deposer")
async def deposit(request: Request, association_id: str, call_id: str, person: Person) -> Response:
    """« Déposer mon dossier »: complete, before the deadline, or refused with the reason."""
    arrived = accounts.now()  # before anything else: the moment the deposit came in
    here = _here(association_id, call_id)
    with database(request) as db:
        membership = member(db, person, association_id, *EDITORS)
        call = open_call(db, call_id)
        draft = dossier.draft_for(db, association_id, call_id)
        uploaded = dossier.files(db, draft.id) if draft else []
    deadline = call.spec.deadline
    if arrived >= deadline or call.stage != CallStage.OPEN:
        return _closed(request, person, here, arrived, deadline)
    if draft is None:
        return back(request, here, "erreur", N_("Enregistrez d'abord votre dossier."))
    if draft.application_id:
        return back(request, _case(association_id, draft.application_id), "succes", DEPOSITED)
    data, problems = dossier.to_input(draft, person)
    missing = [item.kind for item in dossier.checklist(call, uploaded) if not item.done]
    if data is None or missing:
        lines = [N_("Votre dossier n'est pas complet :")]
        lines += [i18n.gettext(language(request, person), p) for p in problems]
        lines += [N_("Pièce manquante : %s") % kind for kind in missing]
        return back(request, here, "erreur", *lines)
    try:
        with database(request) as db:
            state = await register(
                request,
                db,
                call_id,
                data,
                applicant(person, membership),
                draft.id,  # the key: a second click gets the first deposit's answer
                dossier.deposits(uploaded),
            )
    except ApiError as error:
        if error.status_code == status.HTTP_409_CONFLICT and accounts.now() >= deadline:
            return _closed(request, person, here, arrived, deadline)
        return back(request, here, "erreur", str(error.detail))
    with database(request) as db:
        draft = db.get(DraftRow, draft.id)
        assert draft is not None
        draft.application_id, draft.deposited_at = state.id, state.registered_at
        db.add(draft)
        db.commit()
        db.refresh(draft)
        await run_in_threadpool(receipts.issue, request, db, draft, call, membership, person)
    return back(
        request,
        _case(association_id, state.id),
        "succes",
        N_("Dossier déposé le %(at)s. Votre accusé de réception signé est prêt."),
        at=_moment(request, person, state.registered_at),
    )


def _closed(
    request: Request, person: PersonRow, here: str, arrived: datetime, deadline: datetime
) -> Response:
    return back(
        request,
        here,
        "erreur",
        CLOSED,
        arrived=_moment(request, person, arrived),
        deadline=_moment(request, person, deadline),
    )


def _case(association_id: str, application_id: str) -> str:
    return f"{PREFIX}/associations/{association_id}/dossiers/{application_id}"
