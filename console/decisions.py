"""The committee's decisions taken from a call's ranking: per case an outcome (or none) and the
public reason, a recap to confirm case by case, then one update per decision; a refusal is told
for its case and stops nothing else."""

import uuid
from typing import Any

from fastapi import HTTPException, Request, status
from fastapi.responses import HTMLResponse, Response
from pydantic import ValidationError
from starlette.datastructures import FormData

from console import formats
from console.forms import french_problems
from console.lists import perform_each
from console.pages import ROLE_LABELS, Signed, back, form_key, no_evaluator, render, router
from domain.bodies import CommitteeDecision
from domain.lifecycle import TRANSITIONS
from domain.models import Actor
from domain.stages import Action, Role
from projection import queries
from projection.ranking import call_ranking
from projection.views import RankedEntry
from web.calls import CALLS
from web.deps import Db

OUTCOMES = (Action.LABEL, Action.PUT_ON_RESERVE, Action.REJECT)
DECIDING = TRANSITIONS[Action.LABEL].sources  # scored, or decided and still revisable
# How the recap counts each outcome: « 12 labellisé(s), 5 en liste d'attente, 8 rejeté(s) ».
COUNTED = {
    Action.LABEL: "labellisé(s)",
    Action.PUT_ON_RESERVE: "en liste d'attente",
    Action.REJECT: "rejeté(s)",
}
REASON_LABELS = {f.name: f.label for f in TRANSITIONS[Action.LABEL].fields}


def default_reason(action: Action, entry: RankedEntry) -> str:
    """The public reason the form starts from, by outcome and by the case's result (the
    applicant reads it as written; the committee edits it)."""
    score = formats.score(entry.result.weighted_score)
    if action == Action.LABEL:
        return f"Dossier retenu par le comité de sélection au vu de son évaluation (score pondéré {score})."
    if action == Action.PUT_ON_RESERVE:
        return (
            "Dossier qui atteint les seuils de l'appel sans pouvoir être retenu dans l'enveloppe "
            f"disponible : inscrit en liste d'attente (score pondéré {score})."
        )
    if not entry.result.thresholds_met:
        return f"Dossier qui n'atteint pas les seuils de l'appel (score pondéré {score})."
    return (
        "Dossier non retenu au vu de son rang dans le classement des candidatures de l'appel "
        f"(score pondéré {score})."
    )


def deciding_entries(db: Db, call_id: str) -> list[RankedEntry]:
    """The call's cases the committee may decide now, in ranking order (those below a
    threshold last)."""
    ranking = call_ranking(db, CALLS.row(db, call_id))
    return [e for e in ranking.ranked + ranking.below_threshold if e.stage in DECIDING]


def may_see(actor: Actor) -> None:
    no_evaluator(actor)
    if actor.role not in (Role.ADMIN, Role.COMMITTEE):
        raise HTTPException(
            status.HTTP_403_FORBIDDEN, "Le classement est réservé au comité et au gestionnaire."
        )


def chosen(form: FormData, entries: list[RankedEntry]) -> list[dict[str, Any]]:
    """Each case given an outcome on the form, in ranking order, its reason as typed or, left
    empty, the outcome's default."""
    picks = []
    for e in entries:
        action = str(form.get(f"choix.{e.application_id}") or "")
        if action not in OUTCOMES:
            continue
        typed = str(form.get(f"motif.{e.application_id}") or "").strip()
        picks.append(
            {
                "entry": e,
                "action": Action(action),
                "reason": typed or default_reason(Action(action), e),
                "confirmed": f"confirme.{e.application_id}" in form,
            }
        )
    return picks


def recap_line(picks: list[dict[str, Any]]) -> str:
    counts = {a: sum(p["action"] == a for p in picks) for a in OUTCOMES}
    return ", ".join(f"{n} {COUNTED[a]}" for a, n in counts.items() if n)


def decisions_page(
    request: Request, actor: Actor, db: Db, call_id: str, **extra: Any
) -> HTMLResponse:
    call = CALLS.row(db, call_id)
    entries = deciding_entries(db, call_id)
    return render(
        request,
        "decisions.html",
        actor,
        call=call,
        entries=entries,
        criteria={c.code: c.label for c in queries.call_state(call).spec.grid.criteria},
        outcomes=OUTCOMES,
        defaults={e.application_id: {a: default_reason(a, e) for a in OUTCOMES} for e in entries},
        may_decide=all(actor.role in TRANSITIONS[a].roles for a in OUTCOMES),
        **extra,
    )


@router.get("/appels/{call_id}/decisions", response_class=HTMLResponse)
def decisions(request: Request, call_id: str, actor: Signed, db: Db) -> HTMLResponse:
    may_see(actor)
    return decisions_page(request, actor, db, call_id)


@router.post("/appels/{call_id}/decisions", response_class=HTMLResponse)
async def decide(request: Request, call_id: str, actor: Signed, db: Db) -> Response:
    """`etape`: « recap » shows the chosen outcomes to confirm; « envoi » sends those confirmed;
    anything else draws the choices again as typed."""
    if not all(actor.role in TRANSITIONS[a].roles for a in OUTCOMES):  # before anything else
        role = ROLE_LABELS.get(actor.role, actor.role)
        return back(
            f"/console/appels/{call_id}/decisions" if actor.role == Role.ADMIN else "/console/",
            "erreur",
            f"Votre rôle ({role}) ne permet pas cette action : seul le comité décide.",
        )
    form = await request.form()
    typed = {k: [str(v) for v in form.getlist(k)] for k in form}
    try:
        entries = deciding_entries(db, call_id)
    except HTTPException as error:  # an unknown call: told on the list of calls
        return back("/console/appels", "erreur", str(error.detail))
    picks = chosen(form, entries)
    step = str(form.get("etape") or "")

    def again(lines: list[str], code: int = 422, mode: str = "choix") -> HTMLResponse:
        page = decisions_page(
            request,
            actor,
            db,
            call_id,
            filled=typed,
            picks=picks,
            mode=mode,
            recap=recap_line(picks),
            message={"kind": "erreur", "lines": lines},
        )
        page.status_code = code
        return page

    if not picks:
        return again(["Choisissez une décision pour au moins un dossier."])
    note = str(form.get("internal_note") or "").strip() or None
    problems = []
    bodies = {}
    for p in picks:
        try:
            bodies[p["entry"].application_id] = CommitteeDecision(
                reason=p["reason"], internal_note=note
            )
        except ValidationError as error:
            for _, line in french_problems(error, REASON_LABELS):
                problems.append(f"{p['entry'].cluster_name} : {line}")
    if problems:
        return again(problems)
    if step == "choix":  # back from the recap: the choices as they were
        return decisions_page(request, actor, db, call_id, filled=typed)
    if step != "envoi":
        return decisions_page(
            request,
            actor,
            db,
            call_id,
            filled=typed,
            picks=picks,
            mode="recap",
            recap=recap_line(picks),
        )
    confirmed = [p for p in picks if p["confirmed"]]
    if "confirme" not in form or not confirmed:
        return again(["Cochez la confirmation des décisions avant de les envoyer."], mode="recap")
    key = form_key(form) or uuid.uuid4().hex
    results = []
    for p in confirmed:  # in ranking order, each its own update
        case = p["entry"].application_id
        done = await perform_each(request, actor, db, p["action"], {case: bodies[case]}, key)
        results += [r | {"outcome": TRANSITIONS[p["action"]].command} for r in done]
    sent = sum(r["ok"] for r in results)
    lines = [f"{sent} décision(s) prise(s) sur {len(results)} : {recap_line(confirmed)}."]
    kind = "succes" if sent == len(results) else "erreur"
    return decisions_page(
        request, actor, db, call_id, results=results, message={"kind": kind, "lines": lines}
    )
