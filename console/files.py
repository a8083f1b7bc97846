"""A case's files in the console: upload fields, the whole dossier as a ZIP, one file's reading."""

from typing import Any

from fastapi import HTTPException, Request
from fastapi.responses import Response

from console.pages import (
    ROLE_LABELS,
    Signed,
    back,
    form_key,
    refusal,
    router,
)
from domain.ids import Kind
from domain.models import Actor
from web.deps import Db
from web.errors import ApiError
from web.files import (
    FILES,
    Files,
    case_zip,
    deposit_upload,
    document_response,
)
from web.uploads import Forged

FILE_RESOURCES = {"candidatures": FILES[Kind.APPLICATION], "clusters": FILES[Kind.CLUSTER]}


def files_of(kind: Kind, db: Db, case_id: str, actor: Actor) -> dict[str, Any]:
    """The case's kinds of file, and whether this person may deposit one now."""
    accepts = FILES[kind].accepts(db, case_id)
    may = accepts.open and actor.role in FILES[kind].deposit.row.roles
    return {"kinds": accepts.kinds, "deposit": may, "max_mib": accepts.max_bytes // 2**20}


def _file_routes(resource: str, files: Files) -> None:
    """The case page's upload field and the whole set as a ZIP, for one kind of case."""

    @router.post(f"/{resource}/{{case_id}}/documents", name=f"console_deposit_{resource}")
    async def deposit(request: Request, case_id: str, actor: Signed, db: Db) -> Response:
        """A file from the case page's upload field, deposited as the API deposits it."""
        here = f"/console/{resource}/{case_id}#fichiers"
        if actor.role not in files.deposit.row.roles:
            role = ROLE_LABELS.get(actor.role, actor.role)
            return back(here, "erreur", f"Votre rôle ({role}) ne permet pas cette action.")

        def refused(lines: list[str], status_code: int) -> Response:
            """The page again, the refusal told once, beside the upload form it answers
            (`piece`: that form's row; else atop the files) rather than out of view at the top
            of the page; the form's action ends in #fichiers, so the browser shows it."""
            from console.actions import PAGES  # the pages import this module

            piece = request.query_params.get("piece", "")
            told = {"refused_deposit": {"piece": piece, "lines": lines}}
            try:
                shown = PAGES[resource](request, case_id, actor, db, **told)
            except HTTPException:  # a page this person cannot see: its message, where it goes
                return back(here, "erreur", lines)
            shown.status_code = status_code
            return shown

        try:  # the form streams in: the file to storage, the key read with the form's rule
            ref = await deposit_upload(files, request, case_id, actor, db, None, form_key)
        except Forged:  # a form no page of ours sends (a forged key): refused as such, 422
            raise
        except ApiError as error:
            return refused(refusal(error, actor), error.status_code)
        except HTTPException as error:
            return refused([str(error.detail)], error.status_code)
        return back(here, "succes", f"« {ref.filename} » déposé : {ref.kind}.")

    @router.get(f"/{resource}/{{case_id}}/documents.zip", name=f"console_zip_{resource}")
    def documents_zip(request: Request, case_id: str, actor: Signed, db: Db) -> Response:
        try:
            return case_zip(files, request, db, case_id, actor)
        except HTTPException as error:
            return back(f"/console/{resource}/{case_id}", "erreur", str(error.detail))


for resource_fr, kind_files in FILE_RESOURCES.items():
    _file_routes(resource_fr, kind_files)


@router.get("/documents/{document_id}")
def document(request: Request, document_id: str, actor: Signed, db: Db) -> Response:
    """A file under the console's session (a link, or a PDF's preview); each read recorded."""
    try:
        return document_response(request, db, document_id, actor)
    except HTTPException as error:
        return back("/console/", "erreur", str(error.detail))
