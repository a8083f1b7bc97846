"""An evaluator's own pages, one address per assigned case (« /console/evaluer/{id} »): first the
declaration of interests, made knowing who applies (the members, the call) but before any file;
a conflict acknowledged with what happens next; then the workspace, the dossier beside the grid,
with the scale's meaning per criterion and a draft kept in file storage until the grid is sent."""

import asyncio
import json
from collections.abc import Callable
from datetime import UTC, datetime
from functools import partial
from typing import Any

from fastapi import HTTPException, Request, status
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from pydantic import ValidationError
from starlette.datastructures import FormData

from console.forms import MEMBER_TYPES_FR, FormError, french_problems, grid_labels, payload
from console.pages import (
    ROLE_LABELS,
    Signed,
    as_typed,
    back,
    form_key,
    refusal,
    refused_page,
    render,
    router,
)
from domain.declarations import max_length
from domain.grading import SCALE, SheetDraft
from domain.models import Actor, CriterionScore, DocumentRef, Grid
from domain.stages import Action, Role
from projection import assignments, listings, queries
from projection.storage import Storage, TooLarge
from web.applications import APPLICATIONS, application_detail, assignment_of, declaration_view
from web.calls import CALLS
from web.deps import Db
from web.errors import ApiError

LIST = "/console/candidatures"  # « Mes évaluations »
MEMBER_TYPES = {kind: label for label, kind in MEMBER_TYPES_FR.items()}
PDF = "application/pdf"


def _here(case_id: str) -> str:
    return f"/console/evaluer/{case_id}"


def _not_theirs(actor: Actor, case_id: str) -> Response | None:
    """These pages are an evaluator's: anyone else is sent to the case's own page."""
    if actor.role == Role.EVALUATOR:
        return None
    role = ROLE_LABELS.get(actor.role, actor.role)
    return back(
        f"/console/candidatures/{case_id}",
        "erreur",
        f"Votre rôle ({role}) ne permet pas cette action : elle revient à l'évaluateur.",
    )


@router.get("/evaluer/{case_id}", response_class=HTMLResponse)
def evaluate(request: Request, case_id: str, actor: Signed, db: Db) -> Response:
    """The case's next step for its evaluator: declare, then mark; once sent, its page."""
    if (other := _not_theirs(actor, case_id)) is not None:
        return other
    try:
        return evaluator_page(request, case_id, actor, db)
    except HTTPException as error:
        if error.status_code not in (status.HTTP_403_FORBIDDEN, status.HTTP_404_NOT_FOUND):
            raise
        return back(LIST, "erreur", str(error.detail))


def evaluator_page(request: Request, case_id: str, actor: Actor, db: Db, **form: Any) -> Response:
    step = assignment_of(db, case_id, actor.name).status
    if step == "assigned":
        return declaration_page(request, case_id, actor, db, **form)
    if step == "submitted":
        return back(f"/console/candidatures/{case_id}", "succes", "Votre grille est transmise.")
    return workspace_page(request, case_id, actor, db, **form)


# --- the declaration ------------------------------------------------------------------------------


def declaration_page(
    request: Request, case_id: str, actor: Actor, db: Db, **form: Any
) -> HTMLResponse:
    case = declaration_view(db, case_id, actor.name)
    return render(request, "declarer.html", actor, case=case, member_types=MEMBER_TYPES, **form)


@router.post("/evaluer/{case_id}/declaration")
async def declare(request: Request, case_id: str, actor: Signed, db: Db) -> Response:
    if (other := _not_theirs(actor, case_id)) is not None:
        return other
    spec = APPLICATIONS.actions[Action.DECLARE_INTEREST]
    form = await request.form()

    def refused(problems: list[tuple[str, str]], code: int = 422) -> Response:
        page = partial(declaration_page, request, case_id, actor, db)
        return refused_page(LIST, page, as_typed(spec.action, form, problems), code)

    try:
        body = spec.row.body.model_validate(payload(spec.row.fields, form))
        await spec.perform(request, case_id, actor, db, body, form_key(form))
    except ValidationError as error:
        return refused(french_problems(error, {f.name: f.label for f in spec.row.fields}))
    except ApiError as error:
        return refused(
            [("", line) for line in refusal(error, actor, spec.action)], error.status_code
        )
    except HTTPException as error:
        return refused([("", str(error.detail))], error.status_code)
    if body.conflict:
        return RedirectResponse(f"{_here(case_id)}/conflit", status.HTTP_303_SEE_OTHER)
    return back(
        _here(case_id),
        "succes",
        "Aucun conflit d'intérêts déclaré : le dossier et sa grille vous sont ouverts.",
    )


@router.get("/evaluer/{case_id}/conflit", response_class=HTMLResponse)
def conflict_declared(request: Request, case_id: str, actor: Signed, db: Db) -> Response:
    """What follows a declared conflict: said once, the case itself no longer shown."""
    if (other := _not_theirs(actor, case_id)) is not None:
        return other
    row = assignments.assignment(db, case_id, actor.name)
    if row is None or row.status != "conflict":
        return RedirectResponse(_here(case_id), status.HTTP_303_SEE_OTHER)
    cluster = listings.cluster_names(db, {case_id}).get(case_id, case_id)
    return render(request, "conflit.html", actor, cluster=cluster)


# --- the workspace --------------------------------------------------------------------------------


def _grid(db: Db, call_id: str) -> tuple[Any, Grid]:
    call = queries.call_state(CALLS.row(db, call_id))
    return call, call.spec.grid


def in_reading_order(
    files: list[DocumentRef], required: list[str]
) -> list[tuple[DocumentRef, bool]]:
    """The dossier's files as the call lists its documents (others after), the latest version of
    each first; with each, whether it is its kind's latest."""
    rank = {kind: i for i, kind in enumerate(required)}
    ordered = sorted(
        files, key=lambda f: (rank.get(f.kind, len(rank)), f.kind, -f.uploaded_at.timestamp())
    )
    return [(f, i == 0 or ordered[i - 1].kind != f.kind) for i, f in enumerate(ordered)]


def _storage(request: Request) -> Storage:
    return request.app.state.storage


def saved_draft(storage: Storage, actor: Actor, case_id: str) -> tuple[dict, datetime | None]:
    """The draft as the grid's form shows it again (field → values), and when it was saved;
    nothing if there is none or it no longer reads as one."""
    raw = storage.draft(actor.name, case_id)
    if raw is None:
        return {}, None
    try:
        stored = json.loads(raw)
        draft = SheetDraft.model_validate(stored["draft"])
        saved_at = datetime.fromisoformat(stored["saved_at"])
    except (ValueError, KeyError, TypeError):
        return {}, None
    values: dict[str, list[str]] = {}
    for line in draft.scores:
        if line.score is not None:
            values[f"score.{line.criterion}"] = [str(line.score)]
        if line.comment:
            values[f"comment.{line.criterion}"] = [line.comment]
    if draft.comment:
        values["comment"] = [draft.comment]
    return values, saved_at


def draft_of(form: FormData, grid: Grid) -> SheetDraft:
    """What the grid's form holds, every part optional, each bounded as the sheet's."""

    def given(name: str) -> str | None:
        return str(form.get(name) or "").strip() or None

    return SheetDraft.model_validate(
        {
            "scores": [
                {
                    "criterion": c.code,
                    "score": given(f"score.{c.code}"),
                    "comment": given(f"comment.{c.code}"),
                }
                for c in grid.criteria
            ],
            "comment": given("comment"),
        }
    )


def workspace_page(
    request: Request, case_id: str, actor: Actor, db: Db, **form: Any
) -> HTMLResponse:
    case = application_detail(db, case_id, actor)  # declared free of conflict, or 403
    call, grid = _grid(db, case.call_id)
    draft, saved_at = saved_draft(_storage(request), actor, case_id)
    documents = in_reading_order(case.files, call.spec.required_documents)
    return render(
        request,
        "evaluer.html",
        actor,
        case=case,
        call=call,
        grid=grid,
        scale=SCALE,
        documents=documents,
        main=next((f for f, latest in documents if latest and f.content_type == PDF), None),
        saved_at=saved_at,
        due_at=case.evaluation.due_at if case.evaluation else None,
        comment_limit=max_length(CriterionScore, "comment"),
        **form | {"filled": {Action.SUBMIT_SCORES: draft} | form.get("filled", {})},
    )


def _refused_grid(
    request: Request, case_id: str, actor: Actor, db: Db, form: FormData
) -> Callable[..., Response]:
    """A refused grid's answer: the workspace again, as typed, each error beside its field."""

    def refused(problems: list[tuple[str, str]], code: int = 422) -> Response:
        page = partial(workspace_page, request, case_id, actor, db)
        context = as_typed(Action.SUBMIT_SCORES, form, problems)
        return refused_page(_here(case_id), page, context, code)

    return refused


@router.post("/evaluer/{case_id}/brouillon")
async def save_draft(request: Request, case_id: str, actor: Signed, db: Db) -> Response:
    """The grid as typed so far, kept (overwriting the last draft); nothing is sent."""
    if (other := _not_theirs(actor, case_id)) is not None:
        return other
    form = await request.form()
    refused = _refused_grid(request, case_id, actor, db, form)
    try:
        form_key(form)  # a forged key: refused like any form's
        if assignment_of(db, case_id, actor.name).status != "declared":
            return RedirectResponse(_here(case_id), status.HTTP_303_SEE_OTHER)
        _, grid = _grid(db, APPLICATIONS.row(db, case_id).call_id)
        draft = draft_of(form, grid)
    except ValidationError as error:
        return refused(french_problems(error, grid_labels(grid), grid))
    except HTTPException as error:
        if error.status_code == status.HTTP_422_UNPROCESSABLE_CONTENT:
            return refused([("", str(error.detail))])
        return back(LIST, "erreur", str(error.detail))
    saved = {"saved_at": datetime.now(UTC).isoformat(), "draft": draft.model_dump(mode="json")}
    content = json.dumps(saved, ensure_ascii=False).encode()
    try:
        await asyncio.to_thread(_storage(request).keep_draft, actor.name, case_id, content)
    except TooLarge:
        return refused([("", "Brouillon trop volumineux : raccourcissez les appréciations.")])
    return back(
        _here(case_id),
        "succes",
        "Brouillon enregistré : rien n'est transmis tant que vous n'avez pas cliqué "
        "« Transmettre ma grille ».",
    )


@router.post("/evaluer/{case_id}/grille")
async def submit_grid(request: Request, case_id: str, actor: Signed, db: Db) -> Response:
    """The grid sent as the case's « Transmettre ma grille »; the draft then goes."""
    if (other := _not_theirs(actor, case_id)) is not None:
        return other
    spec = APPLICATIONS.actions[Action.SUBMIT_SCORES]
    form = await request.form()
    refused = _refused_grid(request, case_id, actor, db, form)
    labels = {f.name: f.label for f in spec.row.fields}
    grid = None
    try:
        _, grid = _grid(db, APPLICATIONS.row(db, case_id).call_id)
        labels |= grid_labels(grid)
        body = spec.row.body.model_validate(payload(spec.row.fields, form, grid))
        await spec.perform(request, case_id, actor, db, body, form_key(form))
    except FormError as error:
        return refused([(error.field, str(error))])
    except ValidationError as error:
        return refused(french_problems(error, labels, grid))
    except ApiError as error:
        return refused(
            [("", line) for line in refusal(error, actor, spec.action)], error.status_code
        )
    except HTTPException as error:
        return refused([("", str(error.detail))], error.status_code)
    await asyncio.to_thread(_storage(request).drop_draft, actor.name, case_id)
    return back(
        f"/console/candidatures/{case_id}",
        "succes",
        "Grille transmise : elle rejoint celles des autres évaluateurs du dossier.",
    )
