"""Rebuild the SQL projection from the workflows: `python -m projection.rebuild`.

Every transition's record (case state, audit event, notifications) sits in its workflow's
history, as the result of the local activity that wrote it; writing them again is idempotent, so
this fills an empty database, or repairs a damaged one, with exactly what the workflows recorded.
It then checks that the storage holds every file the cases refer to, and lists those it lacks
(restore them from the files' backup: see the README, « Sauvegardes »).
"""

import argparse
import asyncio
import json
import logging
from collections.abc import Sequence

from sqlalchemy import Engine
from sqlmodel import Session, col, select
from temporalio.api.common.v1 import Payload
from temporalio.api.history.v1 import HistoryEvent
from temporalio.client import Client

from domain.models import ApplicationRecord, CallRecord
from domain.support import ClusterRecord
from projection.database import make_engine, migrate
from projection.storage import Storage
from projection.tables import DocumentRow
from projection.writes import Projection, Record
from settings import Settings, connect_temporal, storage_options

# The activities that write a record, and the record each answers.
RECORDS: dict[str, type[Record]] = {
    "record_call": CallRecord,
    "record_application": ApplicationRecord,
    "record_cluster": ClusterRecord,
}
WORKFLOWS = ("CallWorkflow", "ApplicationWorkflow", "ClusterWorkflow")


async def rebuild(client: Client, projection: Projection, task_queue: str) -> int:
    """Write again every record found in the histories; answer how many transitions."""
    types = " OR ".join(f"WorkflowType = '{name}'" for name in WORKFLOWS)
    count = 0
    async for execution in client.list_workflows(f"TaskQueue = '{task_queue}' AND ({types})"):
        handle = client.get_workflow_handle(execution.id, run_id=execution.run_id)
        async for event in handle.fetch_history_events():
            found = recorded(event)
            if found is not None:
                kind, payloads = found
                [record] = await client.data_converter.decode(payloads, [kind])
                await asyncio.to_thread(projection.write, record, True)
                count += 1
    return count


def recorded(event: HistoryEvent) -> tuple[type[Record], Sequence[Payload]] | None:
    """The record a local activity's marker holds, and its type; None for any other event."""
    if not event.HasField("marker_recorded_event_attributes"):
        return None
    details = event.marker_recorded_event_attributes.details
    if "data" not in details or "result" not in details:
        return None
    kind = RECORDS.get(json.loads(details["data"].payloads[0].data).get("activity_type", ""))
    return (kind, details["result"].payloads) if kind else None


def missing_files(engine: Engine, storage: Storage) -> list[DocumentRow]:
    """The files the cases refer to that the storage does not hold."""
    with Session(engine) as db:
        rows = list(db.exec(select(DocumentRow).order_by(col(DocumentRow.uploaded_at))))
    return [row for row in rows if not storage.exists(row.sha256)]


async def main() -> None:
    settings = Settings()
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--task-queue", default=settings.task_queue)
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    engine = make_engine(settings.database_url)
    migrate(engine)
    client = await connect_temporal(settings)
    count = await rebuild(client, Projection(engine), args.task_queue)
    print(f"{count} transitions relues dans l'historique des workflows → {settings.database_url}")
    storage = Storage(settings.documents_url, **storage_options(settings))
    missing = missing_files(engine, storage)
    for row in missing:
        print(
            f"Fichier absent du stockage : {row.case_kind} {row.case_id} « {row.filename} »"
            f" ({row.kind}), SHA-256 {row.sha256}"
        )
    print(f"{len(missing)} fichier(s) absent(s) du stockage ({settings.documents_url}).")
    if missing:
        raise SystemExit(1)


if __name__ == "__main__":
    asyncio.run(main())
