"""Signing in and out: a server-side session per person, its id in the cookie."""

from fastapi import Request
from fastapi.responses import HTMLResponse, Response
from starlette.concurrency import run_in_threadpool

from console.pages import (
    SESSION_COOKIE,
    back,
    render,
    router,
)
from web import identity
from web.deps import Db


@router.get("/connexion", response_class=HTMLResponse)
def sign_in_form(request: Request) -> HTMLResponse:
    return render(request, "connexion.html", None)


@router.post("/connexion")
async def sign_in(request: Request, db: Db) -> Response:
    """A server-side session for the token's user: the cookie holds its id, never the token."""
    token = str((await request.form()).get("jeton") or "").strip()
    opened = await run_in_threadpool(identity.open_session, db, token) if token else None
    if opened is None:
        return back(
            "/console/connexion",
            "erreur",
            "Jeton inconnu : vérifiez-le auprès de l'administrateur.",
        )
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


@router.post("/deconnexion")
async def sign_out(request: Request, db: Db) -> Response:
    """The session ends on the server: its cookie, if kept somewhere, opens nothing any more."""
    if session_id := request.cookies.get(SESSION_COOKIE):
        await run_in_threadpool(identity.end_session, db, session_id)
    response = back("/console/connexion", "succes", "Vous êtes déconnecté(e).")
    response.delete_cookie(SESSION_COOKIE)
    return response
