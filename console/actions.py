"""Every transition's form: one route sends the action's update; a refusal shows the form again."""

from functools import partial

from fastapi import HTTPException, Request
from fastapi.responses import Response
from pydantic import ValidationError
from starlette.datastructures import FormData

from console.applications import application_page
from console.calls import call_page
from console.clusters import cluster_page
from console.forms import (
    FormError,
    french_problems,
    grid_labels,
    payload,
    unconfirmed,
)
from console.pages import (
    ROLE_LABELS,
    Signed,
    as_typed,
    back,
    form_key,
    refusal,
    refused_page,
    router,
)
from console.presets import PRESETS
from domain.models import Actor
from domain.stages import Action
from projection import queries
from web.actions import Resource
from web.applications import APPLICATIONS
from web.calls import CALLS
from web.clusters import CLUSTERS
from web.deps import Db
from web.errors import ApiError

# The kinds of case by the console's French path, their API resource and their page.
RESOURCES: dict[str, Resource] = {
    "appels": CALLS,
    "candidatures": APPLICATIONS,
    "clusters": CLUSTERS,
}
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
    presets = PRESETS.get(spec.action, {})
    try:
        if spec.action == Action.SUBMIT_SCORES:
            call_id = APPLICATIONS.row(db, case_id).call_id
            grid = queries.call_state(CALLS.row(db, call_id)).spec.grid
            labels |= grid_labels(grid)
        body = (
            body_model.model_validate(payload(spec.row.fields, form, grid, presets))
            if body_model
            else None
        )
        await spec.perform(request, case_id, actor, db, body, form_key(form))
    except FormError as error:
        return refused([(error.field, str(error))])
    except ValidationError as error:
        return refused(french_problems(error, labels, grid))
    except ApiError as error:
        lines = refusal(error, actor, spec.action)
        return refused([("", line) for line in lines], error.status_code)
    except HTTPException as error:
        return refused([("", str(error.detail))], error.status_code)
    return back(here, "succes", f"{spec.row.command} : fait.")
