"""Cluster support over a dozen simulated years: reports, escalation, probation, end of support."""

import uuid
from datetime import date, datetime, timedelta

import pytest
from sqlmodel import Session, select

from domain.clock import RABAT, at_deadline_time
from domain.models import ClusterStart
from projection.tables import OutboxRow
from tests.conftest import APPLICATION, Service, eventually, report
from workflows.cluster import ClusterWorkflow

pytestmark = pytest.mark.asyncio(loop_scope="session")
YEARS = 12
AMOUNTS = [1_500_000 - 50_000 * i for i in range(YEARS)]  # degressive
TARGETS = {"rd_projects": 4, "patents": 1, "startups": 2, "rd_jobs": 10, "trainings": 6}


async def labelled_cluster(service: Service, max_years: int = YEARS) -> str:
    """A support case as a labelled application starts it."""
    now = await service.env.get_current_time()
    cluster_id = uuid.uuid4().hex[:12]
    start = ClusterStart(
        cluster_id=cluster_id,
        application_id=cluster_id,
        call_id="2025-0000000000aa",
        cluster_name="Cluster Textile du Nord",
        sector="textile",
        labelled_at=now,
        max_support_years=max_years,
        contact_email="direction@textile-nord.ma",
    )
    await service.client.start_workflow(
        ClusterWorkflow.run,
        args=[start, None],
        id=f"cluster-{cluster_id}",
        task_queue=service.task_queue,
    )

    async def projected() -> bool:
        return (await service.get(f"/clusters/{cluster_id}")).status_code == 200

    await eventually(projected, what="the support case")
    return cluster_id


async def stage_is(service: Service, cluster_id: str, stage: str) -> None:
    async def reached() -> bool:
        return (await service.get(f"/clusters/{cluster_id}")).json()["stage"] == stage

    await eventually(reached, what=f"cluster stage {stage}")


def outbox(service: Service, recipient: str) -> list[str]:
    with Session(service.engine) as db:
        return list(db.exec(select(OutboxRow.subject).where(OutboxRow.recipient == recipient)))


async def test_a_dozen_years_of_support_with_bounded_history(skipping: Service) -> None:
    cluster_id = await labelled_cluster(skipping)
    case = (await skipping.get(f"/clusters/{cluster_id}")).json()
    assert case["stage"] == "awaiting_contract"
    assert case["allowed_actions"] == [
        "sign_contract",
        "add_cluster_document",
        "terminate",
        "renounce",
    ]
    now = await skipping.env.get_current_time()
    too_many = await skipping.post(
        f"/clusters/{cluster_id}/sign_contract",
        role="admin",
        json={
            "start_at": now.isoformat(),
            "planned_amounts": AMOUNTS + [1],
            "kpi_targets": TARGETS,
        },
    )
    assert too_many.status_code == 422
    by_operator = await skipping.post(
        f"/clusters/{cluster_id}/sign_contract",
        json={"start_at": now.isoformat(), "planned_amounts": AMOUNTS, "kpi_targets": TARGETS},
    )
    assert by_operator.status_code == 403
    signed = await skipping.post(
        f"/clusters/{cluster_id}/sign_contract",
        role="admin",
        json={"start_at": now.isoformat(), "planned_amounts": AMOUNTS, "kpi_targets": TARGETS},
    )
    assert signed.json()["stage"] == "active", signed.text

    handle = skipping.client.get_workflow_handle(f"cluster-{cluster_id}")
    runs, lengths = set(), []
    await skipping.env.sleep(timedelta(days=340))  # year 1's report is requested 30 days ahead
    for year in range(1, YEARS + 1):
        await stage_is(skipping, cluster_id, "report_requested")
        if year == 3:  # this year the report comes late: escalated by the clock
            await skipping.env.sleep(timedelta(days=30))
            await stage_is(skipping, cluster_id, "report_overdue")
            late = (await skipping.get("/clusters/overdue")).json()
            assert cluster_id in [c["id"] for c in late["items"]]
        body = await report(skipping, cluster_id, year)
        if year == 2:  # start-ups left undeclared: never read as zero
            del body["kpi_actuals"]["startups"]
        recorded = await skipping.post(f"/clusters/{cluster_id}/record_report", json=body)
        assert recorded.json()["stage"] == "under_review", recorded.text
        if year == YEARS:
            last = await skipping.post(f"/clusters/{cluster_id}/renew", role="admin")
            assert last.status_code == 409
            assert "Dernière année" in last.json()["detail"]
            break
        if year == 5:
            review_at = (await skipping.env.get_current_time()) + timedelta(days=90)
            renewed = await skipping.post(
                f"/clusters/{cluster_id}/renew_on_probation",
                role="admin",
                json={
                    "amount": 900_000,
                    "conditions": "Recruter un directeur R&D",
                    "review_at": review_at.isoformat(),
                },
            )
        else:
            renewed = await skipping.post(f"/clusters/{cluster_id}/renew", role="admin")
        assert renewed.json()["stage"] == "active", renewed.text
        description = await handle.describe()
        runs.add(description.run_id)
        lengths.append(len((await handle.fetch_history()).events))
        await skipping.env.sleep(timedelta(days=365) if year != 3 else timedelta(days=335))

    assert len(runs) == YEARS - 1  # one run per support year
    assert max(lengths) < 120, lengths  # the current run's history stays short, year after year

    await skipping.env.sleep(timedelta(days=40))  # past the last anniversary
    await stage_is(skipping, cluster_id, "ended")
    case = (await skipping.get(f"/clusters/{cluster_id}")).json()
    assert case["can_reapply"] is True
    assert [y["amount"] for y in case["years"]] == AMOUNTS[:5] + [900_000] + AMOUNTS[6:]
    assert case["years"][5]["probation"]["reviewed"] is True
    assert case["years"][2]["overdue"] is True
    actions = [e["action"] for e in case["audit"]]
    assert actions.count("request_report") == YEARS
    assert actions.count("remind_report") == 2  # only the late year waited past the reminders
    assert actions.count("escalate_report") == 1 and actions[-1] == "end_support"
    assert "Cluster Textile du Nord — revue de probation" in outbox(skipping, "programme")

    kpis = (await skipping.get(f"/clusters/{cluster_id}/kpis")).json()
    assert len(kpis) == 5 * YEARS
    assert {
        "year": 1,
        "indicator": "rd_jobs",
        "label": "Emplois R&D",
        "target": 10,
        "actual": 12,
        "reported": True,
    } in kpis
    undeclared = [k for k in kpis if k["indicator"] == "startups" and k["year"] == 2]
    assert undeclared[0]["actual"] is None and undeclared[0]["reported"]
    zero = [k for k in kpis if k["indicator"] == "patents" and k["year"] == 2]
    assert zero[0]["actual"] == 0
    exported = (await skipping.get("/clusters/kpis.csv")).text
    assert exported.count("non déclaré") == 1
    page = (await (await skipping.signed_in("t-admin")).get(f"/console/clusters/{cluster_id}")).text
    assert page.count("<em>non déclaré</em>") == 1  # in the table; zero stays « 0 »
    support = (await skipping.get("/clusters/support")).json()
    assert support["total"] == pytest.approx(case["total_support"])
    assert case["total_support"] == pytest.approx(sum(AMOUNTS) - AMOUNTS[5] + 900_000)
    ended = (await skipping.get("/clusters", params={"stage": "ended", "can_reapply": True})).json()
    assert cluster_id in [c["id"] for c in ended["items"]]

    # It applies again to a later call, as an existing cluster: linked to its history.
    call_id = await skipping.new_call()
    await skipping.post(f"/calls/{call_id}/publish", role="admin")
    unknown = await skipping.post(
        f"/calls/{call_id}/applications", json={**APPLICATION, "previous_cluster_id": "0000dead"}
    )
    assert unknown.status_code == 422
    again = await skipping.post(
        f"/calls/{call_id}/applications",
        json={
            **APPLICATION,
            "existing_cluster": True,
            "support_years": 0,
            "previous_cluster_id": cluster_id,
        },
    )
    assert again.status_code == 201, again.text
    application_id = again.json()["id"]
    assert (await skipping.get(f"/clusters/{cluster_id}")).json()["later_applications"] == [
        application_id
    ]
    await skipping.env.sleep(timedelta(days=31))

    async def checked() -> bool:
        return bool((await skipping.get(f"/applications/{application_id}")).json()["checklist"])

    await eventually(checked, what="pre-checks")
    checklist = {
        c["code"]: c
        for c in (await skipping.get(f"/applications/{application_id}")).json()["checklist"]
    }
    assert checklist["support_years"]["passed"]  # 12 years on record, though the form said 0


async def test_suspend_resume_terminate_and_renewals_due(dev: Service) -> None:
    """On the dev server: real time, as the renewals list reads the wall clock."""
    cluster_id = await labelled_cluster(dev, max_years=8)
    now = await dev.env.get_current_time()
    start = now - timedelta(days=355)  # its first anniversary is ten days away
    signed = await dev.post(
        f"/clusters/{cluster_id}/sign_contract",
        role="admin",
        json={
            "start_at": start.isoformat(),
            "planned_amounts": [1_000_000],
            "kpi_targets": TARGETS,
        },
    )
    assert signed.status_code == 200, signed.text
    due = (await dev.get("/clusters", params={"renewal_within_days": 30})).json()
    assert cluster_id in [c["id"] for c in due["items"]]
    await stage_is(dev, cluster_id, "report_requested")  # already inside the 30-day notice
    suspended = await dev.post(
        f"/clusters/{cluster_id}/suspend", role="admin", json={"reason": "Gouvernance en question"}
    )
    assert suspended.json()["stage"] == "suspended"
    body = await report(dev, cluster_id)  # files come in while suspended; the report waits
    assert (await dev.post(f"/clusters/{cluster_id}/record_report", json=body)).status_code == 409
    resumed = await dev.post(f"/clusters/{cluster_id}/resume", role="admin")
    assert resumed.json()["stage"] == "report_requested"
    ended = await dev.post(
        f"/clusters/{cluster_id}/terminate", role="admin", json={"reason": "Association dissoute"}
    )
    assert ended.json()["stage"] == "terminated"
    again = await dev.post(f"/clusters/{cluster_id}/resume", role="admin")
    assert again.status_code == 409 and again.json()["allowed_actions"] == []
    subjects = outbox(dev, "direction@textile-nord.ma")
    assert "Cluster Textile du Nord — soutien résilié" in subjects


def ramadan_day(after: datetime) -> date:
    """The first day after `after` when Rabat is at UTC+0 (Ramadan) and at UTC+1 a year later."""
    day = after.astimezone(RABAT).date()
    while not (
        at_deadline_time(day).astimezone(RABAT).utcoffset() == timedelta(0)
        and at_deadline_time(add_years_day(day)).astimezone(RABAT).utcoffset() == timedelta(hours=1)
    ):
        day += timedelta(days=1)
    return day


def add_years_day(day: date) -> date:
    return day.replace(year=day.year + 1)


async def test_a_year_ends_at_the_contract_s_rabat_time_whatever_the_offset(
    skipping: Service,
) -> None:
    """Signed at 15:00 during Ramadan (Rabat at UTC+0), the first year ends at 15:00 Rabat time a
    year later, when Rabat is at UTC+1: the date and hour the letters give."""
    cluster_id = await labelled_cluster(skipping, max_years=3)
    handle = skipping.client.get_workflow_handle(f"cluster-{cluster_id}")
    signed_on = ramadan_day(await skipping.env.get_current_time())
    try:
        terms = {
            "start_at": signed_on.isoformat(),
            "planned_amounts": [1e6],
            "kpi_targets": TARGETS,
        }
        signed = await skipping.post(f"/clusters/{cluster_id}/sign_contract", "admin", json=terms)
        assert signed.status_code == 200, signed.text
        year = (await skipping.get(f"/clusters/{cluster_id}")).json()["years"][0]
        assert year["starts_at"] == f"{signed_on.isoformat()}T15:00:00+00:00"
        assert year["ends_at"] == f"{add_years_day(signed_on).isoformat()}T15:00:00+01:00"
    finally:
        await handle.terminate("fin du test")
