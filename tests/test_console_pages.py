"""Every console page renders for the roles that use it (no browser: plain HTTP through the app)."""

import contextlib
import html
from datetime import datetime, timedelta

import pytest

from domain.models import DEFAULT_GRID
from tests.conftest import APPLICATION, Service, eventually, utcnow
from tests.test_api import eligible_review_case, open_call
from tests.test_authorization import console_message
from tests.test_clusters import TARGETS, labelled_cluster

pytestmark = pytest.mark.asyncio(loop_scope="session")


async def test_pages_render_for_each_role_and_refusals_read_in_french(dev: Service) -> None:
    application_id = await eligible_review_case(dev)
    call_id = (await dev.get(f"/applications/{application_id}")).json()["call_id"]
    cluster_id = await labelled_cluster(dev)

    assert (await dev.http.get("/console/")).status_code == 303  # not signed in
    wrong = await dev.http.post("/console/connexion", data={"jeton": "faux"})
    assert wrong.headers["location"] == "/console/connexion"

    admin = await dev.signed_in("t-admin")
    for path, text in [
        ("/console/", "Tableau de bord"),
        ("/console/appels", "Nouvel appel"),
        (f"/console/appels/{call_id}", "Classement"),
        (f"/console/candidatures?call_id={call_id}&stage=eligibility_review", "1 candidature(s)"),
        (f"/console/candidatures/{application_id}", "Contrôles automatiques"),
        ("/console/clusters", "Soutien accordé au total"),
        ("/console/clusters?tri=-soutien", 'aria-sort="descending"><a href="?tri=soutien">'),
        ("/console/clusters?tri=-soutien", 'href="/console/clusters.xlsx?tri=-soutien"'),
        (f"/console/clusters/{cluster_id}", "Signer la convention"),
    ]:
        page = await admin.get(path)
        assert page.status_code == 200 and text in page.text, path
    exported = await admin.get(f"/console/appels/{call_id}/classement.csv")
    assert exported.text.startswith("\ufeffRang;")

    operator = await dev.signed_in("t-operator")
    early = await operator.post(
        f"/console/candidatures/{application_id}/actions/label", data={"reason": "x"}
    )
    follow = await operator.get(early.headers["location"])
    assert "ne permet pas cette action" in follow.text
    bad_date = await operator.post(
        f"/console/candidatures/{application_id}/actions/request_complements",
        data={"items": "statuts", "due_at": "hier"},
    )
    # The refused form comes back as typed, its error beside the field and at the top.
    assert bad_date.status_code == 422
    beside = bad_date.text.split('id="request_complements-due_at"')[1].split("</p>")[0]
    assert 'value="hier"' in beside
    assert "Date limite (vide : délai de réponse de l&#39;appel) : date invalide" in beside
    assert '<textarea id="request_complements-items" name="items">statuts</textarea>' in (
        bad_date.text
    )

    await operator.post(f"/console/candidatures/{application_id}/actions/mark_eligible")
    await admin.post(f"/console/appels/{call_id}/actions/start_evaluation")
    assigned = await admin.post(
        f"/console/candidatures/{application_id}/actions/assign_evaluators",
        data={"evaluators": ["Eve Évaluatrice"], "incomplete": "on"},  # one of three
    )
    assert assigned.status_code == 303
    early = await admin.post(
        f"/console/appels/{call_id}/actions/publish_results", data={"confirme": "on"}
    )
    assert early.status_code == 409  # allowed at this stage, refused for a case undecided:
    assert console_message(early)["lines"] == [  # no list of « possible » actions naming it
        "1 candidature(s) sans décision publiable : 1 attendent les évaluateurs."
    ]
    evaluator = await dev.signed_in("t-evaluator")
    listing = await evaluator.get("/console/candidatures")
    assert "Mes évaluations" in listing.text and "à déclarer" in listing.text
    assert f"<td>{APPLICATION['cluster_name']}</td>" in listing.text  # named, not a hex id
    hidden = await evaluator.get(f"/console/candidatures/{application_id}")
    assert hidden.status_code == 303  # the file stays closed before the declaration
    await evaluator.post(
        f"/console/candidatures/{application_id}/actions/declare_interest",
        data={"conflict": "false"},  # the choice is explicit
    )
    opened = await evaluator.get(f"/console/candidatures/{application_id}")
    assert f'href="/console/evaluer/{application_id}"' in opened.text  # to the workspace
    assert "/actions/declare_interest" not in opened.text  # declared: the next step only
    workspace = await evaluator.get(f"/console/evaluer/{application_id}")
    assert "Transmettre ma grille" in workspace.text
    assert "Stratégie et création de valeur" in workspace.text
    seen = await dev.get(f"/applications/{application_id}", role="evaluator")
    assert seen.json()["allowed_actions"] == ["submit_scores"]
    for client in (admin, operator, evaluator):
        await client.aclose()


async def test_refusals_are_french_pages_in_the_console(dev: Service) -> None:
    """An unknown case, an unknown address, a malformed parameter: a page of the console, in
    French, with the right status; the API keeps answering JSON."""
    browser = await dev.signed_in("t-operator")
    async with contextlib.aclosing(browser):
        unknown_case = await browser.get("/console/candidatures/0000deadbeef")
        unknown_page = await browser.get("/console/nulle-part")
        bad_page = await browser.get("/console/candidatures", params={"page": "deux"})
    assert unknown_case.status_code == 404 and "text/html" in unknown_case.headers["content-type"]
    assert "<h1>Page introuvable</h1>" in unknown_case.text
    assert "Candidature inconnue." in unknown_case.text and "Omar Opérateur" in unknown_case.text
    assert unknown_page.status_code == 404 and "Page introuvable" in unknown_page.text
    assert "Not Found" not in unknown_page.text
    assert bad_page.status_code == 422 and "Saisie invalide" in bad_page.text
    api = await dev.get("/applications/0000deadbeef")
    assert api.status_code == 404 and api.json() == {"detail": "Candidature inconnue."}


async def test_a_withdrawal_asks_for_its_reason_and_a_confirmation(dev: Service) -> None:
    call_id = await open_call(dev)
    registered = await dev.post(f"/calls/{call_id}/applications", json=APPLICATION)
    page = f"/console/candidatures/{registered.json()['id']}"
    browser = await dev.signed_in("t-operator")
    async with contextlib.aclosing(browser):
        form = (await browser.get(page)).text
        assert 'class="danger" type="submit">Retirer la candidature' in form
        unconfirmed = await browser.post(
            f"{page}/actions/withdraw", data={"reason": "Projet reporté", "cle": "w-1"}
        )
        no_reason = await browser.post(
            f"{page}/actions/withdraw", data={"confirme": "on", "cle": "w-2"}
        )
        stage = (await dev.get(page.replace("/console/candidatures", "/applications"))).json()
        confirmed = await browser.post(
            f"{page}/actions/withdraw",
            data={"reason": "Projet reporté", "confirme": "on", "cle": "w-3"},
        )
    assert console_message(unconfirmed)["lines"] == [
        "Retirer la candidature : cochez la confirmation pour continuer."
    ]
    assert console_message(no_reason)["lines"] == ["Motif : obligatoire"]
    assert stage["stage"] == "received"
    assert console_message(confirmed)["kind"] == "succes"
    case = (await dev.get(page.replace("/console/candidatures", "/applications"))).json()
    assert case["stage"] == "withdrawn" and case["reason"] == "Projet reporté"
    # A withdrawn case's badge reads as such; stages are counted in the lifecycle's order.
    kept = await dev.post(f"/calls/{call_id}/applications", json=APPLICATION)
    assert kept.status_code == 201
    browser = await dev.signed_in("t-operator")
    async with contextlib.aclosing(browser):
        listing = (await browser.get("/console/candidatures", params={"call_id": call_id})).text
    assert '<span class="etape retard">retirée</span>' in listing
    assert '<span class="etape ">reçue</span>' in listing
    stats = (await dev.get(f"/calls/{call_id}/stats")).json()["by_stage"]
    assert list(stats) == ["received", "withdrawn"]


async def test_case_details_read_as_people_expect(dev: Service) -> None:
    """The contact's phone is shown; the 8-year rule only for a cluster already supported; the
    clusters' next anniversary is a date to come."""
    call_id = await open_call(dev, deadline=(utcnow() + timedelta(seconds=2)).isoformat())
    phone = {**APPLICATION["contact"], "phone": "+212 5 37 00 00 00"}
    new = await dev.post(f"/calls/{call_id}/applications", json={**APPLICATION, "contact": phone})
    existing = await dev.post(
        f"/calls/{call_id}/applications",
        json={**APPLICATION, "existing_cluster": True, "support_years": 9},
    )
    ids = [new.json()["id"], existing.json()["id"]]

    async def reviewed() -> bool:
        cases = [(await dev.get(f"/applications/{i}")).json() for i in ids]
        return all(c["checklist"] for c in cases)

    await eventually(reviewed, what="the checklists")
    cluster_id = await labelled_cluster(dev)
    start = (await dev.env.get_current_time()) - timedelta(days=400)  # its first year is over
    terms = {"start_at": start.isoformat(), "planned_amounts": [1e6, 9e5], "kpi_targets": TARGETS}
    assert (await dev.post(f"/clusters/{cluster_id}/sign_contract", "admin", json=terms)).is_success
    browser = await dev.signed_in("t-admin")
    async with contextlib.aclosing(browser):
        pages = [(await browser.get(f"/console/candidatures/{i}")).text for i in ids]
        clusters = (await browser.get("/console/clusters")).text
    assert "+212 5 37 00 00 00" in pages[0]
    rule = "Cluster existant : au moins 8 ans de soutien"
    assert rule not in pages[0] and rule in pages[1]
    row = clusters.split(f"/console/clusters/{cluster_id}")[1].split("</tr>")[0]
    anniversary = row.split("<td>")[4].split("</td>")[0]
    assert " à " not in anniversary  # a date, not a time of day
    assert datetime.strptime(anniversary, "%d/%m/%Y").date() > utcnow().date()


async def test_a_grid_names_the_criterion_it_lacks_and_never_scores_zero_by_default(
    dev: Service,
) -> None:
    application_id = await eligible_review_case(dev)
    call_id = (await dev.get(f"/applications/{application_id}")).json()["call_id"]
    path = f"/applications/{application_id}"
    assert (await dev.post(f"{path}/mark_eligible")).is_success
    assert (await dev.post(f"/calls/{call_id}/start_evaluation", role="admin")).is_success
    assigned = await dev.post(
        f"{path}/assign_evaluators",
        role="admin",
        json={"evaluators": ["Eve Évaluatrice"], "incomplete": True},
    )
    assert assigned.is_success
    declared = await dev.post(
        f"{path}/declare_interest", role="evaluator", json={"conflict": False}
    )
    assert declared.is_success
    first, second = DEFAULT_GRID.criteria[:2]
    form = {f"score.{c.code}": "3.5" for c in DEFAULT_GRID.criteria} | {
        f"comment.{c.code}": "Argumenté" for c in DEFAULT_GRID.criteria
    }
    page = f"/console/evaluer/{application_id}"  # the evaluator's workspace
    browser = await dev.signed_in("t-evaluator")
    async with contextlib.aclosing(browser):
        shown = (await browser.get(page)).text
        unscored = await browser.post(f"{page}/grille", data=form | {f"score.{first.code}": ""})
        uncommented = await browser.post(
            f"{page}/grille", data=form | {f"comment.{second.code}": ""}
        )
    assert '<option value="" selected>— note à choisir —</option>' in shown
    assert unscored.status_code == 422
    assert f"{first.label} : choisissez une note." in html.unescape(unscored.text)
    assert "Appréciation : obligatoire" in html.unescape(uncommented.text)
    # Nothing typed is lost: the other notes and comments come back, the error by its field.
    assert uncommented.status_code == 422
    assert uncommented.text.count(">Argumenté</textarea>") == len(DEFAULT_GRID.criteria) - 1
    assert uncommented.text.count('<option value="3.5" selected>') == len(DEFAULT_GRID.criteria)
    assert f'<p class="erreur-champ" id="comment.{second.code}-erreur">' in uncommented.text
    case = (await dev.get(path, role="admin")).json()
    assert case["evaluation"]["assignments"][0]["sheet"] is None  # nothing was recorded


async def test_bulk_actions_run_one_update_per_case_and_report_each(dev: Service) -> None:
    """Two files marked eligible at once, then evaluators assigned to both and to one that may
    not take them: each case answers for itself, on the list; the dashboard lists the work."""
    call_id = await open_call(dev, deadline=(utcnow() + timedelta(seconds=1.5)).isoformat())
    ids = []
    for name in ("Cluster Lot Un", "Cluster Lot Deux", "Cluster Lot Trois"):
        registered = await dev.post(
            f"/calls/{call_id}/applications", json=APPLICATION | {"cluster_name": name}
        )
        ids.append(registered.json()["id"])

    async def in_review() -> bool:
        stages = [(await dev.get(f"/applications/{i}")).json()["stage"] for i in ids]
        return set(stages) == {"eligibility_review"}

    await eventually(in_review, what="deadline closure")
    operator, admin = await dev.signed_in("t-operator"), await dev.signed_in("t-admin")
    async with contextlib.aclosing(operator), contextlib.aclosing(admin):
        todo = (await operator.get("/console/")).text.split("À traiter")[1]
        assert "Recevabilité à prononcer" in todo and "Cluster Lot Deux" in todo
        listing = (await operator.get("/console/candidatures", params={"call_id": call_id})).text
        assert 'action="/console/candidatures/lot"' in listing
        assert "Affecter des évaluateurs" not in listing  # the admin's, not the operator's
        nothing = await operator.post(
            "/console/candidatures/lot",
            data={"action": "mark_eligible", "mark_eligible.note": "Vu"},
        )
        assert nothing.status_code == 422 and "Cochez au moins une candidature" in nothing.text
        assert ">Vu</textarea>" in nothing.text  # what was typed is kept
        too_many = await operator.post(
            "/console/candidatures/lot",
            data={"action": "mark_eligible", "ids": [f"{i:012x}" for i in range(201)]},
        )
        assert too_many.status_code == 422
        assert "Au plus 200 candidatures à la fois." in too_many.text
        marked = await operator.post(
            "/console/candidatures/lot",
            data={"action": "mark_eligible", "ids": ids[:2], "cle": "lot-1", "call_id": call_id},
        )
        assert marked.status_code == 200
        assert "Déclarer recevable : 2 sur 2 candidature(s)." in marked.text
        stages = [(await dev.get(f"/applications/{i}")).json()["stage"] for i in ids]
        assert stages == ["eligible", "eligible", "eligibility_review"]

        assert (await dev.post(f"/calls/{call_id}/start_evaluation", role="admin")).is_success
        todo = (await admin.get("/console/")).text.split("À traiter")[1]
        assert "Évaluateurs à affecter" in todo and "Cluster Lot Un" in todo
        assigned = await admin.post(
            "/console/candidatures/lot",
            data={
                "action": "assign_evaluators",
                "ids": ids,
                "assign_evaluators.evaluators": ["Eve Évaluatrice"],
                "assign_evaluators.incomplete": "on",
            },
        )
    assert "Affecter des évaluateurs : 2 sur 3 candidature(s)." in assigned.text
    results = assigned.text.split('id="resultats"')[1].split("</table>")[0]
    assert results.count(">fait</span>") == 2 and "Cluster Lot Trois" in results
    for case_id, expected in zip(
        ids, ["evaluation", "evaluation", "eligibility_review"], strict=True
    ):
        case = (await dev.get(f"/applications/{case_id}")).json()
        assert case["stage"] == expected
        audit = [e["action"] for e in case["audit"]]
        assert audit.count("assign_evaluators") == (expected == "evaluation")


async def test_refused_registration_and_call_forms_keep_what_was_typed(dev: Service) -> None:
    sectors = ["aéronautique", "pièces d'automobile"]  # a choice with a character to escape
    call_id = await open_call(
        dev, deadline=(utcnow() + timedelta(minutes=5)).isoformat(), sectors=sectors
    )
    operator, admin = await dev.signed_in("t-operator"), await dev.signed_in("t-admin")
    async with contextlib.aclosing(operator), contextlib.aclosing(admin):
        registration = {
            "cluster_name": "Cluster Oublié",
            "sector": "pièces d'automobile",
            "contact_name": "Salma Idrissi",
            "contact_email": "pas-une-adresse",
            "members": "Atlas Textile SA ; entreprise\nENSAIT ; recherche",
        }
        refused = await operator.post(f"/console/appels/{call_id}/candidatures", data=registration)
        created = await admin.post(
            "/console/appels",
            data={"title": "Appel mal daté", "opens_at": "demain", "deadline": "2027-03-01"},
        )
    assert refused.status_code == 422
    assert 'value="Cluster Oublié"' in refused.text and 'value="pas-une-adresse"' in refused.text
    assert "<option selected>pièces d&#39;automobile</option>" in refused.text
    assert ">Atlas Textile SA ; entreprise\nENSAIT ; recherche</textarea>" in refused.text
    assert 'class="erreur-champ" id="contact-erreur">Contact › courriel' in refused.text
    assert created.status_code == 422
    assert 'value="Appel mal daté"' in created.text and 'value="2027-03-01"' in created.text
    assert 'id="opens_at-erreur">Ouverture : date invalide' in created.text
    listing = await dev.get("/applications", params={"call_id": call_id})
    assert listing.json()["total"] == 0  # nothing was registered
