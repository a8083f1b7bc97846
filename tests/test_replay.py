"""Committed histories replay with the current code: a change that breaks running cases fails here."""

from pathlib import Path

import pytest
from temporalio.client import WorkflowHistory
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.worker import Replayer

from worker import WORKFLOWS

HISTORIES = sorted((Path(__file__).parent / "histories").glob("*.json"))


def test_histories_are_committed() -> None:
    kinds = {path.stem.split("-", 1)[1] for path in HISTORIES}
    assert {"call", "expired", "eligible", "withdrawn"} <= kinds
    assert {"results-call", "labelled", "re-evaluation", "rejection-final"} <= kinds
    assert {"support-first-year", "support-last-year"} <= kinds


@pytest.mark.asyncio(loop_scope="session")
@pytest.mark.parametrize("path", HISTORIES, ids=[p.stem for p in HISTORIES])
async def test_history_replays(path: Path) -> None:
    history = WorkflowHistory.from_json(path.stem, path.read_text())
    replayer = Replayer(workflows=WORKFLOWS, data_converter=pydantic_data_converter)
    result = await replayer.replay_workflow(history, raise_on_replay_failure=True)
    assert result.replay_failure is None
