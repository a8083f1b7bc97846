"""Notices that reach people: each sent by an activity to a real SMTP server on loopback (aiosmtpd),
to the applicant or to the staff member's own address; a relay down for a while delays a notice
and never doubles it; a refused address is recorded and not retried."""

import asyncio
import contextlib
import io
import os
import signal
import sqlite3
import subprocess
import sys
import threading
import uuid
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path

import httpx
import openpyxl
import pytest
import pytest_asyncio
from sqlalchemy import Engine, update
from sqlmodel import Session, select
from temporalio.exceptions import ApplicationError
from temporalio.service import RPCError
from temporalio.testing import ActivityEnvironment, WorkflowEnvironment

from activities.mail import NOTICE_REFUSED, Mail, Relay
from activities.mailcatcher import Catcher, free_port, relay_to, start_catcher
from domain.ids import application_workflow_id, call_workflow_id
from projection.database import make_engine, migrate
from projection.storage import Storage
from projection.tables import ApplicationRow, CallRow, OutboxRow, UserRow
from settings import Settings
from tests.conftest import (
    APPLICATION,
    TOKENS,
    Service,
    eventually,
    mails_to,
    running_service,
    utcnow,
)
from tests.test_api import call_body, open_call
from web.app import create_app

pytestmark = pytest.mark.asyncio(loop_scope="session")
ROOT = Path(__file__).resolve().parent.parent
EVE_EMAIL = "eve@evaluateurs.ma"
TITLE = call_body()["title"]  # letters name the call by its title


def outbox(service: Service, recipient: str) -> list[OutboxRow]:
    with Session(service.engine) as db:
        query = select(OutboxRow).where(OutboxRow.recipient == recipient)
        return list(db.exec(query.order_by(OutboxRow.id)))


async def register(service: Service, call_id: str, email: str) -> str:
    body = {**APPLICATION, "contact": {"name": "Salma Bennani", "email": email}}
    registered = await service.post(f"/calls/{call_id}/applications", json=body)
    assert registered.status_code == 201, registered.text
    return registered.json()["id"]


async def test_notices_reach_the_applicant_and_each_evaluator_at_their_address(
    dev_both: Service,
) -> None:
    with Session(dev_both.engine) as db:  # Eve's account has an address; Driss's has none
        db.exec(update(UserRow).where(UserRow.name == "Eve Évaluatrice").values(email=EVE_EMAIL))
        db.commit()
    call_id = await open_call(dev_both)
    email = f"direction-{call_id}@cluster-nord.ma"
    application_id = await register(dev_both, call_id, email)

    async def delivered() -> bool:
        return bool(mails_to(email))

    await eventually(delivered, what="the registration notice")
    [message] = mails_to(email)
    assert message["Subject"] == f"{TITLE} — candidature {application_id} enregistrée"
    text = message.get_body(("plain",)).get_content()
    html = message.get_body(("html",)).get_content()
    assert "Cluster Aéronautique du Nord" in text and "Madame, Monsieur," in text
    assert f"Référence à rappeler : {application_id}" in text
    assert "écrivez à programme@clusters.ma" in text  # how to answer, and where
    assert message["Reply-To"] == "programme@clusters.ma"
    assert "Cluster Aéronautique du Nord" in html and "<p>Madame, Monsieur,</p>" in html
    assert message["From"] == "Programme d'appui aux clusters <clusters@localhost>"
    [row] = outbox(dev_both, email)
    assert (row.status, row.attempts, row.address) == ("sent", 1, email) and row.sent_at

    # The evaluators' notices go to each one's own address, found from their account.
    closing = await open_call(dev_both, deadline=(utcnow() + timedelta(seconds=1)).isoformat())
    evaluated = await register(dev_both, closing, f"eval-{closing}@cluster-nord.ma")

    async def in_review() -> bool:
        case = (await dev_both.get(f"/applications/{evaluated}")).json()
        return case["stage"] == "eligibility_review"

    await eventually(in_review, what="the deadline")
    for path, role, body in (
        (f"/applications/{evaluated}/mark_eligible", "operator", {}),
        (f"/calls/{closing}/start_evaluation", "admin", None),
        (
            f"/applications/{evaluated}/assign_evaluators",
            "admin",
            {"evaluators": ["Eve Évaluatrice", "Driss Évaluateur"], "incomplete": True},
        ),
    ):
        assert (await dev_both.post(path, role=role, json=body)).status_code == 200

    async def both_tried() -> bool:
        rows = outbox(dev_both, "évaluateur:Eve Évaluatrice") + outbox(
            dev_both, "évaluateur:Driss Évaluateur"
        )
        return len(rows) >= 2 and all(r.attempts for r in rows[-2:])

    await eventually(both_tried, what="the evaluators' notices")
    [to_eve] = [m for m in mails_to(EVE_EMAIL) if evaluated in str(m["Subject"])]
    assert to_eve["Subject"] == f"{TITLE} — candidature {evaluated} à évaluer"
    driss = outbox(dev_both, "évaluateur:Driss Évaluateur")[-1]
    assert driss.status == "failed" and "Aucune adresse" in (driss.last_error or "")

    # The console shows every notice, its state and its content, to those who write to people.
    browser = await dev_both.signed_in("t-operator")
    async with contextlib.aclosing(browser):
        page = (await browser.get("/console/courriers")).text
        failed = (await browser.get("/console/courriers", params={"etat": "failed"})).text
        case = (await browser.get(f"/console/candidatures/{application_id}")).text
        exported = await browser.get("/console/courriers.xlsx", params={"etat": "failed"})
    assert f"Candidature enregistrée — {TITLE} — candidature {application_id} enregistrée" in page
    book = openpyxl.load_workbook(io.BytesIO(exported.content)).active
    header, *rows = [list(row) for row in book.iter_rows(values_only=True)]
    lines = [dict(zip(header, row, strict=True)) for row in rows]
    assert lines and {line["État"] for line in lines} == {"échec"}  # the page's filter
    [to_driss] = [line for line in lines if line["Dossier"] == f"application-{evaluated}"]
    assert "Aucune adresse électronique" in to_driss["Dernière erreur"]
    assert "Aucune adresse électronique pour « Driss Évaluateur »" in failed
    assert f"candidature {application_id} enregistrée" not in failed
    assert "Courriers" in case and "envoyé</span> le" in case and email in case
    committee = await dev_both.signed_in("t-committee")
    async with contextlib.aclosing(committee):
        refused = await committee.get("/console/courriers")
    assert refused.status_code == 303 and refused.headers["location"] == "/console/"


async def new_application(service: Service, email: str, **rules: object) -> str:
    """An application with this contact, on a new published call of the service."""
    call_id = await service.new_call(**rules)
    assert (await service.post(f"/calls/{call_id}/publish", role="admin")).is_success
    return await register(service, call_id, email)


async def past_the_deadline(service: Service, application_id: str) -> None:
    """On the time-skipping server: the call closes, the application is in review."""
    await service.env.sleep(timedelta(days=31))

    async def in_review() -> bool:
        case = (await service.get(f"/applications/{application_id}")).json()
        return case["stage"] == "eligibility_review"

    await eventually(in_review, what="the deadline")


@pytest_asyncio.fixture(loop_scope="session")
async def relay_later(
    skipping_env: WorkflowEnvironment, engine: Engine
) -> AsyncIterator[tuple[Service, Catcher, int]]:
    """A service whose relay is down at first: its catcher starts on that port when asked. Its
    cases end with it: on the time-skipping server, a case left waking up with no worker would
    stop the next tests' time from skipping."""
    port = free_port()
    relay = Relay(host="127.0.0.1", port=port)
    async with running_service(skipping_env, engine, relay=relay) as service:
        yield service, Catcher(), port
        with Session(engine) as db:
            cases = [call_workflow_id(i) for i in db.exec(select(CallRow.id))] + [
                application_workflow_id(i) for i in db.exec(select(ApplicationRow.id))
            ]
        for workflow_id in cases:
            with contextlib.suppress(RPCError):
                await service.client.get_workflow_handle(workflow_id).terminate("fin du test")


async def test_a_relay_down_for_a_while_delays_a_notice_and_sends_it_once(
    relay_later: tuple[Service, Catcher, int],
) -> None:
    service, catcher, port = relay_later
    email = "attente@cluster-sud.ma"
    await new_application(service, email)

    async def tried() -> bool:
        rows = outbox(service, email)
        return bool(rows) and rows[0].attempts >= 1

    await eventually(tried, what="a first attempt")
    [row] = outbox(service, email)
    assert row.status == "pending" and row.sent_at is None
    assert "Connection refused" in (row.last_error or "") or "Errno" in (row.last_error or "")

    controller = start_catcher(catcher, port)  # the relay is back
    try:
        await service.env.sleep(timedelta(hours=3))  # past the next retries

        async def sent() -> bool:
            return outbox(service, email)[0].status == "sent"

        await eventually(sent, what="the delivery once the relay is back")
        await service.env.sleep(timedelta(days=2))
    finally:
        controller.stop()
    assert catcher.received == 1 and len(catcher.messages) == 1
    [message] = catcher.messages.values()
    assert message["To"] == email


async def test_a_refused_address_is_recorded_and_not_retried(
    relay_later: tuple[Service, Catcher, int],
) -> None:
    service, catcher, port = relay_later
    email = "inconnu@cluster-est.ma"
    catcher.refuse.add(email)
    controller = start_catcher(catcher, port)
    try:
        await new_application(service, email)

        async def failed() -> bool:
            rows = outbox(service, email)
            return bool(rows) and rows[0].status == "failed"

        await eventually(failed, what="the refusal")
        await service.env.sleep(timedelta(days=1))
    finally:
        controller.stop()
    [row] = outbox(service, email)
    assert row.attempts == 1 and row.sent_at is None
    assert "refusée" in (row.last_error or "") and catcher.received == 0


async def test_no_response_time_runs_out_for_a_notice_never_sent(
    relay_later: tuple[Service, Catcher, int],
) -> None:
    """The complements notice is refused: the case is flagged and its clock never expires it."""
    service, catcher, port = relay_later
    email = "disparu@cluster-ouest.ma"
    catcher.refuse.add(email)
    controller = start_catcher(catcher, port)
    try:
        application_id = await new_application(service, email)
        await past_the_deadline(service, application_id)
        asked = await service.post(
            f"/applications/{application_id}/request_complements",
            json={"items": ["budget prévisionnel"]},
        )
        assert asked.status_code == 200, asked.text

        async def flagged() -> bool:
            case = (await service.get(f"/applications/{application_id}")).json()
            return case["complements"]["undelivered"]

        await eventually(flagged, what="the undelivered notice")
        await service.env.sleep(timedelta(days=30))  # long past any response time
        case = (await service.get(f"/applications/{application_id}")).json()
    finally:
        controller.stop()
    assert case["stage"] == "complements_requested" and case["complements"]["due_at"] is None
    assert case["audit"][-1]["action"] == "notice_undelivered"
    assert "vérifiez l'adresse" in case["audit"][-1]["reason"]


@pytest.mark.parametrize(
    ("field", "named"), [("recipient", "l'adresse du destinataire"), ("subject", "l'objet")]
)
async def test_a_notice_that_cannot_be_composed_fails_at_once_and_nothing_is_sent(
    engine: Engine, field: str, named: str, tmp_path: Path
) -> None:
    """A line break in an address or a subject (a header the email library refuses): the
    notice is failed at its first attempt with the reason in French, never retried, and the
    relay receives nothing; another attempt (a replay) changes nothing."""
    catcher = Catcher()
    controller = start_catcher(catcher)
    notice = OutboxRow(
        key="application-retour:1:0",
        recipient="salma@cluster-nord.ma",
        kind="registered",
        subject="Candidature retour enregistrée",
        body="Votre candidature est enregistrée.",
        created_at=utcnow(),
    )
    setattr(notice, field, getattr(notice, field) + "\r\nBcc: espion@ailleurs.ma")
    with Session(engine) as db:
        db.add(notice)
        db.commit()
    mail = Mail(engine, relay_to(controller), Storage(str(tmp_path / "documents")))
    try:
        for _ in range(2):
            with pytest.raises(ApplicationError) as refused:
                ActivityEnvironment().run(mail.deliver_notice, "application-retour:1:0")
            assert refused.value.non_retryable and refused.value.type == NOTICE_REFUSED
    finally:
        controller.stop()
    with Session(engine) as db:
        [row] = db.exec(select(OutboxRow))
    assert (row.status, row.attempts, row.sent_at, row.address) == ("failed", 1, None, None)
    assert row.last_error == refused.value.message
    assert row.last_error.startswith(f"Courrier impossible à composer : {named} contient un saut")
    assert "\\r\\nBcc: espion@ailleurs.ma" in row.last_error  # shown, not obeyed
    assert catcher.received == 0 and not catcher.messages


async def as_awaitable(value: bool) -> bool:
    return value


class HoldingCatcher(Catcher):
    """Holds the first message until released, then takes it (and answers 250)."""

    def __init__(self) -> None:
        super().__init__()
        self.arrived, self.release = threading.Event(), threading.Event()

    async def handle_DATA(self, server, session, envelope):  # noqa: ANN001, ANN201, N802
        self.arrived.set()
        await asyncio.get_running_loop().run_in_executor(None, self.release.wait)
        return await super().handle_DATA(server, session, envelope)


async def test_a_worker_killed_while_sending_leaves_one_message(
    dev_env: WorkflowEnvironment, tmp_path: Path
) -> None:
    """SMTP took the message, the worker died before recording it: the retry sends it again
    under the same Message-ID, and the mailbox keeps one message."""
    catcher = HoldingCatcher()
    controller = start_catcher(catcher)
    database_url = f"sqlite:///{tmp_path / 'projection.db'}"
    engine = make_engine(database_url)
    migrate(engine)
    task_queue = f"tq-{uuid.uuid4().hex}"
    env = os.environ | {
        "TEMPORAL_ADDRESS": dev_env.client.service_client.config.target_host,
        "DATABASE_URL": database_url,
        "TASK_QUEUE": task_queue,
        "SMTP_HOST": "127.0.0.1",
        "SMTP_PORT": str(controller.port),
        "LOG_FORMAT": "text",
    }

    def worker() -> subprocess.Popen:
        return subprocess.Popen(
            [sys.executable, "worker.py"],
            cwd=ROOT,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )

    running = worker()
    settings = Settings(
        task_queue=task_queue,
        api_tokens=",".join(TOKENS.values()),
        documents_url=str(tmp_path / "documents"),
    )
    app = create_app(settings, client=dev_env.client, engine=engine)
    try:
        async with (
            app.router.lifespan_context(app),
            httpx.AsyncClient(
                transport=httpx.ASGITransport(app=app), base_url="http://api", timeout=60
            ) as http,
        ):
            service = Service(dev_env, engine, http, task_queue, app.state.storage)
            call_id = await open_call(service)
            await register(service, call_id, "mort-subite@cluster.ma")
            assert await asyncio.to_thread(catcher.arrived.wait, 30), "no message came"
            # The relay takes the message while the projection is locked: the worker has sent
            # it and cannot record so; it dies there.
            lock = sqlite3.connect(tmp_path / "projection.db", isolation_level=None)
            lock.execute("BEGIN IMMEDIATE")
            catcher.release.set()
            await eventually(lambda: as_awaitable(catcher.received == 1), what="the relay")
            await asyncio.sleep(0.5)  # the worker has its 250 and waits on the database
            running.send_signal(signal.SIGKILL)
            running.wait()
            lock.execute("ROLLBACK")
            lock.close()
            running = worker()  # the lost attempt times out (30 s): the retry comes here

            async def recorded() -> bool:
                rows = outbox(service, "mort-subite@cluster.ma")
                return bool(rows) and rows[0].status == "sent"

            await eventually(recorded, timeout=90, what="the retry")
    finally:
        running.kill()
        running.wait()
        controller.stop()
    assert catcher.received == 2  # sent twice: the first attempt's outcome was lost
    assert len(catcher.messages) == 1  # one message: the same Message-ID
    [row] = outbox(service, "mort-subite@cluster.ma")
    assert row.attempts == 1  # the first attempt died before it could count itself


async def test_a_notice_never_sent_within_the_calls_days_flags_its_case(
    relay_later: tuple[Service, Catcher, int],
) -> None:
    """The relay stays down: after the call's `notice_days`, the notice is recorded as failed
    and the case flagged, its response time never started."""
    service, _, _ = relay_later  # its catcher is never started
    email = "silence@cluster-nord.ma"
    application_id = await new_application(service, email, notice_days=1)
    await past_the_deadline(service, application_id)
    asked = await service.post(
        f"/applications/{application_id}/request_complements", json={"items": ["statuts"]}
    )
    assert asked.status_code == 200, asked.text
    await service.env.sleep(timedelta(days=2))  # past the call's day of attempts

    async def flagged() -> bool:
        case = (await service.get(f"/applications/{application_id}")).json()
        return case["complements"]["undelivered"]

    await eventually(flagged, what="the notice given up")
    rows = outbox(service, email)
    assert [r.kind for r in rows] == ["registered", "complements_requested"]
    assert all(r.status == "failed" and r.attempts > 1 for r in rows)
    assert "Non remis après 1 jour(s) d'essais" in (rows[1].last_error or "")
    assert "Connection refused" in (rows[1].last_error or "") or "Errno" in (
        rows[1].last_error or ""
    )
