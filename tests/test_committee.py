"""No case stalls unseen, no decision slips: a case short of evaluators is listed and the
managers told; an assignment short of the call's panel needs a confirmation; the committee
revises a decision until the results are published, never after; a refused publication says
whom the waiting cases wait on."""

from contextlib import aclosing
from datetime import timedelta

import pytest
from sqlmodel import Session

from projection import assignments
from tests.conftest import Service, eventually
from tests.test_evaluation import (
    DRISS,
    EVE,
    NADIA,
    NAMES,
    YOUSSEF,
    eligible_applications,
    ok,
    score,
)
from tests.test_evaluation import outbox as subjects

pytestmark = pytest.mark.asyncio(loop_scope="session")
PANEL = [NAMES[EVE], NAMES[DRISS], NAMES[NADIA]]


def short(service: Service) -> dict[str, str]:
    """The admin's « Évaluateurs manquants »: case → why."""
    with Session(service.engine) as db:
        return {s.id: f"{s.missing} : {s.why}" for s in assignments.short_of_evaluators(db)}


async def test_a_case_short_of_evaluators_is_listed_and_the_managers_told(
    skipping: Service,
) -> None:
    service = skipping
    _, (alpha, beta) = await eligible_applications(service, ["Cluster Alpha", "Cluster Beta"])
    assign = f"/applications/{alpha}/assign_evaluators"

    # Two of three: refused unless confirmed, and then listed as knowingly incomplete.
    partial = await service.post(assign, role="admin", json={"evaluators": PANEL[:2]})
    assert partial.status_code == 422
    assert "requiert 3 évaluateur(s)" in partial.json()["detail"]
    assert short(service) == {}
    await ok(
        await service.post(
            assign, role="admin", json={"evaluators": PANEL[:2], "incomplete": True}
        ),
        "evaluation",
    )
    assert short(service) == {alpha: "1 : affectation incomplète"}
    await ok(await service.post(assign, role="admin", json={"evaluators": [NAMES[NADIA]]}))
    assert short(service) == {}

    # A conflict declared mid-way: listed with its why, the programme told at once.
    await ok(
        await service.post(
            f"/applications/{alpha}/declare_interest", role=EVE, json={"conflict": True}
        )
    )
    assert short(service) == {alpha: f"1 : conflit déclaré par {NAMES[EVE]}"}

    async def told() -> bool:
        return any("évaluateurs manquants" in s.lower() for s in subjects(service, "programme"))

    await eventually(told, what="the managers' notice")
    refused = await service.post(assign, role="admin", json={"evaluators": [NAMES[EVE]]})
    assert refused.status_code == 422  # never the one who declared the conflict
    await ok(await service.post(assign, role="admin", json={"evaluators": [NAMES[YOUSSEF]]}))
    assert short(service) == {}

    # An evaluator withdrawn by a manager before scoring: listed too; never one who scored.
    await ok(
        await service.post(
            f"/applications/{beta}/assign_evaluators", role="admin", json={"evaluators": PANEL}
        )
    )
    await score(service, beta, {DRISS: (4, 4, 4, 4, 4)})
    done = await service.post(
        f"/applications/{beta}/release_evaluator",
        role="admin",
        json={"evaluator": NAMES[DRISS], "reason": "Déjà noté"},
    )
    assert done.status_code == 422 and "déjà transmis" in done.json()["detail"]
    await ok(
        await service.post(
            f"/applications/{beta}/release_evaluator",
            role="admin",
            json={"evaluator": NAMES[NADIA], "reason": "Absente jusqu'en mars"},
        )
    )
    assert short(service)[beta] == f"1 : retrait de {NAMES[NADIA]}"
    denied = await service.post(
        f"/applications/{beta}/release_evaluator",
        role="operator",
        json={"evaluator": NAMES[EVE], "reason": "x"},
    )
    assert denied.status_code == 403

    # Both panels completed: no reminder left to fire on this test's worker once it is gone.
    await ok(
        await service.post(
            f"/applications/{beta}/assign_evaluators",
            role="admin",
            json={"evaluators": [NAMES[YOUSSEF]]},
        )
    )
    await score(service, beta, {r: (4, 4, 4, 4, 4) for r in (EVE, YOUSSEF)})
    await score(service, alpha, {r: (4, 4, 4, 4, 4) for r in (DRISS, NADIA, YOUSSEF)})


async def test_a_decision_is_revised_until_the_results_are_published(skipping: Service) -> None:
    service = skipping
    call_id, (alpha, beta) = await eligible_applications(service, ["Cluster Alpha", "Cluster Beta"])
    publish = f"/calls/{call_id}/publish_results"
    for case in (alpha, beta):
        await ok(
            await service.post(
                f"/applications/{case}/assign_evaluators",
                role="admin",
                json={"evaluators": PANEL},
            )
        )
    await score(service, alpha, {r: (4, 4, 4, 4, 4) for r in (EVE, DRISS, NADIA)})

    # Refused publication: who each waiting case waits on.
    early = await service.post(publish, role="admin", json={"confirme": True})
    assert early.status_code == 409
    detail = early.json()["detail"]
    assert "2 candidature(s) sans décision publiable" in detail
    assert "1 attendent les évaluateurs" in detail and "1 attendent le comité" in detail

    label = f"/applications/{alpha}/label"
    decided = await ok(
        await service.post(
            label,
            role="committee",
            json={"reason": "Projet solide.", "internal_note": "Vote : 5 pour, 1 contre."},
        ),
        "labelled",
    )
    assert decided["decision"]["internal_note"] == "Vote : 5 pour, 1 contre."
    revised = await ok(
        await service.post(
            f"/applications/{alpha}/put_on_reserve",
            role="committee",
            json={"reason": "Enveloppe limitée : liste d'attente."},
        ),
        "reserve",
    )
    assert revised["decision"]["reason"] == "Enveloppe limitée : liste d'attente."
    audit = (await service.get(f"/applications/{alpha}", role="committee")).json()["audit"]
    revision = [e for e in audit if e["action"] == "put_on_reserve"][-1]
    assert revision["payload"]["revises"] == "labelled"
    assert [e["action"] for e in audit if e["action"] in ("label", "put_on_reserve")] == [
        "label",
        "put_on_reserve",
    ]

    await score(service, beta, {r: (1, 1, 1, 1, 1) for r in (EVE, DRISS, NADIA)})
    await ok(
        await service.post(
            f"/applications/{beta}/reject",
            role="committee",
            json={"reason": "Seuils non atteints."},
        ),
        "rejected",
    )
    await ok(await service.post(publish, role="committee", json={"confirme": True}))
    await service.env.sleep(timedelta(minutes=1))

    async def announced() -> bool:
        case = (await service.get(f"/applications/{alpha}", role="committee")).json()
        return case["decision"]["published_at"] is not None

    await eventually(announced, what="the results announced")
    # Published: the reserve is settled, the rejection open to redress only.
    late = await service.post(label, role="committee", json={"reason": "Finalement oui."})
    assert late.status_code == 409
    assert (await service.get(f"/applications/{alpha}")).json()["stage"] == "reserve"
    late = await service.post(
        f"/applications/{beta}/label", role="committee", json={"reason": "Finalement oui."}
    )
    assert late.status_code == 409 and "ne peut plus être révisée" in late.json()["detail"]
    still = (await service.get(f"/applications/{beta}", role="committee")).json()
    assert still["stage"] == "rejected"

    # The redress window (30 working days) closes by itself: nothing left to fire once this
    # test's worker is gone.
    await service.env.sleep(timedelta(days=50))

    async def final() -> bool:
        case = await service.get(f"/applications/{beta}")
        return case.json()["stage"] == "rejection_final"

    await eventually(final, what="the rejection made final")


async def test_a_deactivated_evaluator_is_withdrawn_from_the_cases_not_scored(
    skipping: Service,
) -> None:
    service = skipping
    _, (alpha,) = await eligible_applications(service, ["Cluster Alpha"])
    await ok(
        await service.post(
            f"/applications/{alpha}/assign_evaluators", role="admin", json={"evaluators": PANEL}
        )
    )
    async with aclosing(await service.signed_in("t-admin")) as admin:
        answer = await admin.post(
            "/console/utilisateurs",
            data={"action": "desactiver", "name": NAMES[NADIA]},
            follow_redirects=True,
        )
    assert answer.status_code == 200
    assert "Retiré(e) de 1 dossier(s) en cours" in answer.text
    assert short(service) == {alpha: f"1 : retrait de {NAMES[NADIA]}"}
    audit = (await service.get(f"/applications/{alpha}")).json()["audit"]
    assert audit[-1]["action"] == "release_evaluator" and audit[-1]["reason"] == "Compte désactivé"

    # The gap filled, the panel scores: nothing left pending once this test's worker is gone.
    await ok(
        await service.post(
            f"/applications/{alpha}/assign_evaluators",
            role="admin",
            json={"evaluators": [NAMES[YOUSSEF]]},
        )
    )
    assert short(service) == {}
    await score(service, alpha, {r: (4, 4, 4, 4, 4) for r in (EVE, DRISS, YOUSSEF)})
