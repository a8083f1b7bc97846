"""Each application's page."""

from typing import Any

from fastapi import HTTPException, Request, status
from fastapi.responses import HTMLResponse, Response

from api.routes.letters import letter_response, redress_dossier_response
from console.files import files_of
from console.forms import members_text
from console.mail import messages_of
from console.pages import (
    Signed,
    actions_for,
    back,
    render,
    router,
    templates,
)
from console.presets import PRESETS
from domain.ids import Kind, application_workflow_id
from domain.lifecycle import DECISIONS, TRANSITIONS
from domain.models import Actor, CallSpec
from domain.rules import missing_documents
from domain.stages import A, Action
from projection import queries
from projection.views import ApplicationDetail
from web import identity
from web.applications import application_detail
from web.calls import CALLS
from web.deps import Db
from web.letters import letters_of

templates.env.globals["PRESETS"] = PRESETS
ITEM_LENGTH = 200  # a requested piece is one Text (domain.fields)


@router.get("/candidatures/{case_id}", response_class=HTMLResponse)
def application(request: Request, case_id: str, actor: Signed, db: Db) -> Response:
    try:
        return application_page(request, case_id, actor, db)
    except HTTPException as error:
        if error.status_code != status.HTTP_403_FORBIDDEN:
            raise
        return back("/console/candidatures", "erreur", str(error.detail))


@router.get("/candidatures/{case_id}/courriers/{sha256}.pdf", name="console_letter")
def letter(request: Request, case_id: str, sha256: str, actor: Signed, db: Db) -> Response:
    """A result letter under the console's session, as the API serves it (the case page links
    each one the applicant was sent)."""
    try:
        return letter_response(request, db, case_id, sha256, actor)
    except HTTPException as error:
        return back(f"/console/candidatures/{case_id}", "erreur", str(error.detail))


@router.get("/candidatures/{case_id}/dossier-de-recours.pdf", name="console_redress_dossier")
def redress_dossier(request: Request, case_id: str, actor: Signed, db: Db) -> Response:
    """The redress dossier under the console's session, as the API serves it (the case page
    links it once the clock has built it)."""
    try:
        return redress_dossier_response(request, db, case_id, actor)
    except HTTPException as error:
        return back(f"/console/candidatures/{case_id}", "erreur", str(error.detail))


def application_page(
    request: Request, case_id: str, actor: Actor, db: Db, **form: Any
) -> HTMLResponse:
    case = application_detail(db, case_id, actor)
    call = queries.call_state(CALLS.row(db, case.call_id))
    asked = case.complements.requested_at if case.complements else None
    messages = messages_of(db, actor, application_workflow_id(case_id))
    actions = actions_for(actor, case)
    return render(
        request,
        "candidature.html",
        actor,
        case=case,
        call=call,
        evaluators=identity.evaluator_names(db),
        assigned=[a.evaluator for a in case.evaluation.active()] if case.evaluation else [],
        grid=call.spec.grid,
        sectors=call.spec.sectors,
        files=files_of(Kind.APPLICATION, db, case_id, actor),
        letters=letters_of(db, request.app.state.storage, case_id),
        answer_files=[f for f in case.files if asked and f.uploaded_at >= asked],
        messages=messages,
        answers=[a for a in actions if A.REVIEW_REQUESTED in TRANSITIONS[a].sources],
        decisions=[a for a in actions if TRANSITIONS[a].target in DECISIONS],
        others=[
            a
            for a in actions
            if A.REVIEW_REQUESTED not in TRANSITIONS[a].sources
            and TRANSITIONS[a].target not in DECISIONS
            and a != Action.SUBMIT_SCORES  # the evaluator's workspace takes the grid
        ],
        workspace=Action.SUBMIT_SCORES in actions,
        undelivered=[m for m in messages or [] if m.status == "failed"],
        **form
        | {  # the forms start from what the case holds, unless typed anew
            "filled": prefilled(case, call.spec) | form.get("filled", {})
        },
    )


def prefilled(case: ApplicationDetail, spec: CallSpec) -> dict[str, dict[str, list[str]]]:
    """What the forms show before anyone types: the amend form, the case's data; the complements
    request, the pieces the checklist found missing (those still missing, one per line)."""
    data = case.data
    amend = {
        "cluster_name": [data.cluster_name],
        "legal_form": [data.legal_form],
        "sector": [data.sector],
        "members": [members_text(data.members)],
        "support_years": [str(data.support_years)],
        "contact.name": [data.contact.name],
        "contact.email": [data.contact.email],
        "contact.phone": [data.contact.phone or ""],
        "previous_cluster_id": [data.previous_cluster_id or ""],
    } | ({"existing_cluster": ["on"]} if data.existing_cluster else {})
    return {
        Action.AMEND: amend,
        Action.REQUEST_COMPLEMENTS: {"items": [missing_pieces(case, spec)]},
    }


def missing_pieces(case: ApplicationDetail, spec: CallSpec) -> str:
    """The failed checks as lines to ask for: each required document still without a file,
    then each other failed check with what it found."""
    lines: list[str] = []
    for check in case.checklist:
        if check.passed:
            continue
        if check.code == "documents_complete":
            lines += missing_documents([f.kind for f in case.files], spec.rules())
        else:
            lines.append(f"{check.label} : {check.detail}" if check.detail else check.label)
    return "\n".join(dict.fromkeys(line[:ITEM_LENGTH] for line in lines))
