"""The case list (filters, order, exports, bulk actions) and each application's page."""

import uuid
from datetime import UTC, datetime
from functools import partial
from typing import Annotated, Any

from fastapi import Depends, HTTPException, Request, status
from fastapi.responses import HTMLResponse, Response
from pydantic import ValidationError

from console.files import files_of
from console.forms import (
    FormError,
    french_problems,
    payload,
)
from console.mail import messages_of
from console.pages import (
    ROLE_LABELS,
    Signed,
    as_typed,
    back,
    form_key,
    known_sort,
    no_evaluator,
    refusal,
    refused_page,
    render,
    router,
)
from domain.ids import Kind, application_workflow_id
from domain.lifecycle import TRANSITIONS
from domain.models import Actor
from domain.stages import Action, ApplicationStage, Role
from domain.table import DESK
from projection import listings, queries
from projection.exports import FileFormat, table_response
from projection.views import Paging
from web import identity
from web.applications import APPLICATIONS, application_detail
from web.calls import CALLS
from web.deps import Db
from web.errors import ApiError


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
    names = listings.cluster_names(db, {i.application_id for i in items})
    titles = listings.call_titles(db, {i.call_id for i in items})
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


def applications_page(
    request: Request, actor: Actor, db: Db, filters: dict[str, str], page: int = 1, **extra: Any
) -> HTMLResponse:
    if actor.role == Role.EVALUATOR:
        return render(request, "evaluations.html", actor, items=evaluator_work(db, actor))
    listing = queries.list_applications(
        db,
        paging=Paging(min(max(page, 1), 100_000)),
        sort=known_sort(queries.APPLICATION_SORTS, filters.get("tri", "")),
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
    table = listings.applications_table(
        db,
        actor,
        known_sort(queries.APPLICATION_SORTS, filters.get("tri", "")),
        **list_filters(filters),
    )
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
    key = form_key(form) or uuid.uuid4().hex
    results = []
    for case_id in ids:
        try:
            name = APPLICATIONS.row(db, case_id).cluster_name
            await spec.perform(request, case_id, actor, db, body, f"{key}-{action}-{case_id}")
            results.append({"id": case_id, "name": name, "ok": True, "text": "fait"})
        except ApiError as error:
            results.append(
                {"id": case_id, "name": name, "ok": False, "text": refusal(error, actor, action)[0]}
            )
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
        files=files_of(Kind.APPLICATION, db, case_id, actor),
        answer_files=[f for f in case.files if asked and f.uploaded_at >= asked],
        messages=messages_of(db, actor, application_workflow_id(case_id)),
        **form
        | {  # the amend form starts from what the case holds, unless typed anew
            "filled": {Action.AMEND: {"cluster_name": [data.cluster_name], "sector": [data.sector]}}
            | form.get("filled", {})
        },
    )
