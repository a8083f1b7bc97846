"""Transition latency: an operator transition through the HTTP API versus a bare Temporal update.

The service's transition is `mark_eligible` on a case in eligibility review: the API checks the
token and sends the update; the workflow applies it, writes the case row, the audit event and
the notification in one SQL transaction (a local activity), then answers the new state. The
baseline is an update on `BareCase`, which only increments a counter. Both run one at a time, then 50 at once, interleaved so that drift on the
machine hits both alike. The default n = 500 gives ten rounds of 50 at once.

    .venv/bin/python -m bench.latency [--n 500] [--quick]
"""

import asyncio
import time

from temporalio.client import WorkflowHandle

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

        async def service() -> float:
            path = f"/applications/{next(cases)}/mark_eligible"
            start = time.perf_counter()
            await s.post(path, json={"note": "Dossier complet"})
            return time.perf_counter() - start

        async def baseline() -> float:
            handle = next(handles)
            start = time.perf_counter()
            await handle.execute_update(BareCase.bump)
            return time.perf_counter() - start

        for _ in range(WARM_UP):
            await service()
            await baseline()
        results: dict[str, dict[str, list[float]]] = {}
        one = results["one at a time"] = {"service": [], "bare": []}
        for _ in range(n):
            one["service"].append(await service())
            one["bare"].append(await baseline())
        many = results[f"{AT_ONCE} at once"] = {"service": [], "bare": []}
        for _ in range(n // AT_ONCE):
            many["service"] += await asyncio.gather(*(service() for _ in range(AT_ONCE)))
            many["bare"] += await asyncio.gather(*(baseline() for _ in range(AT_ONCE)))
        registration = seeded.per_second
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
    report(
        "latency",
        ["mode", "what", "n", "p50 ms", "p99 ms", "mean ms"],
        rows,
        {
            "n": n,
            "results": out,
            "target": "ratio <= 1.5 at p50",
            "registrations_per_s": registration,
        },
        [
            "service = POST /applications/{id}/mark_eligible to the API in this process (httpx ASGI "
            "transport), its worker in another: "
            "update whose workflow writes projection row, audit event and outbox in one SQL "
            "transaction (local activity) before answering",
            "bare = execute_update on a workflow whose handler increments a counter",
            f"registration through the API: {registration:.1f} applications/s on one call",
        ],
    )


async def start_bare(s: Stack, i: int) -> WorkflowHandle:
    return await s.client.start_workflow(BareCase.run, id=f"bare-{i}", task_queue=s.baseline_queue)


if __name__ == "__main__":
    asyncio.run(main())
