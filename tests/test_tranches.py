"""A cluster's tranches beyond the default schedule, through the API on the time-skipping
server: a fixed amount and the year's balance, a document and a manager's approval as
conditions; a payment rejected by the bank issued again, naming the order it replaces; support
terminated after a first tranche: the rest cancelled and its money returned to the envelope."""

from datetime import timedelta

import pytest
from sqlmodel import Session

from activities.money import Money, MoveOrder
from domain.money import Budget, Movement
from projection.ledger import case_balances
from tests.conftest import Service, deposit, report
from tests.test_clusters import TARGETS, labelled_cluster, stage_is
from tests.test_evaluation import ok

pytestmark = pytest.mark.asyncio(loop_scope="session")
CALL = "2025-0000000000aa"  # tests.test_clusters.labelled_cluster's call
YEARLY = 1_000_000.0
SCHEDULE = [
    {
        "label": "Avance",
        "amount": 250_000,
        "conditions": [{"kind": "contract_signed"}, {"kind": "manual"}],
    },
    {
        "label": "Solde",
        "conditions": [{"kind": "document", "document_kind": "convention signée"}],
    },
]


async def tranches(service: Service, cluster_id: str) -> dict[str, dict]:
    case = (await service.get(f"/clusters/{cluster_id}", role="finance")).json()
    return {t["id"]: t for year in case["years"] for t in year["tranches"]}


async def test_a_schedule_of_its_own_and_a_payment_issued_again(skipping: Service) -> None:
    service = skipping
    cluster_id = await labelled_cluster(service)
    now = await service.env.get_current_time()
    # Money tracked: the call's envelope, and the committee's reservation for this laureate.
    money = Money(service.engine)
    money.set_envelopes(CALL, Budget(first_year=now.year, envelopes=[5e6, 5e6]))
    money.move(
        MoveOrder(
            key="décision",
            call_id=CALL,
            case_id=cluster_id,
            kind=Movement.RESERVED,
            amounts={1: YEARLY, 2: YEARLY},
            actor="Karim Comité",
            basis="labellisation",
        )
    )
    contract = {
        "start_at": (now + timedelta(days=1)).date().isoformat(),
        "planned_amounts": [YEARLY, YEARLY],
        "kpi_targets": TARGETS,
    }
    too_much = contract | {"schedule": [SCHEDULE[0] | {"amount": 2_000_000}, SCHEDULE[1]]}
    refused = await service.post(
        f"/clusters/{cluster_id}/sign_contract", role="admin", json=too_much
    )
    assert refused.status_code == 422 and "dépassent le soutien de l'année" in refused.text
    signed = contract | {"schedule": SCHEDULE}
    await ok(
        await service.post(f"/clusters/{cluster_id}/sign_contract", role="admin", json=signed),
        "active",
    )
    listed = await tranches(service, cluster_id)
    assert [(t["amount"], t["status"]) for t in listed.values()] == [
        (250_000, "committed"),
        (750_000, "committed"),
    ]
    # The advance waits for the manager's approval, the balance for the signed convention.
    approve = {"tranche": "1-1", "note": "Équipe d'animation recrutée."}
    await ok(
        await service.post(f"/clusters/{cluster_id}/approve_condition", role="admin", json=approve)
    )
    again = await service.post(
        f"/clusters/{cluster_id}/approve_condition", role="admin", json=approve
    )
    assert again.status_code == 422 and "n'attend aucune approbation" in again.text
    answer = await deposit(service, f"/clusters/{cluster_id}", "convention signée")
    assert answer.status_code == 201, answer.text
    listed = await tranches(service, cluster_id)
    assert listed["1-1"]["status"] == listed["1-2"]["status"] == "eligible"

    # Released, rejected by the bank, issued again: the new order names the one it replaces.
    release = {"tranche": "1-1", "budget_line": "2.1.3", "commitment_number": "ENG-7"}
    await ok(
        await service.post(f"/clusters/{cluster_id}/release_tranche", role="finance", json=release)
    )
    rejected = {"tranche": "1-1", "payment_order": "OP-1", "reason": "RIB erroné."}
    await ok(
        await service.post(f"/clusters/{cluster_id}/reject_payment", role="finance2", json=rejected)
    )
    assert (await tranches(service, cluster_id))["1-1"]["status"] == "failed"
    paid = {"tranche": "1-1", "payment_order": "OP-2", "bank_reference": "VIR-2"}
    await ok(await service.post(f"/clusters/{cluster_id}/pay_tranche", role="finance2", json=paid))
    payments = (await tranches(service, cluster_id))["1-1"]["payments"]
    assert [(p["payment_order"], p["failed"], p["replaces"]) for p in payments] == [
        ("OP-1", "RIB erroné.", None),
        ("OP-2", None, "OP-1"),
    ]

    # Terminated: the tranches not released are cancelled, what was not released returns.
    await ok(
        await service.post(
            f"/clusters/{cluster_id}/terminate",
            role="admin",
            json={"reason": "Gouvernance défaillante."},
        ),
        "terminated",
    )
    await stage_is(service, cluster_id, "terminated")
    listed = await tranches(service, cluster_id)
    assert listed["1-1"]["status"] == "paid" and listed["1-2"]["status"] == "cancelled"
    with Session(service.engine) as db:
        years = {b.year: b for b in case_balances(db, cluster_id)}
    assert years[now.year].paid == years[now.year].released == 250_000
    assert years[now.year].returned == YEARLY - 250_000
    assert years[now.year + 1].returned == YEARLY
    assert years[now.year].engaged == 250_000 and years[now.year + 1].engaged == 0


async def test_a_renewal_s_cut_returns_to_the_envelope_and_more_needs_room(
    skipping: Service,
) -> None:
    service = skipping
    cluster_id = await labelled_cluster(service)
    now = await service.env.get_current_time()
    money = Money(service.engine)
    money.set_envelopes(CALL, Budget(first_year=now.year, envelopes=[YEARLY, YEARLY]))
    reserve = MoveOrder(
        key="décision",
        call_id=CALL,
        case_id=cluster_id,
        kind=Movement.RESERVED,
        amounts={1: YEARLY, 2: YEARLY},
        actor="Karim Comité",
        basis="labellisation",
    )
    money.move(reserve)
    contract = {
        "start_at": (now + timedelta(days=1)).date().isoformat(),
        "planned_amounts": [YEARLY, YEARLY],
        "kpi_targets": TARGETS,
    }
    await ok(
        await service.post(f"/clusters/{cluster_id}/sign_contract", role="admin", json=contract)
    )
    await service.env.sleep(timedelta(days=360))
    await stage_is(service, cluster_id, "report_requested")
    body = await report(service, cluster_id)
    await ok(await service.post(f"/clusters/{cluster_id}/record_report", json=body))
    # More than the contract committed, with the envelope spent: refused, nothing moves.
    more = await service.post(
        f"/clusters/{cluster_id}/renew", role="admin", json={"amount": YEARLY + 100_000}
    )
    assert more.status_code == 409 and "Fonds insuffisants sur l'enveloppe" in more.text
    probation = {
        "amount": 800_000,
        "conditions": "Recruter un directeur.",
        "review_at": (now + timedelta(days=500)).date().isoformat(),
    }
    await ok(
        await service.post(
            f"/clusters/{cluster_id}/renew_on_probation", role="admin", json=probation
        ),
        "active",
    )
    with Session(service.engine) as db:
        years = {b.year: b for b in case_balances(db, cluster_id)}
    assert years[now.year + 1].returned == YEARLY - 800_000
    assert years[now.year + 1].engaged == 800_000
    listed = await tranches(service, cluster_id)
    assert sum(t["amount"] for t in listed.values() if t["year"] == 2) == 800_000
