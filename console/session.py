"""Signing in and out: a server-side session per person, its id in the cookie.

Wrong tokens are counted (web.attempts): past a few from one address, or many from everywhere,
the form answers 429 with when to retry, before it looks the token up."""

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
from web import identity
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
    response = back("/console/", "succes", f"Bienvenue, {actor.name}.")
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


def too_many(request: Request, seconds: int) -> Response:
    text = (
        "Trop de tentatives de connexion avec un jeton inconnu. "
        f"Réessayez dans {retry_text(seconds)}."
    )
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
