"""A case's files (an application's dossier, a cluster's annual reports): deposit, the list of
the case's files, each file's download and the whole set as a ZIP (web.files does each)."""

from typing import Annotated

from fastapi import APIRouter, Path, Request, status
from fastapi.exceptions import RequestValidationError
from fastapi.responses import Response, StreamingResponse

from domain.ids import Kind
from domain.models import DocumentRef
from web.deps import Anyone, Db, Desk, IdempotencyKey
from web.files import (
    FILES,
    Files,
    case_documents,
    case_zip,
    deposit_upload,
    document_response,
)
from web.uploads import Missing

router = APIRouter(tags=["documents"])
DocumentId = Annotated[str, Path(pattern=r"^[0-9a-f]{32}$", description="id du document")]
CaseId = Annotated[str, Path(pattern=r"^[0-9a-f]{1,32}$", description="id du dossier")]


def _form(name: str) -> dict:
    """The deposit's form in the schema: read by the route as it streams in (web.uploads), so
    the role and the case are checked before the body, which FastAPI would read whole first."""
    schema = {
        "properties": {
            "file": {
                "type": "string",
                "contentMediaType": "application/octet-stream",
                "title": "File",
                "description": "PDF, DOCX, XLSX, ODT, JPEG ou PNG",
            },
            "kind": {
                "type": "string",
                "maxLength": 200,
                "title": "Kind",
                "description": "Type de pièce",
            },
        },
        "type": "object",
        "required": ["file", "kind"],
        "title": f"Body_{name}",
    }
    content = {"multipart/form-data": {"schema": schema}}
    return {"requestBody": {"required": True, "content": content}}


def _add_routes(files: Files) -> None:
    prefix, label = files.prefix, "candidature" if files.kind == Kind.APPLICATION else "cluster"
    name = f"deposit_{files.kind}_document"

    @router.post(
        f"{prefix}/{{case_id}}/documents",
        status_code=status.HTTP_201_CREATED,
        response_model=DocumentRef,
        name=name,
        summary=f"Déposer un fichier ({label} ; multipart : file, kind)",
        openapi_extra=_form(f"{name}{prefix.replace('/', '_')}__case_id__documents_post"),
    )
    async def deposit(
        case_id: CaseId, request: Request, actor: Desk, db: Db, key: IdempotencyKey = None
    ) -> DocumentRef:
        try:
            return await deposit_upload(files, request, case_id, actor, db, key)
        except Missing as missing:  # as FastAPI tells a missing form field
            error = {"type": "missing", "loc": ("body", missing.field), "msg": "", "input": None}
            raise RequestValidationError([error]) from None

    @router.get(
        f"{prefix}/{{case_id}}/documents",
        response_model=list[DocumentRef],
        name=f"{files.kind}_documents",
        summary=f"Les fichiers ({label}), chaque type avec ses versions",
    )
    def documents(case_id: CaseId, actor: Anyone, db: Db) -> list[DocumentRef]:
        return case_documents(files, db, case_id, actor)

    @router.get(
        f"{prefix}/{{case_id}}/documents.zip",
        response_class=StreamingResponse,
        name=f"{files.kind}_documents_zip",
        summary=f"Tous les fichiers ({label}) en un ZIP",
    )
    def dossier(case_id: CaseId, request: Request, actor: Anyone, db: Db) -> Response:
        return case_zip(files, request, db, case_id, actor)


for kind_files in FILES.values():
    _add_routes(kind_files)


@router.get("/documents/{document_id}", response_class=Response)
def download(document_id: DocumentId, request: Request, actor: Anyone, db: Db) -> Response:
    """The file, under its original name (Range requests served); each download recorded."""
    return document_response(request, db, document_id, actor)
