"""A kind of case's operator transitions, as both faces perform them.

A `Resource` is one kind of case (calls, applications, clusters): its workflow, its path
prefix and the checks made before an update; its projection row and its part of the lifecycle
table follow from its kind. Each routed row of that table is one `ActionSpec`, sent as the
update named after the action; the API makes a route of each (api.routes.transitions), the
console a form.
"""

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, NoReturn

from fastapi import HTTPException, Request, status
from pydantic import BaseModel

from domain.ids import Kind, workflow_id
from domain.lifecycle import KINDS
from domain.models import Actor
from domain.stages import Action
from domain.table import Transition
from projection import visibility
from projection.tables import CASE_ROWS
from web.commands import acting, send
from web.deps import Db, engine_client
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
        path = f"{self.resource.prefix}/{case_id}/{self.action}"
        state = await self.send(request, case_id, actor, db, body, key, path)
        return visibility.view_of(state, actor)

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
        """The update, once per key; answers the case's new state (`path`: the request's, for
        its fingerprint, so the same request through either face is the same request)."""
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
    prefix: str  # the API's path of this kind of case (« /calls »)
    kind: Kind
    workflow: type  # its workflow class: one update per routed transition
    # Checks made before sending an update (what the workflow cannot know).
    checks: dict[Action, tuple[Callable[[Db, Any], None], ...]] = field(default_factory=dict)
    actions: dict[Action, ActionSpec] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.table = CASE_ROWS[self.kind]  # the case's projection row
        self.stage, transitions = KINDS[self.kind]
        for action, row in transitions.items():
            if row.routed:
                self.actions[action] = self.spec(action)

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
