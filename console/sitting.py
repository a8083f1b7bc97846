"""Sitting through a session in the console: each action as its form sends it (the lifecycle
table's rows), one item's page with its evidence (the applicant and its members, the likely
conflicts and why, the marks per criterion and evaluator), the meeting pack and the PV versions
as files, and a PV signed on paper deposited as its scan."""

from functools import partial
from typing import Any

from fastapi import HTTPException, Request, status
from fastapi.responses import HTMLResponse, Response
from pydantic import ValidationError

from console.forms import (
    MEMBER_TYPE_LABELS,
    FormError,
    french_problems,
    payload,
    unconfirmed,
)
from console.pages import (
    ROLE_LABELS,
    Signed,
    actions_for,
    as_typed,
    back,
    form_key,
    refusal,
    refused_page,
    render,
    router,
)
from console.sessions import ITEM_ACTIONS, LIST, may_see, session_page
from domain.lifecycle import TRANSITIONS
from domain.models import Actor
from domain.stages import Action
from projection import queries
from web.applications import application_detail
from web.calls import CALLS
from web.deps import Db
from web.errors import ApiError
from web.sessions import SESSIONS, deposit_scan, pack_file, pv_file, session_detail
from web.uploads import Forged


def _item_url(session_id: str, application_id: str) -> str:
    return f"{LIST}/{session_id}/dossiers/{application_id}"


def item_page(
    request: Request, session_id: str, application_id: str, actor: Actor, db: Db, **form: Any
) -> HTMLResponse:
    """One file of the agenda: its evidence, and the form its turn calls for (the declarations
    before it opens, then the decision)."""
    may_see(actor)
    session = session_detail(db, session_id, actor)
    item = session.item(application_id)
    if item is None:
        raise HTTPException(
            status.HTTP_404_NOT_FOUND, "Ce dossier n'est pas à l'ordre du jour de la séance."
        )
    case = application_detail(db, application_id, actor)
    agenda = session.agenda
    at = agenda.index(item)
    current = session.item(session.current) if session.current else None
    busy = (
        current
        if current and current.application_id != application_id and not item.opened_at
        else None
    )
    turn = Action.DECIDE_ITEM if item.opened_at else Action.OPEN_ITEM
    likely = {c.member: c.why for c in item.likely}
    present = [m for m in session.spec.members if m.name in session.present]
    return render(
        request,
        "seances_dossier.html",
        actor,
        session=session,
        item=item,
        case=case,
        grid=queries.call_state(CALLS.row(db, case.call_id)).spec.grid,
        member_types=MEMBER_TYPE_LABELS,
        previous=agenda[at - 1] if at else None,
        following=agenda[at + 1] if at + 1 < len(agenda) else None,
        busy=busy,
        actions=[a for a in actions_for(actor, session) if a == turn and item.pending],
        member_boxes=[
            (m.name, "; ".join(filter(None, [m.function, likely.get(m.name)]))) for m in present
        ],
        **form,
    )


@router.get("/seances/{session_id}/dossiers/{application_id}", response_class=HTMLResponse)
def item(request: Request, session_id: str, application_id: str, actor: Signed, db: Db) -> Response:
    return item_page(request, session_id, application_id, actor, db)


def next_pending(session: Any, application_id: str) -> str | None:
    """The file to take up after this one: the next undecided on the agenda, from the top
    again once past the last."""
    agenda = session.agenda
    at = next(n for n, i in enumerate(agenda) if i.application_id == application_id)
    after = agenda[at + 1 :] + agenda[:at]
    return next((i.application_id for i in after if i.pending), None)


@router.get("/seances/{session_id}/pv/{number}.pdf")
def pv(request: Request, session_id: str, number: int, actor: Signed, db: Db) -> Response:
    """A PV version as the API serves it: signed once signed, else as built."""
    may_see(actor)
    try:
        return pv_file(request, db, session_id, number)
    except HTTPException as error:
        return back(f"{LIST}/{session_id}#documents", "erreur", str(error.detail))


@router.get("/seances/{session_id}/dossier-de-seance.pdf")
def pack(request: Request, session_id: str, actor: Signed, db: Db) -> Response:
    may_see(actor)
    try:
        return pack_file(request, db, session_id)
    except HTTPException as error:
        return back(f"{LIST}/{session_id}#documents", "erreur", str(error.detail))


@router.post("/seances/{session_id}/pv-signe")
async def deposit(request: Request, session_id: str, actor: Signed, db: Db) -> Response:
    """The PV signed on paper, its scan streamed in as the API takes it; refused: the session's
    page, the refusal beside the upload form."""
    here = f"{LIST}/{session_id}"
    action = Action.DEPOSIT_SIGNED_PV
    if actor.role not in TRANSITIONS[action].roles:
        role = ROLE_LABELS.get(actor.role, actor.role)
        return back(here, "erreur", f"Votre rôle ({role}) ne permet pas cette action.")

    def refused(lines: list[str], code: int) -> Response:
        told = {
            "errors": {action: {"file": " ".join(lines)}},
            "message": {"kind": "erreur", "lines": lines},
        }
        return refused_page(here, partial(session_page, request, session_id, actor, db), told, code)

    try:
        await deposit_scan(request, db, session_id, actor, None)
    except Forged:  # a form no page of ours sends: refused as such, 422
        raise
    except ApiError as error:
        return refused(refusal(error, actor, action), error.status_code)
    except HTTPException as error:
        return refused([str(error.detail)], error.status_code)
    return back(here, "succes", "PV signé déposé : la séance est close et son PV signé.")


@router.post("/seances/{session_id}/dossiers/{application_id}/{action}")
async def act_on_item(
    request: Request, session_id: str, application_id: str, action: str, actor: Signed, db: Db
) -> Response:
    return await _act(request, session_id, action, actor, db, application_id)


@router.post("/seances/{session_id}/{action}")
async def act(request: Request, session_id: str, action: str, actor: Signed, db: Db) -> Response:
    return await _act(request, session_id, action, actor, db)


async def _act(
    request: Request,
    session_id: str,
    name: str,
    actor: Actor,
    db: Db,
    application_id: str | None = None,
) -> Response:
    """One of the session's transitions from its form; an item's (`application_id`, which the
    address names) from that item's page. Refused: the page again, the form as typed."""
    here = _item_url(session_id, application_id) if application_id else f"{LIST}/{session_id}"
    spec = SESSIONS.actions.get(Action(name)) if name in set(Action) else None
    if spec is None or (application_id is not None) != (spec.action in ITEM_ACTIONS):
        return back(here, "erreur", "Action inconnue.")
    if actor.role not in spec.row.roles:
        role = ROLE_LABELS.get(actor.role, actor.role)
        return back(here, "erreur", f"Votre rôle ({role}) ne permet pas cette action.")
    form = await request.form()
    page = (
        partial(item_page, request, session_id, application_id, actor, db)
        if application_id
        else partial(session_page, request, session_id, actor, db)
    )

    def refused(problems: list[tuple[str, str]], code: int = 422) -> Response:
        return refused_page(here, page, as_typed(spec.action, form, problems), code)

    if unconfirmed(spec.row.fields, form):
        confirm = next(f.name for f in spec.row.fields if f.kind == "confirm")
        return refused([(confirm, f"{spec.row.command} : cochez la confirmation pour continuer.")])
    try:
        key = form_key(form)  # a forged key refused before anything else
        body = payload(spec.row.fields, form)
        if application_id:
            body["application_id"] = application_id
        model = spec.row.body.model_validate(body) if spec.row.body else None
        await spec.perform(request, session_id, actor, db, model, key)
    except FormError as error:
        return refused([(error.field, str(error))])
    except ValidationError as error:
        return refused(french_problems(error, {f.name: f.label for f in spec.row.fields}))
    except ApiError as error:
        lines = refusal(error, actor, spec.action)
        return refused([("", line) for line in lines], error.status_code)
    except HTTPException as error:
        return refused([("", str(error.detail))], error.status_code)
    if spec.action == Action.DECIDE_ITEM and application_id:
        following = next_pending(session_detail(db, session_id, actor), application_id)
        if following is None:
            return back(
                f"{LIST}/{session_id}",
                "succes",
                "Décision enregistrée : tous les dossiers sont décidés, la séance peut être close.",
            )
        return back(
            _item_url(session_id, following), "succes", "Décision enregistrée : dossier suivant."
        )
    return back(here, "succes", f"{spec.row.command} : fait.")
