"""After a bulk assignment, one message per evaluator for the whole batch: the cases' own
notices are left out (`digest`), and each call concerned sends its evaluators the list of
their new cases (Action.ANNOUNCE_ASSIGNMENTS)."""

from typing import Any

from fastapi import HTTPException, Request

from console.pages import refusal
from domain.bodies import AssignmentDigest, DigestItem, EvaluatorAssignment
from domain.models import Actor
from domain.stages import Action
from projection import queries
from web.applications import APPLICATIONS
from web.calls import CALLS
from web.deps import Db
from web.errors import ApiError


def quiet(body: Any) -> Any:
    """An assignment's body with its per-case notices left to the digest."""
    return (
        body.model_copy(update={"digest": True}) if isinstance(body, EvaluatorAssignment) else body
    )


async def announce(
    request: Request,
    actor: Actor,
    db: Db,
    bodies: dict[str, EvaluatorAssignment],
    results: list[dict[str, Any]],
    key: str,
) -> list[str]:
    """Send each call's digest for the cases assigned; answers the lines to show (a digest not
    sent is told, with what to do)."""
    by_call: dict[str, list[DigestItem]] = {}
    for result in results:
        if not result["ok"]:
            continue
        state = queries.application_state(APPLICATIONS.row(db, result["id"]))
        assert state.evaluation and state.evaluation.due_at
        by_call.setdefault(state.call_id, []).extend(
            DigestItem(
                evaluator=name,
                application_id=state.id,
                cluster_name=state.data.cluster_name,
                due_at=state.evaluation.due_at,
            )
            for name in bodies[state.id].evaluators
        )
    spec = CALLS.spec(Action.ANNOUNCE_ASSIGNMENTS)
    lines = []
    for call_id, items in by_call.items():
        path = f"{CALLS.prefix}/{call_id}/{Action.ANNOUNCE_ASSIGNMENTS}"
        try:
            body = AssignmentDigest(items=items)
            await spec.send(request, call_id, actor, db, body, f"{key}-digest-{call_id}", path)
        except ApiError as error:
            lines.append(
                "Récapitulatif aux évaluateurs non envoyé : "
                + refusal(error, actor, Action.ANNOUNCE_ASSIGNMENTS)[0]
                + " Renvoyez ce formulaire pour réessayer (rien ne sera fait deux fois)."
            )
        except HTTPException as error:
            lines.append(f"Récapitulatif aux évaluateurs non envoyé : {error.detail}")
    return lines
