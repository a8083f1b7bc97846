"""Rebuild the SQL projection from the workflows: `python -m activities.rebuild`.

Every transition's projection write is an activity whose input (case state, audit event,
notifications) sits in its workflow's history; writing them again is idempotent, so this fills
an empty database, or repairs a damaged one, with exactly what the workflows recorded.
"""

import argparse
import asyncio
import logging

from temporalio.client import Client

from activities.database import create_schema, make_engine
from activities.projection import Projection, Record
from domain.models import ApplicationRecord, CallRecord
from domain.support import ClusterRecord
from settings import Settings, connect_temporal

RECORDS: dict[str, type[Record]] = {
    "record_call": CallRecord,
    "record_application": ApplicationRecord,
    "record_cluster": ClusterRecord,
}
WORKFLOW_TYPES = ("CallWorkflow", "ApplicationWorkflow", "ClusterWorkflow")


async def rebuild(client: Client, projection: Projection, task_queue: str) -> int:
    """Write again every projection record found in the histories; answer how many were read."""
    types = " OR ".join(f"WorkflowType = '{name}'" for name in WORKFLOW_TYPES)
    read = 0
    async for execution in client.list_workflows(f"TaskQueue = '{task_queue}' AND ({types})"):
        handle = client.get_workflow_handle(execution.id, run_id=execution.run_id)
        async for event in handle.fetch_history_events():
            if not event.HasField("activity_task_scheduled_event_attributes"):
                continue
            scheduled = event.activity_task_scheduled_event_attributes
            kind = RECORDS.get(scheduled.activity_type.name)
            if kind is None:
                continue
            [record] = await client.data_converter.decode(scheduled.input.payloads, [kind])
            await asyncio.to_thread(projection.write, record, True)
            read += 1
    return read


async def main() -> None:
    settings = Settings()
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--task-queue", default=settings.task_queue)
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    engine = make_engine(settings.database_url)
    create_schema(engine)
    client = await connect_temporal(settings)
    count = await rebuild(client, Projection(engine), args.task_queue)
    print(f"{count} transitions relues dans l'historique des workflows → {settings.database_url}")


if __name__ == "__main__":
    asyncio.run(main())
