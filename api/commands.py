"""Writes: operator transitions sent as Temporal updates, and their errors as HTTP answers."""

import asyncio
import logging
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any, NoReturn, TypeVar

from fastapi import HTTPException, status
from sqlalchemy import Engine
from sqlalchemy.exc import SQLAlchemyError
from starlette.concurrency import run_in_threadpool
from temporalio.client import WorkflowUpdateFailedError
from temporalio.exceptions import ApplicationError
from temporalio.service import RPCError, RPCStatusCode

from activities.intents import Intents
from activities.projection import Projection, Record
from domain.models import API_UPDATES, FORBIDDEN, INVALID, NOT_ALLOWED
from domain.stages import Stage, allowed_actions

log = logging.getLogger(__name__)
T = TypeVar("T")
UPDATE_TIMEOUT = 30.0  # seconds; the update may still complete, and a retry with the key is safe
ENGINE_DOWN = (
    "Le moteur de workflows ne répond pas. Réessayez avec la même Idempotency-Key : "
    "l'action ne sera pas faite deux fois."
)
DATABASE_DOWN = (
    "La base de données ne répond pas : rien n'a été fait. Réessayez avec la même Idempotency-Key."
)
SLOW = (
    "Pas de réponse du moteur de workflows dans le délai. Réessayez avec la même "
    "Idempotency-Key : l'action ne sera pas faite deux fois."
)

_STATUS = {
    NOT_ALLOWED: status.HTTP_409_CONFLICT,
    FORBIDDEN: status.HTTP_403_FORBIDDEN,
    INVALID: status.HTTP_422_UNPROCESSABLE_CONTENT,
}


class ApiError(HTTPException):
    """An HTTP error whose body carries more than `detail` (code, stage, allowed actions)."""

    def __init__(self, status_code: int, detail: str, **extra: Any) -> None:
        super().__init__(status_code, detail)
        self.extra = extra


def conflict(detail: str, stage: Stage) -> ApiError:
    return ApiError(
        status.HTTP_409_CONFLICT,
        detail,
        code=NOT_ALLOWED,
        stage=stage,
        allowed_actions=allowed_actions(stage),
    )


def update_id(action: str, key: str | None) -> str | None:
    """The Idempotency-Key becomes the update id, so Temporal answers a repeat with the first result."""
    return f"{action}:{key}" if key else None


# The server takes a few updates in flight per workflow; more, at once, get aborted and retried
# in a storm. So this process sends at most this many at a time to one case (a call's registrations).
IN_FLIGHT_PER_CASE = 8
_gates: dict[str, tuple[asyncio.Semaphore, list[int]]] = {}


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


async def send(
    call: Callable[[], Awaitable[T]], on_missing: Callable[[], NoReturn], workflow_id: str
) -> T:
    """Run an update; a refusal becomes 403/409/422, a missing or finished case `on_missing()`."""
    try:
        async with _few_at_once(workflow_id), asyncio.timeout(UPDATE_TIMEOUT):
            return await _with_retries(call)
    except TimeoutError:
        raise ApiError(status.HTTP_503_SERVICE_UNAVAILABLE, SLOW, code="EngineTimeout") from None
    except WorkflowUpdateFailedError as failed:
        cause = failed.cause
        if not isinstance(cause, ApplicationError) or cause.type not in _STATUS:
            raise
        extra = cause.details[0] if cause.details else {}
        raise ApiError(_STATUS[cause.type], cause.message, code=cause.type, **extra) from None
    except RPCError as error:
        if error.status == RPCStatusCode.NOT_FOUND:
            on_missing()
        raise  # unavailable and the like: 503 by the app's handler
    except RuntimeError as error:  # the lazy client could not connect
        if "client connect" not in str(error):
            raise
        raise ApiError(
            status.HTTP_503_SERVICE_UNAVAILABLE, ENGINE_DOWN, code="EngineUnavailable"
        ) from None


RETRIED = (RPCStatusCode.ABORTED, RPCStatusCode.RESOURCE_EXHAUSTED)


async def _with_retries(call: Callable[[], Awaitable[T]], attempts: int = 7) -> T:
    """An update the server aborted or refused before accepting it (a lost workflow task under
    load, a run continuing as new, too many updates in flight on one case) changed nothing: send
    it again, with the same update id, after a growing pause."""
    for attempt in range(attempts - 1):
        try:
            return await call()
        except RPCError as error:
            if error.status not in RETRIED and "aborted" not in str(error).lower():
                raise
            await asyncio.sleep(0.1 * 2**attempt)
    return await call()


async def transition(
    engine: Engine,
    workflow_id: str,
    action: str,
    key: str | None,
    update: Callable[[str], Awaitable[list[Record]]],
    on_missing: Callable[[], NoReturn],
) -> Any:
    """An operator transition: its intent recorded, `update(update_id)` sent, its records written
    to SQL before answering (so the operator's next page shows them), its intent cleared; answer
    the case's new state. If the API stops in between, the worker's sweeper writes the records
    from the update's answer (activities.sweeper)."""
    intents = Intents(engine)
    id_ = f"{API_UPDATES}{action}:{key or uuid.uuid4().hex}"
    try:
        mine = await run_in_threadpool(intents.add, workflow_id, id_)
    except SQLAlchemyError:
        log.warning("intent not recorded", exc_info=True, extra={"workflow_id": workflow_id})
        raise ApiError(
            status.HTTP_503_SERVICE_UNAVAILABLE, DATABASE_DOWN, code="DatabaseUnavailable"
        ) from None

    def settle(records: list[Record]) -> None:
        projection = Projection(engine)
        for record in records:
            projection.write(record, fresh=True)
        if mine:  # else an earlier attempt's outcome may sit in another run: the sweeper's
            intents.clear(workflow_id, id_)

    try:
        records = await send(lambda: update(id_), on_missing, workflow_id)
    except HTTPException as refused:
        if refused.status_code < status.HTTP_500_INTERNAL_SERVER_ERROR:  # nothing to write
            await _settled(lambda: settle([]), workflow_id)
        raise
    await _settled(lambda: settle(records), workflow_id)
    return records[-1].state


async def _settled(write: Callable[[], None], workflow_id: str) -> None:
    """A database error here loses nothing: the intent stays for the sweeper."""
    try:
        await run_in_threadpool(write)
    except SQLAlchemyError:
        log.warning("projection write deferred", exc_info=True, extra={"workflow_id": workflow_id})
