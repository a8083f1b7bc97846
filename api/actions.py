"""One POST route per workflow update: `/{case_id}/{action}`, named as in `allowed_actions`.

A `Resource` is one kind of case (calls, applications, clusters): its projection row, its
workflow, its lifecycle table. Each route is also kept in `ACTIONS`, so the console performs
exactly the same transitions.
"""

from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum
from typing import Annotated, Any, NoReturn

from fastapi import APIRouter, Depends, HTTPException, Request, status
from pydantic import BaseModel
from sqlmodel import SQLModel

from api.commands import conflict, transition
from api.deps import Db, IdempotencyKey, require
from domain.models import Actor
from domain.stages import Action, Rule


@dataclass(frozen=True)
class Resource:
    router: APIRouter
    table: type[SQLModel]  # the case's projection row
    stage: type[StrEnum]
    rules: dict[Action, Rule]
    case_id: Any  # the path parameter's type, with its pattern
    workflow: str  # workflow ids are f"{workflow}-{case id}"
    respond: Callable[[Any, Actor], BaseModel]
    response_model: type[BaseModel]
    unknown: str  # the 404's message
    closed: str  # the 409's message once the case's workflow is over

    def row(self, db: Db, case_id: str) -> Any:
        row = db.get(self.table, case_id)
        if row is None:
            raise HTTPException(status.HTTP_404_NOT_FOUND, self.unknown)
        return row

    def missing(self, db: Db, case_id: str) -> NoReturn:
        """No workflow: an unknown case (404), or one whose workflow is over (409)."""
        raise conflict(self.closed, self.stage(self.row(db, case_id).stage))

    def workflow_id(self, case_id: str) -> str:
        return f"{self.workflow}-{case_id}"

    def action(
        self,
        update: Any,
        summary: str,
        body: type[BaseModel] | None = None,
        optional_body: bool = False,
        check: Callable[[Request, Any], None] | None = None,
    ) -> None:
        add_action(self, ActionSpec(self, update, body, optional_body, check), summary)


@dataclass(frozen=True)
class ActionSpec:
    resource: Resource
    update: Any
    body: type[BaseModel] | None
    optional_body: bool
    check: Callable[[Request, Any], None] | None

    @property
    def name(self) -> str:
        return self.update.__name__

    @property
    def rule(self) -> Rule:
        return self.resource.rules[Action(self.name)]

    async def perform(
        self, request: Request, target: str, actor: Actor, db: Db, payload: Any, key: str | None
    ) -> BaseModel:
        if self.check:
            self.check(request, payload)
        workflow_id = self.resource.workflow_id(target)
        handle = request.app.state.client.get_workflow_handle(workflow_id)
        args = [actor] if payload is None else [actor, payload]
        state = await transition(
            request.app.state.engine,
            workflow_id,
            self.name,
            key,
            lambda id_: handle.execute_update(self.update, args=args, id=id_),
            lambda: self.resource.missing(db, target),
        )
        return self.resource.respond(state, actor)


# (resource, action) -> how to perform it; resource is the router's prefix without "/".
ACTIONS: dict[tuple[str, str], ActionSpec] = {}


def add_action(resource: Resource, spec: ActionSpec, summary: str) -> None:
    """Register the route; roles come from the lifecycle table, so API and workflow agree."""
    ACTIONS[(resource.router.prefix.strip("/"), spec.name)] = spec
    Allowed = Annotated[Actor, Depends(require(*spec.rule.roles))]
    case_id, body = resource.case_id, spec.body

    if body is None:

        async def act(
            case_id: case_id, actor: Allowed, db: Db, request: Request, key: IdempotencyKey = None
        ) -> BaseModel:
            return await spec.perform(request, case_id, actor, db, None, key)

    elif spec.optional_body:

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

    resource.router.post(
        f"/{{case_id}}/{spec.name}",
        response_model=resource.response_model,
        name=spec.name,
        summary=summary,
    )(act)
