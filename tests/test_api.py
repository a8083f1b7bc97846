"""The HTTP API against a real worker on the dev server: statuses, bodies, idempotency, reads."""

import asyncio
from datetime import datetime, timedelta

import httpx
import pytest
from sqlmodel import Session, func, select

from projection.tables import AuditRow, OutboxRow
from settings import Settings
from tests.conftest import (
    APPLICATION,
    DEFAULT_DOCUMENTS,
    TOKENS,
    Service,
    auth,
    deposit_all,
    eventually,
    utcnow,
)
from web.app import create_app

pytestmark = pytest.mark.asyncio(loop_scope="session")


def call_body(**changes: object) -> dict:
    now = utcnow()
    return {
        "year": 2026,
        "title": "Appel à projets clusters 2026",
        "opens_at": now.isoformat(),
        "deadline": (now + timedelta(days=30)).isoformat(),
        "sectors": ["aéronautique", "TIC"],
        "complement_response_days": 5,
        **changes,
    }


async def open_call(dev: Service, **changes: object) -> str:
    created = await dev.post("/calls", role="admin", json=call_body(**changes))
    assert created.status_code == 201, created.text
    call_id = created.json()["id"]
    published = await dev.post(f"/calls/{call_id}/publish", role="admin")
    assert published.status_code == 200, published.text
    return call_id


async def eligible_review_case(dev: Service) -> str:
    """An application in eligibility review: a call whose deadline passes in a second."""
    call_id = await open_call(dev, deadline=(utcnow() + timedelta(seconds=1.5)).isoformat())
    registered = await dev.post(f"/calls/{call_id}/applications", json=APPLICATION)
    application_id = registered.json()["id"]

    async def in_review() -> bool:
        response = await dev.get(f"/applications/{application_id}")
        return response.json()["stage"] == "eligibility_review"

    await eventually(in_review, what="deadline closure")
    return application_id


def audit_count(dev: Service, workflow_id: str) -> int:
    with Session(dev.engine) as db:
        return db.exec(select(func.count()).where(AuditRow.workflow_id == workflow_id)).one()


async def test_call_created_through_api_closes_at_its_deadline_by_itself(dev: Service) -> None:
    deadline = utcnow() + timedelta(seconds=4)  # time to deposit the dossier's files
    call_id = await open_call(dev, deadline=deadline.isoformat())
    case = (await dev.get(f"/calls/{call_id}")).json()
    assert case["stage"] == "open"
    assert case["allowed_actions"] == ["extend_deadline", "register_application", "set_budget"]
    application = await dev.post(f"/calls/{call_id}/applications", json=APPLICATION)
    await deposit_all(dev, application.json()["id"])
    assert application.status_code == 201
    assert application.json()["allowed_actions"] == ["amend", "add_document", "withdraw"]

    async def closed() -> bool:
        return (await dev.get(f"/calls/{call_id}")).json()["stage"] == "closed"

    await eventually(closed, what="the call to close")
    application_id = application.json()["id"]

    async def reviewed() -> bool:
        body = (await dev.get(f"/applications/{application_id}")).json()
        return body["stage"] == "eligibility_review" and all(c["passed"] for c in body["checklist"])

    await eventually(reviewed, what="the application to reach review")
    eligible = await dev.post(f"/applications/{application_id}/mark_eligible", json={"note": "RAS"})
    assert eligible.status_code == 200
    assert eligible.json()["stage"] == "eligible"
    audit = (await dev.get(f"/applications/{application_id}")).json()["audit"]
    assert [e["action"] for e in audit] == [
        "register",
        *["add_document"] * len(DEFAULT_DOCUMENTS),
        "close_submissions",
        "mark_eligible",
    ]
    assert audit[-1]["actor"] == "Omar Opérateur" and audit[-1]["role"] == "operator"
    with Session(dev.engine) as db:
        subjects = db.exec(
            select(OutboxRow.subject).where(OutboxRow.recipient == "salma@cluster-nord.ma")
        )
        assert {s for s in subjects if application_id in s} == {
            f"Appel à projets clusters 2026 — candidature {application_id} enregistrée",
            f"Appel à projets clusters 2026 — candidature {application_id} recevable",
        }


async def test_dates_default_to_15h_rabat_time(dev: Service) -> None:
    created = await dev.post("/calls", role="admin", json=call_body(deadline="2099-07-24"))
    assert created.json()["spec"]["deadline"] == "2099-07-24T15:00:00+01:00"


async def test_missing_or_wrong_token_and_wrong_role(dev: Service) -> None:
    assert (await dev.http.post("/calls", json=call_body())).status_code == 401
    wrong = await dev.http.get("/calls", headers={"Authorization": "Bearer nope"})
    assert wrong.status_code == 401
    assert wrong.json()["detail"] == "Jeton d'API manquant ou inconnu."
    for role in ("operator", "evaluator", "committee"):
        assert (await dev.post("/calls", role=role, json=call_body())).status_code == 403
    assert (await dev.get("/applications", role="evaluator")).status_code == 403
    call_id = await open_call(dev)
    refused = await dev.post(f"/calls/{call_id}/applications", role="committee", json=APPLICATION)
    assert refused.status_code == 403
    assert (await dev.get("/applications", params={"call_id": call_id})).json()["total"] == 0


@pytest.mark.parametrize(
    "changes",
    [
        {"deadline": "2020-01-01"},  # before the opening
        {"year": "deux mille"},
        {"sectors": []},
        {"unknown_field": 1},
        {"evaluators_per_application": 0},
        {"grid": {"criteria": []}},
        {"opens_at": "pas une date"},
    ],
)
async def test_bad_call_payload_is_422_and_creates_nothing(dev: Service, changes: dict) -> None:
    before = (await dev.get("/calls", role="admin")).json()["total"]
    response = await dev.post("/calls", role="admin", json=call_body(**changes))
    assert response.status_code == 422, response.text
    assert (await dev.get("/calls", role="admin")).json()["total"] == before


async def test_bad_payloads_and_unknown_cases(dev: Service) -> None:
    call_id = await open_call(dev)
    bad_email = {**APPLICATION, "contact": {"name": "X", "email": "pas-un-email"}}
    assert (await dev.post(f"/calls/{call_id}/applications", json=bad_email)).status_code == 422
    bad_member = {**APPLICATION, "members": [{"name": "X", "type": "ministère"}]}
    assert (await dev.post(f"/calls/{call_id}/applications", json=bad_member)).status_code == 422
    assert (
        await dev.http.post(
            f"/calls/{call_id}/applications",
            content=b"{",
            headers={**auth("operator"), "Content-Type": "application/json"},
        )
    ).status_code == 422
    registered = await dev.post(f"/calls/{call_id}/applications", json=APPLICATION)
    application_id = registered.json()["id"]
    assert (await dev.post(f"/applications/{application_id}/amend", json={})).status_code == 422
    ineligible = await dev.post(f"/applications/{application_id}/mark_ineligible", json={})
    assert ineligible.status_code == 422  # a reason is required
    assert (await dev.get("/applications", params={"stage": "limbo"})).status_code == 422
    assert (await dev.get("/applications", params={"page": 0})).status_code == 422

    assert (await dev.get("/calls/2026-0000deadbeef")).status_code == 404
    assert (await dev.get("/applications/0000deadbeef")).status_code == 404
    assert (await dev.post("/calls/2026-0000deadbeef/publish", role="admin")).status_code == 404
    missing = await dev.post("/calls/2026-0000deadbeef/applications", json=APPLICATION)
    assert missing.status_code == 404
    assert missing.json()["detail"] == "Appel à projets inconnu."
    unknown = await dev.post("/applications/0000deadbeef/withdraw", json={"reason": "Reporté"})
    assert unknown.status_code == 404
    no_reason = await dev.post(f"/applications/{application_id}/withdraw")
    assert no_reason.status_code == 422  # a withdrawal says why
    assert (await dev.get("/applications/pas%00un-id")).status_code == 422
    assert (await dev.post("/calls/../publish", role="admin")).status_code in (404, 422)
    bad_key = await dev.post(
        f"/calls/{call_id}/publish", role="admin", headers={"Idempotency-Key": "a b"}
    )
    assert bad_key.status_code == 422


async def test_transition_not_allowed_is_409_with_stage_and_actions(dev: Service) -> None:
    call_id = await open_call(dev)
    again = await dev.post(f"/calls/{call_id}/publish", role="admin")
    assert again.status_code == 409
    assert again.json() == {
        "detail": "Action « Publier l'appel » impossible à l'étape « ouvert ».",
        "code": "NotAllowed",
        "stage": "open",
        "allowed_actions": ["extend_deadline", "register_application", "set_budget"],
    }
    registered = await dev.post(f"/calls/{call_id}/applications", json=APPLICATION)
    early = await dev.post(f"/applications/{registered.json()['id']}/mark_eligible")
    assert early.status_code == 409
    assert early.json()["allowed_actions"] == ["amend", "add_document", "withdraw"]
    past = await dev.post(
        f"/calls/{call_id}/extend_deadline", role="admin", json={"deadline": "2001-01-01"}
    )
    assert past.status_code == 422


async def test_a_call_whose_dates_are_past_is_refused_at_creation(dev: Service) -> None:
    before = (await dev.get("/calls", role="admin")).json()["total"]
    yesterday = (utcnow() - timedelta(days=1)).isoformat()
    late = await dev.post("/calls", role="admin", json=call_body(opens_at=yesterday))
    assert late.status_code == 422 and "ouverture" in late.json()["detail"]
    opened, closing = (utcnow() - timedelta(minutes=m) for m in (10, 5))
    past_deadline = call_body(opens_at=opened.isoformat(), deadline=closing.isoformat())
    closed = await dev.post("/calls", role="admin", json=past_deadline)
    assert closed.status_code == 422 and "passée" in closed.json()["detail"]
    assert (await dev.get("/calls", role="admin")).json()["total"] == before


async def test_publish_refused_when_deadline_passed_in_draft(dev: Service) -> None:
    body = call_body(deadline=(utcnow() + timedelta(seconds=1)).isoformat())
    created = await dev.post("/calls", role="admin", json=body)
    assert created.status_code == 201, created.text
    await asyncio.sleep(1.2)
    refused = await dev.post(f"/calls/{created.json()['id']}/publish", role="admin")
    assert refused.status_code == 422
    assert "prolongez" in refused.json()["detail"]


async def test_same_idempotency_key_changes_nothing_and_returns_first_answer(dev: Service) -> None:
    key = {"Idempotency-Key": f"create-{utcnow().timestamp()}"}
    body = call_body()
    first = await dev.post("/calls", role="admin", json=body, headers=key)
    second = await dev.post("/calls", role="admin", json=body, headers=key)
    assert first.status_code == second.status_code == 201
    assert first.json() == second.json()
    call_id = first.json()["id"]
    assert audit_count(dev, f"call-{call_id}") == 1
    await dev.post(f"/calls/{call_id}/publish", role="admin")

    key = {"Idempotency-Key": "registration-42"}
    one = await dev.post(f"/calls/{call_id}/applications", json=APPLICATION, headers=key)
    two = await dev.post(f"/calls/{call_id}/applications", json=APPLICATION, headers=key)
    assert one.json() == two.json()
    assert (await dev.get("/applications", params={"call_id": call_id})).json()["total"] == 1

    application_id = one.json()["id"]
    key = {"Idempotency-Key": "withdraw-1"}
    reason = {"reason": "Projet reporté à l'an prochain"}
    gone = await dev.post(f"/applications/{application_id}/withdraw", json=reason, headers=key)
    assert gone.status_code == 200
    assert audit_count(dev, f"application-{application_id}") == 2
    # The workflow has finished; Temporal still answers the repeat with the first outcome.
    repeat = await dev.post(f"/applications/{application_id}/withdraw", json=reason, headers=key)
    assert repeat.status_code == 200
    assert repeat.json() == gone.json()
    assert audit_count(dev, f"application-{application_id}") == 2


async def test_two_operators_at_once_exactly_one_wins(dev: Service) -> None:
    application_id = await eligible_review_case(dev)
    path = f"/applications/{application_id}"
    answers = await asyncio.gather(
        dev.post(f"{path}/mark_eligible"),
        dev.post(f"{path}/mark_ineligible", json={"reason": "Secteur hors appel"}),
    )
    assert sorted(a.status_code for a in answers) == [200, 409]
    winner = next(a for a in answers if a.status_code == 200).json()["stage"]
    assert (await dev.get(path)).json()["stage"] == winner
    assert audit_count(dev, f"application-{application_id}") == 3


async def test_reads_filter_paginate_count_and_list_deadlines(dev: Service) -> None:
    call_id = await open_call(dev, deadline=(utcnow() + timedelta(days=3)).isoformat())
    for i in range(5):
        sector = "TIC" if i % 2 else "aéronautique"
        body = {**APPLICATION, "cluster_name": f"Cluster {i}", "sector": sector}
        assert (await dev.post(f"/calls/{call_id}/applications", json=body)).status_code == 201
    listed = await dev.get("/applications", params={"call_id": call_id, "page": 2, "page_size": 2})
    assert listed.json()["total"] == 5
    assert [a["data"]["cluster_name"] for a in listed.json()["items"]] == ["Cluster 2", "Cluster 3"]
    tic = await dev.get("/applications", params={"call_id": call_id, "sector": "tic"})
    assert tic.json()["total"] == 2
    found = await dev.get("/applications", params={"call_id": call_id, "q": "ster 4"})
    assert [a["data"]["cluster_name"] for a in found.json()["items"]] == ["Cluster 4"]
    received = await dev.get("/applications", params={"call_id": call_id, "stage": "received"})
    assert received.json()["total"] == 5
    late = await dev.get("/applications", params={"call_id": call_id, "overdue": True})
    assert late.json()["total"] == 0
    stats = (await dev.get(f"/calls/{call_id}/stats", role="committee")).json()
    assert stats["by_stage"] == {"received": 5} and stats["total"] == 5
    deadlines = (await dev.get("/deadlines", params={"days": 7})).json()
    assert {"kind": "call_deadline", "call_id": call_id} in [
        {"kind": d["kind"], "call_id": d["call_id"]} for d in deadlines
    ]
    # An open call whose deadline is a month away is not among this week's deadlines.
    later = await open_call(dev, deadline=(utcnow() + timedelta(days=30)).isoformat())
    week = [d["call_id"] for d in (await dev.get("/deadlines", params={"days": 7})).json()]
    month = [d["call_id"] for d in (await dev.get("/deadlines", params={"days": 31})).json()]
    assert later not in week and later in month
    calls = (await dev.get("/calls", params={"stage": "open", "page_size": 200})).json()
    assert call_id in [c["id"] for c in calls["items"]]


async def test_complement_request_shows_due_date_in_deadlines(dev: Service) -> None:
    application_id = await eligible_review_case(dev)
    asked = await dev.post(
        f"/applications/{application_id}/request_complements",
        json={"items": ["statuts signés"]},
    )
    assert asked.status_code == 200
    past = await dev.post(f"/applications/{application_id}/submit_complements", json={"files": []})
    assert past.status_code == 422  # neither a file nor a note

    async def counted() -> bool:  # from the notice's sending
        case = (await dev.get(f"/applications/{application_id}")).json()
        return case["complements"]["due_at"] is not None

    await eventually(counted, what="the notice's sending")
    upcoming = (await dev.get("/deadlines", params={"days": 10})).json()
    assert {"kind": "complements_due", "application_id": application_id} in [
        {"kind": d["kind"], "application_id": d["application_id"]} for d in upcoming
    ]
    waiting = await dev.get(
        "/applications", params={"stage": "complements_requested", "overdue": False}
    )
    assert application_id in [a["id"] for a in waiting.json()["items"]]


async def test_engine_unreachable_is_503_and_reads_still_work(engine) -> None:
    settings = Settings(temporal_address="127.0.0.1:1", api_tokens=TOKENS["admin"])
    app = create_app(settings, engine=engine)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://api") as http:
            created = await http.post("/calls", json=call_body(), headers=auth("admin"))
            assert created.status_code == 503
            assert "Idempotency-Key" in created.json()["detail"]
            listed = await http.get("/calls", headers=auth("admin"))
            assert listed.status_code == 200


async def test_every_read_shows_an_extended_deadline_as_soon_as_it_answers(dev: Service) -> None:
    call_id = await open_call(dev)
    registered = await dev.post(f"/calls/{call_id}/applications", json=APPLICATION)
    application_id = registered.json()["id"]
    later = (utcnow() + timedelta(days=45)).replace(microsecond=0)
    extended = await dev.post(
        f"/calls/{call_id}/extend_deadline", role="admin", json={"deadline": later.isoformat()}
    )
    assert extended.status_code == 200, extended.text
    page = (await dev.get(f"/applications/{application_id}")).json()
    listed = (await dev.get("/applications", params={"call_id": call_id})).json()["items"]
    for case in (page, *listed):
        assert datetime.fromisoformat(case["deadline"]) == later
