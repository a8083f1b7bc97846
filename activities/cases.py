"""Activities that act on other workflows: start an application, signal many of them."""

import asyncio

from temporalio import activity
from temporalio.client import Client, WorkflowHandle
from temporalio.exceptions import WorkflowAlreadyStartedError
from temporalio.service import RPCError, RPCStatusCode

from domain.ids import application_workflow_id, cluster_workflow_id
from domain.models import ApplicationStart, ClusterStart, Fanout, Told

APPLICATION_WORKFLOW = "ApplicationWorkflow"
CLUSTER_WORKFLOW = "ClusterWorkflow"
SIGNAL_CONCURRENCY = 50


class Cases:
    def __init__(self, client: Client, task_queue: str) -> None:
        self.client = client
        self.task_queue = task_queue

    @activity.defn
    async def start_application(self, start: ApplicationStart) -> None:
        try:
            await self.client.start_workflow(
                APPLICATION_WORKFLOW,
                start,
                id=application_workflow_id(start.state.id),
                task_queue=self.task_queue,
            )
        except WorkflowAlreadyStartedError:
            pass  # a retry: the first attempt started it

    @activity.defn
    async def start_cluster(self, start: ClusterStart) -> None:
        """The support case of a labelled cluster, `cluster-{id}` (id of the labelled application)."""
        try:
            await self.client.start_workflow(
                CLUSTER_WORKFLOW,
                args=[start, None],  # no state yet: its first year
                id=cluster_workflow_id(start.cluster_id),
                task_queue=self.task_queue,
            )
        except WorkflowAlreadyStartedError:
            pass

    @activity.defn
    async def tell(self, told: Told) -> None:
        """One signal with a text (a case's id) to one workflow; one already finished (an
        archived call) has nothing to be told."""
        try:
            await self.client.get_workflow_handle(told.workflow_id).signal(told.signal, told.arg)
        except RPCError as error:
            if error.status != RPCStatusCode.NOT_FOUND:
                raise

    @activity.defn
    async def fan_out(self, fanout: Fanout) -> None:
        """Signal every workflow; resumes after the last heartbeat, and signals are idempotent."""
        done = activity.info().heartbeat_details[0] if activity.info().heartbeat_details else 0
        gate = asyncio.Semaphore(SIGNAL_CONCURRENCY)

        async def signal(workflow_id: str) -> None:
            async with gate:
                handle: WorkflowHandle = self.client.get_workflow_handle(workflow_id)
                try:
                    await handle.signal(fanout.signal, fanout.arg)
                except RPCError as error:
                    if error.status != RPCStatusCode.NOT_FOUND:
                        raise  # NOT_FOUND: already finished (withdrawn), nothing to tell it

        batch = 10 * SIGNAL_CONCURRENCY
        for start in range(done, len(fanout.workflow_ids), batch):
            await asyncio.gather(*(signal(w) for w in fanout.workflow_ids[start : start + batch]))
            activity.heartbeat(start + batch)
