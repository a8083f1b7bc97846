"""The clock on the time-skipping server: openings, deadlines, extensions, complement expiry."""

from datetime import datetime, timedelta

import pytest
from sqlmodel import Session, col, select
from temporalio.api.history.v1 import MarkerRecordedEventAttributes
from temporalio.client import WorkflowHandle

from domain.clock import due_after
from domain.ids import call_workflow_id
from domain.notices import due_text
from projection.tables import AuditRow, OutboxRow
from tests.conftest import ADMIN, APPLICATION, Service, deposit_all, eventually
from workflows.call import CallWorkflow

pytestmark = pytest.mark.asyncio(loop_scope="session")


async def stage_of(service: Service, kind: str, case_id: str) -> str:
    response = await service.get(f"/{kind}/{case_id}")
    assert response.status_code == 200, response.text
    return response.json()["stage"]


async def wait_stage(service: Service, kind: str, case_id: str, stage: str) -> None:
    async def reached() -> bool:
        return await stage_of(service, kind, case_id) == stage

    await eventually(reached, what=f"{kind}/{case_id} to reach {stage}")


async def register(service: Service, call_id: str, **changes: object) -> str:
    response = await service.post(f"/calls/{call_id}/applications", json={**APPLICATION, **changes})
    assert response.status_code == 201, response.text
    return response.json()["id"]


async def test_call_opens_and_closes_by_itself_and_deadline_extends_only_while_open(
    skipping: Service,
) -> None:
    now = await skipping.env.get_current_time()
    call_id = await skipping.new_call(
        opens_at=now + timedelta(days=2), deadline=now + timedelta(days=10)
    )
    published = await skipping.post(f"/calls/{call_id}/publish", role="admin")
    assert published.status_code == 200
    assert published.json()["stage"] == "scheduled"

    too_early = await skipping.post(f"/calls/{call_id}/applications", json=APPLICATION)
    assert too_early.status_code == 409
    assert too_early.json()["stage"] == "scheduled"

    await skipping.env.sleep(timedelta(days=3))
    await wait_stage(skipping, "calls", call_id, "open")

    new_deadline = (now + timedelta(days=20)).isoformat()
    extended = await skipping.post(
        f"/calls/{call_id}/extend_deadline",
        role="admin",
        json={"deadline": new_deadline, "reason": "Demande des fédérations"},
    )
    assert extended.status_code == 200, extended.text
    backwards = await skipping.post(
        f"/calls/{call_id}/extend_deadline", role="admin", json={"deadline": now.isoformat()}
    )
    assert backwards.status_code == 422
    assert "postérieure" in backwards.json()["detail"]

    await skipping.env.sleep(timedelta(days=9))  # past the first deadline: still open
    assert await stage_of(skipping, "calls", call_id) == "open"
    await skipping.env.sleep(timedelta(days=9))  # past the extended one
    await wait_stage(skipping, "calls", call_id, "closed")

    late = await skipping.post(
        f"/calls/{call_id}/extend_deadline",
        role="admin",
        json={"deadline": (now + timedelta(days=60)).isoformat()},
    )
    assert late.status_code == 409
    assert late.json() | {"detail": ""} == {
        "detail": "",
        "code": "NotAllowed",
        "stage": "closed",
        "allowed_actions": ["start_evaluation", "set_budget"],
    }

    audit = (await skipping.get(f"/calls/{call_id}")).json()["audit"]
    assert [(e["action"], e["role"]) for e in audit] == [
        ("create", "admin"),
        ("publish", "admin"),
        ("open", "system"),
        ("extend_deadline", "admin"),
        ("close", "system"),
    ]
    assert audit[3]["reason"] == "Demande des fédérations"


async def test_deadline_moves_applications_to_review_and_complements_expire(
    skipping: Service,
) -> None:
    call_id = await skipping.new_call()
    assert (await skipping.post(f"/calls/{call_id}/publish", role="admin")).status_code == 200
    silent = await register(skipping, call_id, cluster_name="Cluster Silencieux")
    replying = await register(skipping, call_id, cluster_name="Cluster Réactif")  # no file
    leaving = await register(skipping, call_id, cluster_name="Cluster Partant")
    amended = await skipping.post(f"/applications/{replying}/amend", json={"sector": "TIC"})
    assert amended.json()["data"]["sector"] == "TIC"
    withdrawn = await skipping.post(
        f"/applications/{leaving}/withdraw", json={"reason": "Projet reporté"}
    )
    assert withdrawn.json()["stage"] == "withdrawn"

    await skipping.env.sleep(timedelta(days=31))
    for application_id in (silent, replying):
        await wait_stage(skipping, "applications", application_id, "eligibility_review")
    assert await stage_of(skipping, "applications", leaving) == "withdrawn"

    after_deadline = await skipping.post(f"/calls/{call_id}/applications", json=APPLICATION)
    assert after_deadline.status_code == 409
    assert after_deadline.json()["stage"] == "closed"
    listed = (await skipping.get("/applications", params={"call_id": call_id})).json()
    assert listed["total"] == 3  # the refused registration stored nothing

    checklist = {
        c["code"]: c["passed"]
        for c in (await skipping.get(f"/applications/{replying}")).json()["checklist"]
    }
    assert checklist == {
        "documents_complete": False,
        "sector_eligible": True,
        "members_mix": True,
        "support_years": True,
    }

    for application_id in (silent, replying):
        asked = await skipping.post(
            f"/applications/{application_id}/request_complements",
            json={"items": ["budget prévisionnel signé"], "note": "Pièce illisible"},
        )
        assert asked.status_code == 200, asked.text
        assert asked.json()["stage"] == "complements_requested"
    assert asked.json()["complements"]["due_at"] is None  # counted from the notice's sending

    async def counted() -> bool:
        case = (await skipping.get(f"/applications/{silent}")).json()
        return case["complements"]["due_at"] is not None

    await eventually(counted, what="the notice's sending")
    due_at = (await skipping.get(f"/applications/{silent}")).json()["complements"]["due_at"]
    with Session(skipping.engine) as db:
        notice = db.exec(
            select(OutboxRow).where(
                col(OutboxRow.key).startswith(f"application-{silent}:"),
                OutboxRow.kind == "complements_requested",
            )
        ).one()
    assert notice.sent_at is not None and notice.status == "sent"
    assert datetime.fromisoformat(due_at) == due_after(notice.sent_at, 10)  # 15:00 in Rabat
    assert f"Date limite de réponse : {due_text(datetime.fromisoformat(due_at))}" in notice.body
    assert "Précision du programme : Pièce illisible." in notice.body

    files = await deposit_all(skipping, replying)  # answers to the request: still accepted
    replied = await skipping.post(
        f"/applications/{replying}/submit_complements",
        json={"files": files, "note": "Dossier complété"},
    )
    assert replied.json()["stage"] == "eligibility_review"
    assert all(c["passed"] for c in replied.json()["checklist"])
    eligible = await skipping.post(f"/applications/{replying}/mark_eligible")
    assert eligible.json()["stage"] == "eligible"

    await skipping.env.sleep(timedelta(days=11))
    await wait_stage(skipping, "applications", silent, "ineligible")
    case = (await skipping.get(f"/applications/{silent}")).json()
    assert case["reason"].startswith("Dossier incomplet")
    assert case["allowed_actions"] == []
    assert [(e["action"], e["actor"], e["from_stage"], e["to_stage"]) for e in case["audit"]] == [
        ("register", "Omar Opérateur", None, "received"),
        ("close_submissions", "horloge", "received", "eligibility_review"),
        ("request_complements", "Omar Opérateur", "eligibility_review", "complements_requested"),
        ("notice_sent", "horloge", "complements_requested", "complements_requested"),
        ("expire_complements", "horloge", "complements_requested", "ineligible"),
    ]
    closed = await skipping.post(
        f"/applications/{silent}/submit_complements", json={"note": "trop tard"}
    )
    assert closed.status_code == 409
    assert closed.json()["stage"] == "ineligible"

    assert (await skipping.get(f"/applications/{replying}")).json()["stage"] == "eligible"
    stats = (await skipping.get(f"/calls/{call_id}/stats")).json()
    assert stats == {
        "call_id": call_id,
        "total": 3,
        "by_stage": {"eligible": 1, "ineligible": 1, "withdrawn": 1},
    }


async def markers(handle: WorkflowHandle) -> list[MarkerRecordedEventAttributes]:
    """The markers in a workflow's history: local activities' results (and patches, if any)."""
    return [
        event.marker_recorded_event_attributes
        async for event in handle.fetch_history_events()
        if event.HasField("marker_recorded_event_attributes")
    ]


async def test_an_update_sent_straight_to_the_engine_is_in_sql_when_it_answers(
    skipping: Service,
) -> None:
    """The workflow writes each transition's record before its update answers, whoever sent it:
    one local activity per transition, no patch marker, nothing left to write later."""
    call_id = await skipping.new_call()
    handle = skipping.client.get_workflow_handle(call_workflow_id(call_id))
    try:
        answer = await handle.execute_update(CallWorkflow.publish, ADMIN)
        assert answer.state.stage == "open"  # its opening time already past: opened at once
        with Session(skipping.engine) as db:
            rows = db.exec(select(AuditRow.seq, AuditRow.action).where(AuditRow.case_id == call_id))
            assert sorted(rows) == [(1, "create"), (2, "publish"), (3, "open")]
        assert (await skipping.get(f"/calls/{call_id}")).json()["stage"] == "open"
        names = [m.marker_name for m in await markers(handle)]
        assert names == ["core_local_activity"] * 3
    finally:  # no deadline timer left to fire, with no worker, in a later test's years
        await handle.terminate("fin du test")
