"""Signing in without a password: an address receives a link, the link opens a page with one
button, and only that button signs in (a mail scanner that opens the link uses nothing).

The form answers the same whether or not the address belongs to someone: anyone may sign in
and then create their association. Links are limited per address and per client address
(portal.accounts.LINKS_PER_QUARTER), a used or expired link says so plainly and offers a new
one, and sessions last SESSION_HOURS on the server."""

from fastapi import Request, status
from fastapi.responses import HTMLResponse, Response
from starlette.concurrency import run_in_threadpool

from portal import accounts, i18n
from portal.accounts import LinkState
from portal.i18n import N_
from portal.mail import compose, deliver, link_to, relay
from portal.pages import (
    LANGUAGE_COOKIE,
    PREFIX,
    SESSION_COOKIE,
    SIGN_IN,
    back,
    current_person,
    database,
    language,
    render,
    router,
    same_site_path,
    with_session,
)
from web.attempts import client_address, retry_text

LINK_SUBJECT = N_("Votre lien de connexion au portail des clusters")
LINK_LINES = [
    N_("Bonjour,"),
    N_("Pour vous connecter au portail du Programme d'appui aux clusters, ouvrez ce lien :"),
    "%(link)s",
    N_(
        "Il est valable %(minutes)s minutes et ne sert qu'une fois. La page qui s'ouvre vous "
        "demande de confirmer d'un clic."
    ),
    N_("Si vous n'avez pas demandé ce lien, ignorez ce message : personne ne se connectera."),
]
LINK_STATUS = {
    LinkState.EXPIRED: status.HTTP_410_GONE,
    LinkState.USED: status.HTTP_410_GONE,
    LinkState.UNKNOWN: status.HTTP_404_NOT_FOUND,
}


@router.get("/connexion", response_class=HTMLResponse)
def sign_in_form(request: Request) -> HTMLResponse:
    return render(request, "connexion.html", current_person(request))


@router.post("/connexion")
async def ask_link(request: Request) -> Response:
    """A link mailed to the address, in the language of this page; the same answer for every
    well-formed address."""
    form = await request.form()
    typed = str(form.get("email") or "")
    email = accounts.normal_email(typed)
    lang = language(request)
    if email is None:
        return render(
            request,
            "connexion.html",
            None,
            status_code=422,
            email=typed[:254],
            problem=N_("Indiquez une adresse électronique valide, par exemple nom@exemple.ma."),
        )
    at = accounts.now()
    try:
        with database(request) as db:
            secret = await run_in_threadpool(
                accounts.ask_link, db, email, client_address(request.scope), at
            )
    except accounts.TooManyLinks as refused:
        page = render(
            request,
            "erreur.html",
            None,
            status_code=429,
            title=N_("Trop de demandes"),
            detail=N_("Trop de liens demandés pour cette adresse : réessayez dans %(delay)s."),
            values={"delay": retry_text(refused.retry_after)},
            code=429,
        )
        page.headers["Retry-After"] = str(refused.retry_after)
        return page
    message = compose(
        relay(request),
        email,
        lang,
        LINK_SUBJECT,
        LINK_LINES,
        link=link_to(request, f"{PREFIX}/lien/{secret}"),
        minutes=accounts.LINK_MINUTES,
    )
    await deliver(request, message)
    return render(request, "lien_envoye.html", None, email=email, minutes=accounts.LINK_MINUTES)


def _link_page(request: Request, state: LinkState, secret: str, email: str | None) -> Response:
    return render(
        request,
        "lien.html",
        None,
        status_code=LINK_STATUS.get(state, 200),
        state=state.value,
        secret=secret,
        email=email,
        minutes=accounts.LINK_MINUTES,
    )


@router.get("/lien/{secret}", response_class=HTMLResponse)
def open_link(request: Request, secret: str) -> Response:
    """What the link is for and one button: opening it uses nothing."""
    with database(request) as db:
        state, row = accounts.link(db, secret, accounts.now())
        email = row.email if row is not None and state == LinkState.EXPIRED else None
    return _link_page(request, state, secret, email)


@router.post("/lien/{secret}")
def use_link(request: Request, secret: str) -> Response:
    """The link used, a session opened (one this browser held before is ended)."""
    at = accounts.now()
    with database(request) as db:
        state, person = accounts.use_link(db, secret, at)
        if person is None:
            _, row = accounts.link(db, secret, at)
            email = row.email if row is not None and state == LinkState.EXPIRED else None
            return _link_page(request, state, secret, email)
        if previous := request.cookies.get(SESSION_COOKIE):
            accounts.end_session(db, previous)
        if person.language not in i18n.LANGUAGES or not person.name:
            accounts.set_profile(db, person, None, language(request))
        session_id = accounts.open_session(db, person, at)
    response = back(request, f"{PREFIX}/", "succes", N_("Vous êtes connecté(e)."))
    return with_session(request, response, session_id)


@router.post("/deconnexion")
def sign_out(request: Request) -> Response:
    if session_id := request.cookies.get(SESSION_COOKIE):
        with database(request) as db:
            accounts.end_session(db, session_id)
    response = back(request, SIGN_IN, "succes", N_("Vous êtes déconnecté(e)."))
    response.delete_cookie(SESSION_COOKIE)
    return response


@router.post("/langue")
async def choose_language(request: Request) -> Response:
    """The language chosen: kept in a cookie, and on the person's account once signed in (their
    e-mails follow it)."""
    chosen = str((await request.form()).get("langue") or "")
    if chosen not in i18n.LANGUAGES:
        chosen = i18n.DEFAULT
    if person := current_person(request):
        with database(request) as db:
            accounts.set_profile(db, db.merge(person), None, chosen)
    response = Response(status_code=status.HTTP_303_SEE_OTHER)
    response.headers["Location"] = same_site_path(request, f"{PREFIX}/")
    response.set_cookie(
        LANGUAGE_COOKIE,
        chosen,
        httponly=True,
        samesite="lax",
        secure=request.url.scheme == "https",
        max_age=365 * 24 * 3600,
    )
    return response
