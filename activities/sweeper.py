"""Settles the operator transitions the API sent but did not write to SQL (it stopped, or the
database failed its write): each one's records are read from its update's answer in Temporal.

Runs beside the worker. Several sweepers at once are harmless: projection writes are idempotent.
"""

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta

from sqlalchemy import Engine
from temporalio.client import Client, WorkflowHandle, WorkflowUpdateFailedError
from temporalio.service import RPCError, RPCStatusCode

from activities.intents import Intent, Intents
from activities.projection import Projection, Record
from domain.models import ApplicationRecord, CallRecord
from domain.support import ClusterRecord

log = logging.getLogger(__name__)
# By the prefix of the workflow id, the records its updates answer.
RECORDS: dict[str, type[Record]] = {
    "call": CallRecord,
    "application": ApplicationRecord,
    "cluster": ClusterRecord,
}
EVERY = timedelta(seconds=2)  # how often to look, and how old an intent must be to be looked at
# An update not found may still be on its way: the API retries it for up to 30 s
# (api.commands.UPDATE_TIMEOUT). Past this, it was never sent, or its workflow is gone.
GRACE = timedelta(seconds=45)
WAIT = 1.0  # seconds for an update's answer; one still running is looked at again next time
RUNS_BACK = 5  # runs (continue-as-new) searched for an update answered before the latest one


class Sweeper:
    def __init__(
        self, client: Client, engine: Engine, every: timedelta = EVERY, grace: timedelta = GRACE
    ) -> None:
        self.client = client
        self.intents = Intents(engine)
        self.projection = Projection(engine)
        self.every = every
        self.grace = grace

    async def run(self) -> None:
        while True:
            try:
                await self.sweep()
            except Exception:  # the database or the engine is down: try again next time
                log.warning("intent sweep failed", exc_info=True)
            await asyncio.sleep(self.every.total_seconds())

    async def sweep(self, now: datetime | None = None) -> int:
        """Settle the intents older than `every`; answer how many were settled."""
        now = now or datetime.now(UTC)
        due = await asyncio.to_thread(self.intents.older_than, now - self.every)
        settled = await asyncio.gather(
            *(self._settle(intent, now) for intent in due), return_exceptions=True
        )
        for intent, outcome in zip(due, settled, strict=True):
            if isinstance(outcome, Exception):  # this one is tried again next time, not the rest
                log.warning(
                    "intent not settled: %r",
                    outcome,
                    extra={"workflow_id": intent.workflow_id, "update_id": intent.update_id},
                )
        return sum(outcome is True for outcome in settled)

    async def _settle(self, intent: Intent, now: datetime) -> bool:
        try:
            records = await self._answer(intent)
        except WorkflowUpdateFailedError:
            records = []  # refused or failed: nothing to write
        except TimeoutError:
            return False  # still running
        except RPCError as error:
            if error.status != RPCStatusCode.NOT_FOUND or now - intent.created_at < self.grace:
                return False
            records = []  # never sent, or its workflow is gone
            log.warning("intent dropped: %s", error, extra={"workflow_id": intent.workflow_id})
        await asyncio.to_thread(self._write, intent, records)
        return True

    def _write(self, intent: Intent, records: list[Record]) -> None:
        for record in records:
            self.projection.write(record)
        self.intents.clear(intent.update_id)
        log.info(
            "transition settled by the sweeper",
            extra={"workflow_id": intent.workflow_id, "update_id": intent.update_id},
        )

    async def _answer(self, intent: Intent) -> list[Record]:
        """The update's records, from the latest run or, after a continue-as-new, an earlier one."""
        kind = RECORDS[intent.workflow_id.split("-", 1)[0]]
        handle: WorkflowHandle = self.client.get_workflow_handle(intent.workflow_id)
        for _ in range(RUNS_BACK):
            update = handle.get_update_handle(intent.update_id, result_type=list[kind])
            try:
                async with asyncio.timeout(WAIT):
                    return await update.result()
            except RPCError as error:
                if error.status != RPCStatusCode.NOT_FOUND:
                    raise
                earlier = await _earlier_run(handle)
                if earlier is None:
                    raise
                handle = self.client.get_workflow_handle(intent.workflow_id, run_id=earlier)
        raise RPCError("update not found in the latest runs", RPCStatusCode.NOT_FOUND, b"")


async def _earlier_run(handle: WorkflowHandle) -> str | None:
    """The run this one continued, if any."""
    async for event in handle.fetch_history_events(page_size=1):
        return event.workflow_execution_started_event_attributes.continued_execution_run_id or None
    return None


@asynccontextmanager
async def sweeping(sweeper: Sweeper) -> AsyncIterator[None]:
    """The sweeper's loop, for as long as the block runs."""
    task = asyncio.create_task(sweeper.run())
    try:
        yield
    finally:
        task.cancel()
        try:
            await task
        except asyncio.CancelledError:
            pass
