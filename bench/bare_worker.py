"""A worker process for the baseline workflows alone, on the same workflow runner as the
service's worker (bench.memory measures its memory).

TEMPORAL_ADDRESS=127.0.0.1:7233 TASK_QUEUE=bare .venv/bin/python -m bench.bare_worker
"""

import asyncio

from temporalio.worker import Worker

from bench.baseline import BASELINE_WORKFLOWS
from settings import Settings, connect_temporal
from worker import workflow_runner


async def main() -> None:
    settings = Settings()
    client = await connect_temporal(settings)
    await Worker(
        client,
        task_queue=settings.task_queue,
        workflows=BASELINE_WORKFLOWS,
        workflow_runner=workflow_runner(settings.workflow_sandbox),  # the service's, for fairness
    ).run()


if __name__ == "__main__":
    asyncio.run(main())
