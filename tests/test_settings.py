"""Settings read from the environment that change how the service runs."""

import pytest
from temporalio.worker import UnsandboxedWorkflowRunner
from temporalio.worker.workflow_sandbox import SandboxedWorkflowRunner

from settings import Settings
from worker import workflow_runner


@pytest.mark.parametrize(
    ("value", "runner"),
    [
        (None, UnsandboxedWorkflowRunner),
        ("0", UnsandboxedWorkflowRunner),
        ("", UnsandboxedWorkflowRunner),
        ("1", SandboxedWorkflowRunner),
    ],
)
def test_the_deployed_worker_keeps_the_sandbox_only_when_asked(
    monkeypatch: pytest.MonkeyPatch, value: str | None, runner: type
) -> None:
    if value is None:
        monkeypatch.delenv("WORKFLOW_SANDBOX", raising=False)
    else:
        monkeypatch.setenv("WORKFLOW_SANDBOX", value)
    assert isinstance(workflow_runner(Settings().workflow_sandbox), runner)
