"""Runs the Temporal worker: the workflows and every activity, on one task queue."""

import asyncio
import gc
import logging
from concurrent.futures import ThreadPoolExecutor

from sqlalchemy import Engine
from temporalio.client import Client
from temporalio.worker import UnsandboxedWorkflowRunner, Worker, WorkflowRunner
from temporalio.worker.workflow_sandbox import SandboxedWorkflowRunner

from activities.cases import Cases
from activities.mail import Mail, Relay
from activities.minutes import Keystore, Minutes
from activities.money import Money
from activities.prechecks import Prechecks
from activities.records import Records
from activities.redress import RedressDossiers
from activities.sessions import Sessions
from observability import configure_logging, metrics_runtime
from projection.database import make_engine, migrate
from projection.storage import Storage
from settings import Settings, connect_temporal, storage_options
from workflows.application import ApplicationWorkflow
from workflows.call import CallWorkflow
from workflows.cluster import ClusterWorkflow
from workflows.session import SessionWorkflow

WORKFLOWS = [CallWorkflow, ApplicationWorkflow, ClusterWorkflow, SessionWorkflow]


def workflow_runner(sandboxed: bool) -> WorkflowRunner:
    """The sandbox is the tests' and tools' default, which fails non-deterministic workflow code;
    the deployed worker runs without it unless asked (Settings.workflow_sandbox)."""
    return SandboxedWorkflowRunner() if sandboxed else UnsandboxedWorkflowRunner()


def build_worker(
    client: Client,
    engine: Engine,
    task_queue: str,
    sandboxed: bool = True,
    relay: Relay | None = None,
    storage: Storage | None = None,
    settings: Settings | None = None,
) -> Worker:
    """`relay`: where notices are sent, `storage`: where the documents the service builds are
    kept; by default, as `settings` (the environment's) say, as they do for the signing keys."""
    settings = settings or Settings()
    storage = storage or Storage(settings.documents_url, **storage_options(settings))
    records = Records(engine)
    cases = Cases(client, task_queue)
    mail = Mail(engine, relay or Relay.from_settings(settings), storage)
    sessions = Sessions(engine, client)
    keys = Keystore(settings.signing_keys_dir, settings.signing_passphrase)
    minutes = Minutes(engine, storage, keys)
    dossiers = RedressDossiers(engine, storage)
    money = Money(engine)
    return Worker(
        client,
        task_queue=task_queue,
        workflows=WORKFLOWS,
        workflow_runner=workflow_runner(sandboxed),
        activities=[
            records.record_call,
            records.record_application,
            records.record_cluster,
            records.record_session,
            records.count_undecided,
            Prechecks(engine).run_prechecks,
            cases.start_application,
            cases.start_cluster,
            cases.fan_out,
            cases.tell,
            money.set_envelopes,
            money.moves,
            money.next_in_reserve,
            mail.deliver_notice,
            mail.give_up_notice,
            sessions.agenda,
            sessions.tell_agenda,
            sessions.decide,
            minutes.build_pack,
            minutes.build_pv,
            minutes.sign_pv,
            dossiers.build_redress_dossier,
        ],
        # Projection writes are blocking SQL: they run in threads, off the event loop.
        activity_executor=ThreadPoolExecutor(max_workers=16),
    )


async def main() -> None:
    settings = Settings()
    configure_logging(settings)
    engine = make_engine(settings.database_url)
    migrate(engine)
    client = await connect_temporal(settings, runtime=metrics_runtime(settings))
    logging.info("worker on task queue %s", settings.task_queue)
    worker = build_worker(client, engine, settings.task_queue, settings.workflow_sandbox)
    gc.freeze()  # startup's objects live on: full collections skip them
    await worker.run()


if __name__ == "__main__":
    asyncio.run(main())
