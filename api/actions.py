"""One POST route per workflow update: `/{case_id}/{action}`, named as in `allowed_actions`.

Each route is also kept in `ACTIONS`, so the console performs exactly the same transitions.
"""

from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated, Any, NoReturn

from fastapi import APIRouter, Depends, Request
from pydantic import BaseModel

from api.commands import send, update_id
from api.deps import Db, IdempotencyKey, require
from domain.models import Actor
from domain.stages import Rule


@dataclass(frozen=True)
class ActionSpec:
    update: Any
    rule: Rule
    workflow_id: Callable[[str], str]
    missing: Callable[[Db, str], NoReturn]
    respond: Callable[[Any, Actor], BaseModel]
    body: type[BaseModel] | None
    optional_body: bool
    check: Callable[[Request, Any], None] | None

    @property
    def name(self) -> str:
        return self.update.__name__

    async def perform(
        self, request: Request, target: str, actor: Actor, db: Db, payload: Any, key: str | None
    ) -> BaseModel:
        if self.check:
            self.check(request, payload)
        workflow_id = self.workflow_id(target)
        handle = request.app.state.client.get_workflow_handle(workflow_id)
        args = [actor] if payload is None else [actor, payload]
        state = await send(
            lambda: handle.execute_update(self.update, args=args, id=update_id(self.name, key)),
            lambda: self.missing(db, target),
            workflow_id,
        )
        return self.respond(state, actor)


# (resource, action) -> how to perform it; resource is the router's prefix without "/".
ACTIONS: dict[tuple[str, str], ActionSpec] = {}


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
    spec = ActionSpec(update, rule, workflow_id, missing, respond, body, optional_body, check)
    ACTIONS[(router.prefix.strip("/"), spec.name)] = spec
    Allowed = Annotated[Actor, Depends(require(*rule.roles))]

    if body is None:

        async def act(
            case_id: case_id, actor: Allowed, db: Db, request: Request, key: IdempotencyKey = None
        ) -> BaseModel:
            return await spec.perform(request, case_id, actor, db, None, key)

    elif optional_body:

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
        f"/{{case_id}}/{spec.name}", response_model=response_model, name=spec.name, summary=summary
    )(act)
