"""The production shape without Docker: PostgreSQL, a Temporal server, two workers and two API
processes started as the compose file starts them, a call's deadline burst spread over both APIs,
and a rolling restart (a worker, then an API) in the middle of it."""

import asyncio
import itertools
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from sqlalchemy import Engine, create_engine, func, select, text
from sqlmodel import Session
from temporalio.testing import WorkflowEnvironment

from projection.database import make_engine, migrate
from projection.rebuild import rebuild
from projection.tables import ApplicationRow, AuditRow
from projection.writes import Projection
from tests.conftest import (
    APPLICATION,
    POSTGRES_URL,
    TOKENS,
    auth,
    mail_env,
    postgres_engine,
    running_service,
)
from tests.test_api import call_body, open_call
from tests.test_embedded import free_port

ROOT = Path(__file__).resolve().parent.parent
pytestmark = pytest.mark.asyncio(loop_scope="session")
REGISTRATIONS = 200


@pytest.fixture
def postgres_url() -> Iterator[str]:
    """A schema of its own in the local PostgreSQL, as a URL the processes can take."""
    for engine in postgres_engine():  # a skip (or a failure under CI) without PostgreSQL
        with engine.connect() as connection:
            name = connection.execute(text("select current_schema()")).scalar_one()
        yield f"{POSTGRES_URL}?options=-csearch_path%3D{name}"


class Stack:
    """Two workers and two APIs: `python worker.py` and `uvicorn web.app:app`, as deployed."""

    def __init__(self, env: dict[str, str], logs: Path) -> None:
        self.env, self.logs = env, logs
        self.ports = [free_port(), free_port()]
        self.workers = [self.worker(i) for i in range(2)]
        self.apis = [self.api(i) for i in range(2)]

    def _start(self, command: list[str], log: str) -> subprocess.Popen:
        with (self.logs / log).open("a") as out:
            return subprocess.Popen(command, cwd=ROOT, env=self.env, stdout=out, stderr=out)

    def worker(self, i: int) -> subprocess.Popen:
        return self._start([sys.executable, "worker.py"], f"worker{i}.log")

    def api(self, i: int) -> subprocess.Popen:
        command = [sys.executable, "-m", "uvicorn", "web.app:app", "--port", str(self.ports[i])]
        return self._start(command, f"api{i}.log")

    async def ready(self, i: int) -> None:
        deadline = time.monotonic() + 60
        async with httpx.AsyncClient() as http:
            while True:
                try:
                    if (await http.get(f"http://127.0.0.1:{self.ports[i]}/health")).is_success:
                        return
                except httpx.TransportError:
                    pass
                assert time.monotonic() < deadline, (self.logs / f"api{i}.log").read_text()[-3000:]
                await asyncio.sleep(0.2)

    @staticmethod
    def stop(process: subprocess.Popen) -> None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()

    def close(self) -> None:
        for process in self.workers + self.apis:
            self.stop(process)


async def test_a_deadline_burst_over_two_apis_survives_a_rolling_restart(
    dev_env: WorkflowEnvironment, postgres_url: str, tmp_path: Path
) -> None:
    env = (
        os.environ
        | mail_env()
        | {
            "TEMPORAL_ADDRESS": dev_env.client.service_client.config.target_host,
            "TASK_QUEUE": f"prod-{uuid.uuid4().hex}",
            "DATABASE_URL": postgres_url,
            "API_TOKENS": ",".join(TOKENS.values()),
            "LOG_FORMAT": "json",
            "METRICS_ADDRESS": "",
            "WORKFLOW_SANDBOX": "0",
        }
    )
    stack = Stack(env, tmp_path)
    answers: dict[str, httpx.Response] = {}
    repeated_503 = 0
    try:
        await asyncio.gather(stack.ready(0), stack.ready(1))
        urls = itertools.cycle([f"http://127.0.0.1:{p}" for p in stack.ports])

        async def send(path: str, body: dict | None, key: str, role: str = "operator") -> None:
            """A client behind a load balancer: the next API each try, the same key each time."""
            nonlocal repeated_503
            for _ in range(40):
                try:
                    async with httpx.AsyncClient(base_url=next(urls), timeout=60) as http:
                        answer = await http.post(
                            path, json=body, headers={**auth(role), "Idempotency-Key": key}
                        )
                except httpx.TransportError:  # an API restarting: the balancer tries another
                    await asyncio.sleep(0.2)
                    continue
                if answer.status_code != 503:
                    answers[key] = answer
                    return
                repeated_503 += 1
                await asyncio.sleep(0.5)
            raise AssertionError(f"{key}: never answered")

        await send("/calls", call_body(), "call", role="admin")
        call_id = answers["call"].json()["id"]
        await send(f"/calls/{call_id}/publish", None, "publish", role="admin")
        gate = asyncio.Semaphore(20)

        async def register(i: int) -> None:
            async with gate:
                body = {**APPLICATION, "cluster_name": f"Cluster {i:03d}"}
                await send(f"/calls/{call_id}/applications", body, f"dossier-{i}")
                if i % 10 == 0:  # other cases move at the same time
                    application_id = answers[f"dossier-{i}"].json()["id"]
                    await send(f"/applications/{application_id}/amend", {"sector": "TIC"}, f"a-{i}")

        burst = asyncio.gather(*(register(i) for i in range(REGISTRATIONS)))
        await asyncio.sleep(1.5)
        stack.stop(stack.workers[0])  # rolling restart: a worker…
        stack.workers[0] = stack.worker(0)
        await asyncio.sleep(1.5)
        stack.stop(stack.apis[1])  # …then an API
        stack.apis[1] = stack.api(1)
        await burst
        await stack.ready(1)
    finally:
        stack.close()

    statuses = {key: a.status_code for key, a in answers.items()}
    assert set(statuses.values()) <= {200, 201}, {k: s for k, s in statuses.items() if s > 201}
    registered = {answers[f"dossier-{i}"].json()["id"] for i in range(REGISTRATIONS)}
    assert len(registered) == REGISTRATIONS
    engine = create_engine(postgres_url)
    try:
        with Session(engine) as db:
            rows = db.exec(select(ApplicationRow.id).where(ApplicationRow.call_id == call_id))
            assert sorted(rows.scalars()) == sorted(registered)  # every 201 in SQL, once
            trail = list(db.exec(select(AuditRow.workflow_id, AuditRow.seq, AuditRow.action)))
            amended = db.exec(select(func.count()).where(AuditRow.action == "amend")).scalar()
        assert amended == REGISTRATIONS // 10
        assert len(trail) == len(set((w, s) for w, s, _ in trail))
        assert sum(action == "register" for *_, action in trail) == REGISTRATIONS
        rebuilt = make_engine(f"sqlite:///{tmp_path / 'rebuilt.db'}")
        migrate(rebuilt)
        await rebuild(dev_env.client, Projection(rebuilt), env["TASK_QUEUE"])
        assert audit_of(rebuilt) == audit_of(engine)  # the projection is its histories'
    finally:
        engine.dispose()
    print(f"503 answers repeated with their key: {repeated_503}")


def audit_of(engine: Engine) -> set[tuple[str, int, str, str]]:
    with Session(engine) as db:
        query = select(AuditRow.workflow_id, AuditRow.seq, AuditRow.action, AuditRow.to_stage)
        return set(db.exec(query).all())


def postgres_command(*words: str) -> None:
    subprocess.run([*words, "-h", "127.0.0.1", "-U", "postgres"], check=True, capture_output=True)


async def test_a_backup_restores_into_an_empty_database_with_every_case_readable(
    dev_env: WorkflowEnvironment, tmp_path: Path
) -> None:
    """The README's procedure: pg_dump of the service's database, pg_restore into an empty one;
    the API over the restored database answers every case as before."""
    for engine in postgres_engine():
        async with running_service(dev_env, engine) as service:
            call_id = await open_call(service)
            for i in range(3):
                body = {**APPLICATION, "cluster_name": f"Cluster sauvegardé {i}"}
                assert (await service.post(f"/calls/{call_id}/applications", json=body)).is_success
            before = (await service.get("/applications", params={"call_id": call_id})).json()
            with engine.connect() as connection:
                schema = connection.execute(text("select current_schema()")).scalar_one()
        dump, database = tmp_path / "clusters.dump", f"restored_{uuid.uuid4().hex[:8]}"
        postgres_command(
            "pg_dump", "--format=custom", f"--schema={schema}", "-f", str(dump), "test"
        )
        postgres_command("createdb", database)
        try:
            postgres_command("pg_restore", "-d", database, str(dump))
            url = f"{POSTGRES_URL.rsplit('/', 1)[0]}/{database}?options=-csearch_path%3D{schema}"
            restored = make_engine(url)
            async with running_service(dev_env, restored) as reader:
                after = (await reader.get("/applications", params={"call_id": call_id})).json()
                assert after == before and after["total"] == 3
                for case in after["items"]:
                    page = await reader.get(f"/applications/{case['id']}")
                    assert page.status_code == 200 and page.json()["audit"]
            restored.dispose()
        finally:
            postgres_command("dropdb", "--force", database)
