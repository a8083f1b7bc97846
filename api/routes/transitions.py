"""One POST route per operator transition of a kind of case: `/{case_id}/{action}`, made from
its `Resource` (web.actions): roles, body and summary are the lifecycle row's, so the API and
the workflow agree."""

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from pydantic import BaseModel

from domain.models import Actor
from projection.views import VIEWS
from web.actions import ActionSpec, Resource
from web.deps import Db, IdempotencyKey, require


def add_transition_routes(router: APIRouter, resource: Resource, case_id: Any) -> None:
    """Every routed transition of `resource` on `router` (`case_id`: the path parameter's
    type, with its pattern)."""
    for spec in resource.actions.values():
        _add_route(router, spec, case_id)


def _add_route(router: APIRouter, spec: ActionSpec, case_id: Any) -> None:
    row = spec.row
    Allowed = Annotated[Actor, Depends(require(*row.roles))]
    body = row.body

    if body is None:

        async def act(
            case_id: case_id, actor: Allowed, db: Db, request: Request, key: IdempotencyKey = None
        ) -> BaseModel:
            return await spec.perform(request, case_id, actor, db, None, key)

    elif row.optional_body:

        async def act(
            case_id: case_id,
            actor: Allowed,
            db: Db,
            request: Request,
            payload: body | None = None,  # type: ignore[valid-type]
            key: IdempotencyKey = None,
        ) -> BaseModel:
            return await spec.perform(request, case_id, actor, db, payload or body(), key)

    else:

        async def act(
            case_id: case_id,
            payload: body,  # type: ignore[valid-type]
            actor: Allowed,
            db: Db,
            request: Request,
            key: IdempotencyKey = None,
        ) -> BaseModel:
            return await spec.perform(request, case_id, actor, db, payload, key)

    router.post(
        f"/{{case_id}}/{spec.action}",
        response_model=VIEWS[spec.resource.kind],
        name=spec.action.value,
        summary=row.command,
    )(act)
