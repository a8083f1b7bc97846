"""What every portal page shares: the router, the templates in the person's language, the
signed-in person, messages left by a form, and error pages.

The portal's defences are the console's (web.security): every form post comes from a portal
page (Origin check), the session cookie is HttpOnly, SameSite=Strict and Secure behind TLS, and
every page is sent with headers that forbid framing, sniffing and caching. Its one script
(static/portal.js: uploads with progress) is its own, allowed by the page's policy."""

from pathlib import Path
from typing import Annotated, Any
from urllib.parse import urlsplit

from fastapi import APIRouter, Depends, HTTPException, Request, status
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlmodel import Session
from starlette.concurrency import run_in_threadpool
from starlette.types import Scope

from portal import accounts, i18n
from portal.dossier import KIND_NAMES
from portal.i18n import N_
from projection.tables import PersonRow
from web import flash
from web.guard import Face
from web.security import CROSS_SITE, same_origin

PREFIX = "/portail"
SESSION_COOKIE, MESSAGE_COOKIE, LANGUAGE_COOKIE = "portal_session", "portal_message", "langue"
FOLDER = Path(__file__).parent
templates = i18n.jinja_environment(FOLDER / "templates")
router = APIRouter(prefix=PREFIX, include_in_schema=False, dependencies=[Depends(same_origin)])
SIGN_IN = f"{PREFIX}/connexion"
# What the guard (web.guard) says, translated on the portal's pages.
GUARD_TEXTS = {
    CROSS_SITE: N_(
        "Requête refusée : elle ne vient pas du portail (protection contre les requêtes intersites)."
    ),
    "Adresse ou paramètre invalide : il contient un caractère de contrôle.": N_(
        "Adresse invalide : elle contient un caractère de contrôle."
    ),
}
ERROR_TITLES = {
    400: N_("Demande invalide"),
    403: N_("Accès refusé"),
    404: N_("Page introuvable"),
    409: N_("Action impossible"),
    410: N_("Lien expiré"),
    413: N_("Fichier trop volumineux"),
    415: N_("Type de fichier refusé"),
    422: N_("Formulaire invalide"),
    429: N_("Trop de demandes"),
    500: N_("Erreur interne"),
    503: N_("Service momentanément indisponible"),
}


def language(request: Request, person: PersonRow | None = None) -> str:
    """The person's choice, else the cookie's, else the browser's (portal.i18n.negotiate)."""
    if person is not None and person.language in i18n.LANGUAGES:
        return person.language
    return i18n.negotiate(
        request.cookies.get(LANGUAGE_COOKIE), request.headers.get("accept-language")
    )


def database(request: Request) -> Session:
    """A session whose rows stay readable after its commits (a page reads them after)."""
    return Session(request.app.state.engine, expire_on_commit=False)


def current_person(request: Request) -> PersonRow | None:
    session_id = request.cookies.get(SESSION_COOKIE)
    if not session_id:
        return None
    with database(request) as db:
        person = accounts.person_for_session(db, session_id, accounts.now())
        if person is not None:
            db.expunge(person)
        return person


def signed_person(request: Request) -> PersonRow:
    person = current_person(request)
    if person is None:
        raise HTTPException(status.HTTP_303_SEE_OTHER, headers={"Location": SIGN_IN})
    return person


Person = Annotated[PersonRow, Depends(signed_person)]


def render(
    request: Request, template: str, person: PersonRow | None, status_code: int = 200, **context
) -> HTMLResponse:
    lang = language(request, person)
    page = i18n.render(
        templates,
        template,
        lang,
        request=request,
        person=person,
        message=flash.left(request, MESSAGE_COOKIE),
        KINDS=KIND_NAMES,
        **context,
    )
    response = HTMLResponse(page, status_code=status_code)
    response.delete_cookie(MESSAGE_COOKIE)
    return response


def back(request: Request, to: str, kind: str, *lines: str, **values: Any) -> RedirectResponse:
    """Back to `to` with a message: each line a French source string, translated here into the
    person's language (the cookie holds the text, never markup)."""
    lang = language(request, current_person(request))
    text = [
        i18n.gettext(lang, line) % values if values else i18n.gettext(lang, line) for line in lines
    ]
    response = RedirectResponse(to, status_code=status.HTTP_303_SEE_OTHER)
    flash.leave(response, MESSAGE_COOKIE, kind, text, request.url.scheme == "https")
    return response


def with_session(request: Request, response: Response, session_id: str) -> Response:
    response.set_cookie(
        SESSION_COOKIE,
        session_id,
        httponly=True,
        samesite="strict",
        secure=request.url.scheme == "https",  # behind TLS in production, plain on localhost
        max_age=accounts.SESSION_HOURS * 3600,
    )
    return response


def error_page(request: Request, status_code: int, detail: object) -> HTMLResponse:
    """A refusal as a portal page in the person's language: `detail` is a French source string
    (translated when the catalogue has it) or nothing."""
    text = str(detail) if isinstance(detail, str) else ""
    text = GUARD_TEXTS.get(text, text)
    page = render(
        request,
        "erreur.html",
        current_person(request),
        status_code=status_code,
        title=ERROR_TITLES.get(status_code, N_("Erreur")),
        detail=text,
        code=status_code,
    )
    return page


async def _guard_page(scope: Scope, status_code: int, text: str) -> Response:
    return await run_in_threadpool(error_page, Request(scope), status_code, text)


def same_site_path(request: Request, fallback: str) -> str:
    """Where a form came from, when it is a portal page of this host (never elsewhere)."""
    source = urlsplit(request.headers.get("referer") or "")
    if source.netloc == request.headers.get("host", "") and source.path.startswith(PREFIX):
        return source.path
    return fallback


FACE = Face(
    prefix=f"{PREFIX}/",
    session_cookie=SESSION_COOKIE,
    open_forms=frozenset({SIGN_IN, f"{PREFIX}/deconnexion", f"{PREFIX}/langue"}),
    open_prefixes=(f"{PREFIX}/lien/",),
    page=_guard_page,
)
