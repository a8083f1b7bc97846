"""The notices sent to applicants and evaluators, and their delivery."""

from fastapi import Request
from fastapi.responses import HTMLResponse, Response

from console.pages import (
    STATUSES,
    Signed,
    back,
    render,
    router,
)
from domain.models import Actor
from domain.table import DESK
from projection import listings, queries
from projection.exports import FileFormat, table_response
from projection.views import Paging
from web.deps import Db

MAIL_READERS = DESK  # those who write to applicants


def messages_of(db: Db, actor: Actor, workflow_id: str) -> list | None:
    """A case's notices, for those who write to applicants (None: not shown)."""
    if actor.role not in MAIL_READERS:
        return None
    return queries.messages(db, workflow_id=workflow_id, paging=Paging(1, 200)).items


@router.get("/courriers", response_class=HTMLResponse)
def mail(request: Request, actor: Signed, db: Db, etat: str = "", page: int = 1) -> Response:
    if actor.role not in MAIL_READERS:
        return back(
            "/console/", "erreur", "Les courriers sont réservés aux gestionnaires et opérateurs."
        )
    status_ = etat if etat in STATUSES else ""
    listing = queries.messages(
        db, status=status_ or None, paging=Paging(min(max(page, 1), 100_000), 100)
    )
    return render(request, "courriers.html", actor, listing=listing, status=status_)


@router.get("/courriers.csv")
@router.get("/courriers.xlsx")
def mail_export(fmt: FileFormat, actor: Signed, db: Db, etat: str = "") -> Response:
    """The notices as filtered on the page, every page of them."""
    if actor.role not in MAIL_READERS:
        return back(
            "/console/", "erreur", "Les courriers sont réservés aux gestionnaires et opérateurs."
        )
    table = listings.messages_table(db, etat if etat in STATUSES else None)
    return table_response(table, fmt)
