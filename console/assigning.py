"""A balanced assignment for the cases ticked on the list (or every filtered one): proposed
from each evaluator's open workload (console.proposal), adjusted by the admin case by case,
then sent as one assignment per case."""

import uuid
from functools import partial
from typing import Any

from fastapi import HTTPException, Request
from fastapi.responses import HTMLResponse, Response
from starlette.datastructures import FormData

from console.digest import announce, quiet
from console.lists import (
    BULK_MAX,
    applications_page,
    filtered_ids,
    list_query,
    outcome,
    perform_each,
)
from console.pages import (
    ROLE_LABELS,
    Signed,
    as_typed,
    back,
    form_key,
    refused_page,
    render,
    router,
)
from console.proposal import Case, Proposed, propose
from domain.bodies import EvaluatorAssignment
from domain.lifecycle import TRANSITIONS
from domain.models import Actor
from domain.stages import Action
from projection import listings, queries
from web import identity
from web.applications import APPLICATIONS
from web.deps import Db

ASSIGN = Action.ASSIGN_EVALUATORS
ASSIGNABLE = TRANSITIONS[ASSIGN].sources  # where an assignment may be taken


def proposal_for(db: Db, ids: list[str]) -> tuple[list[Proposed], list[dict[str, Any]], dict]:
    """The proposal for the cases `ids` that may take evaluators now, those that may not (with
    their stage), and each evaluator's workload as shown."""
    evaluators = identity.evaluator_names(db)
    workloads = listings.evaluator_workloads(db, evaluators)
    required = {c.id: c.spec.evaluators_per_application for c in queries.calls_by_deadline(db)}
    held = listings.case_assignments(db, set(ids))
    cases, others = [], []
    for case_id in ids:
        try:
            row = APPLICATIONS.row(db, case_id)
        except HTTPException:
            continue  # an id no longer known: nothing to propose
        if row.stage in ASSIGNABLE:
            cases.append(Case(case_id, row.cluster_name, required[row.call_id], held[case_id]))
        else:
            others.append({"id": case_id, "name": row.cluster_name, "stage": row.stage})
    loads = {name: load.open for name, load in workloads.items()}
    return propose(cases, loads), others, workloads


def proposal_page(
    request: Request,
    actor: Actor,
    db: Db,
    filters: dict[str, str],
    ids: list[str],
    **extra: Any,
) -> HTMLResponse:
    proposed, others, workloads = proposal_for(db, ids)
    return render(
        request,
        "affectation.html",
        actor,
        proposed=proposed,
        others=others,
        workloads=workloads,
        filters=filters,
        **extra,
    )


def refusal_for_role(actor: Actor) -> str | None:
    if actor.role in APPLICATIONS.actions[ASSIGN].row.roles:
        return None
    return f"Votre rôle ({ROLE_LABELS.get(actor.role, actor.role)}) ne permet pas cette action."


def form_filters(form: FormData) -> dict[str, str]:
    return list_query(**{k: str(form.get(k) or "") for k in list_query()})


@router.post("/candidatures/proposition", response_class=HTMLResponse)
async def propose_assignment(request: Request, actor: Signed, db: Db) -> Response:
    """The proposal for the ticked cases (or every filtered one, its count confirmed)."""
    if line := refusal_for_role(actor):  # before reading anything
        return back("/console/candidatures", "erreur", line)
    form = await request.form()
    filters = form_filters(form)
    ids = list(dict.fromkeys(str(i) for i in form.getlist("ids")))

    def refused(line: str, code: int = 422) -> Response:
        context = as_typed("assign_evaluators", form, [("", line)])
        page = partial(applications_page, request, actor, db, filters)
        return refused_page("/console/candidatures", page, context, code)

    if form.get("portee") == "filtre":
        ids, total = filtered_ids(db, filters)
        if total > BULK_MAX:
            return refused(f"{total} dossiers filtrés : au plus {BULK_MAX} à la fois.")
        if str(total) != form.get("total") or "confirme_filtre" not in form:
            return refused(
                f"Confirmez l'action sur les {total} dossier(s) filtré(s) (case à cocher)."
            )
    if not ids:
        return refused("Cochez au moins une candidature.")
    if len(ids) > BULK_MAX:
        return refused(f"Au plus {BULK_MAX} candidatures à la fois.")
    return proposal_page(request, actor, db, filters, ids)


@router.post("/candidatures/affectation", response_class=HTMLResponse)
async def confirm_assignment(request: Request, actor: Signed, db: Db) -> Response:
    """The proposal as adjusted: one assignment per case that has evaluators chosen; a case
    left short of the call's panel is sent only once the admin confirms it."""
    if line := refusal_for_role(actor):  # before reading anything
        return back("/console/candidatures", "erreur", line)
    form = await request.form()
    filters = form_filters(form)
    ids = list(dict.fromkeys(str(i) for i in form.getlist("ids")))[:BULK_MAX]

    def refused(line: str, code: int = 422) -> Response:
        context = as_typed("affectation", form, [("", line)])
        page = partial(proposal_page, request, actor, db, filters, ids)
        return refused_page("/console/candidatures", page, context, code)

    proposed, _, _ = proposal_for(db, ids)
    chosen = {
        p.case.id: [str(v) for v in form.getlist(f"evaluators.{p.case.id}")] for p in proposed
    }
    short = [p.case.name for p in proposed if len(chosen[p.case.id]) < p.case.needed]
    incomplete = "incomplete" in form
    if short and not incomplete:
        return refused(
            "Moins d'évaluateurs que l'appel n'en requiert pour : "
            + ", ".join(short)
            + ". Ajoutez-en, ou cochez la confirmation de l'affectation incomplète."
        )
    bodies = {
        case: EvaluatorAssignment(evaluators=names, incomplete=incomplete)
        for case, names in chosen.items()
        if names
    }
    if not bodies:
        return refused("Aucun évaluateur choisi : rien n'a été envoyé.")
    key = form_key(form) or uuid.uuid4().hex
    bodies = {case: quiet(body) for case, body in bodies.items()}
    results = await perform_each(request, actor, db, ASSIGN, bodies, key)
    message = outcome(APPLICATIONS.actions[ASSIGN].row.command, results)
    if failed := await announce(request, actor, db, bodies, results, key):
        message = {"kind": "erreur", "lines": message["lines"] + failed}
    return applications_page(request, actor, db, filters, results=results, message=message)
