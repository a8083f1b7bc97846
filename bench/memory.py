"""Memory: resident memory of the worker process with N open cases (applications in `received`).

The service's worker runs as in production, `python worker.py`, in a process of its own; N
application workflows are started as the call's registration starts them (the same
`ApplicationStart`, straight from the client: registering through the call runs at ~15/s here, and
the worker's memory only depends on the workflows it runs). RSS is read from /proc once the worker
has gone quiet after each step. The baseline is `bench.bare_worker` with as many `BareCase`
workflows. The worker keeps at most `max_cached_workflows` workflows in memory; the others are
replayed from their history when they next have work.

    .venv/bin/python -m bench.memory [--n 10000] [--quick]
"""

import asyncio
import os
import time
import uuid
from collections.abc import Awaitable, Callable
from datetime import timedelta
from pathlib import Path

from bench.baseline import BareCase
from bench.common import Stack, application, arguments, pool, report, stack, utcnow, worker_process
from domain.ids import application_workflow_id
from domain.models import ApplicationInput, ApplicationStart, ApplicationState, CallRules
from domain.stages import ApplicationStage
from projection.database import make_engine
from worker import build_worker

STARTS_AT_ONCE = 50


def status(pid: int) -> dict[str, int]:
    """VmRSS and VmHWM (peak) of a process, in KiB."""
    fields = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, value = line.partition(":")
        if key in ("VmRSS", "VmHWM"):
            fields[key] = int(value.split()[0])
    return fields


def cpu_ticks(pid: int) -> int:
    parts = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return int(parts[11]) + int(parts[12])  # utime + stime


async def quiet(pid: int, still: float = 2.0, limit: float = 300) -> None:
    """Wait until the process used under 5% of a core for `still` seconds: its backlog is done."""
    hertz = os.sysconf("SC_CLK_TCK")
    end = time.monotonic() + limit
    while time.monotonic() < end:
        before = cpu_ticks(pid)
        await asyncio.sleep(still)
        if cpu_ticks(pid) - before <= 0.05 * still * hertz:
            return


def dev_server_pid() -> int | None:
    """The `temporal` process this one started (WorkflowEnvironment does not expose it)."""
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        name, rest = stat.split("(", 1)[1].rsplit(")", 1)
        if name == "temporal" and int(rest.split()[1]) == os.getpid():
            return int(entry.name)
    return None


async def measure(
    s: Stack, command: list[str], task_queue: str, n: int, start: Callable[[int], Awaitable[object]]
) -> list[tuple[int, dict[str, int]]]:
    """RSS of a worker process (`command`) at 0 open workflows, then at each checkpoint up to n."""
    async with worker_process(s.client, s.workdir, command, task_queue) as process:
        await quiet(process.pid)
        points = [(0, status(process.pid))]
        done = 0
        for checkpoint in sorted({n // 10, n // 4, n // 2, n} - {0}):
            await pool(checkpoint - done, STARTS_AT_ONCE, lambda i, base=done: start(base + i))
            done = checkpoint
            await quiet(process.pid)
            points.append((done, status(process.pid)))
        return points


async def main() -> None:
    args = arguments(__doc__.splitlines()[0], default_n=10_000, quick_n=1_000)
    n = args.n
    async with stack(run_worker=False) as s:
        cache = build_worker(s.client, make_engine("sqlite://"), "probe").config()
        rules = CallRules()
        call_id, deadline = (
            f"{utcnow().year}-{uuid.uuid4().hex[:12]}",
            utcnow() + timedelta(days=30),
        )

        async def open_case(i: int) -> None:
            now = utcnow()
            state = ApplicationState(
                id=uuid.uuid4().hex[:12],
                call_id=call_id,
                stage=ApplicationStage.RECEIVED,
                data=ApplicationInput.model_validate(application(i)),
                deadline=deadline,
                registered_at=now,
                seq=1,
                updated_at=now,
            )
            await s.client.start_workflow(
                "ApplicationWorkflow",
                ApplicationStart(state=state, rules=rules),
                id=application_workflow_id(state.id),
                task_queue=s.task_queue,
            )

        async def open_bare(i: int) -> None:
            await s.client.start_workflow(BareCase.run, id=f"bare-{i}", task_queue=s.baseline_queue)

        service = await measure(s, ["worker.py"], s.task_queue, n, open_case)
        bare = await measure(s, ["-m", "bench.bare_worker"], s.baseline_queue, n, open_bare)
        server_pid = dev_server_pid()
        server = status(server_pid) if server_pid else {}
    mib = lambda kib: round(kib / 1024, 1)  # noqa: E731
    rows = [
        [cases, mib(a["VmRSS"]), mib(b["VmRSS"]), mib(a["VmRSS"] - b["VmRSS"])]
        for (cases, a), (_, b) in zip(service, bare, strict=True)
    ]
    per_case = (service[-1][1]["VmRSS"] - service[0][1]["VmRSS"]) / n
    report(
        "memory",
        ["open cases", "service worker RSS MiB", "bare worker RSS MiB", "difference MiB"],
        rows,
        {
            "n": n,
            "service_rss_mib": {c: mib(p["VmRSS"]) for c, p in service},
            "bare_rss_mib": {c: mib(p["VmRSS"]) for c, p in bare},
            "service_peak_mib": mib(service[-1][1]["VmHWM"]),
            "service_kib_per_case": round(per_case, 1),
            "max_cached_workflows": cache["max_cached_workflows"],
            "dev_server_rss_mib": mib(server["VmRSS"]) if server else None,
        },
        [
            f"service worker: `python worker.py` (peak {mib(service[-1][1]['VmHWM'])} MiB); "
            f"{per_case:.1f} KiB per open case on average from 0 to {n}",
            f"max_cached_workflows = {cache['max_cached_workflows']}: beyond that many open "
            "cases the worker evicts the least recently used and replays it on its next task",
            "cases started straight from the client with the ApplicationStart the call's "
            "registration uses, 50 at once",
            f"Temporal dev server RSS at the end: {mib(server['VmRSS']) if server else '?'} MiB",
        ],
    )


if __name__ == "__main__":
    asyncio.run(main())
