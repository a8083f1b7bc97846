"""One POST route per workflow update: `/{case_id}/{action}`, named as in `allowed_actions`."""

from collections.abc import Callable
from typing import Annotated, Any, NoReturn

from fastapi import APIRouter, Depends, Request
from pydantic import BaseModel

from api.commands import send, update_id
from api.deps import Db, IdempotencyKey, require
from domain.models import Actor
from domain.stages import Rule


def add_action(
    router: APIRouter,
    update: Any,
    summary: str,
    *,
    rule: Rule,
    case_id: Any,
    workflow_id: Callable[[str], str],
    missing: Callable[[Db, str], NoReturn],
    respond: Callable[[Any, Actor], BaseModel],
    response_model: type[BaseModel],
    body: type[BaseModel] | None = None,
    optional_body: bool = False,
    check: Callable[[Request, Any], None] | None = None,
) -> None:
    """Register the route; roles come from the lifecycle table, so API and workflow agree."""
    Allowed = Annotated[Actor, Depends(require(*rule.roles))]

    async def run(
        request: Request, target: str, actor: Actor, db: Db, payload: Any, key: str | None
    ) -> BaseModel:
        if check:
            check(request, payload)
        client = request.app.state.client
        handle = client.get_workflow_handle(workflow_id(target))
        args = [actor] if payload is None else [actor, payload]
        state = await send(
            lambda: handle.execute_update(update, args=args, id=update_id(update.__name__, key)),
            lambda: missing(db, target),
        )
        return respond(state, actor)

    if body is None:

        async def act(
            case_id: case_id, actor: Allowed, db: Db, request: Request, key: IdempotencyKey = None
        ) -> BaseModel:
            return await run(request, case_id, actor, db, None, key)

    elif optional_body:

        async def act(
            case_id: case_id,
            actor: Allowed,
            db: Db,
            request: Request,
            payload: body | None = None,  # type: ignore[valid-type]
            key: IdempotencyKey = None,
        ) -> BaseModel:
            return await run(request, case_id, actor, db, payload or body(), key)

    else:

        async def act(
            case_id: case_id,
            payload: body,  # type: ignore[valid-type]
            actor: Allowed,
            db: Db,
            request: Request,
            key: IdempotencyKey = None,
        ) -> BaseModel:
            return await run(request, case_id, actor, db, payload, key)

    name = update.__name__
    router.post(f"/{{case_id}}/{name}", response_model=response_model, name=name, summary=summary)(
        act
    )
