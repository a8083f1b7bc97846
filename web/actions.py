"""One POST route per operator transition of the lifecycle table: `/{case_id}/{action}`.

A `Resource` is one kind of case (calls, applications, clusters): its workflow and its routes;
its projection row and its part of the lifecycle table follow from its kind. Every routed row of that table becomes a route whose
roles, body and summary are the row's, sent as the update named after the action; the console
performs the same `ActionSpec`s.
"""

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Annotated, Any, NoReturn

from fastapi import APIRouter, Depends, HTTPException, Request, status
from pydantic import BaseModel

from domain.ids import Kind, workflow_id
from domain.lifecycle import KINDS, Transition
from domain.models import Actor
from domain.stages import Action
from projection import queries
from projection.tables import CASE_ROWS
from projection.views import VIEWS
from web.commands import acting, send
from web.deps import Db, IdempotencyKey, engine_client, require
from web.errors import CLOSED, UNKNOWN, conflict


@dataclass(frozen=True)
class ActionSpec:
    resource: "Resource"
    action: Action
    row: Transition
    update: Any  # the workflow's update method, named after the action

    async def perform(
        self, request: Request, case_id: str, actor: Actor, db: Db, body: Any, key: str | None
    ) -> BaseModel:
        """The transition, answered as the case's view for `actor`."""
        path = f"/{self.resource.router.prefix.strip('/')}/{case_id}/{self.action}"
        state = await self.send(request, case_id, actor, db, body, key, path)
        return queries.view_of(state, actor)

    async def send(
        self,
        request: Request,
        case_id: str,
        actor: Actor,
        db: Db,
        body: Any,
        key: str | None,
        path: str,
    ) -> BaseModel:
        """The update, once per key; answers the case's new state (`path`: the request's)."""
        for check in self.resource.checks.get(self.action, ()):
            check(db, body)
        workflow = self.resource.workflow_id(case_id)
        handle = (await engine_client(request)).get_workflow_handle(workflow)
        actor = acting(actor, "POST", path, body)
        args = [actor] if self.row.body is None else [actor, body]
        return await send(
            lambda id_: handle.execute_update(self.update, args=args, id=id_),
            actor,
            self.action,
            key,
            workflow,
            lambda: self.resource.missing(db, case_id),
        )


@dataclass
class Resource:
    router: APIRouter
    kind: Kind
    workflow: type  # its workflow class: one update per routed transition
    case_id: Any  # the path parameter's type, with its pattern
    # Checks the API makes before sending an update (what the workflow cannot know).
    checks: dict[Action, tuple[Callable[[Db, Any], None], ...]] = field(default_factory=dict)
    actions: dict[Action, ActionSpec] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.table = CASE_ROWS[self.kind]  # the case's projection row
        self.stage, transitions = KINDS[self.kind]
        for action, row in transitions.items():
            if row.routed:
                self.actions[action] = spec = self.spec(action)
                _add_route(spec)

    def spec(self, action: Action) -> ActionSpec:
        """The action's update on this kind's workflow (a route of its own, or a generated one)."""
        update = getattr(self.workflow, action.value, None)
        if not hasattr(update, "_defn"):
            raise TypeError(f"{self.workflow.__name__} has no update for {action}")
        return ActionSpec(self, action, KINDS[self.kind][1][action], update)

    def row(self, db: Db, case_id: str) -> Any:
        row = db.get(self.table, case_id)
        if row is None:
            raise HTTPException(status.HTTP_404_NOT_FOUND, UNKNOWN[self.kind])
        return row

    def missing(self, db: Db, case_id: str) -> NoReturn:
        """No workflow: an unknown case (404), or one whose workflow is over (409)."""
        raise conflict(CLOSED[self.kind], self.stage(self.row(db, case_id).stage))

    def workflow_id(self, case_id: str) -> str:
        return workflow_id(self.kind, case_id)


def _add_route(spec: ActionSpec) -> None:
    """The route of one transition; roles come from its row, so API and workflow agree."""
    resource, row = spec.resource, spec.row
    Allowed = Annotated[Actor, Depends(require(*row.roles))]
    case_id, body = resource.case_id, row.body

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

    resource.router.post(
        f"/{{case_id}}/{spec.action}",
        response_model=VIEWS[resource.kind],
        name=spec.action.value,
        summary=row.command,
    )(act)
