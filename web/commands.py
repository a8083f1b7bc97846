"""Writes: an operator transition is one Temporal update; its workflow writes the record to SQL
before answering, so the API only sends it and turns the answer, or the refusal, into HTTP."""

import asyncio
import hashlib
import json
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import NoReturn, TypeVar

from fastapi import status
from pydantic import BaseModel
from temporalio.client import WorkflowUpdateFailedError, WorkflowUpdateRPCTimeoutOrCancelledError
from temporalio.exceptions import ApplicationError
from temporalio.service import RPCError, RPCStatusCode

from domain.models import Actor, Answer
from web.errors import SLOW, STATUS, ApiError, unavailable

T = TypeVar("T")
# An update waits while its workflow's record is written (the database may be down): past this,
# 503, and the same request repeated with its Idempotency-Key joins the same update.
UPDATE_TIMEOUT = 30.0  # seconds
# The server takes a few updates in flight per workflow; more, at once, get aborted and retried
# in a storm. So this process sends at most this many at a time to one case (a call's registrations).
IN_FLIGHT_PER_CASE = 8
_gates: dict[str, tuple[asyncio.Semaphore, list[int]]] = {}
RETRIED = (RPCStatusCode.ABORTED, RPCStatusCode.RESOURCE_EXHAUSTED)
KEY_REUSED = (
    "Cette Idempotency-Key a déjà servi à une autre requête (autre action, autre contenu ou autre "
    "personne) : rien n'a été fait. Utilisez une nouvelle clé pour une nouvelle requête."
)


def update_id(action: str, key: str | None) -> str:
    """The Idempotency-Key names the update, so Temporal answers a repeat with the first result."""
    return f"{action}:{key or uuid.uuid4().hex}"


def acting(actor: Actor, method: str, path: str, body: BaseModel | None) -> Actor:
    """The actor, carrying the fingerprint of its request: method, path, who, and the body as
    validated (so the same request written otherwise is the same request)."""
    parts = [method, path, actor.name, actor.role, body.model_dump_json() if body else ""]
    digest = hashlib.sha256(json.dumps(parts).encode()).hexdigest()[:32]
    return actor.model_copy(update={"request": digest})


async def send(
    update: Callable[[str], Awaitable[Answer[T]]],
    actor: Actor,
    action: str,
    key: str | None,
    workflow_id: str,
    on_missing: Callable[[], NoReturn],
) -> T:
    """Run `update(update_id)` for `actor` (see `acting`); a refusal becomes 403/409/422, a
    missing or finished case `on_missing()`, no answer in time 503. A key that already named
    another request answers 422, and nothing is done: the update it names was the other's."""
    id_ = update_id(action, key)
    try:
        async with _few_at_once(workflow_id), asyncio.timeout(UPDATE_TIMEOUT):
            answer = await _with_retries(lambda: update(id_))
    except (TimeoutError, WorkflowUpdateRPCTimeoutOrCancelledError):
        raise unavailable(SLOW, "Timeout") from None
    except WorkflowUpdateFailedError as failed:
        cause = failed.cause
        if not isinstance(cause, ApplicationError) or cause.type not in STATUS:
            raise
        extra = cause.details[0] if cause.details else {}
        raise ApiError(STATUS[cause.type], cause.message, code=cause.type, **extra) from None
    except RPCError as error:
        if error.status == RPCStatusCode.NOT_FOUND:
            on_missing()
        raise  # unavailable and the like: 503 by the app's handler
    if answer.request != actor.request:
        raise ApiError(status.HTTP_422_UNPROCESSABLE_CONTENT, KEY_REUSED, code="KeyReused")
    return answer.state


@asynccontextmanager
async def _few_at_once(workflow_id: str) -> AsyncIterator[None]:
    """A per-case gate, forgotten once nobody uses it."""
    gate, users = _gates.setdefault(workflow_id, (asyncio.Semaphore(IN_FLIGHT_PER_CASE), [0]))
    users[0] += 1
    try:
        async with gate:
            yield
    finally:
        users[0] -= 1
        if not users[0]:
            del _gates[workflow_id]


async def _with_retries(call: Callable[[], Awaitable[T]], attempts: int = 7) -> T:
    """An update the server aborted or refused before accepting it (a lost workflow task under
    load, a run continuing as new, too many updates in flight on one case) changed nothing: send
    it again, with the same update id, after a growing pause."""
    for attempt in range(attempts - 1):
        try:
            return await call()
        except RPCError as error:
            if error.status not in RETRIED:
                raise
            await asyncio.sleep(0.1 * 2**attempt)
    return await call()
