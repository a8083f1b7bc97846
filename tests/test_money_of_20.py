"""Issue #28's « done when », through the API on the time-skipping server, on SQLite and
PostgreSQL: a call of 20 applications whose envelope funds 6; the proposal; the committee's
decisions reserve the funds; a laureate withdraws and the call proposes the next reserve file
that fits, which the admin confirms; contracts signed commit the money; the first tranche is
released and paid by two different people (never one); a refused report suspends the next
tranche and its approval makes it payable again; the ledger never goes past the envelope."""

from datetime import timedelta

import pytest
from sqlmodel import Session

from domain.money import mad
from projection.ledger import call_balances
from tests.conftest import Service, eventually, report
from tests.test_clusters import TARGETS, stage_is
from tests.test_committee import PANEL
from tests.test_evaluation import DRISS, EVE, NADIA, eligible_applications, ok, score

pytestmark = pytest.mark.asyncio(loop_scope="session")
COUNT, FUNDED = 20, 6
ASKED = [500_000.0, 400_000.0]  # each file asks as much, per contract year
ENVELOPES = [ASKED[0] * FUNDED, ASKED[1] * FUNDED]  # funds exactly six
RESERVE = 5


def marks(n: int) -> tuple:
    """The n-th file's marks: one criterion half a point lower than the file before (in turn),
    so each ranks below the previous one, all above the thresholds."""
    return tuple(5 - 0.5 * ((n + 4 - c) // 5) for c in range(5))


async def scored_call(service: Service) -> tuple[str, list[str]]:
    names = [f"Cluster {n:02d}" for n in range(COUNT)]
    call_id, ids = await eligible_applications(
        service, names, **{name: {"requested_amounts": ASKED} for name in names}
    )
    for n, application_id in enumerate(ids):
        await ok(
            await service.post(
                f"/applications/{application_id}/assign_evaluators",
                role="admin",
                json={"evaluators": PANEL},
            )
        )
        await score(service, application_id, {r: marks(n) for r in (EVE, DRISS, NADIA)})
    return call_id, ids


def balances(service: Service, call_id: str) -> dict[int, dict]:
    with Session(service.engine) as db:
        return {b.year: b.model_dump() for b in call_balances(db, call_id)}


def within_envelope(service: Service, call_id: str) -> None:
    for year, b in balances(service, call_id).items():
        assert b["engaged"] <= b["envelope"] + 0.005, (year, b)
        assert b["paid"] <= b["released"] <= b["committed"] + 0.005, (year, b)


async def test_a_call_of_20_funded_within_its_envelope(skipping: Service) -> None:
    service = skipping
    call_id, ids = await scored_call(service)
    now = await service.env.get_current_time()
    first_year = now.year + 1
    budget = {
        "first_year": first_year,
        "envelopes": ENVELOPES,
        "reserve_until": (now + timedelta(days=400)).isoformat(),
        "reserve_size": RESERVE,
    }
    await ok(await service.post(f"/calls/{call_id}/set_budget", role="admin", json=budget))
    # A change needs its reason; one below what is reserved is refused later on.
    unexplained = await service.post(f"/calls/{call_id}/set_budget", role="admin", json=budget)
    assert unexplained.status_code == 422 and "motif" in unexplained.json()["detail"]

    # The proposal: the six best funded, five on reserve, the rest « fonds insuffisants ».
    answer = await service.get(
        f"/calls/{call_id}/budget", role="committee", params={"regle": "strict"}
    )
    proposal = answer.json()["proposal"]
    assert [p["application_id"] for p in proposal["laureates"]] == ids[:FUNDED]
    assert [p["application_id"] for p in proposal["reserve"]] == ids[FUNDED : FUNDED + RESERVE]
    assert [p["application_id"] for p in proposal["insufficient"]] == ids[FUNDED + RESERVE :]
    assert proposal["remaining"] == {str(first_year): 0.0, str(first_year + 1): 0.0}
    assert balances(service, call_id)[first_year]["engaged"] == 0  # a proposal changes nothing

    # The committee decides as proposed: each label reserves its amounts.
    for application_id in ids[:FUNDED]:
        await ok(
            await service.post(
                f"/applications/{application_id}/label",
                role="committee",
                json={"reason": "Retenu.", "amounts": ASKED},
            ),
            "labelled",
        )
    for application_id in ids[FUNDED : FUNDED + RESERVE]:
        await ok(
            await service.post(
                f"/applications/{application_id}/put_on_reserve",
                role="committee",
                json={"reason": "Liste d'attente.", "amounts": ASKED},
            ),
            "reserve",
        )
    # A seventh label: the envelope is spent, refused with what is left.
    seventh = ids[FUNDED + RESERVE]
    over = await service.post(
        f"/applications/{seventh}/label",
        role="committee",
        json={"reason": "Retenu.", "amounts": ASKED},
    )
    assert over.status_code == 409, over.text
    assert f"Fonds insuffisants sur l'enveloppe {first_year}" in over.json()["detail"]
    assert f"il reste {mad(0)}" in over.json()["detail"]
    # More than asked needs its reason.
    greedy = await service.post(
        f"/applications/{seventh}/reject",
        role="committee",
        json={"reason": "Fonds insuffisants."},
    )
    await ok(greedy, "rejected")
    for application_id in ids[FUNDED + RESERVE + 1 :]:
        await ok(
            await service.post(
                f"/applications/{application_id}/reject",
                role="committee",
                json={"reason": "Non retenu — fonds insuffisants."},
            ),
            "rejected",
        )
    engaged = balances(service, call_id)
    assert engaged[first_year]["engaged"] == ENVELOPES[0]
    assert engaged[first_year + 1]["engaged"] == ENVELOPES[1]
    assert engaged[first_year]["available"] == 0

    await ok(
        await service.post(
            f"/calls/{call_id}/publish_results", role="admin", json={"confirme": True}
        )
    )
    await service.env.sleep(timedelta(minutes=1))
    for cluster_id in ids[:FUNDED]:
        await stage_is(service, cluster_id, "awaiting_contract")

    # A laureate withdraws: its funds come back, the best reserve file is proposed.
    lost, promoted = ids[0], ids[FUNDED]
    await ok(
        await service.post(
            f"/clusters/{lost}/renounce", role="admin", json={"reason": "Le bureau renonce."}
        ),
        "terminated",
    )

    async def proposed() -> bool:
        call = (await service.get(f"/calls/{call_id}", role="admin")).json()
        return call["promotions"] == [promoted]

    await eventually(proposed, what="the next reserve file proposed")
    assert balances(service, call_id)[first_year]["available"] == ASKED[0]
    # The signal told again changes nothing: still one proposal.
    await service.client.get_workflow_handle(f"call-{call_id}").signal("funds_freed", lost)
    await service.env.sleep(timedelta(seconds=5))
    assert (await service.get(f"/calls/{call_id}", role="admin")).json()["promotions"] == [promoted]
    # Another reserve file cannot take those funds twice.
    other = ids[FUNDED + 1]
    await ok(
        await service.post(
            f"/applications/{promoted}/promote",
            role="admin",
            json={"amounts": ASKED, "reason": "Un lauréat s'est désisté."},
        ),
        "labelled",
    )
    twice = await service.post(
        f"/applications/{other}/promote",
        role="admin",
        json={"amounts": ASKED, "reason": "Un lauréat s'est désisté."},
    )
    assert twice.status_code == 409 and "Fonds insuffisants" in twice.json()["detail"]
    await service.env.sleep(timedelta(minutes=1))
    await stage_is(service, promoted, "awaiting_contract")

    # Contracts signed: the reservations become commitments.
    laureates = [*ids[1:FUNDED], promoted]
    start = (now + timedelta(days=10)).date().isoformat()
    for cluster_id in laureates:
        await ok(
            await service.post(
                f"/clusters/{cluster_id}/sign_contract",
                role="admin",
                json={"start_at": start, "planned_amounts": ASKED, "kpi_targets": TARGETS},
            ),
            "active",
        )
    committed = balances(service, call_id)
    assert committed[first_year]["committed"] == ENVELOPES[0]
    within_envelope(service, call_id)

    # The first tranche: released by Fatima, never paid by her, paid by Rachid.
    cluster = laureates[0]
    state = (await service.get(f"/clusters/{cluster}", role="admin")).json()
    first, rest = state["years"][0]["tranches"]
    assert first["status"] == "eligible" and rest["status"] == "committed"
    assert first["amount"] + rest["amount"] == ASKED[0]
    release = {"tranche": "1-1", "budget_line": "Chap. 2.1.3", "commitment_number": "ENG-2027-41"}
    not_yet = await service.post(
        f"/clusters/{cluster}/release_tranche", role="finance", json=release | {"tranche": "1-2"}
    )
    assert not_yet.status_code == 409 and "rapport annuel approuvé" in not_yet.json()["detail"]
    await ok(
        await service.post(f"/clusters/{cluster}/release_tranche", role="finance", json=release)
    )
    payment = {"tranche": "1-1", "payment_order": "OP-2027-117", "bank_reference": "VIR-88120"}
    same = await service.post(f"/clusters/{cluster}/pay_tranche", role="finance", json=payment)
    assert same.status_code == 403 and "Séparation des tâches" in same.json()["detail"]
    paid = await ok(
        await service.post(f"/clusters/{cluster}/pay_tranche", role="finance2", json=payment)
    )
    tranche = paid["years"][0]["tranches"][0]
    assert tranche["status"] == "paid" and tranche["released_by"] == "Fatima Finances"
    assert tranche["payments"][0]["paid_by"] == "Rachid Finances"
    assert balances(service, call_id)[first_year]["paid"] == first["amount"]

    # The year's report refused: the balance tranche is suspended; approved, payable again.
    await service.env.sleep(timedelta(days=360))
    await stage_is(service, cluster, "report_requested")
    body = await report(service, cluster)
    await ok(await service.post(f"/clusters/{cluster}/record_report", json=body), "under_review")
    await ok(
        await service.post(
            f"/clusters/{cluster}/refuse_report",
            role="admin",
            json={"reason": "États financiers non certifiés."},
        ),
        "report_requested",
    )
    state = (await service.get(f"/clusters/{cluster}", role="admin")).json()
    assert state["years"][0]["tranches"][1]["status"] == "suspended"
    body = await report(service, cluster)
    await ok(await service.post(f"/clusters/{cluster}/record_report", json=body), "under_review")
    await ok(await service.post(f"/clusters/{cluster}/renew", role="admin", json={}), "active")
    state = (await service.get(f"/clusters/{cluster}", role="admin")).json()
    assert state["years"][0]["tranches"][1]["status"] == "eligible"
    assert state["years"][1]["tranches"][0]["status"] == "eligible"  # year 2's first: report ok
    await ok(
        await service.post(
            f"/clusters/{cluster}/release_tranche",
            role="finance2",
            json=release | {"tranche": "1-2"},
        )
    )
    within_envelope(service, call_id)
