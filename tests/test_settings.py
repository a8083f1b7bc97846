"""Settings read from the environment that change how the service runs."""

import pytest
from sqlalchemy import create_engine
from temporalio.client import Client
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.worker import UnsandboxedWorkflowRunner
from temporalio.worker.workflow_sandbox import SandboxedWorkflowRunner

from settings import Settings
from worker import build_worker

pytestmark = pytest.mark.asyncio(loop_scope="session")


@pytest.mark.parametrize(
    ("value", "runner"),
    [
        (None, UnsandboxedWorkflowRunner),
        ("0", UnsandboxedWorkflowRunner),
        ("", UnsandboxedWorkflowRunner),
        ("1", SandboxedWorkflowRunner),
    ],
)
async def test_the_deployed_worker_keeps_the_sandbox_only_when_asked(
    monkeypatch: pytest.MonkeyPatch, value: str | None, runner: type
) -> None:
    if value is None:
        monkeypatch.delenv("WORKFLOW_SANDBOX", raising=False)
    else:
        monkeypatch.setenv("WORKFLOW_SANDBOX", value)
    client = await Client.connect(
        "127.0.0.1:1", lazy=True, data_converter=pydantic_data_converter
    )  # never reached: building a worker connects nothing
    settings = Settings()
    worker = build_worker(client, create_engine("sqlite://"), "q", settings.workflow_sandbox)
    assert isinstance(worker.config()["workflow_runner"], runner)
