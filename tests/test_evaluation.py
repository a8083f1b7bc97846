"""Evaluation, committee decision, publication and redress, with the clock on the time-skipping server."""

import contextlib
import csv
import io
from datetime import datetime, timedelta

import pytest
from sqlmodel import Session, select

from domain.models import DEFAULT_GRID
from domain.notices import due_text
from projection.tables import OutboxRow
from tests.conftest import APPLICATION, Service, eventually, mails_to
from tests.test_clusters import labelled_cluster
from workflows.cluster import ClusterWorkflow

pytestmark = pytest.mark.asyncio(loop_scope="session")
GAMMA = '=HYPERLINK("http://x";"Cluster Gamma")'  # a name a spreadsheet would run
EVE, DRISS, NADIA, YOUSSEF = "evaluator", "evaluator2", "evaluator3", "evaluator4"
NAMES = {
    EVE: "Eve Évaluatrice",
    DRISS: "Driss Évaluateur",
    NADIA: "Nadia Évaluatrice",
    YOUSSEF: "Youssef Évaluateur",
}


def sheet(*marks: float) -> dict:
    """A score sheet: one mark per criterion of the default grid, in grid order."""
    return {
        "scores": [
            {"criterion": c.code, "score": m, "comment": f"Appréciation sur {c.label}"}
            for c, m in zip(DEFAULT_GRID.criteria, marks, strict=True)
        ]
    }


def outbox(service: Service, recipient: str) -> list[str]:
    with Session(service.engine) as db:
        return list(db.exec(select(OutboxRow.subject).where(OutboxRow.recipient == recipient)))


async def ok(response, stage: str | None = None) -> dict:
    assert response.status_code == 200, response.text
    if stage:
        assert response.json()["stage"] == stage
    return response.json()


async def eligible_applications(
    service: Service, names: list[str], rules: dict | None = None, **data: dict
) -> tuple[str, list[str]]:
    """`data`: more fields of the application of that name; `rules`: the call's own."""
    call_id = await service.new_call(**(rules or {}))
    await ok(await service.post(f"/calls/{call_id}/publish", role="admin"))
    ids = []
    for name in names:
        body = {**APPLICATION, "cluster_name": name, **data.get(name, {})}
        created = await service.post(f"/calls/{call_id}/applications", json=body)
        assert created.status_code == 201, created.text
        ids.append(created.json()["id"])
    await service.env.sleep(timedelta(days=31))
    for application_id in ids:

        async def reviewed(application_id: str = application_id) -> bool:
            body = (await service.get(f"/applications/{application_id}")).json()
            return body["stage"] == "eligibility_review"

        await eventually(reviewed, what="eligibility review")
        await ok(await service.post(f"/applications/{application_id}/mark_eligible"), "eligible")
    await ok(
        await service.post(f"/calls/{call_id}/start_evaluation", role="admin"), "under_evaluation"
    )
    return call_id, ids


async def score(service: Service, application_id: str, marks: dict[str, tuple]) -> dict:
    """Each evaluator declares and scores; answers the case as the committee sees it."""
    for role, values in marks.items():
        declared = await service.post(
            f"/applications/{application_id}/declare_interest", role=role, json={"conflict": False}
        )
        await ok(declared)
        answer = await ok(
            await service.post(
                f"/applications/{application_id}/submit_scores", role=role, json=sheet(*values)
            )
        )
        assert answer["evaluation"]["result"] is None  # never shown to an evaluator
    return (await service.get(f"/applications/{application_id}", role="committee")).json()


async def what_each_role_sees_before_the_results(
    service: Service, call_id: str, labelled: str
) -> None:
    """Decided, not yet published: an evaluator sees neither the decision nor the decision
    counts; score sheets are for the admin and the committee alone, in every list and page."""
    own = (await service.get(f"/applications/{labelled}", role=EVE)).json()
    assert own["stage"] == "scored" and own["decision"] is None and own["allowed_actions"] == []
    assert own["evaluation"]["result"] is None
    stats = (await service.get(f"/calls/{call_id}/stats", role=EVE)).json()["by_stage"]
    assert stats == {"scored": 4}
    counts = (await service.get(f"/calls/{call_id}", role=EVE)).json()["counts"]
    assert counts == {"scored": 4}
    assert (
        "labelled"
        in (await service.get(f"/calls/{call_id}/stats", role="operator")).json()["by_stage"]
    )
    for role, sees in (("operator", False), ("admin", True), ("committee", True)):
        listed = await service.get("/applications", role=role, params={"call_id": call_id})
        page = (await service.get(f"/applications/{labelled}", role=role)).json()
        for case in [*listed.json()["items"], page]:
            sheets = [a["sheet"] for a in case["evaluation"]["assignments"]]
            assert any(sheets) is sees, (role, case["id"])
            assert bool(case["evaluation"]["result"]["evaluator_scores"]) is sees, role
    # The console gives those who decide the evidence; an evaluator, their own grid only.
    pages = {}
    for token in ("t-committee", "t-operator", f"t-{EVE}"):
        browser = await service.signed_in(token)
        async with contextlib.aclosing(browser):
            pages[token] = (await browser.get(f"/console/candidatures/{labelled}")).text
    criterion = DEFAULT_GRID.criteria[0].label
    decider = pages["t-committee"]
    assert "Notes par critère" in decider and "Moyenne" in decider
    assert f"Appréciation sur {criterion}" in decider and "Appréciations de Eve" in decider
    assert "Notes par critère" not in pages["t-operator"]
    assert "Appréciation sur" not in pages["t-operator"]
    own = pages[f"t-{EVE}"]
    assert "Votre grille transmise" in own and f"Appréciation sur {criterion}" in own
    assert "Moyenne" not in own
    assert not any(f"Appréciations de {NAMES[k]}" in own for k in NAMES if k != EVE)


async def test_from_eligible_to_published_results_and_redress(skipping: Service) -> None:
    await from_eligible_to_published_results_and_redress(skipping)


async def test_the_deployed_worker_takes_the_same_path_outside_the_sandbox(
    unsandboxed: Service,
) -> None:
    await from_eligible_to_published_results_and_redress(unsandboxed)


async def from_eligible_to_published_results_and_redress(service: Service) -> None:
    earlier = await labelled_cluster(service)  # Alpha was labelled before, years ago
    call_id, (alpha, beta, gamma, delta) = await eligible_applications(
        service,
        ["Cluster Alpha", "Cluster Beta", GAMMA, "Cluster Delta"],
        **{"Cluster Alpha": {"existing_cluster": True, "previous_cluster_id": earlier}},
    )
    panel = [NAMES[EVE], NAMES[DRISS], NAMES[NADIA]]
    for application_id in (alpha, beta, gamma, delta):
        assigned = await ok(
            await service.post(
                f"/applications/{application_id}/assign_evaluators",
                role="admin",
                json={"evaluators": panel},
            ),
            "evaluation",
        )
    assert [a["evaluator"] for a in assigned["evaluation"]["assignments"]] == panel
    unknown = await service.post(
        f"/applications/{alpha}/assign_evaluators", role="admin", json={"evaluators": ["Inconnu"]}
    )
    assert unknown.status_code == 422

    # Before declaring, an evaluator sees nothing and cannot score; a stranger is kept out.
    assert (await service.get(f"/applications/{alpha}", role=EVE)).status_code == 403
    early = await service.post(
        f"/applications/{alpha}/submit_scores", role=EVE, json=sheet(4, 4, 4, 4, 4)
    )
    assert early.status_code == 409
    stranger = await service.post(
        f"/applications/{alpha}/declare_interest", role=YOUSSEF, json={"conflict": False}
    )
    assert stranger.status_code == 403
    assert (await service.get(f"/applications/{alpha}", role=YOUSSEF)).status_code == 403

    # A declared conflict releases the assignment; the admin assigns someone else.
    await ok(
        await service.post(
            f"/applications/{alpha}/declare_interest",
            role=NADIA,
            json={"conflict": True, "note": "Ancien membre"},
        )
    )
    assert (await service.get(f"/applications/{alpha}", role=NADIA)).status_code == 403
    await ok(
        await service.post(
            f"/applications/{alpha}/assign_evaluators",
            role="admin",
            json={"evaluators": [NAMES[YOUSSEF]]},
        )
    )

    await ok(
        await service.post(
            f"/applications/{alpha}/declare_interest", role=EVE, json={"conflict": False}
        )
    )
    own = (await service.get(f"/applications/{alpha}", role=EVE)).json()
    assert own["data"]["cluster_name"] == "Cluster Alpha"
    assert [a["evaluator"] for a in own["evaluation"]["assignments"]] == [NAMES[EVE]]
    missing = await service.post(
        f"/applications/{alpha}/submit_scores",
        role=EVE,
        json={"scores": sheet(4, 4, 4, 4, 4)["scores"][:4]},
    )
    assert missing.status_code == 422 and "budget" in missing.json()["detail"]
    too_high = await service.post(
        f"/applications/{alpha}/submit_scores", role=EVE, json=sheet(6, 4, 4, 4, 4)
    )
    assert too_high.status_code == 422
    not_half = await service.post(
        f"/applications/{alpha}/submit_scores", role=EVE, json=sheet(3.3, 4, 4, 4, 4)
    )
    assert not_half.status_code == 422

    await ok(
        await service.post(
            f"/applications/{alpha}/submit_scores", role=EVE, json=sheet(4.5, 4, 4, 3.5, 4)
        )
    )
    scored = await score(service, alpha, {DRISS: (4, 4, 4.5, 4, 3.5), YOUSSEF: (4, 4.5, 4, 4, 4)})
    assert scored["stage"] == "scored"
    result = scored["evaluation"]["result"]
    assert result["criterion_means"]["strategy"] == pytest.approx((4.5 + 4 + 4) / 3, abs=0.001)
    assert result["thresholds_met"] and not result["consensus_needed"]

    # Beta: evaluators far apart, flagged for a consensus discussion; same score as Gamma.
    beta_scored = await score(
        service,
        beta,
        {EVE: (5, 5, 5, 5, 5), DRISS: (2.5, 2.5, 2.5, 2.5, 2.5), NADIA: (3.5, 3.5, 3.5, 3.5, 3.5)},
    )
    assert beta_scored["evaluation"]["result"]["consensus_needed"]
    await score(
        service,
        gamma,
        {EVE: (3.5, 4, 3.5, 4, 3.5), DRISS: (4, 3.5, 4, 3.5, 4), NADIA: (3.5, 3.5, 3.5, 3.5, 3.5)},
    )

    # Delta: one evaluator late; reminders go out, then the case is flagged overdue, all by the clock.
    await score(service, delta, {EVE: (2, 2, 2, 2, 2), DRISS: (2, 1.5, 2, 2, 2)})
    await ok(
        await service.post(
            f"/applications/{delta}/declare_interest", role=NADIA, json={"conflict": False}
        )
    )
    await service.env.sleep(timedelta(days=22))

    async def flagged() -> bool:
        audit = (await service.get(f"/applications/{delta}")).json()["audit"]
        return "flag_overdue" in [e["action"] for e in audit]

    await eventually(flagged, what="the overdue flag")
    reminders = [
        s
        for s in outbox(service, f"évaluateur:{NAMES[NADIA]}")
        if s.startswith("Rappel") and delta in s
    ]
    assert len(reminders) == 2  # 7 and 2 days before the due date
    assert f"Appel à projets de test — évaluation en retard : candidature {delta}" in outbox(
        service, "programme"
    )
    late = await service.post(
        f"/applications/{delta}/submit_scores", role=NADIA, json=sheet(2, 2, 2.5, 2, 2)
    )
    assert (await ok(late))["stage"] == "scored"

    ranking = (await service.get(f"/calls/{call_id}/ranking", role="committee")).json()
    assert [e["application_id"] for e in ranking["ranked"]] == [alpha, beta, gamma]
    assert [e["rank"] for e in ranking["ranked"]] == [1, 2, 3]
    assert [e["application_id"] for e in ranking["below_threshold"]] == [delta]
    beta_score = ranking["ranked"][1]["result"]["weighted_score"]
    assert beta_score == ranking["ranked"][2]["result"]["weighted_score"]  # tie broken by the grid
    exported = await service.get(f"/calls/{call_id}/ranking.csv", role="committee")
    rows = list(csv.reader(io.StringIO(exported.text.lstrip("\ufeff")), delimiter=";"))
    assert rows[0][:6] == ["Rang", "Candidature", "Cluster", "Secteur", "Étape", "Score pondéré"]
    assert [r[0] for r in rows[1:]] == ["1", "2", "3", "sous le seuil"]
    assert rows[1][5] == f"{ranking['ranked'][0]['result']['weighted_score']:.2f}".replace(".", ",")
    assert rows[3][2] == "'" + GAMMA  # a formula in a name stays text in a spreadsheet
    assert (await service.get(f"/calls/{call_id}/ranking", role="operator")).status_code == 403

    early_publish = await service.post(f"/calls/{call_id}/publish_results", role="committee")
    assert early_publish.status_code == 409
    assert early_publish.json()["detail"].startswith("4 candidature(s)")
    not_yours = await service.post(
        f"/applications/{alpha}/label", role="operator", json={"reason": "x"}
    )
    assert not_yours.status_code == 403
    decisions = [
        (alpha, "label", "Premier du classement", "labelled"),
        (beta, "put_on_reserve", "Consensus à consolider", "reserve"),
        (gamma, "reject", "Budget insuffisant", "rejected"),
    ]
    for case, action, reason, stage in decisions:
        path = f"/applications/{case}/{action}"
        await ok(await service.post(path, role="committee", json={"reason": reason}), stage)
    await ok(
        await service.post(
            f"/applications/{delta}/reject", role="committee", json={"reason": "Sous les seuils"}
        ),
        "rejected",
    )
    too_soon = await service.post(
        f"/applications/{gamma}/request_review", json={"reason": "Erreur"}
    )
    assert too_soon.status_code == 409 and "pas encore publiés" in too_soon.json()["detail"]
    await what_each_role_sees_before_the_results(service, call_id, alpha)

    await ok(
        await service.post(f"/calls/{call_id}/publish_results", role="committee"),
        "results_published",
    )

    async def announced() -> bool:
        subjects = outbox(service, "salma@cluster-nord.ma")
        outcomes = ("labellisée", "en liste d'attente", "non retenue")
        return all(
            any(f"Appel à projets de test — candidature {a} {o}" in subjects for o in outcomes)
            for a in (alpha, beta, gamma, delta)
        )

    await eventually(announced, what="every applicant to be told")
    after = (await service.get(f"/applications/{alpha}", role=EVE)).json()
    assert after["stage"] == "labelled" and after["decision"]["outcome"] == "labelled"
    labelled = (await service.get(f"/applications/{alpha}")).json()
    assert labelled["cluster_id"] == alpha
    cluster = service.client.get_workflow_handle_for(ClusterWorkflow.run, f"cluster-{alpha}")
    assert (await cluster.query(ClusterWorkflow.snapshot)).origin.application_id == alpha

    async def supported() -> bool:
        return (await service.get(f"/clusters/{alpha}", role="admin")).status_code == 200

    await eventually(supported, what="the support case")
    new_support = (await service.get(f"/clusters/{alpha}", role="admin")).json()
    assert new_support["previous_cluster_id"] == earlier  # names its earlier support case
    assert (await service.get(f"/clusters/{earlier}", role="admin")).json()["later_clusters"] == [
        alpha
    ]

    # Gamma asks for a review in time; Delta stays silent and its rejection becomes final by itself.
    await ok(
        await service.post(
            f"/applications/{gamma}/request_review", json={"reason": "Budget mal lu"}
        ),
        "review_requested",
    )
    await ok(
        await service.post(
            f"/applications/{gamma}/order_re_evaluation",
            role="committee",
            json={"answer": "Nouvelle évaluation accordée"},
        ),
        "evaluation",
    )
    # The answer and the rejection reach the applicant as mail, in the programme's words.
    answer_subject = (
        f"Appel à projets de test — candidature {gamma} : réponse à votre demande de réexamen"
    )
    result_subject = f"Appel à projets de test — candidature {delta} non retenue"

    async def mailed() -> bool:
        subjects = {str(m["Subject"]) for m in mails_to(APPLICATION["contact"]["email"])}
        return {answer_subject, result_subject} <= subjects

    await eventually(mailed, what="the mail")
    by_subject = {str(m["Subject"]): m for m in mails_to(APPLICATION["contact"]["email"])}
    answer = by_subject[answer_subject].get_body(("plain",)).get_content()
    assert "Madame, Monsieur," in answer and "Nouvelle évaluation accordée." in answer
    rejection = by_subject[result_subject].get_body(("plain",)).get_content()

    async def window_counted() -> bool:  # recorded once the activity answered
        return (await service.get(f"/applications/{delta}")).json()["redress"]["due_at"] is not None

    await eventually(window_counted, what="the redress window")
    window = (await service.get(f"/applications/{delta}")).json()["redress"]["due_at"]
    due = datetime.fromisoformat(window)
    assert f"réexamen de cette décision jusqu'au {due_text(due)}" in " ".join(rejection.split())
    # Counted in Morocco's working days, as the notice said it: past 30 calendar days.
    now = await service.env.get_current_time()
    assert due - now > timedelta(days=31)
    await service.env.sleep(due - now + timedelta(days=1))

    async def final() -> bool:
        return (await service.get(f"/applications/{delta}")).json()["stage"] == "rejection_final"

    await eventually(final, what="the redress window to expire")
    late_review = await service.post(
        f"/applications/{delta}/request_review", json={"reason": "Trop tard"}
    )
    assert late_review.status_code == 409
    trail = [
        (e["action"], e["role"])
        for e in (await service.get(f"/applications/{delta}")).json()["audit"]
    ]
    assert trail[-5:] == [
        ("complete_evaluation", "system"),
        ("reject", "committee"),
        ("notify_result", "system"),
        ("notice_sent", "system"),  # the redress window runs from the result's notice
        ("finalize_rejection", "system"),
    ]
    assert ("flag_overdue", "system") in trail and trail.count(("remind_evaluators", "system")) == 2
    call_trail = [e["action"] for e in (await service.get(f"/calls/{call_id}")).json()["audit"]]
    assert call_trail[-2:] == ["start_evaluation", "publish_results"]
    await ok(await service.post(f"/calls/{call_id}/archive", role="admin"), "archived")
    # Archived, the call keeps no reserve list: Beta is not retained and told, then done.
    beta_case = service.client.get_workflow_handle(f"application-{beta}")
    assert await beta_case.result() == "not_retained"
    told = f"Appel à projets de test — candidature {beta} non retenue"
    assert told in {str(m["Subject"]) for m in mails_to(APPLICATION["contact"]["email"])}
