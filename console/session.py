"""Signing in and out: a server-side session per person, its id in the cookie; and a new
person's first sign-in, through the one-time link of their invitation (web.invitations).

Wrong tokens and unknown invitation links are counted alike (web.attempts): past a few from one
address, or many from everywhere, the form or the link answers 429 with when to retry, before
anything is looked up."""

from fastapi import Request
from fastapi.responses import HTMLResponse, Response
from starlette.concurrency import run_in_threadpool

from console.pages import (
    SESSION_COOKIE,
    back,
    error_page,
    render,
    router,
)
from web import identity, invitations
from web.attempts import TooManyAttempts, client_address, retry_text
from web.deps import Db


@router.get("/connexion", response_class=HTMLResponse)
def sign_in_form(request: Request) -> HTMLResponse:
    return render(request, "connexion.html", None)


@router.post("/connexion")
async def sign_in(request: Request, db: Db) -> Response:
    """A server-side session for the token's user: the cookie holds its id, never the token."""
    token = str((await request.form()).get("jeton") or "").strip()
    attempts, address = request.app.state.attempts, client_address(request.scope)
    try:
        attempts.begin_sign_in(address)
    except TooManyAttempts as refused:
        return too_many(request, refused.retry_after)
    opened = await run_in_threadpool(identity.open_session, db, token) if token else None
    if opened is None:
        if not token:  # nothing typed: no guess
            attempts.signed_in(address)
        return back(
            "/console/connexion",
            "erreur",
            "Jeton inconnu : vérifiez-le auprès de l'administrateur.",
        )
    attempts.signed_in(address)
    session_id, actor = opened
    return with_session(
        request, back("/console/", "succes", f"Bienvenue, {actor.name}."), session_id
    )


def with_session(request: Request, response: Response, session_id: str) -> Response:
    secure = request.url.scheme == "https"  # behind TLS in production, plain on localhost
    response.set_cookie(
        SESSION_COOKIE,
        session_id,
        httponly=True,
        samesite="strict",
        secure=secure,
        max_age=identity.SESSION_HOURS * 3600,
    )
    return response


def too_many(request: Request, seconds: int, what: str = "un jeton inconnu") -> Response:
    text = f"Trop de tentatives de connexion avec {what}. Réessayez dans {retry_text(seconds)}."
    page = error_page(request, 429, text)
    page.headers["Retry-After"] = str(seconds)
    return page


@router.post("/deconnexion")
async def sign_out(request: Request, db: Db) -> Response:
    """The session ends on the server: its cookie, if kept somewhere, opens nothing any more."""
    if session_id := request.cookies.get(SESSION_COOKIE):
        await run_in_threadpool(identity.end_session, db, session_id)
    response = back("/console/connexion", "succes", "Vous êtes déconnecté(e).")
    response.delete_cookie(SESSION_COOKIE)
    return response


INVITATION = "/invitation/{secret}"  # under the router's /console
UNKNOWN_LINK = "un lien d'invitation inconnu"


@router.get(INVITATION, response_class=HTMLResponse)
async def invitation(request: Request, secret: str, db: Db) -> Response:
    """What the link is for, and a button to accept it: opening a link (a mail scanner may)
    uses nothing."""
    address = client_address(request.scope)
    try:
        request.app.state.attempts.begin_sign_in(address)
        row, user = await run_in_threadpool(invitations.opened, db, secret)
    except TooManyAttempts as refused:
        return too_many(request, refused.retry_after, UNKNOWN_LINK)
    except invitations.InvitationRefused as refused:
        return link_refused(request, refused, address)
    request.app.state.attempts.signed_in(address)
    context = {"person": user, "invitation": row, "until": invitations.when(row.expires_at)}
    return render(request, "invitation.html", None, **context)


@router.post(INVITATION)
async def accept_invitation(request: Request, secret: str, db: Db) -> Response:
    """The invitation used: the person's token shown to them, once, on this page, and their
    console session opened (a session this browser held before is ended)."""
    address = client_address(request.scope)
    try:
        request.app.state.attempts.begin_sign_in(address)
        accepted = await run_in_threadpool(invitations.accept, db, secret)
    except TooManyAttempts as refused:
        return too_many(request, refused.retry_after, UNKNOWN_LINK)
    except invitations.InvitationRefused as refused:
        return link_refused(request, refused, address)
    request.app.state.attempts.signed_in(address)
    if previous := request.cookies.get(SESSION_COOKIE):
        await run_in_threadpool(identity.end_session, db, previous)
    page = render(
        request,
        "invitation_acceptee.html",
        accepted.actor,
        token=accepted.token,
        hours=identity.SESSION_HOURS,
    )
    return with_session(request, page, accepted.session_id)


def link_refused(
    request: Request, refused: invitations.InvitationRefused, address: str
) -> Response:
    """404 or 410 with the reason; a real link (used, expired) was no guess: not counted."""
    if refused.known:
        request.app.state.attempts.signed_in(address)
    page = render(
        request, "invitation_refusee.html", None, detail=refused.text, gone=refused.status == 410
    )
    page.status_code = refused.status
    return page
