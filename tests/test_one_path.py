"""One path from HTTP to SQL: the API sends an update, its workflow writes the transition's
record before answering; a repeat with the same key answers the first result and writes nothing."""

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import timedelta

import pytest
from sqlmodel import Session, select
from temporalio.client import WorkflowHandle

from domain.ids import call_workflow_id, cluster_workflow_id
from projection.tables import AuditRow, ClusterRow
from tests.conftest import APPLICATION, Service, eventually, report
from tests.test_api import open_call
from tests.test_clusters import TARGETS, labelled_cluster, stage_is

pytestmark = pytest.mark.asyncio(loop_scope="session")


def trail(service: Service, case_id: str) -> list[str]:
    with Session(service.engine) as db:
        query = select(AuditRow.action).where(AuditRow.case_id == case_id).order_by(AuditRow.seq)
        return list(db.exec(query))


async def update_ids(handle: WorkflowHandle) -> list[str]:
    return [
        event.workflow_execution_update_accepted_event_attributes.accepted_request.meta.update_id
        async for event in handle.fetch_history_events()
        if event.HasField("workflow_execution_update_accepted_event_attributes")
    ]


@asynccontextmanager
async def draft_call(service: Service) -> AsyncIterator[tuple[str, WorkflowHandle]]:
    """A draft call, its workflow terminated at the end: no deadline timer left to fire, with no
    worker, in a later test's years."""
    call_id = await service.new_call()
    handle = service.client.get_workflow_handle(call_workflow_id(call_id))
    try:
        yield call_id, handle
    finally:
        await handle.terminate("fin du test")


async def test_an_api_transition_is_in_sql_when_it_answers(skipping: Service) -> None:
    async with draft_call(skipping) as (call_id, handle):
        published = await skipping.post(
            f"/calls/{call_id}/publish", "admin", headers={"Idempotency-Key": "k-1"}
        )
        assert published.status_code == 200 and published.json()["stage"] == "open"
        assert trail(skipping, call_id) == ["create", "publish", "open"]
        assert (await update_ids(handle))[-1] == "publish:k-1"  # the key names the update


async def test_a_repeat_with_the_key_answers_the_first_result_and_writes_nothing(
    skipping: Service,
) -> None:
    async with draft_call(skipping) as (call_id, _):
        key = {"Idempotency-Key": "k-2"}
        first = await skipping.post(f"/calls/{call_id}/publish", "admin", headers=key)
        repeat = await skipping.post(f"/calls/{call_id}/publish", "admin", headers=key)
        assert repeat.status_code == 200 and repeat.json() == first.json()
        assert trail(skipping, call_id) == ["create", "publish", "open"]
        other = await skipping.post(f"/calls/{call_id}/publish", "admin")  # a new request
        assert other.status_code == 409 and trail(skipping, call_id)[-1] == "open"


async def test_a_refused_transition_writes_nothing(skipping: Service) -> None:
    async with draft_call(skipping) as (call_id, _):
        refused = await skipping.post(f"/calls/{call_id}/archive", "admin")
        assert refused.status_code == 409 and refused.json()["stage"] == "draft"
        assert trail(skipping, call_id) == ["create"]


async def test_a_renewal_is_in_sql_when_it_answers_though_its_run_continued_as_new(
    skipping: Service,
) -> None:
    """A renewal starts the support year's own run at once: its record was written before."""
    cluster_id = await labelled_cluster(skipping)
    now = await skipping.env.get_current_time()
    terms = {"start_at": now.isoformat(), "planned_amounts": [1e6] * 3, "kpi_targets": TARGETS}
    signed = await skipping.post(f"/clusters/{cluster_id}/sign_contract", "admin", json=terms)
    assert signed.json()["stage"] == "active", signed.text
    handle = skipping.client.get_workflow_handle(cluster_workflow_id(cluster_id))
    try:
        await skipping.env.sleep(timedelta(days=340))
        await stage_is(skipping, cluster_id, "report_requested")
        body = await report(skipping, cluster_id)
        reported = await skipping.post(f"/clusters/{cluster_id}/record_report", json=body)
        assert reported.json()["stage"] == "under_review", reported.text
        first_run = (await handle.describe()).run_id
        key = {"Idempotency-Key": "renew-1"}
        renewed = await skipping.post(f"/clusters/{cluster_id}/renew", "admin", headers=key)
        assert renewed.status_code == 200 and renewed.json()["stage"] == "active", renewed.text
        assert trail(skipping, cluster_id)[-2:] == ["record_report", "renew"]
        with Session(skipping.engine) as db:
            assert db.get(ClusterRow, cluster_id).year == 2

        async def next_run() -> bool:  # once the renewal's notice has left
            return (await handle.describe()).run_id != first_run

        await eventually(next_run, what="the next year's run")
        # Temporal keeps update ids per run: in the next run, the repeat is checked afresh.
        repeat = await skipping.post(f"/clusters/{cluster_id}/renew", "admin", headers=key)
        assert repeat.status_code == 409
        assert trail(skipping, cluster_id)[-1] == "renew"
    finally:
        await handle.terminate("fin du test")


async def test_a_key_names_one_request_only(dev_both: Service) -> None:
    """The same Idempotency-Key with another body, on another case or action, or from another
    person: 422 and nothing done; with the same request: the first answer."""
    call_id = await open_call(dev_both)
    key = {"Idempotency-Key": f"dossier-{call_id}"}
    first = await dev_both.post(f"/calls/{call_id}/applications", json=APPLICATION, headers=key)
    assert first.status_code == 201, first.text
    renamed = {**APPLICATION, "cluster_name": "Un autre cluster"}
    attempts = [
        ("operator", f"/calls/{call_id}/applications", renamed),  # another body
        ("admin", f"/calls/{call_id}/applications", APPLICATION),  # another person
    ]
    for role, path, body in attempts:
        reused = await dev_both.post(path, role=role, json=body, headers=key)
        assert reused.status_code == 422 and "Idempotency-Key" in reused.json()["detail"]
    again = await dev_both.post(f"/calls/{call_id}/applications", json=APPLICATION, headers=key)
    assert again.status_code == 201 and again.json() == first.json()
    application_id = first.json()["id"]
    amend = f"/applications/{application_id}/amend"
    one = {"Idempotency-Key": "amend-once"}
    assert (await dev_both.post(amend, json={"sector": "TIC"}, headers=one)).status_code == 200
    other = await dev_both.post(amend, json={"sector": "textile"}, headers=one)
    assert other.status_code == 422
    case = (await dev_both.get(f"/applications/{application_id}")).json()
    assert case["data"]["sector"] == "TIC" and len(case["audit"]) == 2  # registered, amended once
    listed = (await dev_both.get("/applications", params={"call_id": call_id})).json()
    assert listed["total"] == 1
