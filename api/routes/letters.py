"""A case's result letters (activities.letters), as the result's e-mail carried them: the list,
and each letter's PDF, for whoever may read the case's files (web.files). A letter is found
through the outbox row that sent it, never by its hash alone: another case's letter is unknown
here. A redress request's dossier (activities.redress) too, for the programme and the committee
alone: it names the evaluators and holds their comments. The console's case page links them
through its own session (console.applications)."""

from typing import Annotated

from fastapi import APIRouter, HTTPException, Path, Request, status
from fastapi.responses import Response
from sqlmodel import Session

from domain.ids import Kind
from domain.models import Actor
from domain.notices import letter_filename
from projection import queries
from projection.storage import Storage
from projection.visibility import DOSSIER_READERS
from web.applications import APPLICATIONS
from web.deps import Anyone, ApplicationId, Db
from web.files import FILE_HEADERS, FILES
from web.letters import ResultLetter, letters_of

router = APIRouter(prefix=APPLICATIONS.prefix, tags=["candidatures"])
Sha256 = Annotated[str, Path(pattern=r"^[0-9a-f]{64}$", description="SHA-256 du courrier")]
NO_DOSSIER = "Le dossier de recours n'est pas encore constitué."
NOT_FOR_YOU = "Le dossier de recours est réservé à la gestion du programme et au comité."


def case_letters(request: Request, db: Session, case_id: str, actor: Actor) -> list[ResultLetter]:
    FILES[Kind.APPLICATION].readable(db, case_id, actor)
    return letters_of(db, request.app.state.storage, case_id)


def letter_response(
    request: Request, db: Session, case_id: str, sha256: str, actor: Actor
) -> Response:
    """The letter's PDF, if one of the case's result e-mails carried it; else 404."""
    letter = next(
        (x for x in case_letters(request, db, case_id, actor) if x.sha256 == sha256), None
    )
    if letter is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, "Courrier inconnu pour ce dossier.")
    storage: Storage = request.app.state.storage
    return storage.response(
        sha256, letter.size, "application/pdf", letter_filename(case_id), request, FILE_HEADERS
    )


def redress_dossier_response(request: Request, db: Session, case_id: str, actor: Actor) -> Response:
    """The case's redress dossier as the clock built it (its SHA-256 kept by the case's
    redress); 404 until then."""
    if actor.role not in DOSSIER_READERS:
        raise HTTPException(status.HTTP_403_FORBIDDEN, NOT_FOR_YOU)
    redress = queries.application_state(APPLICATIONS.row(db, case_id)).redress
    if redress is None or redress.dossier is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, NO_DOSSIER)
    storage: Storage = request.app.state.storage
    size = storage.fs.size(storage.path(redress.dossier))
    name = f"dossier-de-recours-{case_id}.pdf"
    return storage.response(redress.dossier, size, "application/pdf", name, request, FILE_HEADERS)


@router.get(
    "/{case_id}/letters",
    response_model=list[ResultLetter],
    summary="Les courriers de résultat envoyés (PDF joints au courriel)",
)
def application_letters(
    case_id: ApplicationId, request: Request, actor: Anyone, db: Db
) -> list[ResultLetter]:
    return case_letters(request, db, case_id, actor)


@router.get(
    "/{case_id}/letters/{sha256}.pdf",
    response_class=Response,
    responses={200: {"content": {"application/pdf": {}}}},
    summary="Un courrier de résultat (PDF/A)",
)
def application_letter(
    case_id: ApplicationId, sha256: Sha256, request: Request, actor: Anyone, db: Db
) -> Response:
    return letter_response(request, db, case_id, sha256, actor)


@router.get(
    "/{case_id}/redress-dossier.pdf",
    response_class=Response,
    responses={200: {"content": {"application/pdf": {}}}},
    summary="Le dossier de recours (PDF/A), pour le programme et le comité",
)
def application_redress_dossier(
    case_id: ApplicationId, request: Request, actor: Anyone, db: Db
) -> Response:
    return redress_dossier_response(request, db, case_id, actor)
