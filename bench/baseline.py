"""The "bare Temporal" baselines: minimal workflows measured beside the service in the same run."""

from datetime import datetime, timedelta

from temporalio import workflow


@workflow.defn
class BareCase:
    """A case reduced to a counter: each update increments it and answers, nothing else."""

    def __init__(self) -> None:
        self.count = 0

    @workflow.run
    async def run(self) -> None:
        await workflow.wait_condition(lambda: False)  # stays open, as a case does

    @workflow.update
    async def bump(self) -> int:
        self.count += 1
        return self.count


@workflow.defn
class BareTimer:
    """One timer until a given moment, then done: what a deadline costs the engine alone."""

    @workflow.run
    async def run(self, at: datetime) -> datetime:
        await workflow.sleep(max(at - workflow.now(), timedelta(0)))
        return workflow.now()


BASELINE_WORKFLOWS = [BareCase, BareTimer]
