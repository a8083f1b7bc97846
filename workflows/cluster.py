"""ClusterWorkflow `cluster-{id}`: the support case a labelled application starts.

A stub until the renewal issue lands: it holds the link to its application and call and waits for
the programme contract. The id scheme is final: `cluster-{id of the labelled application}`.
"""

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from domain.models import ClusterStart


@workflow.defn
class ClusterWorkflow:
    @workflow.init
    def __init__(self, start: ClusterStart) -> None:
        self.start = start

    @workflow.run
    async def run(self, start: ClusterStart) -> None:
        await workflow.wait_condition(lambda: False)  # the renewal issue gives it a lifecycle

    @workflow.query
    def describe(self) -> ClusterStart:
        return self.start
