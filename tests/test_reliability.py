"""Nothing lost: a killed worker, a restarted engine, a database outage; many updates at once."""

import asyncio
import os
import signal
import socket
import subprocess
import sys
import urllib.request
import uuid
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import httpx
import pytest
from sqlalchemy import Engine, text
from sqlmodel import Session, func, select
from temporalio.client import Client
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.testing import WorkflowEnvironment

from domain.ids import Kind
from observability import metrics_runtime
from projection import queries
from projection.database import make_engine, migrate
from projection.rebuild import missing_files, rebuild
from projection.tables import ApplicationRow, AuditRow
from projection.writes import Projection
from settings import Settings, bundled_binary
from tests.conftest import (
    APPLICATION,
    PDF_BYTES,
    TOKENS,
    Service,
    auth,
    deposit,
    eventually,
    mail_env,
    postgres_engine,
    running_service,
    utcnow,
)
from tests.test_api import open_call
from web import commands
from web.app import create_app

pytestmark = pytest.mark.asyncio(loop_scope="session")
ROOT = Path(__file__).resolve().parent.parent


def audit_rows(engine: Engine) -> list[tuple[str, int]]:
    with Session(engine) as db:
        return list(db.exec(select(AuditRow.workflow_id, AuditRow.seq)))


def assert_no_duplicate(engine: Engine) -> None:
    rows = audit_rows(engine)
    assert len(rows) == len(set(rows))


async def stages(service: Service, call_id: str) -> list[str]:
    body = (
        await service.get("/applications", params={"call_id": call_id, "page_size": 200})
    ).json()
    return [a["stage"] for a in body["items"]]


async def test_projection_is_rebuilt_from_the_workflows(dev: Service, tmp_path: Path) -> None:
    call_id = await open_call(dev)
    ids = [
        (await dev.post(f"/calls/{call_id}/applications", json=APPLICATION)).json()["id"]
        for _ in range(3)
    ]
    await dev.post(f"/applications/{ids[0]}/withdraw", json={"reason": "Reporté"})
    await dev.post(f"/applications/{ids[1]}/amend", json={"sector": "TIC"})
    kept = await deposit(dev, f"/applications/{ids[1]}", "budget prévisionnel", name="budget.pdf")
    lost = await deposit(dev, f"/applications/{ids[2]}", "autre", PDF_BYTES + b"lost", "perdu.pdf")
    assert kept.status_code == lost.status_code == 201
    dev.storage.fs.rm(dev.storage.path(lost.json()["sha256"]))  # a file lost from the storage
    fresh = make_engine(f"sqlite:///{tmp_path / 'rebuilt.db'}")
    migrate(fresh)
    read = await rebuild(dev.client, Projection(fresh), dev.task_queue)
    assert read == len(audit_rows(dev.engine))
    assert sorted(audit_rows(fresh)) == sorted(audit_rows(dev.engine))
    with Session(fresh) as db:
        rebuilt = {r.id: (r.stage, r.seq, r.sector) for r in db.exec(select(ApplicationRow))}
    with Session(dev.engine) as db:
        original = {r.id: (r.stage, r.seq, r.sector) for r in db.exec(select(ApplicationRow))}
    assert rebuilt == original
    again = await rebuild(dev.client, Projection(fresh), dev.task_queue)  # idempotent
    assert again == read and len(audit_rows(fresh)) == read
    with Session(fresh) as db:
        assert len(queries.documents(db, Kind.APPLICATION, ids[1])) == 1
    assert [(r.case_id, r.filename) for r in missing_files(fresh, dev.storage)] == [
        (ids[2], "perdu.pdf")
    ]


async def test_health_checks_the_engine_and_the_database(dev: Service, engine: Engine) -> None:
    healthy = await dev.http.get("/health")
    assert healthy.status_code == 200
    assert healthy.json() == {"status": "ok", "engine": "ok", "database": "ok"}
    app = create_app(
        Settings(temporal_address="127.0.0.1:1", api_tokens=TOKENS["admin"]), engine=engine
    )
    async with app.router.lifespan_context(app):
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://api"
        ) as http:
            down = await http.get("/health")
    assert down.status_code == 503
    assert down.json()["engine"] == "unreachable" and down.json()["database"] == "ok"


async def test_worker_metrics_are_served_for_prometheus(
    dev_env: WorkflowEnvironment, engine: Engine
) -> None:
    with socket.socket() as probe:  # a free port for the metrics endpoint
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    settings = Settings(metrics_address=f"127.0.0.1:{port}")
    runtime = metrics_runtime(settings)
    address = dev_env.client.service_client.config.target_host
    client = await Client.connect(address, data_converter=pydantic_data_converter, runtime=runtime)
    async with running_service(WorkflowEnvironment.from_client(client), engine) as service:
        call_id = await open_call(service)
        await service.post(f"/calls/{call_id}/applications", json=APPLICATION)

        async def scraped() -> bool:
            page = await asyncio.to_thread(
                lambda: urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics").read().decode()
            )
            # workflow tasks, and the registration's steps (local activities)
            return all(
                f"temporal_{name}_execution_latency" in page
                for name in ("workflow_task", "local_activity")
            )

        await eventually(scraped, what="workflow and local activity metrics")


def worker_process(address: str, database_url: str, task_queue: str) -> subprocess.Popen:
    environment = (
        os.environ
        | mail_env()
        | {
            "TEMPORAL_ADDRESS": address,
            "DATABASE_URL": database_url,
            "TASK_QUEUE": task_queue,
            "LOG_FORMAT": "text",
        }
    )
    return subprocess.Popen(
        [sys.executable, "worker.py"],
        cwd=ROOT,
        env=environment,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


async def test_worker_killed_mid_transitions_loses_nothing(
    dev_env: WorkflowEnvironment, tmp_path: Path
) -> None:
    database_url = f"sqlite:///{tmp_path / 'projection.db'}"
    engine = make_engine(database_url)
    migrate(engine)
    task_queue = f"tq-{uuid.uuid4().hex}"
    address = dev_env.client.service_client.config.target_host
    settings = Settings(
        task_queue=task_queue,
        api_tokens=",".join(TOKENS.values()),
        documents_url=str(tmp_path / "documents"),
    )
    app = create_app(settings, client=dev_env.client, engine=engine)
    worker = worker_process(address, database_url, task_queue)
    try:
        async with app.router.lifespan_context(app):
            async with httpx.AsyncClient(
                transport=httpx.ASGITransport(app=app), base_url="http://api", timeout=60
            ) as http:
                service = Service(dev_env, engine, http, task_queue, app.state.storage)
                # Room for the restart: the killed worker's tasks come back after Temporal's
                # sticky-queue timeout (5 s); a request not accepted before the deadline is refused.
                call_id = await open_call(
                    service, deadline=(utcnow() + timedelta(seconds=20)).isoformat()
                )
                registering = [
                    asyncio.create_task(
                        service.post(f"/calls/{call_id}/applications", json=APPLICATION)
                    )
                    for _ in range(12)
                ]
                await asyncio.sleep(0.3)
                worker.send_signal(signal.SIGKILL)  # in the middle of the registrations
                worker.wait()
                worker = worker_process(address, database_url, task_queue)
                answers = await asyncio.gather(*registering)
                assert [a.status_code for a in answers] == [201] * 12, [
                    a.json() for a in answers if a.status_code != 201
                ]

                async def all_reviewed() -> bool:
                    return await stages(service, call_id) == ["eligibility_review"] * 12

                await eventually(all_reviewed, timeout=40, what="every application to reach review")
    finally:
        worker.kill()
        worker.wait()
    assert_no_duplicate(engine)
    assert len(audit_rows(engine)) == 4 + 12 * 2  # call: create, publish, open, close


async def test_engine_restarted_on_its_file_keeps_every_case(
    tmp_path: Path, engine: Engine
) -> None:
    database = str(tmp_path / "temporal.db")

    async def engine_on_file() -> WorkflowEnvironment:
        return await WorkflowEnvironment.start_local(
            data_converter=pydantic_data_converter,
            dev_server_existing_path=bundled_binary("temporal"),
            dev_server_database_filename=database,
        )

    env = await engine_on_file()
    async with running_service(env, engine) as service:
        call_id = await open_call(service, deadline=(utcnow() + timedelta(seconds=4)).isoformat())
        for _ in range(3):
            assert (
                await service.post(f"/calls/{call_id}/applications", json=APPLICATION)
            ).status_code == 201
        task_queue = service.task_queue
    await env.shutdown()  # the engine stops before the deadline
    await asyncio.sleep(1)

    env = await engine_on_file()
    try:
        async with running_service(env, engine, task_queue=task_queue) as service:

            async def all_reviewed() -> bool:
                return await stages(service, call_id) == ["eligibility_review"] * 3

            await eventually(all_reviewed, timeout=30, what="closure after the restart")
            assert (await service.get(f"/calls/{call_id}")).json()["stage"] == "closed"
    finally:
        await env.shutdown()
    assert_no_duplicate(engine)


@pytest.fixture
def postgres() -> Iterator[Engine]:
    yield from postgres_engine()


async def test_database_outage_delays_transitions_and_loses_none(
    dev_env: WorkflowEnvironment, postgres: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The projection unwritable, a transition waits while its workflow retries the write: the
    API answers 503 (« réessayez avec la même Idempotency-Key »); once the database is back the
    transition is written once, and the repeat with the key returns it. The whole database down
    is a 503 at the door (`test_health_checks_the_engine_and_the_database`)."""
    monkeypatch.setattr(commands, "UPDATE_TIMEOUT", 2.0)
    async with running_service(dev_env, postgres) as service:
        call_id = await open_call(service)
        application_id = (
            await service.post(f"/calls/{call_id}/applications", json=APPLICATION)
        ).json()["id"]
        amend = dict(
            path=f"/applications/{application_id}/amend",
            json={"sector": "TIC"},
            headers={"Idempotency-Key": "amend-1"},
        )
        # The projection's tables away (the staff accounts stay: the caller is still known).
        with postgres.begin() as connection:
            connection.execute(text("alter table audit_events rename to audit_events_away"))
        try:
            waiting = await service.post(**amend)
            assert waiting.status_code == 503, waiting.text
            assert "même Idempotency-Key" in waiting.json()["detail"]
        finally:
            with postgres.begin() as connection:
                connection.execute(text("alter table audit_events_away rename to audit_events"))
        for _ in range(30):  # the client repeats with its key until the write has landed
            answer = await service.post(**amend)
            if answer.status_code != 503:
                break
        assert answer.status_code == 200 and answer.json()["data"]["sector"] == "TIC"
        with Session(postgres) as db:
            row = db.get(ApplicationRow, application_id)
            assert (row.sector, row.seq) == ("TIC", 2)  # one amendment, written once
    assert_no_duplicate(postgres)


async def test_200_concurrent_updates_on_different_cases_all_land(dev: Service) -> None:
    call_id = await open_call(dev)
    gate = asyncio.Semaphore(50)

    async def register(i: int) -> str:
        async with gate:
            body = {**APPLICATION, "cluster_name": f"Cluster {i}"}
            answer = await dev.post(f"/calls/{call_id}/applications", json=body)
            assert answer.status_code == 201, answer.text
            return answer.json()["id"]

    ids = await asyncio.gather(*(register(i) for i in range(200)))
    answers = await asyncio.gather(
        *(dev.post(f"/applications/{a}/amend", json={"legal_form": "GIE"}) for a in ids)
    )
    assert [a.status_code for a in answers] == [200] * 200
    with Session(dev.engine) as db:
        amended = db.exec(select(func.count()).where(AuditRow.action == "amend")).one()
    assert amended == 200
    assert_no_duplicate(dev.engine)


async def test_the_whole_database_down_is_a_503_at_the_door(
    dev_env: WorkflowEnvironment, tmp_path: Path
) -> None:
    """No database, no way to know the caller: 503 (retry later), never a 500, nothing done."""
    folder = tmp_path / "db"
    engine = make_engine(f"sqlite:///{folder / 'projection.db'}")
    migrate(engine)
    async with running_service(dev_env, engine) as service:
        engine.dispose()
        folder.rename(tmp_path / "away")  # the file cannot be opened any more
        try:
            for role, method, path in (("admin", "POST", "/calls"), ("operator", "GET", "/calls")):
                answer = await service.http.request(method, path, json={}, headers=auth(role))
                assert answer.status_code == 503, (method, answer.text)
                assert answer.json()["code"] == "DatabaseUnavailable"
        finally:
            (tmp_path / "away").rename(folder)
