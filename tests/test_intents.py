"""The API's operator transitions: an intent recorded for each, cleared once written; the
sweeper writes those the API could not, from the update's answer; the workflow owes none a
safety write."""

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta

import pytest
from sqlmodel import Session, select
from temporalio.client import WorkflowHandle

from activities.intents import Intents
from activities.sweeper import GRACE, Sweeper
from activities.tables import AuditRow, CallRow, ClusterRow, IntentRow
from tests.conftest import ADMIN, Service, eventually
from tests.test_clock import markers
from tests.test_clusters import REPORT, TARGETS, labelled_cluster, stage_is
from workflows.call import CallWorkflow
from workflows.cluster import ClusterWorkflow
from workflows.transitions import SAFETY_DELAY

pytestmark = pytest.mark.asyncio(loop_scope="session")


def intents(service: Service) -> list[tuple[str, str]]:
    with Session(service.engine) as db:
        return list(db.exec(select(IntentRow.workflow_id, IntentRow.update_id)))


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


async def safety_writes(handle: WorkflowHandle) -> int:
    return sum(m.marker_name == "core_local_activity" for m in await markers(handle))


@asynccontextmanager
async def draft_call(service: Service) -> AsyncIterator[tuple[str, WorkflowHandle]]:
    """A draft call, its workflow terminated at the end: no deadline timer left to fire, with no
    worker, in a later test's years."""
    call_id = await service.new_call()
    handle = service.client.get_workflow_handle(f"call-{call_id}")
    try:
        yield call_id, handle
    finally:
        await handle.terminate("fin du test")


async def published_by_a_stopped_api(
    service: Service, handle: WorkflowHandle, key: str = "stopped"
) -> list:
    """The API's intent and update, as if it stopped before its SQL write."""
    Intents(service.engine).add(handle.id, f"api:publish:{key}")
    return await handle.execute_update(CallWorkflow.publish, ADMIN, id=f"api:publish:{key}")


async def swept(service: Service) -> None:
    async def none_left() -> bool:
        return not intents(service)

    await eventually(none_left, what="the sweeper")  # it looks every 2 s


async def test_an_api_transition_leaves_no_intent_and_no_safety_write(skipping: Service) -> None:
    # Its create, sent straight to the engine, is written by the workflow.
    async with draft_call(skipping) as (call_id, handle):
        await skipping.env.sleep(SAFETY_DELAY * 2)

        async def create_settled() -> bool:
            return await safety_writes(handle) == 1

        await eventually(create_settled, what="the create's safety write")
        published = await skipping.post(f"/calls/{call_id}/publish", "admin")
        assert published.status_code == 200 and published.json()["stage"] == "open"
        assert trail(skipping, call_id) == ["create", "publish", "open"]
        assert intents(skipping) == []
        again = await skipping.post(f"/calls/{call_id}/publish", "admin")
        assert again.status_code == 409 and intents(skipping) == []  # refused: nothing owed
        await skipping.env.sleep(SAFETY_DELAY * 2)
        assert (await update_ids(handle))[-1].startswith("api:publish:")
        assert await safety_writes(handle) == 1  # the create's only
        assert trail(skipping, call_id) == ["create", "publish", "open"]


async def test_the_sweeper_writes_what_the_api_answered_but_did_not_write(
    skipping: Service,
) -> None:
    async with draft_call(skipping) as (call_id, handle):
        answer = await published_by_a_stopped_api(skipping, handle)
        assert [r.event.action for r in answer] == ["publish", "open"]
        assert trail(skipping, call_id) == ["create"]
        await swept(skipping)
        assert trail(skipping, call_id) == ["create", "publish", "open"]
        with Session(skipping.engine) as db:
            assert db.get(CallRow, call_id).stage == "open"


async def test_an_intent_whose_update_never_came_is_dropped_after_the_grace(
    skipping: Service,
) -> None:
    async with draft_call(skipping) as (call_id, handle):
        Intents(skipping.engine).add(handle.id, "api:publish:never-sent")
        sweeper = Sweeper(skipping.client, skipping.engine)
        now = datetime.now(UTC)
        await sweeper.sweep(now + timedelta(seconds=10))  # may still be on its way: kept
        assert intents(skipping) == [(handle.id, "api:publish:never-sent")]
        await sweeper.sweep(now + GRACE + timedelta(seconds=10))
        assert intents(skipping) == []
        assert trail(skipping, call_id) == ["create"]


async def test_an_intent_the_sweeper_cannot_settle_holds_up_no_other(skipping: Service) -> None:
    async with draft_call(skipping) as (call_id, handle):
        Intents(skipping.engine).add("unknown-1", "api:publish:odd")  # no such kind of case
        await published_by_a_stopped_api(skipping, handle)
        await Sweeper(skipping.client, skipping.engine).sweep(datetime.now(UTC) + GRACE * 2)
        assert intents(skipping) == [("unknown-1", "api:publish:odd")]  # kept, logged each time
        assert trail(skipping, call_id) == ["create", "publish", "open"]


async def test_the_sweeper_finds_an_answer_in_the_run_before_a_continue_as_new(
    skipping: Service,
) -> None:
    """A renewal starts the support year's own run at once: its answer is in the run before."""
    cluster_id = await labelled_cluster(skipping)
    now = await skipping.env.get_current_time()
    terms = {"start_at": now.isoformat(), "planned_amounts": [1e6] * 3, "kpi_targets": TARGETS}
    signed = await skipping.post(f"/clusters/{cluster_id}/sign_contract", "admin", json=terms)
    assert signed.json()["stage"] == "active", signed.text
    handle = skipping.client.get_workflow_handle(f"cluster-{cluster_id}")
    try:
        await skipping.env.sleep(timedelta(days=340))
        await stage_is(skipping, cluster_id, "report_requested")
        reported = await skipping.post(f"/clusters/{cluster_id}/record_report", json=REPORT)
        assert reported.json()["stage"] == "under_review", reported.text
        first_run = (await handle.describe()).run_id
        Intents(skipping.engine).add(handle.id, "api:renew:stopped")
        await handle.execute_update(ClusterWorkflow.renew, args=[ADMIN, {}], id="api:renew:stopped")
        assert (await handle.describe()).run_id != first_run
        # The client repeats its request with the key: the new run refuses it (409), and the
        # intent stays for the sweeper, which finds the first answer in the run before.
        repeat = await skipping.post(
            f"/clusters/{cluster_id}/renew", "admin", headers={"Idempotency-Key": "stopped"}
        )
        assert repeat.status_code == 409
        await swept(skipping)
        assert trail(skipping, cluster_id)[-2:] == ["record_report", "renew"]
        with Session(skipping.engine) as db:
            assert db.get(ClusterRow, cluster_id).stage == "active"
    finally:
        await handle.terminate("fin du test")


async def test_a_repeat_after_a_stopped_api_answers_the_first_result(skipping: Service) -> None:
    async with draft_call(skipping) as (call_id, handle):
        await published_by_a_stopped_api(skipping, handle, key="k-1")
        repeat = await skipping.post(
            f"/calls/{call_id}/publish", "admin", headers={"Idempotency-Key": "k-1"}
        )
        assert repeat.status_code == 200 and repeat.json()["stage"] == "open"
        assert trail(skipping, call_id) == ["create", "publish", "open"]  # written by the API
        await swept(skipping)  # the first attempt's intent, not the API's to clear
        assert trail(skipping, call_id) == ["create", "publish", "open"]


async def test_one_key_on_two_cases_makes_two_intents(skipping: Service) -> None:
    async with draft_call(skipping) as (first, first_handle):
        async with draft_call(skipping) as (second, _):
            await published_by_a_stopped_api(skipping, first_handle, key="same-key")
            published = await skipping.post(
                f"/calls/{second}/publish", "admin", headers={"Idempotency-Key": "same-key"}
            )
            assert published.status_code == 200 and published.json()["stage"] == "open"
            assert intents(skipping) == [(first_handle.id, "api:publish:same-key")]
            await swept(skipping)
            assert (
                trail(skipping, first) == trail(skipping, second) == ["create", "publish", "open"]
            )
