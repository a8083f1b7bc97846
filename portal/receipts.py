"""Each deposit's signed receipt (portal.receipt): made once right after the deposit, kept in
storage as JSON and PDF (the draft names them by their SHA-256), downloaded by the association's
members; and the service's public key, for anyone to check a receipt offline."""

from functools import cache
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from fastapi import HTTPException, Request, status
from fastapi.responses import Response
from sqlmodel import Session, select

from domain.models import CallState
from portal import dossier, i18n
from portal.accounts import Membership
from portal.home import member
from portal.i18n import N_
from portal.pages import Person, database, router
from portal.receipt import (
    Receipt,
    ReceiptFile,
    load_key,
    public_pem,
    receipt_pdf,
    sign,
    verify,
)
from projection.tables import DraftFileRow, DraftRow, PersonRow

MEDIA = {"json": "application/json", "pdf": "application/pdf"}


@cache
def _key(path: Path) -> Ed25519PrivateKey:
    return load_key(path)


def service_key(request: Request) -> Ed25519PrivateKey:
    return _key(request.app.state.settings.receipt_key_file)


def issue(
    request: Request,
    db: Session,
    draft: DraftRow,
    call: CallState,
    membership: Membership,
    person: PersonRow,
) -> None:
    """The deposit's receipt signed and kept as JSON (in the depositor's language); a second call
    for the same deposit makes the same bytes, kept once."""
    assert draft.application_id and draft.deposited_at
    language = person.language if person.language in i18n.LANGUAGES else i18n.DEFAULT
    receipt = Receipt(
        call_id=call.id,
        call_title=call.spec.title,
        deadline=call.spec.deadline,
        association_id=membership.association.id,
        association_name=membership.association.name,
        application_id=draft.application_id,
        deposited_by=person.name,
        deposited_at=draft.deposited_at,
        files=[
            ReceiptFile(name=name, kind=f.kind, size=f.size, sha256=f.sha256)
            for name, f in _named(dossier.files(db, draft.id))
        ],
        language=language,
    )
    draft.receipt = request.app.state.storage.keep_document(sign(receipt, service_key(request)))
    db.add(draft)
    db.commit()


def pdf_of(request: Request, db: Session, draft: DraftRow) -> str:
    """The receipt's PDF, made from its signed JSON on its first download and kept: a second of
    CPU that the deadline-hour's deposits do not wait for (bench/portal_rush.py)."""
    if draft.receipt_pdf is None:
        assert draft.receipt is not None
        storage = request.app.state.storage
        signed = storage.content(draft.receipt)
        draft.receipt_pdf = storage.keep_document(receipt_pdf(verify(signed), signed))
        db.add(draft)
        db.commit()
    return draft.receipt_pdf


def _named(files: list[DraftFileRow]) -> list[tuple[str, DraftFileRow]]:
    """Each file with its name on the receipt: two of the same name are told apart there
    (« rapport (2).pdf »)."""
    seen: dict[str, int] = {}
    named = []
    for f in files:
        seen[f.filename] = count = seen.get(f.filename, 0) + 1
        stem, dot, extension = f.filename.rpartition(".")
        if count == 1:
            named.append((f.filename, f))
        else:
            named.append((f"{stem} ({count}).{extension}" if dot else f"{f.filename} ({count})", f))
    return named


@router.get("/associations/{association_id}/dossiers/{application_id}/recu.{fmt}")
def receipt_file(
    request: Request, association_id: str, application_id: str, fmt: str, person: Person
) -> Response:
    if fmt not in MEDIA:
        raise HTTPException(status.HTTP_404_NOT_FOUND, N_("Page introuvable"))
    with database(request) as db:
        member(db, person, association_id)
        draft = _deposited(db, association_id, application_id)
        if draft.receipt is not None and fmt == "pdf":
            pdf_of(request, db, draft)
    sha256 = draft.receipt if fmt == "json" else draft.receipt_pdf
    if sha256 is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, N_("Accusé de réception introuvable."))
    content = request.app.state.storage.content(sha256)
    name = f"recu-{application_id}.{fmt}"
    return Response(
        content,
        media_type=MEDIA[fmt],
        headers={"Content-Disposition": f'attachment; filename="{name}"'},
    )


def _deposited(db: Session, association_id: str, application_id: str) -> DraftRow:
    draft = db.exec(
        select(DraftRow).where(
            DraftRow.association_id == association_id, DraftRow.application_id == application_id
        )
    ).first()
    if draft is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, N_("Dossier inconnu."))
    return draft


@router.get("/cle-publique.pem")
def public_key(request: Request) -> Response:
    """The key that checks every receipt: `python -m portal.receipt verify recu.json --cle …`."""
    return Response(public_pem(service_key(request)), media_type="application/x-pem-file")
