"""Console pages: sign-in, dashboard, case lists and pages, and the forms of allowed actions."""

import json
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from functools import partial
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Request, status
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates
from pydantic import ValidationError
from sqlmodel import Session
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import FormData, UploadFile

from api import identity
from api.actions import Resource
from api.console import formats
from api.console.charts import CHARTS
from api.console.forms import (
    MEMBER_TYPES_FR,
    FormError,
    application_payload,
    french_problems,
    grid_labels,
    payload,
    unconfirmed,
)
from api.console.security import same_origin
from api.deps import Db
from api.errors import ApiError
from api.routes.applications import APPLICATIONS, application_detail
from api.routes.calls import CALLS, call_detail, ranking_file, register, start_call
from api.routes.clusters import CLUSTERS, cluster_detail
from api.routes.documents import (
    FILES,
    Files,
    case_zip,
    deposit_file,
    document_response,
    upload_chunks,
)
from domain.clock import RABAT
from domain.ids import Kind, application_workflow_id, cluster_workflow_id
from domain.lifecycle import DESK, TRANSITIONS, allowed_actions
from domain.models import DEFAULT_SECTORS, Actor, ApplicationInput, CallSpec
from domain.notices import KINDS
from domain.stages import STAGE_LABELS_FR, Action, ApplicationStage, CallStage, ClusterStage, Role
from domain.support import KPI_LABELS, REPORT_FILES, add_years
from projection import queries
from projection.exports import FileFormat, Table, table_response
from projection.views import Paging

router = APIRouter(prefix="/console", include_in_schema=False, dependencies=[Depends(same_origin)])
templates = Jinja2Templates(directory=Path(__file__).parent / "templates")
SESSION_COOKIE, MESSAGE_COOKIE = "console_session", "console_message"
RESOURCES: dict[str, Resource] = {
    "appels": CALLS,
    "candidatures": APPLICATIONS,
    "clusters": CLUSTERS,
}
STATUSES = {"pending": "en attente", "sent": "envoyé", "failed": "échec"}  # of a notice
ROLE_LABELS = {
    "admin": "gestionnaire du programme",
    "operator": "opérateur",
    "evaluator": "évaluateur",
    "committee": "comité",
}


def _next_anniversary(ends_at: datetime) -> datetime:
    """The support year's anniversary, or, once past, the one after (a case under review)."""
    return ends_at if ends_at > datetime.now(UTC) else add_years(ends_at, 1)


templates.env.filters |= {"date": formats.date, "montant": formats.amount, "note": formats.score}
templates.env.globals |= {
    "STAGES": STAGE_LABELS_FR,
    "TRANSITIONS": TRANSITIONS,
    "ROLES": ROLE_LABELS,
    "KPI_LABELS": KPI_LABELS,
    "REPORT_FILES": REPORT_FILES,
    "NOTICES": KINDS,
    "STATUSES": STATUSES,
    "countdown": formats.countdown,
    "next_anniversary": _next_anniversary,
    "tone": formats.tone,
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


def _message(request: Request) -> dict | None:
    """The message left by the last form, if the cookie holds one (a malformed one is ignored)."""
    try:
        message = json.loads(request.cookies.get(MESSAGE_COOKIE) or "null")
    except ValueError:
        return None
    if not isinstance(message, dict) or not isinstance(message.get("lines"), list):
        return None
    return {"kind": str(message.get("kind")), "lines": [str(line) for line in message["lines"]]}


def render(request: Request, template: str, actor: Any, **context: Any) -> HTMLResponse:
    """Render with the signed-in person, the pending message, and a fresh key for each form."""
    response = templates.TemplateResponse(
        request,
        template,
        {"actor": actor, "message": _message(request), "key": uuid.uuid4().hex, **context},
    )
    response.delete_cookie(MESSAGE_COOKIE)
    return response


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
    lines = [text] if isinstance(text, str) else text
    response.set_cookie(
        MESSAGE_COOKIE,
        json.dumps({"kind": kind, "lines": lines}),
        max_age=60,
        httponly=True,
        samesite="strict",
    )
    return response


def refusal(error: ApiError) -> list[str]:
    lines = [str(error.detail)]
    allowed = error.extra.get("allowed_actions")
    if allowed is not None:
        possible = ", ".join(TRANSITIONS[Action(a)].command for a in allowed) or "aucune"
        lines.append(f"Actions possibles à cette étape : {possible}.")
    return lines


def actions_for(actor: Any, stage: Any) -> list[Action]:
    """The forms to show: the actions allowed now for the signed-in role that have a form of
    their own (a call's registrations have the registration form)."""
    return [a for a in allowed_actions(stage, actor.role) if TRANSITIONS[a].routed]


templates.env.globals["actions_for"] = actions_for


# --- sign-in ----------------------------------------------------------------------------------
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


# --- dashboard ----------------------------------------------------------------------------------
A, C = ApplicationStage, ClusterStage
# « À traiter »: what waits on each role, as (heading, kind of case, stages). An evaluator's own
# list (declarations, then grids, soonest first) is « Mes évaluations ».
TODO: dict[str, tuple[tuple[str, Kind, tuple[str, ...]], ...]] = {
    Role.OPERATOR: (
        ("Recevabilité à prononcer", Kind.APPLICATION, (A.ELIGIBILITY_REVIEW,)),
        ("Compléments attendus", Kind.APPLICATION, (A.COMPLEMENTS_REQUESTED,)),
        ("Rapports annuels à enregistrer", Kind.CLUSTER, (C.REPORT_REQUESTED, C.REPORT_OVERDUE)),
    ),
    Role.ADMIN: (
        ("Évaluateurs à affecter", Kind.APPLICATION, (A.ELIGIBLE,)),
        ("Conventions à signer", Kind.CLUSTER, (C.AWAITING_CONTRACT,)),
        ("Renouvellements à décider", Kind.CLUSTER, (C.UNDER_REVIEW,)),
    ),
    Role.COMMITTEE: (
        ("Dossiers à décider", Kind.APPLICATION, (A.SCORED,)),
        ("Demandes de recours", Kind.APPLICATION, (A.REVIEW_REQUESTED,)),
    ),
}
TODO_SHOWN = 20  # per heading; the rest is one click away in the filtered list


def to_do(db: Db, role: str) -> list[dict[str, Any]]:
    """The signed-in role's work, each heading's cases soonest due first."""
    titles = {c.id: c.spec.title for c in queries.calls_by_deadline(db)}
    sections = []
    for heading, kind, stages in TODO.get(role, ()):
        items: list[dict[str, Any]] = []
        total = 0
        for stage in stages:
            if kind == Kind.APPLICATION:
                page = queries.list_applications(
                    db, stage=ApplicationStage(stage), paging=Paging(1, TODO_SHOWN)
                )
                items += [
                    {
                        "href": f"/console/candidatures/{a.id}",
                        "name": a.data.cluster_name,
                        "where": titles.get(a.call_id, ""),
                        "due": a.due_at(),
                        "stage": a.stage,
                        "late": a.overdue,
                    }
                    for a in page.items
                ]
                link = f"/console/candidatures?stage={stage}"
            else:
                page = queries.list_clusters(
                    db, stage=ClusterStage(stage), paging=Paging(1, TODO_SHOWN)
                )
                items += [
                    {
                        "href": f"/console/clusters/{c.id}",
                        "name": c.origin.cluster_name,
                        "where": c.origin.sector,
                        "due": c.report_due(),
                        "stage": c.stage,
                        "late": c.stage == C.REPORT_OVERDUE,
                    }
                    for c in page.items
                ]
                link = "/console/clusters"
            total += page.total
        far = datetime.max.replace(tzinfo=UTC)
        items.sort(key=lambda item: item["due"] or far)
        sections.append(
            {"heading": heading, "cases": items[:TODO_SHOWN], "total": total, "link": link}
        )
    return sections


@router.get("/", response_class=HTMLResponse)
def dashboard(request: Request, actor: Signed, db: Db) -> Response:
    if actor.role == Role.EVALUATOR:  # an evaluator sees their own cases, nothing else
        return RedirectResponse("/console/candidatures", status_code=status.HTTP_303_SEE_OTHER)
    late_reports = queries.list_clusters(
        db, stage=ClusterStage.REPORT_OVERDUE, paging=Paging(1, 200)
    )
    return render(
        request,
        "tableau.html",
        actor,
        calls=queries.calls_by_deadline(db, CallStage.OPEN),
        by_stage=queries.counts_by_stage(db),
        overdue=queries.overdue_applications(db),
        late_reports=late_reports.items,
        week=queries.upcoming_deadlines(db, 7),
        todo=to_do(db, actor.role),
    )


# --- applications -----------------------------------------------------------------------------
def list_query(
    call_id: str = "",
    stage: str = "",
    sector: str = "",
    overdue: str = "",
    q: str = "",
    tri: str = "",
) -> dict[str, str]:
    """The case list's query string, as typed (the list's own links and forms carry it on)."""
    return {
        "call_id": call_id,
        "stage": stage,
        "sector": sector,
        "overdue": overdue,
        "q": q,
        "tri": tri,
    }


ListQuery = Annotated[dict[str, str], Depends(list_query)]


@router.get("/candidatures", response_class=HTMLResponse)
def applications(
    request: Request, actor: Signed, db: Db, filters: ListQuery, page: int = 1
) -> HTMLResponse:
    return applications_page(request, actor, db, filters, page)


PENDING = ("assigned", "declared")  # an assignment still waiting on its evaluator


def evaluator_work(db: Db, actor: Actor) -> list[dict[str, Any]]:
    """An evaluator's assignments with their cluster and call named: what waits on them first
    (declarations, then grids), soonest due first; those done after."""
    items = queries.evaluator_cases(db, actor.name, None, Paging(1, 200)).items
    names = queries.cluster_names(db, {i.application_id for i in items})
    titles = queries.call_titles(db, {i.call_id for i in items})
    far = datetime.max.replace(tzinfo=UTC)
    items.sort(key=lambda i: (i.status not in PENDING, i.due_at or far))
    return [
        i.model_dump() | {"cluster": names.get(i.application_id), "call": titles.get(i.call_id)}
        for i in items
    ]


def list_filters(filters: dict[str, str]) -> queries.ApplicationFilters:
    """The list's query string as the list's query takes it (a value it does not know: no
    filter, never an error)."""
    stage = filters.get("stage", "")
    return {
        "call_id": filters.get("call_id") or None,
        "stage": ApplicationStage(stage) if stage in set(ApplicationStage) else None,
        "sector": filters.get("sector") or None,
        "overdue": {"oui": True, "non": False}.get(filters.get("overdue", "")),
        "search": filters.get("q") or None,
    }


def list_sort(filters: dict[str, str]) -> str | None:
    tri = filters.get("tri", "")
    return tri if tri.removeprefix("-") in queries.APPLICATION_SORTS else None


def applications_page(
    request: Request, actor: Actor, db: Db, filters: dict[str, str], page: int = 1, **extra: Any
) -> HTMLResponse:
    if actor.role == Role.EVALUATOR:
        return render(request, "evaluations.html", actor, items=evaluator_work(db, actor))
    listing = queries.list_applications(
        db,
        paging=Paging(min(max(page, 1), 100_000)),
        sort=list_sort(filters),
        **list_filters(filters),
    )
    calls = queries.calls_by_deadline(db)
    return render(
        request,
        "candidatures.html",
        actor,
        listing=listing,
        calls=calls,
        titles={c.id: c.spec.title for c in calls},
        sectors=sorted(
            {s for c in calls for s in c.spec.sectors} | {filters.get("sector", "")} - {""}
        ),
        filters=filters,
        stages=list(ApplicationStage),
        bulk=[a for a in BULK if actor.role in TRANSITIONS[a].roles],
        evaluators=identity.evaluator_names(db) if actor.role == Role.ADMIN else [],
        **extra,
    )


@router.get("/candidatures.csv")
@router.get("/candidatures.xlsx")
def applications_export(fmt: FileFormat, actor: Signed, db: Db, filters: ListQuery) -> Response:
    """The list as filtered and sorted on screen, every page of it, as the API exports it."""
    no_evaluator(actor)
    table = queries.applications_table(db, actor, list_sort(filters), **list_filters(filters))
    return table_response(table, fmt)


# Actions taken on several files at once from the list, each still one update per case.
BULK = (Action.MARK_ELIGIBLE, Action.ASSIGN_EVALUATORS)
BULK_MAX = 200  # a list's page at most


@router.post("/candidatures/lot")
async def bulk_action(request: Request, actor: Signed, db: Db) -> Response:
    """One action on the ticked files: each case gets its own update (its own check, key and
    audit event); what each answered is shown on the list, a refusal never stops the others."""
    form = await request.form()
    filters = list_query(**{k: str(form.get(k) or "") for k in list_query()})
    action = str(form.get("action") or "")
    ids = list(dict.fromkeys(str(i) for i in form.getlist("ids")))

    def refused(lines: list[str], code: int = 422, problems: list | None = None) -> Response:
        context = as_typed(action, form, problems or [("", line) for line in lines])
        page = partial(applications_page, request, actor, db, filters)
        return refused_page("/console/candidatures", page, context, code)

    if actor.role not in DESK:
        role = ROLE_LABELS.get(actor.role, actor.role)
        return refused([f"Votre rôle ({role}) ne permet pas cette action."], 403)
    if action not in BULK:
        return refused(["Action groupée inconnue."])
    spec = APPLICATIONS.actions[Action(action)]
    if actor.role not in spec.row.roles:
        role = ROLE_LABELS.get(actor.role, actor.role)
        return refused([f"Votre rôle ({role}) ne permet pas cette action."], 403)
    if not ids:
        return refused(["Cochez au moins une candidature."])
    if len(ids) > BULK_MAX:
        return refused([f"Au plus {BULK_MAX} candidatures à la fois."])
    try:
        body = (
            spec.row.body.model_validate(payload(spec.row.fields, form)) if spec.row.body else None
        )
    except FormError as error:
        return refused([str(error)])
    except ValidationError as error:
        labels = {f.name: f.label for f in spec.row.fields}
        return refused([], problems=french_problems(error, labels))
    key = str(form.get("cle") or "") or uuid.uuid4().hex
    results = []
    for case_id in ids:
        try:
            name = APPLICATIONS.row(db, case_id).cluster_name
            await spec.perform(request, case_id, actor, db, body, f"{key}-{action}-{case_id}")
            results.append({"id": case_id, "name": name, "ok": True, "text": "fait"})
        except ApiError as error:
            results.append({"id": case_id, "name": name, "ok": False, "text": refusal(error)[0]})
        except HTTPException as error:
            text = str(error.detail)
            results.append({"id": case_id, "name": case_id, "ok": False, "text": text})
    done = sum(r["ok"] for r in results)
    kind = "succes" if done == len(results) else "erreur"
    line = f"{spec.row.command} : {done} sur {len(results)} candidature(s)."
    return applications_page(
        request, actor, db, filters, results=results, message={"kind": kind, "lines": [line]}
    )


@router.get("/candidatures/{case_id}", response_class=HTMLResponse)
def application(request: Request, case_id: str, actor: Signed, db: Db) -> Response:
    try:
        return application_page(request, case_id, actor, db)
    except HTTPException as error:
        if error.status_code != status.HTTP_403_FORBIDDEN:
            raise
        return back("/console/candidatures", "erreur", str(error.detail))


def application_page(
    request: Request, case_id: str, actor: Actor, db: Db, **form: Any
) -> HTMLResponse:
    case = application_detail(db, case_id, actor)
    call = queries.call_state(CALLS.row(db, case.call_id))
    asked = case.complements.requested_at if case.complements else None
    data = case.data
    return render(
        request,
        "candidature.html",
        actor,
        case=case,
        call=call,
        evaluators=identity.evaluator_names(db),
        grid=call.spec.grid,
        sectors=call.spec.sectors,
        files=_files_of(Kind.APPLICATION, db, case_id, actor),
        answer_files=[f for f in case.files if asked and f.uploaded_at >= asked],
        messages=_messages_of(db, actor, application_workflow_id(case_id)),
        **form
        | {  # the amend form starts from what the case holds, unless typed anew
            "filled": {Action.AMEND: {"cluster_name": [data.cluster_name], "sector": [data.sector]}}
            | form.get("filled", {})
        },
    )


# --- calls ----------------------------------------------------------------------------------------
@router.get("/appels", response_class=HTMLResponse)
def calls(request: Request, actor: Signed, db: Db) -> HTMLResponse:
    return calls_page(request, actor, db)


def calls_page(request: Request, actor: Actor, db: Db, **form: Any) -> HTMLResponse:
    return render(
        request,
        "appels.html",
        actor,
        calls=queries.calls_by_deadline(db),
        sectors=DEFAULT_SECTORS,
        year=datetime.now(RABAT).year,
        **form,
    )


@router.post("/appels")
async def create_call(request: Request, actor: Signed, db: Db) -> Response:
    form = await request.form()
    if actor.role != Role.ADMIN:
        return back(
            "/console/appels", "erreur", "Seul un gestionnaire du programme peut créer un appel."
        )
    body = {
        "year": str(form.get("year") or ""),
        "title": str(form.get("title") or ""),
        "opens_at": str(form.get("opens_at") or ""),
        "deadline": str(form.get("deadline") or ""),
        "sectors": [s.strip() for s in str(form.get("sectors") or "").splitlines() if s.strip()],
        "complement_response_days": str(form.get("complement_response_days") or "10"),
        "evaluators_per_application": str(form.get("evaluators_per_application") or "3"),
    }
    labels = {
        "year": "Année",
        "title": "Intitulé",
        "opens_at": "Ouverture",
        "deadline": "Date limite",
        "sectors": "Secteurs",
    }

    def refused(problems: list[tuple[str, str]], code: int = 422) -> Response:
        page = partial(calls_page, request, actor, db)
        return refused_page("/console/appels", page, as_typed("call", form, problems), code)

    try:
        spec = CallSpec.model_validate(body)
        state = await start_call(request, db, spec, actor, str(form.get("cle") or "") or None)
    except ValidationError as error:
        return refused(french_problems(error, labels))
    except ApiError as error:
        return refused([("", line) for line in refusal(error)], error.status_code)
    return back(
        f"/console/appels/{state.id}",
        "succes",
        "Appel créé (brouillon) : publiez-le pour qu'il s'ouvre à sa date.",
    )


@router.get("/appels/{case_id}", response_class=HTMLResponse)
def call(request: Request, case_id: str, actor: Signed, db: Db) -> HTMLResponse:
    return call_page(request, case_id, actor, db)


def call_page(request: Request, case_id: str, actor: Actor, db: Db, **form: Any) -> HTMLResponse:
    detail = call_detail(db, case_id, actor)
    ranking = (
        queries.ranking(db, CALLS.row(db, case_id))
        if actor.role in (Role.ADMIN, Role.COMMITTEE)
        else None
    )
    can_register = detail.stage == CallStage.OPEN and actor.role in (Role.ADMIN, Role.OPERATOR)
    return render(
        request,
        "appel.html",
        actor,
        call=detail,
        ranking=ranking,
        can_register=can_register,
        member_types=list(MEMBER_TYPES_FR),
        **form,
    )


@router.get("/appels/{case_id}/classement.csv")
@router.get("/appels/{case_id}/classement.xlsx")
def ranking_export(case_id: str, fmt: FileFormat, actor: Signed, db: Db) -> Response:
    if actor.role not in (Role.ADMIN, Role.COMMITTEE):
        raise HTTPException(status.HTTP_404_NOT_FOUND, "Classement indisponible.")
    return ranking_file(db, case_id, fmt)


@router.post("/appels/{case_id}/candidatures")
async def register_application(request: Request, case_id: str, actor: Signed, db: Db) -> Response:
    form = await request.form()

    def refused(problems: list[tuple[str, str]], code: int = 422) -> Response:
        context = as_typed("register", form, problems)
        page = partial(call_page, request, case_id, actor, db)
        return refused_page(f"/console/appels/{case_id}", page, context, code)

    labels = {
        "cluster_name": "Nom du cluster",
        "sector": "Secteur",
        "contact": "Contact",
        "email": "courriel",
        "name": "nom",
        "members": "Membres",
    }
    try:
        data = ApplicationInput.model_validate(application_payload(form))
        if actor.role not in (Role.ADMIN, Role.OPERATOR):
            raise ApiError(
                status.HTTP_403_FORBIDDEN, "Seuls les opérateurs enregistrent les candidatures."
            )
        state = await register(
            request, db, case_id, data, actor, str(form.get("cle") or "") or None
        )
    except FormError as error:
        return refused([(error.field, str(error))])
    except ValidationError as error:
        return refused(french_problems(error, labels))
    except ApiError as error:
        return refused([("", line) for line in refusal(error)], error.status_code)
    except HTTPException as error:
        return refused([("", str(error.detail))], error.status_code)
    return back(
        f"/console/candidatures/{state.id}", "succes", f"Candidature {state.id} enregistrée."
    )


# --- clusters ------------------------------------------------------------------------------------
def no_evaluator(actor: Any) -> None:
    if actor.role == Role.EVALUATOR:
        raise HTTPException(
            status.HTTP_303_SEE_OTHER, headers={"Location": "/console/candidatures"}
        )


@router.get("/clusters", response_class=HTMLResponse)
def clusters(request: Request, actor: Signed, db: Db) -> HTMLResponse:
    no_evaluator(actor)
    listing = queries.list_clusters(db, paging=Paging(1, 200))
    return render(
        request, "clusters.html", actor, listing=listing, support=queries.support_totals(db)
    )


# The clusters' spreadsheets, before « /clusters/{case_id} » that would take their names for ids.
CLUSTER_EXPORTS = {
    "clusters": queries.clusters_table,
    "clusters/soutien": queries.support_table,
    "clusters/indicateurs": queries.kpis_table,
}


def _cluster_export(path: str, table: Callable[..., Table]) -> None:
    @router.get(f"/{path}.csv", name=f"console_{path}_csv")
    @router.get(f"/{path}.xlsx", name=f"console_{path}_xlsx")
    def export(fmt: FileFormat, actor: Signed, db: Db) -> Response:
        no_evaluator(actor)
        return table_response(table(db), fmt)


for export_path, export_table in CLUSTER_EXPORTS.items():
    _cluster_export(export_path, export_table)


@router.get("/clusters/{case_id}", response_class=HTMLResponse)
def cluster(request: Request, case_id: str, actor: Signed, db: Db) -> HTMLResponse:
    return cluster_page(request, case_id, actor, db)


def cluster_page(request: Request, case_id: str, actor: Actor, db: Db, **form: Any) -> HTMLResponse:
    no_evaluator(actor)
    case = cluster_detail(db, case_id)
    files = _files_of(Kind.CLUSTER, db, case_id, actor)
    messages = _messages_of(db, actor, cluster_workflow_id(case_id))
    return render(request, "cluster.html", actor, case=case, files=files, messages=messages, **form)


# --- notices and their delivery ------------------------------------------------------------------
MAIL_READERS = DESK  # those who write to applicants


def _messages_of(db: Db, actor: Actor, workflow_id: str) -> list | None:
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


# --- files --------------------------------------------------------------------------------------
FILE_RESOURCES = {"candidatures": FILES[Kind.APPLICATION], "clusters": FILES[Kind.CLUSTER]}


def _files_of(kind: Kind, db: Db, case_id: str, actor: Actor) -> dict[str, Any]:
    """The case's kinds of file, and whether this person may deposit one now."""
    accepts = FILES[kind].accepts(db, case_id)
    may = accepts.open and actor.role in FILES[kind].deposit.row.roles
    return {"kinds": accepts.kinds, "deposit": may, "max_mib": accepts.max_bytes // 2**20}


def _file_routes(resource: str, files: Files) -> None:
    """The case page's upload field and the whole set as a ZIP, for one kind of case."""

    @router.post(f"/{resource}/{{case_id}}/documents", name=f"console_deposit_{resource}")
    async def deposit(request: Request, case_id: str, actor: Signed, db: Db) -> Response:
        """A file from the case page's upload field, deposited as the API deposits it."""
        here = f"/console/{resource}/{case_id}#fichiers"
        if actor.role not in files.deposit.row.roles:
            role = ROLE_LABELS.get(actor.role, actor.role)
            return back(here, "erreur", f"Votre rôle ({role}) ne permet pas cette action.")
        form = await request.form()
        upload = form.get("file")
        if not isinstance(upload, UploadFile) or not upload.filename:
            return back(here, "erreur", "Choisissez un fichier à déposer.")
        kind, key = str(form.get("kind") or ""), str(form.get("cle") or "") or None
        chunks = upload_chunks(upload)
        try:
            ref = await deposit_file(
                files, request, case_id, actor, db, kind, upload.filename, chunks, key
            )
        except ApiError as error:
            return back(here, "erreur", refusal(error))
        except HTTPException as error:
            return back(here, "erreur", str(error.detail))
        return back(here, "succes", f"« {ref.filename} » déposé : {ref.kind}.")

    @router.get(f"/{resource}/{{case_id}}/documents.zip", name=f"console_zip_{resource}")
    def documents_zip(request: Request, case_id: str, actor: Signed, db: Db) -> Response:
        try:
            return case_zip(files, request, db, case_id, actor)
        except HTTPException as error:
            return back(f"/console/{resource}/{case_id}", "erreur", str(error.detail))


for resource_fr, kind_files in FILE_RESOURCES.items():
    _file_routes(resource_fr, kind_files)


@router.get("/documents/{document_id}")
def document(request: Request, document_id: str, actor: Signed, db: Db) -> Response:
    """A file under the console's session (a link, or a PDF's preview); each read recorded."""
    try:
        return document_response(request, db, document_id, actor)
    except HTTPException as error:
        return back("/console/", "erreur", str(error.detail))


# --- staff accounts (admins) ----------------------------------------------------------------------
def users_page(request: Request, actor: Actor, db: Db, new_token: dict | None = None) -> Response:
    if actor.role != Role.ADMIN:
        return back(
            "/console/", "erreur", "Seul un gestionnaire du programme gère les utilisateurs."
        )
    return render(
        request, "utilisateurs.html", actor, users=identity.users(db), new_token=new_token
    )


@router.get("/utilisateurs", response_class=HTMLResponse)
def users(request: Request, actor: Signed, db: Db) -> Response:
    return users_page(request, actor, db)


@router.post("/utilisateurs")
async def manage_user(request: Request, actor: Signed, db: Db) -> Response:
    """Add a person (and their first token), issue a token, or deactivate: a new token is shown
    on the answering page itself, once, never carried in a cookie or a redirect."""
    if actor.role != Role.ADMIN:
        return users_page(request, actor, db)
    form = await request.form()
    action, name = str(form.get("action") or ""), str(form.get("name") or "")
    try:
        if action == "ajouter":
            role, email = str(form.get("role") or ""), str(form.get("email") or "").strip()
            user = await run_in_threadpool(identity.add_user, db, name, role, email or None)
            name = user.name
        if action in ("ajouter", "jeton"):
            token = await run_in_threadpool(identity.issue_token, db, name)
            return users_page(request, actor, db, {"name": name, "token": token})
        if action != "desactiver":
            raise identity.IdentityError("Action inconnue.")
        await run_in_threadpool(identity.deactivate, db, name)
    except identity.IdentityError as error:
        return back("/console/utilisateurs", "erreur", str(error))
    return back("/console/utilisateurs", "succes", f"{name} : désactivé(e).")


# --- every transition ----------------------------------------------------------------------------
PAGES = {"appels": call_page, "candidatures": application_page, "clusters": cluster_page}


def again(
    request: Request,
    resource: str,
    case_id: str,
    actor: Actor,
    db: Db,
    action: Action,
    form: FormData,
    problems: list[tuple[str, str]],
    status_code: int = 422,
) -> Response:
    """A refused action's form, back on its case's page as it was typed."""
    page = partial(PAGES[resource], request, case_id, actor, db)
    context = as_typed(action, form, problems)
    return refused_page(f"/console/{resource}/{case_id}", page, context, status_code)


@router.post("/{resource}/{case_id}/actions/{action}")
async def act(
    request: Request, resource: str, case_id: str, action: str, actor: Signed, db: Db
) -> Response:
    here = f"/console/{resource}/{case_id}"
    kind = RESOURCES.get(resource)
    spec = kind.actions.get(Action(action)) if kind and action in set(Action) else None
    if spec is None:
        return back(here, "erreur", "Action inconnue.")
    if actor.role not in spec.row.roles:
        return back(
            here,
            "erreur",
            f"Votre rôle ({ROLE_LABELS.get(actor.role, actor.role)}) ne permet pas cette action.",
        )
    form = await request.form()

    def refused(problems: list[tuple[str, str]], code: int = 422) -> Response:
        return again(request, resource, case_id, actor, db, spec.action, form, problems, code)

    confirm = next((f.name for f in spec.row.fields if f.kind == "confirm"), "")
    if unconfirmed(spec.row.fields, form):
        return refused([(confirm, f"{spec.row.command} : cochez la confirmation pour continuer.")])
    labels = {f.name: f.label for f in spec.row.fields}
    body_model = spec.row.body
    grid = None
    try:
        if spec.action == Action.SUBMIT_SCORES:
            call_id = APPLICATIONS.row(db, case_id).call_id
            grid = queries.call_state(CALLS.row(db, call_id)).spec.grid
            labels |= grid_labels(grid)
        body = (
            body_model.model_validate(payload(spec.row.fields, form, grid)) if body_model else None
        )
        await spec.perform(request, case_id, actor, db, body, str(form.get("cle") or "") or None)
    except FormError as error:
        return refused([(error.field, str(error))])
    except ValidationError as error:
        return refused(french_problems(error, labels, grid))
    except ApiError as error:
        return refused([("", line) for line in refusal(error)], error.status_code)
    except HTTPException as error:
        return refused([("", str(error.detail))], error.status_code)
    return back(here, "succes", f"{spec.row.command} : fait.")
