"""Shared by the benchmarks: a dev server of their own, the API in-process and each worker in a
process of its own, timing, reports."""

import argparse
import asyncio
import json
import os
import platform
import sqlite3
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from importlib.metadata import version
from pathlib import Path
from typing import Any, TypeVar

import httpx
from aiosmtpd.controller import Controller
from sqlalchemy import Engine
from sqlmodel import Session, func, select
from temporalio.api.enums.v1 import TaskQueueType
from temporalio.api.taskqueue.v1 import TaskQueue
from temporalio.api.workflowservice.v1 import DescribeTaskQueueRequest
from temporalio.client import Client
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.testing import WorkflowEnvironment

from activities.mailcatcher import Catcher, free_port, relay_to, start_catcher
from projection.database import make_engine, migrate
from projection.tables import ApplicationRow
from settings import DEV_SERVER_ARGS, Settings, bundled_binary
from web.app import create_app
from web.tokens import MIN_LENGTH

T = TypeVar("T")
ROOT = Path(__file__).resolve().parent.parent
# The server lets 10 updates be in flight per workflow (history.maxInFlightUpdates); registrations
# all go to their call's workflow, so more at once only earns ResourceExhausted retries and 503s.
REGISTER_CONCURRENCY = 8


def secret(name: str) -> str:
    """The bench's token called `name` (« t-admin »), as long as the service requires a token
    to be (web.tokens.MIN_LENGTH)."""
    return name if len(name) >= MIN_LENGTH else f"{name}-".ljust(MIN_LENGTH, "0")


TOKENS = ",".join(
    f"{secret(name)}={who}"
    for name, who in (
        ("t-admin", "admin:A"),
        ("t-operator", "operator:O"),
        ("t-committee", "committee:C"),
        ("t-ev1", "evaluator:E1"),
        ("t-ev2", "evaluator:E2"),
        ("t-ev3", "evaluator:E3"),
    )
)
EVALUATORS = {"t-ev1": "E1", "t-ev2": "E2", "t-ev3": "E3"}
SECTORS = ["aéronautique", "TIC", "textile", "biomasse", "produits de la mer"]


def auth(token: str) -> dict[str, str]:
    """The header of the bench's token called `token` (« t-operator »)."""
    return {"Authorization": f"Bearer {secret(token)}"}


def application(i: int) -> dict[str, Any]:
    """A complete application (every pre-check passes), named and filed by its number."""
    return {
        "cluster_name": f"Cluster {i:05d} {SECTORS[i % len(SECTORS)]}",
        "legal_form": "association",
        "sector": SECTORS[i % len(SECTORS)],
        "members": [
            {"name": f"Entreprise {i} SA", "type": "company"},
            {"name": "Université Abdelmalek Essaâdi", "type": "research"},
        ],
        "contact": {"name": "Salma Bennani", "email": f"contact{i}@cluster.ma"},
    }


# --- arguments, timing, statistics ------------------------------------------------------------
def arguments(description: str, default_n: int, quick_n: int) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--n", type=int, default=None, help=f"size (default {default_n})")
    parser.add_argument("--quick", action="store_true", help=f"a quick run: n={quick_n}")
    args = parser.parse_args()
    args.n = args.n or (quick_n if args.quick else default_n)
    return args


def percentile(values: Sequence[float], q: float) -> float:
    """Linear interpolation between closest ranks (as numpy's default)."""
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    k = (len(ordered) - 1) * q / 100
    low, high = int(k), min(int(k) + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (k - low)


def latency_ms(samples: Sequence[float]) -> dict[str, float]:
    """p50/p99/mean/max in milliseconds of samples in seconds."""
    return {
        "n": len(samples),
        "p50_ms": round(percentile(samples, 50) * 1000, 2),
        "p99_ms": round(percentile(samples, 99) * 1000, 2),
        "mean_ms": round(sum(samples) / len(samples) * 1000, 2),
        "max_ms": round(max(samples) * 1000, 2),
    }


async def timed(operation: Awaitable[T]) -> tuple[float, T]:
    start = time.perf_counter()
    result = await operation
    return time.perf_counter() - start, result


async def pool(n: int, concurrency: int, job: Callable[[int], Awaitable[T]]) -> list[T]:
    """`job(0..n-1)` with at most `concurrency` running: a fixed set of workers, not n tasks."""
    results: list[Any] = [None] * n
    next_index = 0

    async def work() -> None:
        nonlocal next_index
        while next_index < n:
            i, next_index = next_index, next_index + 1
            results[i] = await job(i)

    await asyncio.gather(*(work() for _ in range(min(concurrency, n))))
    return results


async def wait_for(
    probe: Callable[[], int | Awaitable[int]], target: int, timeout: float, poll: float = 0.05
) -> float:
    """Poll until `probe()` reaches `target`; answers the monotonic time it was first seen."""
    limit = time.monotonic() + timeout
    while True:
        value = probe()
        value = await value if isinstance(value, Awaitable) else value
        if value >= target:
            return time.monotonic()
        if time.monotonic() > limit:
            raise TimeoutError(f"{value} of {target} after {timeout:.0f} s")
        await asyncio.sleep(poll)


def utcnow() -> datetime:
    return datetime.now(UTC)


async def until(moment: datetime) -> None:
    await asyncio.sleep(max(0.0, (moment - utcnow()).total_seconds()))


# --- machine and report ------------------------------------------------------------------------
def machine() -> dict[str, Any]:
    server = subprocess.run(
        [bundled_binary("temporal"), "--version"], capture_output=True, text=True, check=False
    ).stdout.strip()
    model = next(
        (
            line.split(":", 1)[1].strip()
            for line in Path("/proc/cpuinfo").read_text().splitlines()
            if line.startswith("model name")
        ),
        platform.processor(),
    )
    return {
        "revision": revision(),
        "cores": os.cpu_count(),
        "load_average": [round(x, 2) for x in os.getloadavg()],  # others' work skews the figures
        "cpu": model,
        "memory_gib": round(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30, 1),
        "platform": platform.platform(),
        "python": platform.python_version(),
        "temporal_server": server,
        "versions": {
            p: version(p) for p in ("temporalio", "fastapi", "sqlalchemy", "sqlmodel", "pydantic")
        },
        "database": f"SQLite {sqlite3.sqlite_version} file, WAL (projection); "
        "Temporal dev server on its own SQLite file",
        "workers": "service and baseline: workflows "
        + ("in" if Settings().workflow_sandbox else "outside")
        + " the sandbox (WORKFLOW_SANDBOX)",
    }


def revision() -> str:
    """The commit measured: BENCH_REVISION when run from an export, else git's HEAD (+dirty)."""
    if os.environ.get("BENCH_REVISION"):
        return os.environ["BENCH_REVISION"]
    git = ["git", "-C", str(Path(__file__).resolve().parent.parent)]
    head = subprocess.run([*git, "rev-parse", "--short", "HEAD"], capture_output=True, text=True)
    if head.returncode:
        return "unknown"
    changed = subprocess.run(
        [*git, "status", "--porcelain", "--untracked-files=no"], capture_output=True, text=True
    ).stdout.strip()
    return head.stdout.strip() + ("+dirty" if changed else "")


def report(
    bench: str,
    header: Sequence[str],
    rows: Sequence[Sequence[Any]],
    results: dict[str, Any],
    notes: Sequence[str] = (),
) -> None:
    """One table for people, then one `BENCH_JSON {...}` line for machines."""
    info = machine()
    print(f"\n== {bench} ==")
    print(f"revision: {info['revision']}")
    print(
        f"machine: {info['cores']} cores, {info['cpu']}, {info['memory_gib']} GiB, "
        f"load {info['load_average']}; "
        f"Python {info['python']}; {info['temporal_server']}"
    )
    print("versions: " + ", ".join(f"{k} {v}" for k, v in info["versions"].items()))
    print(f"database: {info['database']}")
    print(f"workers: {info['workers']}")
    cells = [[str(c) for c in row] for row in [header, *rows]]
    widths = [max(len(row[i]) for row in cells) for i in range(len(header))]
    for j, row in enumerate(cells):
        print(
            "  ".join(
                c.rjust(w) if i else c.ljust(w)
                for i, (c, w) in enumerate(zip(row, widths, strict=True))
            )
        )
        if j == 0:
            print("  ".join("-" * w for w in widths))
    for note in notes:
        print(f"note: {note}")
    payload = {"bench": bench, "date": utcnow().isoformat(timespec="seconds"), **results}
    print("BENCH_JSON " + json.dumps({**payload, "notes": list(notes), "machine": info}))
    sys.stdout.flush()


# --- the service under test ----------------------------------------------------------------
@dataclass
class Stack:
    """A dev server of its own, the API in this process, the service's and the baseline's workers."""

    env: WorkflowEnvironment
    engine: Engine
    http: httpx.AsyncClient
    task_queue: str
    baseline_queue: str
    workdir: Path

    @property
    def client(self) -> Client:
        return self.env.client

    async def post(self, path: str, token: str = "t-operator", json: object = None) -> dict:
        response = await self.http.post(path, json=json, headers=auth(token))
        if response.status_code >= 300:
            raise RuntimeError(f"POST {path}: {response.status_code} {response.text}")
        return response.json()

    async def get(self, path: str, token: str = "t-operator", **params: object) -> dict:
        response = await self.http.get(path, params=params, headers=auth(token))
        if response.status_code >= 300:
            raise RuntimeError(f"GET {path}: {response.status_code} {response.text}")
        return response.json()

    def count(self, call_id: str, stage: str) -> int:
        """Applications of the call at `stage` in the SQL projection."""
        with Session(self.engine) as db:
            query = select(func.count()).where(
                ApplicationRow.call_id == call_id, ApplicationRow.stage == stage
            )
            return db.exec(query).one()

    async def open_call(self, deadline: datetime, **rules: object) -> str:
        """A call created and published through the API, open at once until `deadline`."""
        body = {
            "year": deadline.year,
            "title": "Appel à projets — banc d'essai",
            "opens_at": utcnow().isoformat(),
            "deadline": deadline.isoformat(),
            **rules,
        }
        call_id = (await self.post("/calls", "t-admin", body))["id"]
        await self.post(f"/calls/{call_id}/publish", "t-admin")
        return call_id

    async def register(self, call_id: str, n: int, concurrency: int, first: int = 0) -> list[str]:
        """`n` applications through the API (POST /calls/{id}/applications), `concurrency` at once."""

        async def one(i: int) -> str:
            body = await self.post(f"/calls/{call_id}/applications", json=application(first + i))
            return body["id"]

        return await pool(n, concurrency, one)


def projection_url(workdir: Path) -> str:
    """The projection the API and the workers of one stack share."""
    return f"sqlite:///{workdir / 'projection.db'}"


@asynccontextmanager
async def worker_process(
    client: Client, workdir: Path, command: Sequence[str], task_queue: str
) -> AsyncIterator[asyncio.subprocess.Process]:
    """A worker in a process of its own, as deployed (`worker.py`, or `bench.bare_worker` for the
    baseline), on the dev server and the projection in `workdir`; polling once this yields."""
    env = {
        **os.environ,
        **mail_env(),
        "TEMPORAL_ADDRESS": client.service_client.config.target_host,
        "TASK_QUEUE": task_queue,
        "DATABASE_URL": projection_url(workdir),
        "CLUSTERS_DATA_DIR": str(workdir),
    }
    with (workdir / f"{task_queue}.log").open("w") as log:
        process = await asyncio.create_subprocess_exec(
            sys.executable, *command, cwd=ROOT, env=env, stdout=log, stderr=log
        )
        try:
            await polling(client, task_queue, process)
            yield process
        finally:
            process.terminate()
            await process.wait()


async def polling(client: Client, task_queue: str, process: asyncio.subprocess.Process) -> None:
    request = DescribeTaskQueueRequest(
        namespace=client.namespace,
        task_queue=TaskQueue(name=task_queue),
        task_queue_type=TaskQueueType.TASK_QUEUE_TYPE_WORKFLOW,
    )
    for _ in range(600):
        if (await client.workflow_service.describe_task_queue(request)).pollers:
            return
        if process.returncode is not None:
            break
        await asyncio.sleep(0.1)
    raise RuntimeError(f"the worker on {task_queue} did not start: see its log")


@asynccontextmanager
async def stack(baseline: bool = False, run_worker: bool = True) -> AsyncIterator[Stack]:
    """Everything on an on-disk SQLite file in a temporary folder, removed afterwards: the dev
    server, the API in this process, and each worker in a process of its own, as deployed."""
    async with AsyncExitStack() as stack:
        workdir = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="bench-")))
        env = await stack.enter_async_context(
            await WorkflowEnvironment.start_local(
                data_converter=pydantic_data_converter,
                dev_server_existing_path=bundled_binary("temporal"),
                dev_server_database_filename=str(workdir / "temporal.db"),
                dev_server_extra_args=DEV_SERVER_ARGS,
            )
        )
        engine = make_engine(projection_url(workdir))
        migrate(engine)
        stack.callback(engine.dispose)
        task_queue, baseline_queue = f"bench-{uuid.uuid4().hex[:8]}", f"bare-{uuid.uuid4().hex[:8]}"
        settings = Settings(
            api_tokens=TOKENS,
            task_queue=task_queue,
            database_url=projection_url(workdir),
            tokens_file=workdir / "tokens.json",
        )
        app = create_app(settings, client=env.client, engine=engine)
        await stack.enter_async_context(app.router.lifespan_context(app))
        if run_worker:
            await stack.enter_async_context(
                worker_process(env.client, workdir, ["worker.py"], task_queue)
            )
        if baseline:
            await stack.enter_async_context(
                worker_process(env.client, workdir, ["-m", "bench.bare_worker"], baseline_queue)
            )
        http = await stack.enter_async_context(
            httpx.AsyncClient(
                transport=httpx.ASGITransport(app=app), base_url="http://api", timeout=120
            )
        )
        yield Stack(env, engine, http, task_queue, baseline_queue, workdir)


# The workers' notices go to a catcher in this process: delivered as in production, and kept.
_catcher: list[Controller] = []


def mail_env() -> dict[str, str]:
    if not _catcher:
        _catcher.append(start_catcher(Catcher()))
    return relay_to(_catcher[0]).environment()


@dataclass(frozen=True)
class ApiProcess:
    url: str
    pid: int


@asynccontextmanager
async def api_process(
    s: Stack, name: str, extra: dict[str, str] | None = None
) -> AsyncIterator[ApiProcess]:
    """`uvicorn web.app:app` on a port of its own, with the variables compose gives it (its
    files, data and receipt key in the stack's folder) and `extra` (a mail relay, say)."""
    port = free_port()
    env = (
        os.environ
        | {
            "TEMPORAL_ADDRESS": s.env.client.service_client.config.target_host,
            "TASK_QUEUE": s.task_queue,
            "DATABASE_URL": projection_url(s.workdir),
            "API_TOKENS": TOKENS,
            "LOG_FORMAT": "json",
            "DOCUMENTS_URL": str(s.workdir / "documents"),
            "CLUSTERS_DATA_DIR": str(s.workdir),
            "RECEIPT_KEY_FILE": str(s.workdir / "receipt-key.pem"),
        }
        | (extra or {})
    )
    async with uvicorn_process(
        ["web.app:app"], port, env, s.workdir / f"{name}.log", "/health"
    ) as api:
        yield api


@asynccontextmanager
async def uvicorn_process(
    arguments: list[str], port: int, env: dict[str, str], log_path: Path, probe: str
) -> AsyncIterator[ApiProcess]:
    """`uvicorn ARGUMENTS` on `port`, once `probe` answers with a success; stopped after."""
    with log_path.open("w") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "uvicorn", *arguments, "--port", str(port)],
            cwd=ROOT,
            env=env,
            stdout=log,
            stderr=log,
        )
    url = f"http://127.0.0.1:{port}"
    try:
        async with httpx.AsyncClient() as http:
            for _ in range(300):
                try:
                    if (await http.get(f"{url}{probe}")).is_success:
                        break
                except httpx.TransportError:
                    await asyncio.sleep(0.1)
        yield ApiProcess(url, process.pid)
    finally:
        process.terminate()
        process.wait(timeout=30)


@dataclass
class Seeded:
    call_id: str
    ids: list[str]
    deadline: datetime
    per_second: float  # registrations per second through the API, on this call


async def registered_call(s: Stack, n: int) -> Seeded:
    """A call with `n` applications registered through the API, its deadline still ahead.

    A pilot on a warm-up call measures the registration rate first, so that the deadline falls
    shortly after the last registration.
    """
    warm_up = await s.open_call(utcnow() + timedelta(days=30))
    pilot = min(100, max(20, n // 10))
    seconds, _ = await timed(s.register(warm_up, pilot, REGISTER_CONCURRENCY, first=n))
    deadline = utcnow() + timedelta(seconds=n * seconds / pilot * 1.3 + 15)
    call_id = await s.open_call(deadline)
    seconds, ids = await timed(s.register(call_id, n, REGISTER_CONCURRENCY))
    if utcnow() > deadline - timedelta(seconds=1):
        raise RuntimeError("registration outran the planned deadline: rerun, the machine was busy")
    return Seeded(call_id, ids, deadline, n / seconds)


def decision_steps() -> list[tuple[str, str, dict[str, Any]]]:
    """From eligibility review to the label: (action, token, body), nine updates per case."""
    from domain.models import DEFAULT_GRID

    sheet = {
        "scores": [
            {"criterion": c.code, "score": 4.0, "comment": f"Appréciation : {c.label}"}
            for c in DEFAULT_GRID.criteria
        ]
    }
    return [
        ("mark_eligible", "t-operator", {"note": "Dossier complet"}),
        ("assign_evaluators", "t-admin", {"evaluators": list(EVALUATORS.values())}),
        *(("declare_interest", token, {"conflict": False}) for token in EVALUATORS),
        *(("submit_scores", token, sheet) for token in EVALUATORS),
        ("label", "t-committee", {"reason": "Premier du classement"}),
    ]
