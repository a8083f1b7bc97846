"""The reserve list and the money's guard under load, through the API on the time-skipping
server: a laureate who never signs its contract gives its funds back by itself and the call
proposes the next reserve file; the list closes on its date and the files still on it are
« non retenue — fonds insuffisants », told by their letter; fifty confirmations at once from
two API processes (as deployed: uvicorn) never commit past the envelope (PostgreSQL)."""

import asyncio
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path

import httpx
import pytest
import pytest_asyncio
from sqlmodel import Session
from temporalio.testing import WorkflowEnvironment

from domain.allocation import INSUFFICIENT_FUNDS
from projection.ledger import call_balances
from tests.conftest import (
    TOKENS,
    Service,
    auth,
    end_cases,
    eventually,
    mails_to,
    postgres_engine,
    running_service,
)
from tests.test_clusters import stage_is
from tests.test_compose import api_command
from tests.test_evaluation import EVE, eligible_applications, ok, score
from tests.test_security import database_url, uvicorn_as

pytestmark = pytest.mark.asyncio(loop_scope="session")
ASKED = [500_000.0, 400_000.0]
CONTACT = "salma@cluster-nord.ma"  # tests.conftest.APPLICATION's contact


async def one_evaluator_call(service: Service, count: int) -> tuple[str, list[str]]:
    """`count` files scored by one evaluator each, the better first."""
    call_id, ids = await eligible_applications(
        service,
        [f"Cluster {n:02d}" for n in range(count)],
        rules={"evaluators_per_application": 1},
        **{f"Cluster {n:02d}": {"requested_amounts": ASKED} for n in range(count)},
    )
    for n, application_id in enumerate(ids):
        assign = f"/applications/{application_id}/assign_evaluators"
        body = {"evaluators": ["Eve Évaluatrice"]}
        await ok(await service.post(assign, role="admin", json=body))
        mark = 5 - 0.5 * (n % 4)
        await score(service, application_id, {EVE: (mark,) * 5})
    return call_id, ids


def balances(service: Service, call_id: str) -> dict[int, dict]:
    with Session(service.engine) as db:
        return {b.year: b.model_dump() for b in call_balances(db, call_id)}


async def test_an_unsigned_contract_frees_its_funds_and_the_reserve_closes(
    skipping: Service,
) -> None:
    service = skipping
    call_id, (laureate, first, second) = await one_evaluator_call(service, 3)
    now = await service.env.get_current_time()
    year = now.year + 1
    budget = {
        "first_year": year,
        "envelopes": ASKED,
        "reserve_until": (now + timedelta(days=150)).date().isoformat(),
    }
    await ok(await service.post(f"/calls/{call_id}/set_budget", role="admin", json=budget))
    decide = {"reason": "Décision du comité.", "amounts": ASKED}
    await ok(await service.post(f"/applications/{laureate}/label", role="committee", json=decide))
    for reserve in (first, second):
        path = f"/applications/{reserve}/put_on_reserve"
        await ok(await service.post(path, role="committee", json=decide))
    # Below what is reserved, the envelope cannot go.
    cut = budget | {"envelopes": [100_000.0, 100_000.0], "reason": "Coupe budgétaire."}
    refused = await service.post(f"/calls/{call_id}/set_budget", role="admin", json=cut)
    assert refused.status_code == 409 and "inférieure aux montants déjà réservés" in refused.text
    await ok(
        await service.post(
            f"/calls/{call_id}/publish_results", role="admin", json={"confirme": True}
        )
    )
    await service.env.sleep(timedelta(minutes=1))
    await stage_is(service, laureate, "awaiting_contract")
    assert balances(service, call_id)[year]["available"] == 0

    # 90 days (the call's default) without a signature: the funds return, a proposal follows.
    await service.env.sleep(timedelta(days=91))
    await stage_is(service, laureate, "terminated")
    cluster = (await service.get(f"/clusters/{laureate}", role="admin")).json()
    assert cluster["reason"] == "Convention non signée dans le délai"

    async def proposed() -> bool:
        call = (await service.get(f"/calls/{call_id}", role="admin")).json()
        return call["promotions"] == [first]

    await eventually(proposed, what="the best reserve file proposed")
    assert balances(service, call_id)[year]["available"] == ASKED[0]
    audit = (await service.get(f"/calls/{call_id}", role="admin")).json()["audit"]
    proposal = [e for e in audit if e["action"] == "propose_promotion"]
    assert [e["payload"]["freed_by"] for e in proposal] == [laureate]

    # Nobody confirms; the list closes on its date: the two are not retained, and told.
    before = len(mails_to(CONTACT))
    await service.env.sleep(timedelta(days=60))
    for reserve in (first, second):

        async def closed(reserve: str = reserve) -> bool:
            case = (await service.get(f"/applications/{reserve}", role="admin")).json()
            return case["stage"] == "not_retained"

        await eventually(closed, what="the reserve file not retained")
        case = (await service.get(f"/applications/{reserve}", role="admin")).json()
        assert case["decision"]["reason"] == INSUFFICIENT_FUNDS

    async def told() -> bool:
        return len(mails_to(CONTACT)) >= before + 2

    await eventually(told, what="the two letters")
    letters = [m for m in mails_to(CONTACT)[before:] if "non retenue" in m["Subject"]]
    assert len(letters) == 2
    body = letters[0].get_body(preferencelist=("plain",)).get_content()
    assert INSUFFICIENT_FUNDS in body and "liste d'attente de l'appel est close" in body
    late = await service.post(
        f"/applications/{first}/promote",
        role="admin",
        json={"amounts": ASKED, "reason": "Trop tard."},
    )
    assert late.status_code == 409


@pytest_asyncio.fixture(loop_scope="session")
async def on_postgres(skipping_env: WorkflowEnvironment) -> AsyncIterator[Service]:
    """Two API processes share the projection as deployed: on PostgreSQL."""
    for engine in postgres_engine():
        async with running_service(skipping_env, engine) as service:
            yield service
            await end_cases(service)


async def test_fifty_confirmations_at_once_from_two_api_processes_stay_within_the_envelope(
    on_postgres: Service, tmp_path: Path
) -> None:
    service = on_postgres
    count, funded = 50, 10
    call_id, ids = await one_evaluator_call(service, count)
    now = await service.env.get_current_time()
    budget = {"first_year": now.year + 1, "envelopes": [ASKED[0] * funded]}
    await ok(await service.post(f"/calls/{call_id}/set_budget", role="admin", json=budget))
    for application_id in ids:
        await ok(
            await service.post(
                f"/applications/{application_id}/put_on_reserve",
                role="committee",
                json={"reason": "Liste d'attente."},
            )
        )
    await ok(
        await service.post(
            f"/calls/{call_id}/publish_results", role="admin", json={"confirme": True}
        )
    )
    await service.env.sleep(timedelta(minutes=1))
    target = service.client.service_client.config.target_host
    environment = {
        "DATABASE_URL": database_url(service.engine),
        "TEMPORAL_ADDRESS": target,
        "TASK_QUEUE": service.task_queue,
        "API_TOKENS": ",".join(TOKENS.values()),
    }
    for folder in ("one", "two"):
        (tmp_path / folder).mkdir()
    async with (
        uvicorn_as(api_command(), tmp_path / "one", **environment) as one,
        uvicorn_as(api_command(), tmp_path / "two", **environment) as two,
        httpx.AsyncClient(timeout=60) as http,
    ):

        async def confirm(n: int, application_id: str) -> httpx.Response:
            base = (one, two)[n % 2]
            return await http.post(
                f"{base}/applications/{application_id}/promote",
                json={"amounts": [ASKED[0]], "reason": "Fonds libérés."},
                headers=auth("admin"),
            )

        answers = await asyncio.gather(*(confirm(n, i) for n, i in enumerate(ids)))
    statuses = sorted(a.status_code for a in answers)
    assert statuses == [200] * funded + [409] * (count - funded), [a.text for a in answers]
    refusals = {a.json()["detail"].split(" :")[0] for a in answers if a.status_code == 409}
    assert refusals == {f"Fonds insuffisants sur l'enveloppe {now.year + 1}"}
    year = balances(service, call_id)[now.year + 1]
    assert year["engaged"] == year["envelope"] == ASKED[0] * funded
    labelled = [
        i
        for i in ids
        if (await service.get(f"/applications/{i}", role="admin")).json()["stage"] == "labelled"
    ]
    assert len(labelled) == funded
