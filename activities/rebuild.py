"""Rebuild the SQL projection from the workflows: `python -m activities.rebuild`.

Every transition's projection record (case state, audit event, notifications) sits in its
workflow's history — a regular activity's input, a local activity's result, or an operator
update's answer; writing them again is idempotent, so this fills an empty database, or repairs a
damaged one, with exactly what the workflows recorded.
"""

import argparse
import asyncio
import json
import logging
from collections.abc import Sequence
from typing import Any

from temporalio.api.common.v1 import Payload
from temporalio.api.history.v1 import HistoryEvent
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
WORKFLOW_RECORDS: dict[str, type[Record]] = {
    "CallWorkflow": CallRecord,
    "ApplicationWorkflow": ApplicationRecord,
    "ClusterWorkflow": ClusterRecord,
}


async def rebuild(client: Client, projection: Projection, task_queue: str) -> int:
    """Write again every projection record found in the histories; answer how many transitions
    were found (a transition answered by an update and then written by its workflow counts once)."""
    types = " OR ".join(f"WorkflowType = '{name}'" for name in WORKFLOW_RECORDS)
    seen: set[tuple[str, int]] = set()
    async for execution in client.list_workflows(f"TaskQueue = '{task_queue}' AND ({types})"):
        handle = client.get_workflow_handle(execution.id, run_id=execution.run_id)
        async for event in handle.fetch_history_events():
            found = recorded(event, execution.workflow_type)
            if found is None:
                continue
            kind, payloads = found
            [value] = await client.data_converter.decode(payloads, [kind])
            for record in value if isinstance(value, list) else [value]:
                key = (record.event.workflow_id, record.event.seq)
                if key not in seen:
                    seen.add(key)
                    await asyncio.to_thread(projection.write, record, True)
    return len(seen)


def recorded(event: HistoryEvent, workflow_type: str) -> tuple[Any, Sequence[Payload]] | None:
    """Projection records in a history event, and the type to decode them with."""
    if event.HasField("workflow_execution_update_completed_event_attributes"):
        outcome = event.workflow_execution_update_completed_event_attributes.outcome
        # Operator transitions answer their records; earlier versions answered the bare state.
        if not outcome.HasField("success") or not outcome.success.payloads:
            return None
        if not isinstance(json.loads(outcome.success.payloads[0].data), list):
            return None
        return list[WORKFLOW_RECORDS[workflow_type]], outcome.success.payloads
    if event.HasField("activity_task_scheduled_event_attributes"):
        scheduled = event.activity_task_scheduled_event_attributes
        kind = RECORDS.get(scheduled.activity_type.name)
        return (kind, scheduled.input.payloads) if kind else None
    if event.HasField("marker_recorded_event_attributes"):
        details = event.marker_recorded_event_attributes.details
        if "data" not in details or "result" not in details:
            return None
        data = json.loads(details["data"].payloads[0].data)
        kind = RECORDS.get(data.get("activity_type", ""))
        return (kind, details["result"].payloads) if kind else None
    return None


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
