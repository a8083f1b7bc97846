"""The case list: its filters and order, its exports, an evaluator's own list, and the bulk actions
taken from it."""

import uuid
from datetime import UTC, datetime
from functools import partial
from typing import Annotated, Any

from fastapi import Depends, HTTPException, Request
from fastapi.responses import HTMLResponse, Response
from pydantic import ValidationError
from starlette.datastructures import FormData

from console.digest import announce, quiet
from console.forms import (
    FormError,
    french_problems,
    payload,
    unconfirmed,
)
from console.pages import (
    ROLE_LABELS,
    Signed,
    as_typed,
    case_readers_only,
    form_key,
    known_sort,
    refusal,
    refused_page,
    render,
    router,
)
from domain.lifecycle import TRANSITIONS
from domain.models import Actor
from domain.stages import Action, ApplicationStage, Role
from domain.table import DESK
from projection import assignments, listings, queries
from projection.exports import FileFormat, table_response
from projection.storage import Storage
from projection.views import Paging
from web import identity
from web.applications import APPLICATIONS
from web.deps import Db
from web.errors import ApiError


def list_query(
    call_id: str = "",
    stage: str = "",
    sector: str = "",
    overdue: str = "",
    q: str = "",
    tri: str = "",
    taille: str = "",
) -> dict[str, str]:
    """The case list's query string, as typed (the list's own links and forms carry it on)."""
    return {
        "call_id": call_id,
        "stage": stage,
        "sector": sector,
        "overdue": overdue,
        "q": q,
        "tri": tri,
        "taille": taille,
    }


ListQuery = Annotated[dict[str, str], Depends(list_query)]


@router.get("/candidatures", response_class=HTMLResponse)
def applications(
    request: Request, actor: Signed, db: Db, filters: ListQuery, page: int = 1, tout: str = ""
) -> HTMLResponse:
    """`tout`: the page's cases shown ticked (selecting a whole page needs no script)."""
    return applications_page(request, actor, db, filters, page, whole_page=bool(tout))


# Actions taken on several files at once from the list, each still one update per case.
BULK = (
    Action.MARK_ELIGIBLE,
    Action.MARK_INELIGIBLE,
    Action.REQUEST_COMPLEMENTS,
    Action.ASSIGN_EVALUATORS,
)
BULK_MAX = 200  # cases at once: the largest page, or the whole filtered list up to it
PAGE_SIZES = (50, 100, 200)


def page_size(filters: dict[str, str]) -> int:
    """The list's page size as chosen (`taille`), else the first one (never an error)."""
    chosen = filters.get("taille", "")
    return int(chosen) if chosen in {str(n) for n in PAGE_SIZES} else PAGE_SIZES[0]


def evaluator_work(db: Db, actor: Actor, storage: Storage) -> list[dict[str, Any]]:
    """An evaluator's assignments with their cluster and call named, and whether a draft of
    their grid is kept: what waits on them first (declarations, then grids), soonest due
    first; those done after."""
    items = assignments.evaluator_cases(db, actor.name, None, Paging(1, 200)).items
    names = listings.cluster_names(db, {i.application_id for i in items})
    titles = listings.call_titles(db, {i.call_id for i in items})
    far = datetime.max.replace(tzinfo=UTC)
    items.sort(key=lambda i: (i.status not in listings.OPEN, i.due_at or far))
    return [
        i.model_dump()
        | {
            "cluster": names.get(i.application_id),
            "call": titles.get(i.call_id),
            "draft": i.status == "declared" and storage.draft(actor.name, i.application_id),
        }
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
    request: Request,
    actor: Actor,
    db: Db,
    filters: dict[str, str],
    page: int = 1,
    whole_page: bool = False,
    **extra: Any,
) -> HTMLResponse:
    if actor.role == Role.EVALUATOR:
        items = evaluator_work(db, actor, request.app.state.storage)
        return render(request, "evaluations.html", actor, items=items)
    listing = queries.list_applications(
        db,
        paging=Paging(min(max(page, 1), 100_000), page_size(filters)),
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
        bulk_max=BULK_MAX,
        page_sizes=PAGE_SIZES,
        ticked={a.id for a in listing.items} if whole_page else set(),
        workloads=listings.evaluator_workloads(db, identity.evaluator_names(db))
        if actor.role in TRANSITIONS[Action.ASSIGN_EVALUATORS].roles
        else {},
        **extra,
    )


@router.get("/candidatures.csv")
@router.get("/candidatures.xlsx")
def applications_export(fmt: FileFormat, actor: Signed, db: Db, filters: ListQuery) -> Response:
    """The list as filtered and sorted on screen, every page of it, as the API exports it."""
    case_readers_only(actor)
    table = listings.applications_table(
        db,
        actor,
        known_sort(queries.APPLICATION_SORTS, filters.get("tri", "")),
        **list_filters(filters),
    )
    return table_response(table, fmt)


def fields_of(action: str, form: FormData) -> FormData:
    """The bulk form's inputs for `action` (named « action.field », one form holding several
    actions' fields), under their own names as the action's form would send them."""
    prefix = f"{action}."
    return FormData(
        [(k.removeprefix(prefix), v) for k, v in form.multi_items() if k.startswith(prefix)]
    )


def filtered_ids(db: Db, filters: dict[str, str]) -> tuple[list[str], int]:
    """The cases the list's filters select, in its order, at most BULK_MAX, and how many."""
    listing = queries.list_applications(
        db,
        paging=Paging(1, BULK_MAX),
        sort=known_sort(queries.APPLICATION_SORTS, filters.get("tri", "")),
        **list_filters(filters),
    )
    return [a.id for a in listing.items], listing.total


async def perform_each(
    request: Request,
    actor: Actor,
    db: Db,
    action: Action,
    bodies: dict[str, Any],
    key: str,
) -> list[dict[str, Any]]:
    """`action` on each case with its own body: one update each (its own check, key and audit
    event); a refusal is told for its case and never stops the others."""
    spec = APPLICATIONS.actions[action]
    results = []
    for case_id, body in bodies.items():
        name = case_id
        try:
            name = APPLICATIONS.row(db, case_id).cluster_name
            await spec.perform(request, case_id, actor, db, body, f"{key}-{action}-{case_id}")
            results.append({"id": case_id, "name": name, "ok": True, "text": "fait"})
        except ApiError as error:
            text = refusal(error, actor, action)[0]
            results.append({"id": case_id, "name": name, "ok": False, "text": text})
        except HTTPException as error:
            results.append({"id": case_id, "name": name, "ok": False, "text": str(error.detail)})
    return results


def outcome(command: str, results: list[dict[str, Any]]) -> dict[str, Any]:
    """The message above the per-case results."""
    done = sum(r["ok"] for r in results)
    kind = "succes" if done == len(results) else "erreur"
    return {"kind": kind, "lines": [f"{command} : {done} sur {len(results)} candidature(s)."]}


@router.post("/candidatures/lot")
async def bulk_action(request: Request, actor: Signed, db: Db) -> Response:
    """One action on the ticked files, or on every file the filters select (their count
    confirmed): each case gets its own update; what each answered is shown on the list."""
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
    if form.get("portee") == "filtre":
        ids, total = filtered_ids(db, filters)
        if total > BULK_MAX:
            return refused([f"{total} dossiers filtrés : au plus {BULK_MAX} à la fois."])
        if str(total) != form.get("total") or "confirme_filtre" not in form:
            return refused(
                [f"Confirmez l'action sur les {total} dossier(s) filtré(s) (case à cocher)."]
            )
    if not ids:
        return refused(["Cochez au moins une candidature."])
    if len(ids) > BULK_MAX:
        return refused([f"Au plus {BULK_MAX} candidatures à la fois."])
    own = fields_of(action, form)
    if unconfirmed(spec.row.fields, own):
        return refused(["Cochez la case de confirmation pour continuer."])
    try:
        body = (
            spec.row.body.model_validate(payload(spec.row.fields, own)) if spec.row.body else None
        )
    except FormError as error:
        return refused([str(error)])
    except ValidationError as error:
        labels = {f.name: f.label for f in spec.row.fields}
        return refused([], problems=french_problems(error, labels))
    key = form_key(form) or uuid.uuid4().hex
    bodies = dict.fromkeys(ids, quiet(body))
    results = await perform_each(request, actor, db, Action(action), bodies, key)
    message = outcome(spec.row.command, results)
    if spec.action == Action.ASSIGN_EVALUATORS and (
        failed := await announce(request, actor, db, bodies, results, key)
    ):
        message = {"kind": "erreur", "lines": message["lines"] + failed}
    return applications_page(request, actor, db, filters, results=results, message=message)
