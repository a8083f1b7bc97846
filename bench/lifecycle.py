"""Full lifecycle throughput: applications per second from registration to the committee's label.

Each application: registration (an update on its call), the deadline closes the call by itself,
then nine updates through the API (mark_eligible, assign_evaluators with 3 evaluators,
declare_interest and submit_scores by each, label), 50 applications in flight at once. The
baseline starts as many `BareCase` workflows and sends each the same ten updates in the same
shape (start and first update 8 at once, then 50 in flight). The idle wait between the last registration and the deadline is not counted.

    .venv/bin/python -m bench.lifecycle [--n 500] [--quick]
"""

import asyncio
import time

from bench.baseline import BareCase
from bench.common import (
    REGISTER_CONCURRENCY,
    Stack,
    arguments,
    decision_steps,
    pool,
    registered_call,
    report,
    stack,
    timed,
    until,
    wait_for,
)

IN_FLIGHT = 50


async def bare(s: Stack, n: int, updates: int) -> tuple[float, float]:
    """The same shape on bare workflows: start and one update each, 8 at once (as registration);
    then the remaining updates one after the other, 50 workflows in flight. Seconds of each phase."""
    handles = []

    async def start(i: int) -> None:
        handle = await s.client.start_workflow(
            BareCase.run, id=f"bare-lifecycle-{i}", task_queue=s.baseline_queue
        )
        await handle.execute_update(BareCase.bump)
        handles.append(handle)

    async def rest(i: int) -> None:
        for _ in range(updates - 1):
            await handles[i].execute_update(BareCase.bump)

    started, _ = await timed(pool(n, REGISTER_CONCURRENCY, start))
    updated, _ = await timed(pool(n, IN_FLIGHT, rest))
    return started, updated


async def main() -> None:
    args = arguments(__doc__.splitlines()[0], default_n=500, quick_n=60)
    n = args.n
    steps = decision_steps()
    async with stack(baseline=True) as s:
        bare_start_s, bare_rest_s = await bare(s, n, 1 + len(steps))
        seeded = await registered_call(s, n)
        register_s = n / seeded.per_second
        await until(seeded.deadline)
        begin = time.monotonic()
        reviewed = await wait_for(
            lambda: s.count(seeded.call_id, "eligibility_review"), n, timeout=1800
        )
        close_s = reviewed - begin
        await s.post(f"/calls/{seeded.call_id}/start_evaluation", "t-admin")

        async def decide(i: int) -> None:
            for action, token, body in steps:
                await s.post(f"/applications/{seeded.ids[i]}/{action}", token, body)

        decide_s, _ = await timed(pool(n, IN_FLIGHT, decide))
        labelled = s.count(seeded.call_id, "labelled")
    if labelled != n:
        raise RuntimeError(f"only {labelled} of {n} applications labelled")
    service_s = register_s + close_s + decide_s
    bare_s = bare_start_s + bare_rest_s
    updates = 1 + len(steps)
    rows = [
        ["service: registration", n, round(register_s, 1), round(n / register_s, 1), ""],
        ["service: deadline closure (clock)", n, round(close_s, 1), round(n / close_s, 1), ""],
        ["service: review to label (9 updates)", n, round(decide_s, 1), round(n / decide_s, 1), ""],
        ["service: whole lifecycle", n, round(service_s, 1), round(n / service_s, 2), ""],
        ["bare: start + 1 update", n, round(bare_start_s, 1), round(n / bare_start_s, 1), ""],
        [
            f"bare: {updates - 1} more updates",
            n,
            round(bare_rest_s, 1),
            round(n / bare_rest_s, 1),
            "",
        ],
        ["bare: whole", n, round(bare_s, 1), round(n / bare_s, 2), ""],
        ["ratio (bare / service throughput)", "", "", "", round(service_s / bare_s, 2)],
    ]
    report(
        "lifecycle",
        ["phase", "applications", "seconds", "applications/s", "ratio"],
        rows,
        {
            "n": n,
            "service_per_s": round(n / service_s, 2),
            "bare_per_s": round(n / bare_s, 2),
            "service_updates_per_s": round(n * updates / service_s, 1),
            "bare_updates_per_s": round(n * updates / bare_s, 1),
            "phases_s": {
                "registration": round(register_s, 1),
                "closure": round(close_s, 1),
                "review_to_label": round(decide_s, 1),
            },
            "ratio": round(service_s / bare_s, 2),
        },
        [
            f"registration through the API, {REGISTER_CONCURRENCY} at once (the server allows 10 "
            "updates in flight per workflow, and every registration is an update on the call)",
            f"then {IN_FLIGHT} applications in flight, each with its 9 updates one after the other",
            f"{updates} updates per application in both; labelled at the end: {labelled} of {n}",
        ],
    )


if __name__ == "__main__":
    asyncio.run(main())
