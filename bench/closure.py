"""Deadline closure: a call with N received applications reaches its deadline.

Measured from the deadline until every application is in eligibility review in the SQL projection.
The projection row is written by an activity the workflow schedules after its own state changed,
so a case in review in SQL is in review in Temporal too; a sample is then checked in Temporal
itself (an update its validator rejects, answering the workflow's stage, writes nothing).
The baseline is as many `BareTimer` workflows, each sleeping until one shared moment, measured
until the last one completed (visibility count of running ones reaching zero).

    .venv/bin/python -m bench.closure [--n 10000] [--quick]
"""

import asyncio
import random
import time
from datetime import UTC, datetime, timedelta

from sqlmodel import Session, func, select
from temporalio.client import WorkflowUpdateFailedError

from bench.baseline import BareTimer
from bench.common import Stack, arguments, pool, registered_call, report, stack, timed, until
from domain.bodies import Withdrawal
from domain.ids import application_workflow_id
from domain.models import Actor
from domain.stages import Role
from projection.tables import AuditRow, CallRow
from workflows.application import ApplicationWorkflow

TIMER_STARTS_PER_S = 30  # a floor for this machine; a slower start fails loudly, never silently
SAMPLE = 500  # applications whose stage is read back from Temporal itself
MARKS = (0.5, 0.9, 1.0)


async def progress(probe, n: int, start: float, poll: float, timeout: float) -> dict[str, float]:
    """Seconds after `start` at which `probe()` first reached each fraction of `n` in MARKS."""
    seen: dict[str, float] = {}
    limit = time.monotonic() + timeout
    while len(seen) < len(MARKS):
        done = await probe()
        now = time.monotonic() - start
        for mark in MARKS:
            if done >= mark * n and f"{mark:.0%}" not in seen:
                seen[f"{mark:.0%}"] = round(now, 2)
        if time.monotonic() > limit:
            raise TimeoutError(f"{done} of {n} after {timeout:.0f} s")
        await asyncio.sleep(poll)
    return seen


async def bare_timers(s: Stack, n: int) -> dict[str, float]:
    at = datetime.now(UTC) + timedelta(seconds=n / TIMER_STARTS_PER_S + 10)

    async def start(i: int) -> None:
        await s.client.start_workflow(
            BareTimer.run, at, id=f"timer-{i}", task_queue=s.baseline_queue
        )

    await pool(n, 50, start)
    if datetime.now(UTC) > at - timedelta(seconds=1):
        raise RuntimeError("starting the timers outran their moment: rerun on a quieter machine")
    await until(at)
    begin = time.monotonic()

    async def fired() -> int:
        query = f"WorkflowType = 'BareTimer' AND ExecutionStatus = 'Running' AND TaskQueue = '{s.baseline_queue}'"
        return n - (await s.client.count_workflows(query)).count

    return await progress(fired, n, begin, poll=0.25, timeout=1800)


async def stage_in_temporal(s: Stack, application_id: str) -> str:
    """The workflow's stage, read from its validator's refusal (withdraw is refused after the deadline)."""
    handle = s.client.get_workflow_handle(application_workflow_id(application_id))
    try:
        await handle.execute_update(
            ApplicationWorkflow.withdraw,
            args=[Actor(name="O", role=Role.OPERATOR), Withdrawal(reason="Sonde")],
        )
    except WorkflowUpdateFailedError as refused:
        return refused.cause.details[0]["stage"]  # type: ignore[attr-defined]
    raise RuntimeError(f"application {application_id} was withdrawn: it was still open")


async def main() -> None:
    args = arguments(__doc__.splitlines()[0], default_n=10_000, quick_n=300)
    n = args.n
    async with stack(baseline=True) as s:
        bare = await bare_timers(s, n)
        seeded = await registered_call(s, n)
        await until(seeded.deadline)
        begin = time.monotonic()

        async def reviewed() -> int:
            return await asyncio.to_thread(s.count, seeded.call_id, "eligibility_review")

        service = await progress(reviewed, n, begin, poll=0.1, timeout=1800)
        with Session(s.engine) as db:
            closed_call = db.get(CallRow, seeded.call_id)
            audited = db.exec(
                select(func.count()).where(
                    AuditRow.action == "close_submissions",
                    AuditRow.case_id.in_(seeded.ids),  # type: ignore[attr-defined]
                )
            ).one()
        sample = random.sample(seeded.ids, min(SAMPLE, n))
        check_s, stages = await timed(
            pool(len(sample), 20, lambda i: stage_in_temporal(s, sample[i]))
        )
        in_temporal = sum(stage == "eligibility_review" for stage in stages)
    ratio = round(service["100%"] / bare["100%"], 2)
    missed = n - audited
    rows = [
        [f"service: {n} applications to review", *service.values()],
        [f"bare: {n} timers fired", *bare.values()],
        ["ratio", *(round(service[k] / bare[k], 2) for k in service)],
    ]
    report(
        "closure",
        ["what (seconds after the deadline)", *(f"{k} done" for k in service)],
        rows,
        {
            "n": n,
            "service_s": service,
            "bare_s": bare,
            "ratio": ratio,
            "target": "ratio <= 2, none missed",
            "call_stage": closed_call.stage if closed_call else None,
            "missed_in_sql": missed,
            "temporal_sample": len(sample),
            "temporal_sample_in_review": in_temporal,
            "temporal_check_s": round(check_s, 1),
            "registrations_per_s": round(seeded.per_second, 1),
        },
        [
            f"seeded through the API: {n} registrations on one call at "
            f"{seeded.per_second:.1f}/s (8 at once: the server's limit of 10 updates in flight "
            "per workflow)",
            f"missed: {missed} (close_submissions audit events: {audited} of {n}); "
            f"Temporal sample: {in_temporal} of {len(sample)} in eligibility review",
            "service polled in SQL every 0.1 s, bare timers in visibility every 0.25 s",
        ],
    )


if __name__ == "__main__":
    asyncio.run(main())
