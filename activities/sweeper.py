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
from temporalio.api.common.v1 import WorkflowExecution
from temporalio.api.enums.v1 import UpdateWorkflowExecutionLifecycleStage
from temporalio.api.update.v1 import Outcome, UpdateRef, WaitPolicy
from temporalio.api.workflowservice.v1 import PollWorkflowExecutionUpdateRequest
from temporalio.client import Client
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
EVERY = timedelta(seconds=2)  # how often to look, and how long an attempt is left to the API
# An update not found may still be on its way: the API retries it for up to 30 s
# (api.commands.UPDATE_TIMEOUT). Past this, it was never sent, or its workflow is gone.
GRACE = timedelta(seconds=45)
WAIT = timedelta(seconds=1)  # for an update's answer; one still running is looked at next time
SKEW = timedelta(minutes=1)  # between the API's clock and the engine's
COMPLETED = (
    UpdateWorkflowExecutionLifecycleStage.UPDATE_WORKFLOW_EXECUTION_LIFECYCLE_STAGE_COMPLETED
)


class Running(Exception):
    """The update is still running: its intent waits for the next sweep."""


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
        """Settle the intents last attempted more than `every` ago; answer how many."""
        now = now or datetime.now(UTC)
        due = await asyncio.to_thread(self.intents.tried_before, now - self.every)
        settled = await asyncio.gather(
            *(self._settle(intent, now) for intent in due), return_exceptions=True
        )
        for intent, outcome in zip(due, settled, strict=True):
            if isinstance(outcome, Exception):  # this one is tried again next time, not the rest
                log.warning("intent not settled: %r", outcome, extra=intent.context)
        return sum(outcome is True for outcome in settled)

    async def _settle(self, intent: Intent, now: datetime) -> bool:
        try:
            outcomes = await self._outcomes(intent)
        except Running:
            return False
        if not outcomes:
            if now - intent.attempted_at < self.grace:
                return False  # may still be on its way
            log.warning("intent dropped: its update was not found", extra=intent.context)
        records: list[Record] = []
        kind = RECORDS[intent.workflow_id.split("-", 1)[0]]
        for outcome in outcomes:  # a refused or failed update has nothing to write
            if outcome.HasField("success") and outcome.success.payloads:
                decoded = await self.client.data_converter.decode(
                    outcome.success.payloads, [list[kind]]
                )
                records += decoded[0]
        await asyncio.to_thread(self._write, intent, records)
        return True

    def _write(self, intent: Intent, records: list[Record]) -> None:
        for record in records:
            self.projection.write(record)
        # A retry with the key since this sweep read the intent may have sent a new update: its
        # intent then stays for the next sweep.
        self.intents.clear(intent.workflow_id, intent.update_id, intent.attempted_at)
        if records:
            log.info("transition settled by the sweeper", extra=intent.context)

    async def _outcomes(self, intent: Intent) -> list[Outcome]:
        """The update's outcome in every run that may hold it: the latest, and those before it
        back to the first attempt (a retry with the same key may reach a run continued as new)."""
        outcomes, run_id = [], ""
        while True:
            outcome = await self._outcome(intent, run_id)
            if outcome is not None:
                outcomes.append(outcome)
            started = await self._start(intent.workflow_id, run_id)
            if started is None:
                return outcomes
            began, earlier = started
            if not earlier or began < intent.created_at - SKEW:
                return outcomes
            run_id = earlier

    async def _outcome(self, intent: Intent, run_id: str) -> Outcome | None:
        """The update's outcome in one run, None if the run never had it."""
        request = PollWorkflowExecutionUpdateRequest(
            namespace=self.client.namespace,
            update_ref=UpdateRef(
                workflow_execution=WorkflowExecution(workflow_id=intent.workflow_id, run_id=run_id),
                update_id=intent.update_id,
            ),
            identity=self.client.identity,
            wait_policy=WaitPolicy(lifecycle_stage=COMPLETED),
        )
        try:
            response = await self.client.workflow_service.poll_workflow_execution_update(
                request, timeout=WAIT
            )
        except RPCError as error:
            if error.status == RPCStatusCode.NOT_FOUND:
                return None
            if error.status in (RPCStatusCode.DEADLINE_EXCEEDED, RPCStatusCode.CANCELLED):
                raise Running from None  # our deadline passed first ("Timeout expired")
            raise
        if not response.HasField("outcome"):
            raise Running
        return response.outcome

    async def _start(self, workflow_id: str, run_id: str) -> tuple[datetime, str] | None:
        """When the run started and the run it continued, if any; None if no such workflow."""
        handle = self.client.get_workflow_handle(workflow_id, run_id=run_id or None)
        try:
            async for event in handle.fetch_history_events(page_size=1):
                attributes = event.workflow_execution_started_event_attributes
                return event.event_time.ToDatetime(UTC), attributes.continued_execution_run_id
        except RPCError as error:
            if error.status == RPCStatusCode.NOT_FOUND:
                return None
            raise
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
