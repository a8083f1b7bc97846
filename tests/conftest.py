"""One time-skipping server and one dev server for the whole run; a worker and an API per test."""

import asyncio
import contextlib
import os
import socket
import tempfile
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from pathlib import Path

import httpx
import pytest
import pytest_asyncio
import uvicorn
from aiosmtpd.controller import Controller
from sqlalchemy import Engine, create_engine, text
from sqlmodel import Session, select
from temporalio.api.enums.v1 import PendingActivityState
from temporalio.api.workflow.v1 import PendingActivityInfo
from temporalio.client import Client, WorkflowHandle
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.service import RPCError
from temporalio.testing import WorkflowEnvironment

from activities.mail import Relay
from activities.mailcatcher import Catcher, relay_to, start_catcher
from domain.ids import (
    application_workflow_id,
    call_workflow_id,
    cluster_workflow_id,
    session_workflow_id,
)
from domain.models import DEFAULT_DOCUMENTS, Actor, CallSpec, CallStart, CallState
from domain.stages import CallStage, Role
from domain.support import REPORT_FILES
from projection.database import make_engine, migrate
from projection.storage import Storage
from projection.tables import ApplicationRow, CallRow, ClusterRow, CommitteeSessionRow
from settings import DEV_SERVER_ARGS, Settings, bundled_binary
from web.app import create_app
from web.tokens import MIN_LENGTH
from worker import build_worker
from workflows.call import CallWorkflow

POSTGRES_URL = os.environ.get(
    "TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)


def secret(name: str) -> str:
    """The test token called `name` (« t-admin »), as long as the service requires a token to
    be (web.tokens.MIN_LENGTH); a token that long already is itself."""
    return name if len(name) >= MIN_LENGTH else f"{name}-".ljust(MIN_LENGTH, "0")


TOKENS = {
    role: f"{secret(f't-{role}')}={who}"
    for role, who in {
        "admin": "admin:Amina Admin",
        "operator": "operator:Omar Opérateur",
        "evaluator": "evaluator:Eve Évaluatrice",
        "evaluator2": "evaluator:Driss Évaluateur",
        "evaluator3": "evaluator:Nadia Évaluatrice",
        "evaluator4": "evaluator:Youssef Évaluateur",
        "committee": "committee:Karim Comité",
        # A committee session's members (president, secretary, members).
        "committee2": "committee:Salma Comité",
        "committee3": "committee:Hassan Comité",
        "committee4": "committee:Leila Comité",
        "committee5": "committee:Youssef Comité",
        # The finance office: one releases a tranche, another pays it.
        "finance": "finance:Fatima Finances",
        "finance2": "finance:Rachid Finances",
    }.items()
}
ADMIN = Actor(name="Amina Admin", role=Role.ADMIN)
CONSOLE_ORIGIN = {"Origin": "http://api"}  # what a browser sends with the console's forms


def auth(role: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {secret(f't-{role}')}"}


@pytest_asyncio.fixture(loop_scope="session")
async def skipping_env() -> AsyncIterator[WorkflowEnvironment]:
    """A time-skipping server per test (it starts in a tenth of a second): no workflow an earlier
    test left behind (clusters' yearly timers, contracts' lapses) fires during a later test's
    years, which made the shared server fail in CI, then a module's (a renewal's 360 days after
    a terminated contract); its clock starts at the wall clock, which the portal reads."""
    path = bundled_binary("temporal-test-server")
    converter = pydantic_data_converter
    async with await WorkflowEnvironment.start_time_skipping(
        data_converter=converter, test_server_existing_path=path
    ) as env:
        yield env


@pytest_asyncio.fixture(scope="session", loop_scope="session")
async def dev_env() -> AsyncIterator[WorkflowEnvironment]:
    """The dev server, for what the time-skipping server lacks (update-with-start)."""
    path = bundled_binary("temporal")
    async with await WorkflowEnvironment.start_local(
        data_converter=pydantic_data_converter,
        dev_server_existing_path=path,
        dev_server_extra_args=DEV_SERVER_ARGS,
    ) as env:
        yield env


def postgres_engine(migrated: bool = True) -> Iterator[Engine]:
    """A throw-away schema in the local PostgreSQL (`migrated` to the latest revision, or empty),
    or a skip (a failure when CI requires it)."""
    try:
        probe = create_engine(POSTGRES_URL)
        with probe.connect() as connection:
            connection.execute(text("select 1"))
    except Exception as error:  # noqa: BLE001 - any reason PostgreSQL is not there
        message = f"PostgreSQL not reachable at {POSTGRES_URL}: {error.__class__.__name__}"
        if os.environ.get("REQUIRE_POSTGRES") == "1":
            pytest.fail(message + " (REQUIRE_POSTGRES=1)")
        pytest.skip(message)
    schema = f"t_{uuid.uuid4().hex[:10]}"
    with probe.begin() as connection:
        connection.execute(text(f"create schema {schema}"))
    engine = create_engine(POSTGRES_URL, connect_args={"options": f"-csearch_path={schema}"})
    if migrated:
        migrate(engine)
    yield engine
    engine.dispose()
    with probe.begin() as connection:
        connection.execute(text(f"drop schema {schema} cascade"))
    probe.dispose()


@pytest.fixture(params=["sqlite", "postgresql"])
def empty_engine(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Engine]:
    """An empty database, once on SQLite and once on PostgreSQL: no table, no revision."""
    if request.param == "sqlite":
        engine = make_engine(f"sqlite:///{tmp_path / 'empty.db'}")
        yield engine
        engine.dispose()
    else:
        yield from postgres_engine(migrated=False)


@pytest.fixture(params=["sqlite", "postgresql"])
def any_engine(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Engine]:
    """The projection database, once on SQLite and once on PostgreSQL."""
    if request.param == "sqlite":
        yield from _sqlite_engine(tmp_path)
    else:
        yield from postgres_engine()


def _sqlite_engine(tmp_path: Path) -> Iterator[Engine]:
    engine = make_engine(f"sqlite:///{tmp_path / 'projection.db'}")
    migrate(engine)
    yield engine
    engine.dispose()


@pytest.fixture
def engine(tmp_path: Path) -> Iterator[Engine]:
    yield from _sqlite_engine(tmp_path)


@dataclass
class Service:
    """A running worker and the API in front of it, on a task queue of the test's own."""

    env: WorkflowEnvironment
    engine: Engine
    http: httpx.AsyncClient
    task_queue: str
    storage: Storage  # the API's, in a folder of the service's own

    def new_session(self) -> httpx.AsyncClient:
        """Another client on the same app, with cookies of its own (a second browser)."""
        return httpx.AsyncClient(
            transport=self.http._transport, base_url="http://api", headers=CONSOLE_ORIGIN
        )

    async def signed_in(self, token: str) -> httpx.AsyncClient:
        """A browser signed in to the console with `token` (or the test token it names, « t-admin »:
        `secret`), through the sign-in form."""
        browser = self.new_session()
        answer = await browser.post("/console/connexion", data={"jeton": secret(token)})
        assert answer.status_code == 303 and "console_session" in answer.cookies, answer.text
        return browser

    @property
    def client(self) -> Client:
        return self.env.client

    async def new_call(self, **changes: object) -> str:
        """A draft call started as update-with-start would (the time-skipping server lacks it)."""
        now = await self.env.get_current_time()
        spec = CallSpec.model_validate(
            {
                "year": now.year,
                "title": "Appel à projets de test",
                "opens_at": now - timedelta(days=1),
                "deadline": now + timedelta(days=30),
                **changes,
            }
        )
        call_id = f"{spec.year}-{uuid.uuid4().hex[:12]}"
        state = CallState(id=call_id, stage=CallStage.DRAFT, spec=spec, updated_at=now)
        handle = await self.client.start_workflow(
            CallWorkflow.run,
            CallStart(state=state),
            id=call_workflow_id(call_id),
            task_queue=self.task_queue,
        )
        await handle.execute_update(CallWorkflow.create, ADMIN)
        return call_id

    async def post(
        self, path: str, role: str = "operator", json: object = None, **kw
    ) -> httpx.Response:
        return public(
            await self.http.post(
                path, json=json, headers={**auth(role), **kw.pop("headers", {})}, **kw
            ),
            role,
        )

    async def get(self, path: str, role: str = "operator", **kw) -> httpx.Response:
        return public(await self.http.get(path, headers=auth(role), **kw), role)


# The workflows' bookkeeping, in no answer to anyone (projection.visibility).
INTERNAL_KEYS = {"seq", "workflow_id", "run_id", "update_id", "notice"}


def keys_of(value: object) -> set[str]:
    if isinstance(value, dict):
        return set(value) | {k for v in value.values() for k in keys_of(v)}
    if isinstance(value, list):
        return {k for v in value for k in keys_of(v)}
    return set()


def public(response: httpx.Response, role: str) -> httpx.Response:
    """Every JSON answer a test reads is checked: no internal field for any role, and no
    evaluator's comment (score sheets) for an operator."""
    if response.headers.get("content-type", "").startswith("application/json"):
        keys = keys_of(response.json())
        assert not keys & INTERNAL_KEYS, (response.request.url, keys & INTERNAL_KEYS)
        if role == "operator":
            assert "comment" not in keys, f"an evaluator's comment in {response.request.url}"
    return response


@asynccontextmanager
async def running_service(
    env: WorkflowEnvironment,
    engine: Engine,
    task_queue: str | None = None,
    sandboxed: bool = True,
    relay: Relay | None = None,
    **settings: str,
) -> AsyncIterator[Service]:
    """`sandboxed`, the tests' default, fails any non-deterministic call a workflow makes;
    `relay`: where notices go (the shared catcher by default); `settings` replace the
    service's own (its files in a folder of its own, by default)."""
    task_queue = task_queue or f"tq-{uuid.uuid4().hex}"
    settings = Settings(
        task_queue=task_queue,
        api_tokens=",".join(TOKENS.values()),
        documents_url=settings.pop("documents_url", None) or tempfile.mkdtemp(prefix="documents-"),
        receipt_key_file=Path(tempfile.mkdtemp(prefix="receipts-")) / "cle.pem",
        **settings,
    )
    app = create_app(settings, client=env.client, engine=engine)
    relay = relay or mail_relay()
    app.state.relay = relay  # the portal's own mail (sign-in links) to the same catcher
    async with app.router.lifespan_context(app):
        worker = build_worker(
            env.client,
            engine,
            task_queue,
            sandboxed,
            relay,
            app.state.storage,
            settings,
        )
        async with worker:
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(
                transport=transport, base_url="http://api", headers=CONSOLE_ORIGIN
            ) as http:
                yield Service(env, engine, http, task_queue, app.state.storage)


async def end_cases(service: Service) -> None:
    """Terminate every case a test left running on the shared time-skipping server: once its
    worker is gone, a timer of theirs (a reminder, a redress window) or a notice still retried
    would fire with nobody to run it, and the server would stop skipping time for the tests
    that follow."""
    with Session(service.engine) as db:
        ids = [call_workflow_id(i) for i in db.exec(select(CallRow.id))]
        ids += [application_workflow_id(i) for i in db.exec(select(ApplicationRow.id))]
        ids += [cluster_workflow_id(i) for i in db.exec(select(ClusterRow.id))]
        ids += [session_workflow_id(i) for i in db.exec(select(CommitteeSessionRow.id))]
    deadline = asyncio.get_running_loop().time() + 120  # real time, for all the cases
    for workflow_id in ids:
        handle = service.client.get_workflow_handle(workflow_id)
        with contextlib.suppress(RPCError):  # already ended
            await _attempts_done(handle, deadline)
            await handle.terminate("fin du test")


def _running(activity: PendingActivityInfo) -> bool:
    """Started, or about to be (scheduled for its first attempt: a worker may hold it already);
    one waiting out a retry's backoff is not."""
    state = activity.state
    return state == PendingActivityState.PENDING_ACTIVITY_STATE_STARTED or (
        state == PendingActivityState.PENDING_ACTIVITY_STATE_SCHEDULED and activity.attempt <= 1
    )


async def _attempts_done(handle: WorkflowHandle, deadline: float) -> None:
    """Wait (in real time, until `deadline` at most) until no activity of the case is running:
    an attempt that answers once its case is terminated and its worker gone (a document being
    built, a letter being sent) breaks the time-skipping server for every later test."""
    loop = asyncio.get_running_loop()
    while loop.time() < deadline:
        pending = (await handle.describe()).raw_description.pending_activities
        if not any(_running(a) for a in pending):
            return
        await asyncio.sleep(0.05)


@pytest_asyncio.fixture(loop_scope="session")
async def skipping(skipping_env: WorkflowEnvironment, any_engine: Engine) -> AsyncIterator[Service]:
    """On the time-skipping server, with the projection on SQLite and on PostgreSQL."""
    async with running_service(skipping_env, any_engine) as service:
        yield service
        await end_cases(service)


@pytest_asyncio.fixture(loop_scope="session")
async def unsandboxed(skipping_env: WorkflowEnvironment, engine: Engine) -> AsyncIterator[Service]:
    """The worker as deployed by default: workflows outside the sandbox."""
    async with running_service(skipping_env, engine, sandboxed=False) as service:
        yield service
        await end_cases(service)


@pytest_asyncio.fixture(scope="module", loop_scope="session", params=["sqlite", "postgresql"])
async def dev_both(
    request: pytest.FixtureRequest,
    dev_env: WorkflowEnvironment,
    tmp_path_factory: pytest.TempPathFactory,
) -> AsyncIterator[Service]:
    """A worker and the API on the dev server for a whole module, on each projection database."""
    if request.param == "sqlite":
        engines = _sqlite_engine(tmp_path_factory.mktemp("projection"))
    else:
        engines = postgres_engine()  # a skip when PostgreSQL is not there
    for engine in engines:  # each generator yields its engine once, then disposes of it
        async with running_service(dev_env, engine) as running:
            yield running


@pytest_asyncio.fixture(loop_scope="session")
async def dev(dev_env: WorkflowEnvironment, engine: Engine) -> AsyncIterator[Service]:
    async with running_service(dev_env, engine) as service:
        yield service


async def eventually(
    probe: Callable[[], Awaitable[bool]], timeout: float = 15.0, what: str = "condition"
) -> None:
    """Wait (in real time) for activities the clock set off to reach the projection."""
    deadline = asyncio.get_running_loop().time() + timeout
    while not await probe():
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.05)


def utcnow() -> datetime:
    return datetime.now(UTC)


# One SMTP server on loopback for every test service (aiosmtpd): what each notice became.
CATCHER = Catcher()
_catcher: list[Controller] = []


def mail_relay() -> Relay:
    """The tests' relay: the catcher, started on first use."""
    if not _catcher:
        _catcher.append(start_catcher(CATCHER))
    return relay_to(_catcher[0], Relay(host="", programme="programme@clusters.ma"))


def mail_env() -> dict[str, str]:
    """The same relay for a worker in a process of its own (worker.py reads the environment)."""
    return mail_relay().environment()


def mails_to(address: str) -> list[EmailMessage]:
    return [m for m in list(CATCHER.messages.values()) if m["To"] == address]


# The smallest file the storage takes as a PDF: one blank page, its catalogue, its xref table.
PDF_BYTES = (
    b"%PDF-1.4\n1 0 obj<</Type/Catalog/Pages 2 0 R>>endobj\n"
    b"2 0 obj<</Type/Pages/Kids[3 0 R]/Count 1>>endobj\n"
    b"3 0 obj<</Type/Page/Parent 2 0 R/MediaBox[0 0 3 3]>>endobj\n"
    b"xref\n0 4\n0000000000 65535 f \n0000000009 00000 n \n0000000052 00000 n \n"
    b"0000000101 00000 n \ntrailer<</Size 4/Root 1 0 R>>\nstartxref\n160\n%%EOF\n"
)


async def deposit(
    service: Service, case: str, kind: str, content: bytes = PDF_BYTES, name: str = "piece.pdf"
) -> httpx.Response:
    """A file deposited by an operator for `case` (« /applications/{id} », « /clusters/{id} »)."""
    return await service.http.post(
        f"{case}/documents",
        files={"file": (name, content, "application/octet-stream")},
        data={"kind": kind},
        headers=auth("operator"),
    )


async def deposit_all(service: Service, application_id: str) -> list[str]:
    """A file for each of the call's default required documents; their ids."""
    ids = []
    for kind in DEFAULT_DOCUMENTS:
        answer = await deposit(service, f"/applications/{application_id}", kind, name=f"{kind}.pdf")
        assert answer.status_code == 201, answer.text
        ids.append(answer.json()["id"])
    return ids


async def report(service: Service, cluster_id: str, year: int = 1) -> dict:
    """An annual report's body, its three files deposited first."""
    files = {}
    for field_name, kind in REPORT_FILES.items():
        content = PDF_BYTES + f"{kind} {year}".encode()
        answer = await deposit(service, f"/clusters/{cluster_id}", kind, content, f"{kind}.pdf")
        assert answer.status_code == 201, answer.text
        files[field_name] = answer.json()["id"]
    return {
        **files,
        "kpi_actuals": {
            "rd_projects": 5,
            "patents": 0,
            "startups": 2,
            "rd_jobs": 12,
            "trainings": 6,
        },
        "next_year_plan": "Deux projets collaboratifs avec l'université.",
    }


APPLICATION = {
    "cluster_name": "Cluster Aéronautique du Nord",
    "legal_form": "association",
    "sector": "aéronautique",
    "members": [
        {"name": "Aero Parts SA", "type": "company"},
        {"name": "Université Abdelmalek Essaâdi", "type": "research"},
    ],
    "existing_cluster": False,
    "support_years": 0,
    "contact": {"name": "Salma Bennani", "email": "salma@cluster-nord.ma"},
}


@pytest_asyncio.fixture(loop_scope="session")
async def site(
    dev_env: WorkflowEnvironment, engine: Engine, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[str]:
    """The whole service over real HTTP on a free port, as a browser needs it: its mail (the
    portal's sign-in links too) to the tests' catcher, the links it carries to this address."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    task_queue = f"tq-{uuid.uuid4().hex}"
    settings = Settings(
        task_queue=task_queue,
        api_tokens=",".join(TOKENS.values()),
        documents_url=str(tmp_path_factory.mktemp("documents")),
        receipt_key_file=tmp_path_factory.mktemp("receipts") / "cle.pem",
        public_url=f"http://127.0.0.1:{port}",
    )
    app = create_app(settings, client=dev_env.client, engine=engine)
    app.state.relay = relay = mail_relay()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    async with build_worker(dev_env.client, engine, task_queue, relay=relay, settings=settings):
        serving = asyncio.create_task(server.serve())
        while not server.started:
            await asyncio.sleep(0.05)
        yield f"http://127.0.0.1:{port}"
        server.should_exit = True
        await serving
