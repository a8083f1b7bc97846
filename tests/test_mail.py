"""Notices that reach people: each sent by an activity to a real SMTP server on loopback (aiosmtpd),
to the applicant or to the staff member's own address; a relay down for a while delays a notice
and never doubles it; a refused address is recorded and not retried."""

import contextlib
from collections.abc import AsyncIterator
from datetime import timedelta

import pytest
import pytest_asyncio
from sqlalchemy import Engine, update
from sqlmodel import Session, select
from temporalio.service import RPCError
from temporalio.testing import WorkflowEnvironment

from activities.mail import Relay
from activities.mailcatcher import Catcher, free_port, start_catcher
from domain.ids import application_workflow_id, call_workflow_id
from projection.tables import ApplicationRow, CallRow, OutboxRow, UserRow
from tests.conftest import (
    APPLICATION,
    Service,
    eventually,
    mails_to,
    running_service,
    utcnow,
)
from tests.test_api import open_call

pytestmark = pytest.mark.asyncio(loop_scope="session")
EVE_EMAIL = "eve@evaluateurs.ma"


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
    assert message["Subject"] == f"Candidature {application_id} enregistrée"
    assert "Cluster Aéronautique du Nord" in message.get_content()
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
            {"evaluators": ["Eve Évaluatrice", "Driss Évaluateur"]},
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
    assert to_eve["Subject"] == f"Évaluation de la candidature {evaluated}"
    driss = outbox(dev_both, "évaluateur:Driss Évaluateur")[-1]
    assert driss.status == "failed" and "Aucune adresse" in (driss.last_error or "")


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
    call_id = await service.new_call()
    assert (await service.post(f"/calls/{call_id}/publish", role="admin")).is_success
    email = "attente@cluster-sud.ma"
    await register(service, call_id, email)

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
        call_id = await service.new_call()
        assert (await service.post(f"/calls/{call_id}/publish", role="admin")).is_success
        await register(service, call_id, email)

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
