"""Transition latency: an operator transition through the HTTP API versus a bare Temporal update.

The service's transition is `mark_eligible` on a case in eligibility review: the API checks the
token and sends the update; the workflow applies it, writes the case row, the audit event and
the notification in one SQL transaction (a local activity), then answers the new state. The
baseline is an update on `BareCase`, which only increments a counter. Both run one at a time, then 50 at once, interleaved so that drift on the
machine hits both alike. The default n = 500 gives ten rounds of 50 at once. What a transition
leaves running after its answer (its notice: an activity, an e-mail, one more workflow task) is
let finish before the bare updates are measured, so that it is charged to the service, not to
the baseline.

Where the time of an update sent one at a time goes is then read from its workflow's history (the
server's timestamps of the workflow task that carried it; one clock, one machine): before the task
is scheduled (the API, the RPC), waiting for the worker, in the worker (the handler, the local
activity and its SQL), and after (the server's write, the answer back through the API).

    .venv/bin/python -m bench.latency [--n 500] [--quick]
"""

import asyncio
import time
from collections.abc import Iterable, Sequence

from temporalio.api.enums.v1 import EventType
from temporalio.client import Client, WorkflowHandle

from bench.baseline import BareCase
from bench.common import (
    Stack,
    arguments,
    latency_ms,
    pool,
    registered_call,
    report,
    stack,
    until,
    wait_for,
)

AT_ONCE = 50
WARM_UP = 20
# An update's way through its workflow task, event by event: (segment, the event that ends it).
TASK = EventType.EVENT_TYPE_WORKFLOW_TASK_SCHEDULED
STEPS = (
    ("request -> task scheduled (API, RPC)", TASK),
    ("scheduled -> started (to the worker)", EventType.EVENT_TYPE_WORKFLOW_TASK_STARTED),
    ("started -> completed (worker: handler, SQL)", EventType.EVENT_TYPE_WORKFLOW_TASK_COMPLETED),
    ("completed -> answer (server write, reply)", None),
)
ANSWERED = EventType.EVENT_TYPE_WORKFLOW_EXECUTION_UPDATE_COMPLETED


async def main() -> None:
    args = arguments(__doc__.splitlines()[0], default_n=500, quick_n=50)
    n = max(args.n, AT_ONCE)
    async with stack(baseline=True) as s:
        total = WARM_UP + 2 * n
        seeded = await registered_call(s, total)
        bare = await pool(total, AT_ONCE, lambda i: start_bare(s, i))
        await until(seeded.deadline)
        await wait_for(lambda: s.count(seeded.call_id, "eligibility_review"), total, timeout=600)
        cases = iter(seeded.ids)
        handles = iter(bare)

        sent: dict[str, list[tuple[str, float, float]]] = {"service": [], "bare": []}

        async def service() -> float:
            case = next(cases)
            wall, start = time.time(), time.perf_counter()
            await s.post(f"/applications/{case}/mark_eligible", json={"note": "Dossier complet"})
            sent["service"].append((f"application-{case}", wall, time.time()))
            return time.perf_counter() - start

        async def baseline() -> float:
            handle = next(handles)
            wall, start = time.time(), time.perf_counter()
            await handle.execute_update(BareCase.bump)
            sent["bare"].append((handle.id, wall, time.time()))
            return time.perf_counter() - start

        async def settled(count: int) -> None:
            await quiet(s.client, (workflow_id for workflow_id, *_ in sent["service"][-count:]))

        for _ in range(WARM_UP):
            await service()
            await settled(1)
            await baseline()
        results: dict[str, dict[str, list[float]]] = {}
        one = results["one at a time"] = {"service": [], "bare": []}
        for _ in range(n):
            one["service"].append(await service())
            await settled(1)
            one["bare"].append(await baseline())
        one_at_a_time = {side: updates[-n:] for side, updates in sent.items()}
        many = results[f"{AT_ONCE} at once"] = {"service": [], "bare": []}
        for _ in range(n // AT_ONCE):
            many["service"] += await asyncio.gather(*(service() for _ in range(AT_ONCE)))
            await settled(AT_ONCE)
            many["bare"] += await asyncio.gather(*(baseline() for _ in range(AT_ONCE)))
        registration = seeded.per_second
        ways = {side: await ways_of(s.client, updates) for side, updates in one_at_a_time.items()}
    rows, out = [], {}
    for mode, samples in results.items():
        service_ms, bare_ms = latency_ms(samples["service"]), latency_ms(samples["bare"])
        ratio = round(service_ms["p50_ms"] / bare_ms["p50_ms"], 2)
        ratio99 = round(service_ms["p99_ms"] / bare_ms["p99_ms"], 2)
        out[mode] = {
            "service": service_ms,
            "bare": bare_ms,
            "ratio_p50": ratio,
            "ratio_p99": ratio99,
        }
        for name, stats in (("service (HTTP API)", service_ms), ("bare update", bare_ms)):
            rows.append(
                [mode, name, stats["n"], stats["p50_ms"], stats["p99_ms"], stats["mean_ms"]]
            )
        rows.append([mode, "ratio", "", ratio, ratio99, ""])
    segments: dict[str, dict[str, float]] = {}
    for side, (way, _) in ways.items():
        for name, samples in way.items():
            stats = segments.setdefault(name, {})[side] = latency_ms(samples)
            row = [stats["n"], stats["p50_ms"], stats["p99_ms"], stats["mean_ms"]]
            rows.append(["one at a time", f"{side}: {name}", *row])
    tasks = {side: max(count, default=0) for side, (_, count) in ways.items()}
    report(
        "latency",
        ["mode", "what", "n", "p50 ms", "p99 ms", "mean ms"],
        rows,
        {
            "n": n,
            "results": out,
            "target": "ratio <= 1.5 at p50",
            "registrations_per_s": registration,
            "segments": segments,
            "workflow_tasks_per_update_max": tasks,
        },
        [
            "service = POST /applications/{id}/mark_eligible to the API in this process (httpx ASGI "
            "transport), its worker in another: "
            "update whose workflow writes projection row, audit event and outbox in one SQL "
            "transaction (local activity) before answering",
            "bare = execute_update on a workflow whose handler increments a counter, once the "
            "transitions sent before it have finished (their notices sent)",
            f"registration through the API: {registration:.1f} applications/s on one call",
            "service: / bare: segments of the updates sent one at a time, from their workflows' "
            "histories; workflow tasks until the answer, at most: "
            f"service {tasks['service']}, bare {tasks['bare']}",
        ],
    )


async def quiet(client: Client, workflow_ids: Iterable[str]) -> None:
    """Until these workflows have nothing left to do: no activity pending (a transition's notice
    sent), no workflow task (the one its result brings)."""

    async def one(workflow_id: str) -> None:
        handle = client.get_workflow_handle(workflow_id)
        for _ in range(2000):
            described = (await handle.describe()).raw_description
            if not (described.pending_activities or described.HasField("pending_workflow_task")):
                return
            await asyncio.sleep(0.005)
        raise TimeoutError(f"{workflow_id} still busy")

    await asyncio.gather(*(one(workflow_id) for workflow_id in workflow_ids))


async def ways_of(
    client: Client, updates: Sequence[tuple[str, float, float]]
) -> tuple[dict[str, list[float]], list[int]]:
    """Each update's time, in seconds, split at the events of the workflow task that carried it,
    and the workflow tasks it took until it answered; `updates`: (workflow id, wall-clock start,
    end), sent one at a time."""
    ways: dict[str, list[float]] = {name: [] for name, _ in STEPS}
    tasks = []
    for workflow_id, start, end in updates:
        history = await client.get_workflow_handle(workflow_id).fetch_history()
        moments, count = [start], 0
        for event in history.events:
            at = event.event_time.ToNanoseconds() / 1e9
            if at < start:
                continue
            count += event.event_type == TASK
            if len(moments) < len(STEPS) and event.event_type == STEPS[len(moments) - 1][1]:
                moments.append(at)
            if event.event_type == ANSWERED:
                break
        if len(moments) < len(STEPS):
            continue  # its events not found: left out
        for (name, _), begin, finish in zip(STEPS, moments, [*moments[1:], end], strict=True):
            ways[name].append(finish - begin)
        tasks.append(count)
    return ways, tasks


async def start_bare(s: Stack, i: int) -> WorkflowHandle:
    return await s.client.start_workflow(BareCase.run, id=f"bare-{i}", task_queue=s.baseline_queue)


if __name__ == "__main__":
    asyncio.run(main())
