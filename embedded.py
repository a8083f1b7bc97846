"""The whole service on one machine: Temporal dev server on a SQLite file, the worker and the API.

State lives under the data folder (CLUSTERS_DATA_DIR, default ./data) and survives restarts.
"""

import asyncio
import contextlib
import logging
import os
import signal
from collections.abc import Iterator

import uvicorn
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.testing import WorkflowEnvironment

from api.main import create_app
from observability import configure_logging, metrics_runtime
from projection.database import create_schema, make_engine
from settings import DATA_DIR, Settings, bundled_binary
from worker import build_worker

log = logging.getLogger("embedded")


class Server(uvicorn.Server):
    """uvicorn raises the stop signal again once it has shut down, which ends the process before
    the worker and the dev server are stopped (a dev server left running on its port): here the
    signal only stops the API, and the rest shuts down in order."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, self.handle_exit, sig, None)
        try:
            yield
        finally:
            for sig in (signal.SIGINT, signal.SIGTERM):
                loop.remove_signal_handler(sig)


async def main() -> None:
    os.environ.setdefault("LOG_FORMAT", "text")  # a terminal, not a log collector
    os.environ.setdefault("METRICS_ADDRESS", "127.0.0.1:9464")
    settings = Settings()
    configure_logging(settings)
    host, _, port = settings.temporal_address.rpartition(":")
    api_port = int(os.environ.get("API_PORT", "8000"))
    ui_port = int(os.environ.get("TEMPORAL_UI_PORT", "8233"))
    DATA_DIR.mkdir(parents=True, exist_ok=True)
    engine = make_engine(settings.database_url)
    create_schema(engine)
    async with await WorkflowEnvironment.start_local(
        namespace=settings.temporal_namespace,
        ip=host or "127.0.0.1",
        port=int(port),
        ui=True,
        ui_port=ui_port,
        data_converter=pydantic_data_converter,
        runtime=metrics_runtime(settings),
        dev_server_existing_path=bundled_binary("temporal"),
        dev_server_database_filename=str(DATA_DIR / "temporal.db"),
    ) as env:
        app = create_app(settings, client=env.client, engine=engine)
        server = Server(uvicorn.Config(app, host="127.0.0.1", port=api_port))
        worker = build_worker(env.client, engine, settings.task_queue, settings.workflow_sandbox)
        async with worker:
            log.warning(
                "Service prêt — API http://127.0.0.1:%s/docs · Temporal UI http://127.0.0.1:%s "
                "· métriques http://%s/metrics · jetons : %s",
                api_port,
                ui_port,
                settings.metrics_address,
                settings.tokens_file if not settings.api_tokens else "API_TOKENS",
            )
            await server.serve()


if __name__ == "__main__":
    try:
        asyncio.run(main())
    except KeyboardInterrupt:
        pass
