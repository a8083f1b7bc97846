"""What every console page shares: the router, the templates and their helpers, the signed-in
person, messages, refused forms shown again as typed, and error pages."""

import re
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Request, status
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates
from sqlmodel import Session
from starlette.datastructures import FormData

from console import formats
from console.charts import CHARTS
from domain.declarations import max_length
from domain.lifecycle import TRANSITIONS
from domain.models import Actor
from domain.notices import KINDS
from domain.stages import STAGE_LABELS_FR, Action, Role
from domain.support import KPI_LABELS, REPORT_FILES
from projection import listings
from web import flash, identity
from web.errors import ApiError
from web.security import same_origin
from web.tokens import PERSON_ROLES

router = APIRouter(prefix="/console", include_in_schema=False, dependencies=[Depends(same_origin)])
templates = Jinja2Templates(directory=Path(__file__).parent / "templates")
SESSION_COOKIE, MESSAGE_COOKIE = "console_session", "console_message"
STATUSES = listings.DELIVERY_FR  # a notice's delivery
# Who acted, in a trail or a refusal: the staff's roles, and the association in the portal.
ROLE_LABELS = {
    "admin": "gestionnaire du programme",
    "operator": "opérateur",
    "evaluator": "évaluateur",
    "committee": "comité",
    "finance": "service financier",
    "applicant": "candidat, via le portail",
}
assert set(ROLE_LABELS) == set(Role) - {Role.SYSTEM}, "every role a person holds has its label"
# The roles a staff account may be given (the users' page): never the applicant's.
STAFF_ROLE_LABELS = {role: ROLE_LABELS[role] for role in PERSON_ROLES}


def typed_value(values: dict[str, list[str]], name: str, default: str = "") -> str:
    """What a refused form held in `name` (its first value), else `default`."""
    return (values.get(name) or [default])[0]


templates.env.filters |= {"date": formats.date, "montant": formats.amount, "note": formats.score}
templates.env.globals |= {
    "STAGES": STAGE_LABELS_FR,
    "TRANSITIONS": TRANSITIONS,
    "max_length": max_length,
    "ROLES": ROLE_LABELS,
    "STAFF_ROLES": STAFF_ROLE_LABELS,
    "KPI_LABELS": KPI_LABELS,
    "REPORT_FILES": REPORT_FILES,
    "NOTICES": KINDS,
    "STATUSES": STATUSES,
    "countdown": formats.countdown,
    "next_anniversary": formats.next_anniversary,
    "tone": formats.tone,
    "typed": typed_value,
} | CHARTS


def console_actor(request: Request) -> Actor:
    """The person whose console session the cookie names: open, unexpired, still active
    (looked up in a session of its own, closed before the page's work)."""
    session_id = request.cookies.get(SESSION_COOKIE)
    actor = None
    if session_id:
        with Session(request.app.state.engine) as db:
            actor = identity.actor_for_session(db, session_id)
    if not actor:
        raise HTTPException(status.HTTP_303_SEE_OTHER, headers={"Location": "/console/connexion"})
    return actor


Signed = Annotated[Actor, Depends(console_actor)]


def render(request: Request, template: str, actor: Any, **context: Any) -> HTMLResponse:
    """Render with the signed-in person, the pending message, and a fresh key for each form."""
    response = templates.TemplateResponse(
        request,
        template,
        {
            "actor": actor,
            "message": flash.left(request, MESSAGE_COOKIE),
            "key": uuid.uuid4().hex,
            **context,
        },
    )
    response.delete_cookie(MESSAGE_COOKIE)
    return response


# A form's hidden `cle` (the update's idempotency key), bounded as the API bounds its
# Idempotency-Key header (web.deps.IdempotencyKey): 1 to 200 printable ASCII characters.
FORM_KEY = re.compile(r"[!-~]{1,200}")


def form_key(form: FormData) -> str | None:
    """The form's key, if it holds one; a forged one (too long, a space, a control character, a
    file) is refused (422) before anything is sent to the engine."""
    key = form.get("cle")
    if key is None or key == "":
        return None
    if not isinstance(key, str) or not FORM_KEY.fullmatch(key):
        raise HTTPException(
            status.HTTP_422_UNPROCESSABLE_CONTENT,
            "Formulaire invalide : sa clé (champ caché « cle ») est malformée. "
            "Rechargez la page et recommencez.",
        )
    return key


def typed(form: FormData) -> dict[str, list[str]]:
    """What the person typed, as the form will show it again (files are never sent back)."""
    return {k: [v for v in form.getlist(k) if isinstance(v, str)] for k in form}


def as_typed(name: str, form: FormData, problems: list[tuple[str, str]]) -> dict[str, Any]:
    """A refused form's page context: the form `name` as it was typed, each error beside its
    field and all of them at the top, so nobody types their work twice."""
    return {
        "filled": {name: typed(form)},
        "errors": {name: {field: line for field, line in reversed(problems) if field}},
        "message": {"kind": "erreur", "lines": [line for _, line in problems]},
    }


def refused_page(
    here: str, page: Callable[..., HTMLResponse], context: dict[str, Any], status_code: int = 422
) -> Response:
    """The refused form's page drawn with `context` (from `as_typed`); a page that cannot be
    drawn for this person (an unknown case, say) sends them `here` with the message."""
    try:
        shown = page(**context)
    except HTTPException:
        return back(here, "erreur", context["message"]["lines"])
    shown.status_code = status_code
    return shown


# What a console page says when it cannot be shown, in the console's own layout.
ERROR_TITLES = {
    400: "Requête invalide",
    403: "Accès refusé",
    404: "Page introuvable",
    405: "Action impossible ici",
    409: "Action impossible à cette étape",
    413: "Envoi trop volumineux",
    415: "Type de fichier refusé",
    422: "Saisie invalide",
    429: "Trop de tentatives",
    500: "Erreur interne",
    503: "Service momentanément indisponible",
}
ENGLISH = {"Not Found", "Forbidden", "Method Not Allowed", "Internal Server Error", "Bad Request"}


def error_page(request: Request, status_code: int, detail: object) -> HTMLResponse:
    """A refusal or a failure as a French page, for whoever is signed in (or nobody)."""
    session_id = request.cookies.get(SESSION_COOKIE)
    actor = None
    if session_id:
        with Session(request.app.state.engine) as db:
            actor = identity.actor_for_session(db, session_id)
    title = ERROR_TITLES.get(status_code, "Erreur")
    text = str(detail) if isinstance(detail, str) and detail not in ENGLISH else ""
    if status_code >= 500:
        text = "L'incident est journalisé ; réessayez dans un instant ou prévenez l'administrateur."
    response = render(request, "erreur.html", actor, title=title, detail=text or title + ".")
    response.status_code = status_code
    return response


def back(to: str, kind: str, text: str | list[str]) -> RedirectResponse:
    response = RedirectResponse(to, status_code=status.HTTP_303_SEE_OTHER)
    flash.leave(response, MESSAGE_COOKIE, kind, [text] if isinstance(text, str) else text, False)
    return response


def refusal(error: ApiError, actor: Actor | None = None, action: str | None = None) -> list[str]:
    """The API's refusal in French and, when the stage was the reason, what `actor` may do at
    this stage instead (nothing more when the action itself was allowed but refused, for
    cases still undecided, say: the list would name it)."""
    lines = [str(error.detail)]
    allowed = error.extra.get("allowed_actions")
    if allowed is None or action in allowed:
        return lines
    mine = [a for a in allowed if actor is None or actor.role in TRANSITIONS[Action(a)].roles]
    possible = ", ".join(TRANSITIONS[Action(a)].command for a in mine) or "aucune"
    lines.append(f"Actions possibles à cette étape : {possible}.")
    return lines


def actions_for(actor: Any, case: Any) -> list[Action]:
    """The forms to show: the actions the case allows now (as its view tells this person: an
    evaluator's own next step) for the signed-in role that have a form of their own (a call's
    registrations have the registration form)."""
    return [
        a
        for a in case.allowed_actions
        if actor.role in TRANSITIONS[a].roles and TRANSITIONS[a].routed
    ]


templates.env.globals["actions_for"] = actions_for


def known_sort(sorts: dict[str, Any], tri: str) -> str | None:
    """A list's `tri` as its query takes it: a column it sorts by, else none (never an error)."""
    return tri if tri.removeprefix("-") in sorts else None


def no_evaluator(actor: Any) -> None:
    if actor.role == Role.EVALUATOR:
        raise HTTPException(
            status.HTTP_303_SEE_OTHER, headers={"Location": "/console/candidatures"}
        )


def case_readers_only(actor: Any) -> None:
    """Every case of the programme is for those who read them all: an evaluator is sent to
    their own list, the finance office to its page."""
    no_evaluator(actor)
    if actor.role == Role.FINANCE:
        raise HTTPException(status.HTTP_303_SEE_OTHER, headers={"Location": "/console/finances"})
