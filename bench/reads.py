"""Reads: the case list (filtered, paginated) and the case page with N cases in the projection.

A few cases go through the real service (registration, closure, evaluation, label); their rows
and audit trails at each stage are the templates of N cases copied into the projection in bulk
(the reads only see SQL, so how the rows got there does not change what is measured). Requests go
through the API in-process (httpx ASGI transport), one at a time, as the committee.

    .venv/bin/python -m bench.reads [--n 10000] [--quick]
"""

import asyncio
import copy
import random
import time
from datetime import timedelta
from typing import Any

from sqlmodel import Session, col, select

from bench.common import (
    SECTORS,
    Stack,
    application,
    arguments,
    auth,
    decision_steps,
    latency_ms,
    report,
    stack,
    until,
    utcnow,
    wait_for,
)
from domain.ids import application_workflow_id
from domain.search import folded
from projection.tables import ApplicationRow, AuditRow

SAMPLES = {False: 300, True: 60}  # per query: full run, quick run
WARM_UP = 20
TARGET_P99_MS = 20.0


async def templates(s: Stack) -> list[tuple[dict[str, Any], list[dict[str, Any]]]]:
    """One real case's row and audit trail after each of its transitions."""
    deadline = utcnow() + timedelta(seconds=5)
    call_id = await s.open_call(deadline)
    case = (await s.post(f"/calls/{call_id}/applications", json=application(0)))["id"]
    snapshots = [snapshot(s, case)]
    await until(deadline)
    await wait_for(lambda: s.count(call_id, "eligibility_review"), 1, timeout=60)
    snapshots.append(snapshot(s, case))
    await s.post(f"/calls/{call_id}/start_evaluation", "t-admin")
    for action, token, body in decision_steps():
        await s.post(f"/applications/{case}/{action}", token, body)
        snapshots.append(snapshot(s, case))
    return snapshots


def snapshot(s: Stack, case: str) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    with Session(s.engine) as db:
        row = db.get(ApplicationRow, case)
        assert row is not None
        audit = db.exec(
            select(AuditRow).where(AuditRow.case_id == case).order_by(col(AuditRow.seq))
        ).all()
        return row.model_dump(), [a.model_dump(exclude={"id"}) for a in audit]


def seed(s: Stack, call_id: str, n: int, shapes: list[tuple[dict, list[dict]]]) -> None:
    """`n` copies of the templates, spread over their stages, sectors and registration times."""
    base = utcnow() - timedelta(days=60)
    cases, events = [], []
    for i in range(n):
        row, audit = copy.deepcopy(shapes[i % len(shapes)])
        case_id = f"{i:012x}"
        sector = SECTORS[i % len(SECTORS)]
        name = f"Cluster {i:05d} {sector}"
        state = row["state"]
        state["id"], state["call_id"] = case_id, call_id
        state["data"]["cluster_name"], state["data"]["sector"] = name, sector
        row.update(id=case_id, call_id=call_id, cluster_name=name, sector=sector, state=state)
        row["search_name"] = folded(name)
        row["registered_at"] = base + timedelta(seconds=i)
        cases.append(row)
        for event in audit:
            event.update(workflow_id=application_workflow_id(case_id), case_id=case_id)
            events.append(event)
    with s.engine.begin() as db:
        db.execute(ApplicationRow.__table__.insert(), cases)  # type: ignore[attr-defined]
        db.execute(AuditRow.__table__.insert(), events)  # type: ignore[attr-defined]


async def main() -> None:
    args = arguments(__doc__.splitlines()[0], default_n=10_000, quick_n=2_000)
    samples = SAMPLES[args.quick]
    async with stack() as s:
        shapes = await templates(s)
        call_id = await s.open_call(utcnow() + timedelta(days=30))
        await asyncio.to_thread(seed, s, call_id, args.n, shapes)
        last_page = max(1, args.n // len(SECTORS) // 50)
        queries: dict[str, tuple[str, dict[str, Any]]] = {
            "list: call + stage, page 1": (
                "/applications",
                {"call_id": call_id, "stage": "eligibility_review", "page_size": 50},
            ),
            f"list: call + sector, page {last_page}": (
                "/applications",
                {"call_id": call_id, "sector": "TIC", "page": last_page, "page_size": 50},
            ),
            "list: name contains, page 1": (
                "/applications",
                {"call_id": call_id, "q": "cluster 01", "page_size": 50},
            ),
            "list: all, page 1": ("/applications", {"page_size": 50}),
        }
        ids = [f"{i:012x}" for i in range(args.n)]
        results: dict[str, dict[str, float]] = {}
        for name, (path, params) in queries.items():
            results[name] = latency_ms(
                await measure(s, lambda query=(path, params): query, samples)
            )
        results["case page"] = latency_ms(
            await measure(s, lambda: (f"/applications/{random.choice(ids)}", {}), samples)
        )
        sizes = {name: await size(s, *query) for name, query in queries.items()}
    rows = [
        [name, r["n"], r["p50_ms"], r["p99_ms"], r["mean_ms"], sizes.get(name, "")]
        for name, r in results.items()
    ]
    worst = max(r["p99_ms"] for r in results.values())
    report(
        "reads",
        ["request", "n", "p50 ms", "p99 ms", "mean ms", "matches"],
        rows,
        {
            "n": args.n,
            "results": results,
            "worst_p99_ms": worst,
            "target": f"p99 <= {TARGET_P99_MS} ms on SQLite",
        },
        [
            f"{args.n} cases in one call, copied from a real case at each of its "
            f"{len(shapes)} stages, with their audit trails",
            "GET through the API in-process as the committee, one at a time, 50 per page",
        ],
    )


async def measure(s: Stack, request, samples: int) -> list[float]:
    timings = []
    for i in range(WARM_UP + samples):
        path, params = request()
        start = time.perf_counter()
        response = await s.http.get(path, params=params, headers=auth("t-committee"))
        elapsed = time.perf_counter() - start
        if response.status_code != 200:
            raise RuntimeError(f"GET {path}: {response.status_code} {response.text}")
        if i >= WARM_UP:
            timings.append(elapsed)
    return timings


async def size(s: Stack, path: str, params: dict[str, Any]) -> int:
    return (await s.get(path, "t-committee", **params))["total"]


if __name__ == "__main__":
    asyncio.run(main())
