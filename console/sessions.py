"""Committee sessions in the console: their list, a session's spec (a new one and a draft's
revision are one form), and its page: header and quorum, members, the actions its stage allows
this person, the agenda, the meeting pack and the PV versions, the timeline. Sitting through it
(the actions, an item with its evidence, the documents) is console.sitting."""

from functools import partial
from typing import Any, NamedTuple

from fastapi import HTTPException, Request, status
from fastapi.responses import HTMLResponse, Response
from pydantic import ValidationError
from starlette.datastructures import FormData

from console.forms import FormError, french_problems
from console.pages import (
    Signed,
    actions_for,
    as_typed,
    back,
    form_key,
    no_evaluator,
    refusal,
    refused_page,
    render,
    router,
    templates,
)
from domain.clock import local
from domain.lifecycle import TRANSITIONS
from domain.models import Actor
from domain.session import (
    OUTCOMES,
    REASON_CODES,
    Function,
    SessionMember,
    SessionSpec,
)
from domain.stages import Action, CallStage, Role, SessionStage
from projection import queries
from web import identity
from web.deps import Db
from web.errors import ApiError, french
from web.sessions import revise, session_detail, session_list, start_session

# The session forms' choices (console/templates/_actions.html draws them from the table).
templates.env.globals |= {"OUTCOMES": OUTCOMES, "REASON_CODES": REASON_CODES}
LIST = "/console/seances"
SPEC_FORM = "seance"  # the spec form's name in `as_typed`
SPEC_LABELS = {
    "title": "Intitulé",
    "call_ids": "Appels",
    "meets_at": "Date et heure",
    "place": "Lieu",
    "members": "Membres",
    "quorum_percent": "Quorum",
}
MEMBER_PARTS = {"organisation": "Organisme", "function": "Fonction", "name": "Compte"}
# The agenda's own actions: drawn on an item's page (console.sitting), never on the session's.
ITEM_ACTIONS = (Action.OPEN_ITEM, Action.DECIDE_ITEM)
SITTERS = (Role.ADMIN, Role.COMMITTEE)


class Person(NamedTuple):
    """A staff account the spec form offers as a member."""

    name: str
    role: str
    email: str | None


def may_see(actor: Actor) -> None:
    no_evaluator(actor)
    if actor.role not in SITTERS:
        raise HTTPException(
            status.HTTP_403_FORBIDDEN,
            "Les séances sont réservées au comité et à la gestion du programme.",
        )


def call_titles(db: Db) -> dict[str, str]:
    return {c.id: c.spec.title for c in queries.calls_by_deadline(db)}


@router.get("/seances", response_class=HTMLResponse)
def sessions(request: Request, actor: Signed, db: Db) -> HTMLResponse:
    may_see(actor)
    return render(
        request,
        "seances.html",
        actor,
        sessions=session_list(db).items,
        call_titles=call_titles(db),
        may_prepare=actor.role in TRANSITIONS[Action.CREATE_SESSION].roles,
    )


# --- the spec form ---------------------------------------------------------------------------
def candidates(db: Db, spec: SessionSpec | None) -> list[Person]:
    """Who may sit: the active accounts of the committee and of the programme's management,
    and a draft's members still (an account deactivated since stays shown, to be unticked)."""
    staff = [
        Person(u.name, u.role, u.email)
        for u, _ in identity.users(db)
        if u.active and u.role in SITTERS
    ]
    known = {p.name for p in staff}
    gone = [Person(m.name, "", None) for m in spec.members if m.name not in known] if spec else []
    return sorted(staff, key=lambda p: p.name) + gone


def spec_values(people: list[Person], spec: SessionSpec | None) -> dict[str, list[str]]:
    """The form as `spec` fills it (a draft's), or as a new session starts (nobody chosen,
    each a voting member, the quorum more than half); in the shape of a refused form."""
    voting = {p.name for p in people} if spec is None else set(spec.voting())
    values: dict[str, list[str]] = {f"votant.{name}": ["on"] for name in voting}
    if spec is None:
        return values | {"quorum_percent": ["50"]}
    for m in spec.members:
        values[f"fonction.{m.name}"] = [m.function]
        values[f"organisation.{m.name}"] = [m.organisation or ""]
    return values | {
        "title": [spec.title],
        "meets_at": [local(spec.meets_at).strftime("%Y-%m-%dT%H:%M")],
        "place": [spec.place or ""],
        "quorum_percent": [str(spec.quorum_percent)],
        "call_ids": list(spec.call_ids),
        "membre": [m.name for m in spec.members],
    }


def spec_payload(form: FormData, people: list[Person]) -> tuple[dict[str, Any], list[str]]:
    """The SessionSpec the form describes, and the members chosen (in the form's order)."""

    def field(name: str) -> str:
        return str(form.get(name) or "").strip()

    offered = {p.name for p in people}
    chosen = [str(n) for n in form.getlist("membre")]
    strangers = [n for n in chosen if n not in offered]
    if strangers:
        raise FormError(
            f"{', '.join(strangers)} : pas un compte actif du comité ou de la gestion.", "members"
        )
    members = [
        {
            "name": name,
            "function": field(f"fonction.{name}") or Function.MEMBER,
            "organisation": field(f"organisation.{name}") or None,
            "voting": f"votant.{name}" in form,
        }
        for name in chosen
    ]
    body: dict[str, Any] = {
        "title": field("title"),
        "call_ids": [str(c) for c in form.getlist("call_ids")],
        "meets_at": field("meets_at"),
        "place": field("place") or None,
        "members": members,
    }
    if quorum := field("quorum_percent"):
        body["quorum_percent"] = quorum
    return body, chosen


def spec_problems(error: ValidationError, chosen: list[str]) -> list[tuple[str, str]]:
    """The spec's errors in French beside their fields: a member's beside their row, the rule
    of one president and one secretary beside the members."""
    problems = []
    for item, (field, line) in zip(
        error.errors(), french_problems(error, SPEC_LABELS), strict=True
    ):
        loc = item["loc"]
        if loc[:1] == ("members",) and len(loc) >= 3 and isinstance(loc[1], int):
            name, part = chosen[loc[1]], str(loc[2])
            field = f"{part}.{name}" if part == "organisation" else "members"
            line = f"Membre {name} › {MEMBER_PARTS.get(part, part)} : {french(item)}"
        elif not loc:
            field, line = "members", f"Membres : {french(item)}"
        problems.append((field, line))
    return problems


def spec_page(
    request: Request, actor: Actor, db: Db, session_id: str | None = None, **form: Any
) -> HTMLResponse:
    """The spec form: a new session's, or a draft's (`session_id`) as it stands."""
    session = session_detail(db, session_id, actor) if session_id else None
    spec = session.spec if session else None
    people = candidates(db, spec)
    calls = queries.calls_by_deadline(db, CallStage.UNDER_EVALUATION)
    if spec:  # a call of the draft's that has moved on since stays offered, ticked
        listed = {c.id for c in calls}
        calls += [
            c for c in queries.calls_by_deadline(db) if c.id in spec.call_ids and c.id not in listed
        ]
    return render(
        request,
        "seances_edition.html",
        actor,
        session=session,
        heading=f"Modifier : {spec.title}" if spec else "Préparer une séance",
        form_action=f"{LIST}/{session_id}/modifier" if session_id else f"{LIST}/nouvelle",
        submit="Enregistrer la séance" if spec else "Préparer la séance",
        spec_values=spec_values(people, spec),
        staff=people,
        calls=calls,
        functions=list(Function),
        spec_model=SessionSpec,
        member_model=SessionMember,
        **form,
    )


def _manager(actor: Actor, to: str) -> Response | None:
    if actor.role not in TRANSITIONS[Action.CREATE_SESSION].roles:
        return back(to, "erreur", "Seul un gestionnaire du programme prépare une séance.")
    return None


@router.get("/seances/nouvelle", response_class=HTMLResponse)
def new_session(request: Request, actor: Signed, db: Db) -> Response:
    may_see(actor)
    return _manager(actor, LIST) or spec_page(request, actor, db)


@router.post("/seances/nouvelle")
async def create_session(request: Request, actor: Signed, db: Db) -> Response:
    if refused_role := _manager(actor, LIST):
        return refused_role
    return await _save(request, actor, db, None)


@router.get("/seances/{session_id}/modifier", response_class=HTMLResponse)
def edit_session(request: Request, session_id: str, actor: Signed, db: Db) -> Response:
    may_see(actor)
    return _manager(actor, f"{LIST}/{session_id}") or spec_page(request, actor, db, session_id)


@router.post("/seances/{session_id}/modifier")
async def revise_session(request: Request, session_id: str, actor: Signed, db: Db) -> Response:
    if refused_role := _manager(actor, f"{LIST}/{session_id}"):
        return refused_role
    return await _save(request, actor, db, session_id)


async def _save(request: Request, actor: Actor, db: Db, session_id: str | None) -> Response:
    """A new session (`session_id` None) or a draft's spec again; refused: the form as typed."""
    form = await request.form()
    here = f"{LIST}/{session_id}/modifier" if session_id else f"{LIST}/nouvelle"

    def refused(problems: list[tuple[str, str]], code: int = 422) -> Response:
        page = partial(spec_page, request, actor, db, session_id)
        return refused_page(here, page, as_typed(SPEC_FORM, form, problems), code)

    chosen: list[str] = []
    try:
        key = form_key(form)  # a forged key refused before anything else
        current = session_detail(db, session_id, actor).spec if session_id else None
        body, chosen = spec_payload(form, candidates(db, current))
        spec = SessionSpec.model_validate(body)
        if session_id:
            await revise(request, db, session_id, spec, actor, key)
        else:
            session_id = (await start_session(request, db, spec, actor, key)).id
    except FormError as error:
        return refused([(error.field, str(error))])
    except ValidationError as error:
        return refused(spec_problems(error, chosen))
    except ApiError as error:
        lines = refusal(error, actor, Action.REVISE_SESSION if session_id else None)
        return refused([("", line) for line in lines], error.status_code)
    except HTTPException as error:
        return refused([("", str(error.detail))], error.status_code)
    return back(
        f"{LIST}/{session_id}",
        "succes",
        "Séance enregistrée (en préparation) : convoquez les membres quand elle est prête.",
    )


# --- the session's page ------------------------------------------------------------------------
def session_page(
    request: Request, session_id: str, actor: Actor, db: Db, **form: Any
) -> HTMLResponse:
    may_see(actor)
    session = session_detail(db, session_id, actor)
    spec = session.spec
    present = {Action.RECORD_ATTENDANCE: {"present": list(session.present)}}
    return render(
        request,
        "seances_detail.html",
        actor,
        session=session,
        call_titles=call_titles(db),
        actions=[a for a in actions_for(actor, session) if a not in ITEM_ACTIONS],
        member_boxes=[
            (m.name, m.function + ("" if m.voting else ", non votant")) for m in spec.members
        ],
        removable=[
            (i.application_id, f"{i.rank}. {i.cluster_name}")
            for i in session.agenda
            if i.pending and i.opened_at is None
        ],
        revisable=Action.REVISE_SESSION in session.allowed_actions
        and actor.role in TRANSITIONS[Action.REVISE_SESSION].roles,
        scan_deposit=session.stage == SessionStage.CLOSED
        and session.pv is not None
        and actor.role in TRANSITIONS[Action.DEPOSIT_SIGNED_PV].roles,
        **form | {"filled": present | form.get("filled", {})},
    )


@router.get("/seances/{session_id}", response_class=HTMLResponse)
def session(request: Request, session_id: str, actor: Signed, db: Db) -> HTMLResponse:
    return session_page(request, session_id, actor, db)
