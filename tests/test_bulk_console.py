"""The console's lists at a real call's scale: a case left short by a conflict is listed with
why and given a replacement from a balanced proposal; a whole page or every filtered case is
acted on at once; the committee decides from the ranking, a recap confirmed first."""

import contextlib
import html
import re
from datetime import timedelta

import httpx
import pytest
from sqlmodel import Session, select

from console.proposal import Case, propose
from domain.models import DEFAULT_GRID
from projection.tables import OutboxRow
from tests.conftest import APPLICATION, Service, auth, eventually
from tests.test_console import ARTIFACTS, BROWSER_FLAGS, browser_or_skip, open_call, signed_in_page
from tests.test_evaluation import DRISS, EVE, NADIA, NAMES, YOUSSEF, ok, score, sheet

ASYNC = pytest.mark.asyncio(loop_scope="session")
PANEL = [NAMES[EVE], NAMES[DRISS], NAMES[NADIA]]


def test_the_proposal_spreads_the_load_and_avoids_conflicts() -> None:
    loads = {"Ali": 2, "Bea": 0, "Cid": 1, "Dan": 0}
    cases = [
        Case("a", "Alpha", 2, {"Bea": "conflict", "Cid": "declared"}),  # one missing, not Bea
        Case("b", "Beta", 2),  # two, the least loaded after Alpha's
        Case(
            "c", "Gamma", 3, {"Ali": "released", "Bea": "submitted", "Cid": "assigned", "Dan": "x"}
        ),
        Case("d", "Delta", 1, {"Ali": "assigned"}),  # complete: nothing proposed
    ]
    alpha, beta, gamma, delta = propose(cases, loads)
    assert alpha.evaluators == ["Dan"] and "Bea" not in alpha.choices and alpha.short == 0
    assert beta.evaluators == ["Bea", "Cid"]  # Dan now 1 like Cid; Bea still 0; by name
    assert gamma.case.active == ["Bea", "Cid", "Dan"] and gamma.evaluators == []
    assert gamma.choices == []  # all already on the case, the released one too
    assert delta.case.needed == 0 and delta.evaluators == []
    few = propose([Case("e", "Epsilon", 3, {"Ali": "conflict"})], {"Ali": 0, "Bea": 5})
    assert few[0].evaluators == ["Bea"] and few[0].short == 2  # fewer than required


async def eligible_cases(service: Service, names: list[str], **rules: object) -> tuple[str, list]:
    """A call past its deadline, its cases marked eligible, its evaluation started."""
    soon = await service.env.get_current_time() + timedelta(hours=1)  # little time to skip
    call_id = await service.new_call(deadline=soon, **rules)
    await ok(await service.post(f"/calls/{call_id}/publish", role="admin"))
    ids = []
    for name in names:
        body = {**APPLICATION, "cluster_name": name}
        created = await service.post(f"/calls/{call_id}/applications", json=body)
        assert created.status_code == 201, created.text
        ids.append(created.json()["id"])
    await service.env.sleep(timedelta(hours=2))

    async def reviewed() -> bool:
        stages = {(await service.get(f"/applications/{i}")).json()["stage"] for i in ids}
        return stages == {"eligibility_review"}

    await eventually(reviewed, what="eligibility review")
    return call_id, ids


async def start(service: Service, call_id: str, ids: list[str]) -> None:
    for case in ids:
        await ok(await service.post(f"/applications/{case}/mark_eligible"), "eligible")
    await ok(await service.post(f"/calls/{call_id}/start_evaluation", role="admin"))


def section(page: str, heading: str) -> str:
    """One « À traiter » heading's part of the dashboard."""
    return page.split(f"<h3>{heading}")[1].split("<h3>")[0].split("</section>")[0]


def checked(page: str, name: str) -> list[str]:
    """The values ticked for the checkboxes called `name`."""
    found = re.findall(rf'name="{re.escape(name)}" value="([^"]*)"([^>]*)>', page)
    return [html.unescape(value) for value, rest in found if " checked" in rest]


@ASYNC
async def test_a_conflict_is_listed_then_a_balanced_proposal_replaces_the_evaluator(
    unsandboxed: Service,
) -> None:
    service = unsandboxed
    call_id, (alpha, beta) = await eligible_cases(service, ["Cluster Alpha", "Cluster Beta"])
    await start(service, call_id, [alpha, beta])
    await ok(
        await service.post(
            f"/applications/{alpha}/assign_evaluators", role="admin", json={"evaluators": PANEL}
        )
    )
    await ok(
        await service.post(
            f"/applications/{alpha}/declare_interest", role=EVE, json={"conflict": True}
        )
    )
    admin = await service.signed_in("t-admin")
    async with contextlib.aclosing(admin):
        todo = section((await admin.get("/console/")).text, "Évaluateurs manquants")
        assert "Cluster Alpha" in todo and "Cluster Beta" not in todo  # Beta awaits a first panel
        assert f"1 manquant(s) : conflit déclaré par {NAMES[EVE]}" in html.unescape(todo)

        listing = (await admin.get("/console/candidatures", params={"call_id": call_id})).text
        assert f'{NAMES[DRISS]} <span class="discret">— 1 en cours · ' in listing  # workload
        assert f'{NAMES[EVE]} <span class="discret">— 0 en cours</span>' in listing

        proposal = await admin.post(
            "/console/candidatures/proposition",
            data={"ids": [alpha, beta], "call_id": call_id, "cle": "proposition-1"},
        )
        assert proposal.status_code == 200, proposal.text
        page = proposal.text
        assert checked(page, f"evaluators.{alpha}") == [NAMES[YOUSSEF]]  # never Eve
        assert f'name="evaluators.{alpha}" value="{NAMES[EVE]}"' not in page
        # Beta takes the least loaded: Eve (her conflict no longer counts), then by name.
        assert checked(page, f"evaluators.{beta}") == [NAMES[DRISS], NAMES[EVE], NAMES[NADIA]]

        # Adjusted to two for Beta: refused until the incomplete panel is confirmed.
        adjusted = {
            "ids": [alpha, beta],
            "call_id": call_id,
            f"evaluators.{alpha}": [NAMES[YOUSSEF]],
            f"evaluators.{beta}": [NAMES[EVE], NAMES[DRISS]],
            "cle": "affectation-1",
        }
        short = await admin.post("/console/candidatures/affectation", data=adjusted)
        assert short.status_code == 422
        assert "Moins d&#39;évaluateurs que l&#39;appel n&#39;en requiert pour : Cluster Beta" in (
            short.text
        )
        assert checked(short.text, f"evaluators.{beta}") == [NAMES[DRISS], NAMES[EVE]]  # kept
        assert (await service.get(f"/applications/{beta}")).json()["stage"] == "eligible"

        sent = await admin.post(
            "/console/candidatures/affectation", data=adjusted | {"incomplete": "on"}
        )
        assert sent.status_code == 200
        assert "Affecter des évaluateurs : 2 sur 2 candidature(s)." in sent.text
        todo = section((await admin.get("/console/")).text, "Évaluateurs manquants")
        assert "Cluster Alpha" not in todo  # replaced: no longer short
        assert "Cluster Beta" in todo and "1 manquant(s) : affectation incomplète" in todo
    alpha_case = (await service.get(f"/applications/{alpha}", role="admin")).json()
    active = [
        a["evaluator"]
        for a in alpha_case["evaluation"]["assignments"]
        if not a["conflict"] and not a.get("released_at")
    ]
    assert sorted(active) == sorted([NAMES[DRISS], NAMES[NADIA], NAMES[YOUSSEF]])

    # One message per evaluator for the batch, listing their cases, instead of one per case.
    with Session(service.engine) as db:
        for name, cases, others in ((DRISS, [beta], [alpha]), (YOUSSEF, [alpha], [beta])):
            rows = db.exec(
                select(OutboxRow).where(OutboxRow.recipient == f"évaluateur:{NAMES[name]}")
            )
            batch = [r for r in rows if "1 candidature(s) à évaluer" in r.subject]
            assert len(batch) == 1, name
            assert all(c in batch[0].body for c in cases)
            assert not any(c in batch[0].body for c in others)
        mine = select(OutboxRow).where(OutboxRow.recipient == f"évaluateur:{NAMES[YOUSSEF]}")
        assert len(db.exec(mine).all()) == 1  # the digest alone: no per-case notice


@ASYNC
async def test_a_whole_page_or_every_filtered_case_at_once(unsandboxed: Service) -> None:
    service = unsandboxed
    names = [f"Cluster Lot {n:02d}" for n in range(1, 56)]
    call_id, ids = await eligible_cases(service, names)
    operator = await service.signed_in("t-operator")
    async with contextlib.aclosing(operator):
        here = {"call_id": call_id}
        first = (await operator.get("/console/candidatures", params=here)).text
        assert first.count('name="ids"') == 50 and "Page suivante" in first
        hundred = (await operator.get("/console/candidatures", params=here | {"taille": 100})).text
        assert hundred.count('name="ids"') == 55 and "Page suivante" not in hundred
        assert "Sélectionner les 55 de cette page" in hundred
        ticked = await operator.get(
            "/console/candidatures", params=here | {"taille": 100, "tout": 1}
        )
        assert len(checked(ticked.text, "ids")) == 55

        # Two marked ineligible, their reason required.
        ineligible = {"action": "mark_ineligible", "ids": ids[:2], "call_id": call_id}
        bare = await operator.post("/console/candidatures/lot", data=ineligible)
        assert bare.status_code == 422 and "Motif" in bare.text
        done = await operator.post(
            "/console/candidatures/lot",
            data=ineligible | {"mark_ineligible.reason": "Statuts non fournis.", "cle": "i-1"},
        )
        assert "Déclarer irrecevable : 2 sur 2 candidature(s)." in done.text

        # Every filtered case: the count shown must be confirmed, then each gets its update.
        waiting = here | {"stage": "eligibility_review", "taille": "50"}
        listing = (await operator.get("/console/candidatures", params=waiting)).text
        assert "Tous les dossiers filtrés (53, toutes pages comprises)" in listing
        bulk = waiting | {"action": "mark_eligible", "portee": "filtre", "total": "53"}
        unconfirmed = await operator.post("/console/candidatures/lot", data=bulk)
        assert unconfirmed.status_code == 422
        assert "Confirmez l&#39;action sur les 53 dossier(s) filtré(s)" in unconfirmed.text
        stale = await operator.post(
            "/console/candidatures/lot", data=bulk | {"total": "52", "confirme_filtre": "on"}
        )
        assert stale.status_code == 422  # the list changed since it was shown
        marked = await operator.post(
            "/console/candidatures/lot", data=bulk | {"confirme_filtre": "on", "cle": "f-1"}
        )
        assert "Déclarer recevable : 53 sur 53 candidature(s)." in marked.text
    stages = [(await service.get(f"/applications/{i}")).json()["stage"] for i in ids]
    assert stages == ["ineligible"] * 2 + ["eligible"] * 53


@ASYNC
async def test_the_committee_decides_from_the_ranking_after_a_recap(
    unsandboxed: Service,
) -> None:
    service = unsandboxed
    names = ["Cluster Trois", "Cluster Un", "Cluster Deux"]  # registered out of rank order
    call_id, ids = await eligible_cases(service, names, evaluators_per_application=1)
    await start(service, call_id, ids)
    trois, un, deux = ids
    marks = {un: (4.5,) * 5, deux: (3.5,) * 5, trois: (2,) * 5}  # Trois below the thresholds
    for case, values in marks.items():
        await ok(
            await service.post(
                f"/applications/{case}/assign_evaluators",
                role="admin",
                json={"evaluators": [NAMES[EVE]]},
            )
        )
        await score(service, case, {EVE: values})

    async def scored() -> bool:
        stages = {(await service.get(f"/applications/{i}")).json()["stage"] for i in ids}
        return stages == {"scored"}

    await eventually(scored, what="scored")
    committee = await service.signed_in("t-committee")
    async with contextlib.aclosing(committee):
        todo = section((await committee.get("/console/")).text, "Dossiers à décider")
        order = [todo.index(name) for name in ("Cluster Un", "Cluster Deux", "Cluster Trois")]
        assert order == sorted(order) and "rang 1 · score 4,50" in todo
        assert f"/console/appels/{call_id}/decisions" in todo

        decisions = f"/console/appels/{call_id}/decisions"
        page = (await committee.get(decisions)).text
        rows = [page.index(f'id="decision-{case}"') for case in (un, deux, trois)]
        assert rows == sorted(rows) and "non atteints" in page
        failed = [c.label for c in DEFAULT_GRID.criteria if c.threshold > 2] or ["note globale"]
        assert f"seuils non atteints</span> : {', '.join(failed)}" in html.unescape(page)

        choices = {f"choix.{un}": "label", f"choix.{deux}": "put_on_reserve"}
        choices |= {f"choix.{trois}": "reject", f"motif.{deux}": "Enveloppe 2027 limitée."}
        recap = await committee.post(decisions, data=choices | {"etape": "recap", "cle": "d-1"})
        assert recap.status_code == 200
        text = html.unescape(recap.text)
        assert "À confirmer : 1 labellisé(s), 1 en liste d'attente, 1 rejeté(s)" in text
        assert "Dossier qui n'atteint pas les seuils de l'appel (score pondéré 2,00)." in text
        assert ">Enveloppe 2027 limitée.</textarea>" in text  # as typed
        recap_rows = [recap.text.index(f'id="recap-{case}"') for case in (un, deux, trois)]
        assert recap_rows == sorted(recap_rows)

        # Not sent until confirmed; then only the cases still ticked, each in its own update.
        confirmed = choices | {f"confirme.{un}": "on", f"confirme.{trois}": "on"}
        confirmed |= {f"motif.{un}": "Dossier excellent.", f"motif.{trois}": "Seuils manqués."}
        early = await committee.post(decisions, data=confirmed | {"etape": "envoi"})
        assert early.status_code == 422
        assert (await service.get(f"/applications/{un}")).json()["stage"] == "scored"
        sent = await committee.post(
            decisions, data=confirmed | {"etape": "envoi", "confirme": "on", "cle": "d-2"}
        )
        assert sent.status_code == 200
        text = html.unescape(sent.text)
        assert "2 décision(s) prise(s) sur 2 : 1 labellisé(s), 1 rejeté(s)." in text
        results = sent.text.split('id="resultats"')[1].split("</table>")[0]
        assert results.index("Cluster Un") < results.index("Cluster Trois")
        assert "Cluster Deux" not in results  # unticked in the recap: not sent

        # The admin sees the ranking, takes no decision.
        admin = await service.signed_in("t-admin")
        async with contextlib.aclosing(admin):
            seen = await admin.get(decisions)
            assert seen.status_code == 200 and 'id="choix"' not in seen.text
            denied = await admin.post(decisions, data=choices | {"etape": "recap"})
            assert denied.status_code == 303  # back to the ranking, told why
            told = (await admin.get(denied.headers["location"])).text
            assert "ne permet pas cette action : seul le comité décide" in told
    stages = {i: (await service.get(f"/applications/{i}", role="committee")).json() for i in ids}
    assert stages[un]["stage"] == "labelled" and stages[trois]["stage"] == "rejected"
    assert stages[deux]["stage"] == "scored"
    assert stages[un]["decision"]["reason"] == "Dossier excellent."


@ASYNC
async def test_the_committee_decides_from_the_ranking_in_chromium(site: str) -> None:
    """The same decisions in a browser, at a laptop's and a phone's width."""
    executable = browser_or_skip()
    from playwright.async_api import async_playwright, expect

    names = ["Cluster Écran Deux", "Cluster Écran Un"]
    async with httpx.AsyncClient(base_url=site) as api:
        call_id = await open_call(
            api, "Appel — décisions groupées", seconds=3, evaluators_per_application=1
        )
        ids = []
        for name in names:
            registered = await api.post(
                f"/calls/{call_id}/applications",
                headers=auth("operator"),
                json=APPLICATION | {"cluster_name": name},
            )
            ids.append(registered.json()["id"])

        async def stage_is(stage: str) -> bool:
            for case in ids:
                answer = await api.get(f"/applications/{case}", headers=auth("admin"))
                if answer.json()["stage"] != stage:
                    return False
            return True

        await eventually(lambda: stage_is("eligibility_review"), timeout=30, what="review")
        for case in ids:
            await api.post(f"/applications/{case}/mark_eligible", headers=auth("operator"))
        await api.post(f"/calls/{call_id}/start_evaluation", headers=auth("admin"))
        for case, mark in zip(ids, (3.5, 4.5), strict=True):
            base = f"/applications/{case}"
            body = {"evaluators": [NAMES[EVE]]}
            await api.post(f"{base}/assign_evaluators", headers=auth("admin"), json=body)
            await api.post(f"{base}/declare_interest", headers=auth(EVE), json={"conflict": False})
            await api.post(f"{base}/submit_scores", headers=auth(EVE), json=sheet(*(mark,) * 5))
        await eventually(lambda: stage_is("scored"), timeout=30, what="scored")

    ARTIFACTS.mkdir(exist_ok=True)
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=executable, args=BROWSER_FLAGS)
        committee = await signed_in_page(browser, site, "t-committee")
        await committee.goto(f"{site}/console/")
        await committee.get_by_role(
            "link", name="Décider depuis le classement", exact=False
        ).click()
        first, second = (
            committee.locator(f"#decision-{ids[1]}"),
            committee.locator(f"#decision-{ids[0]}"),
        )
        await expect(committee.locator("tr[id^=decision-]").first).to_have_id(f"decision-{ids[1]}")
        await first.get_by_label("Labelliser").check()
        await second.get_by_label("Liste d'attente").check()
        await shot(committee, "choix")
        await committee.get_by_role("button", name="Vérifier les décisions").click()
        await expect(
            committee.get_by_text("À confirmer : 1 labellisé(s), 1 en liste d'attente")
        ).to_be_visible()
        await shot(committee, "recapitulatif")
        await committee.get_by_role("button", name="Envoyer les décisions").click()
        assert await stage_is_now(site, ids[1]) == "scored"  # the browser asked to confirm
        await committee.get_by_label("Je confirme ces décisions", exact=False).check()
        await committee.get_by_role("button", name="Envoyer les décisions").click()
        await expect(committee.locator("#resultats").get_by_text("fait")).to_have_count(2)
        await shot(committee, "resultats")
        await browser.close()
    assert await stage_is_now(site, ids[1]) == "labelled"
    assert await stage_is_now(site, ids[0]) == "reserve"


async def stage_is_now(site: str, case_id: str) -> str:
    async with httpx.AsyncClient(base_url=site) as api:
        answer = await api.get(f"/applications/{case_id}", headers=auth("committee"))
    return answer.json()["stage"]


async def shot(page, name: str) -> None:  # noqa: ANN001 (playwright's)
    """The page at a laptop's width and at a phone's, beside the daily path's."""
    for width, height in ((1366, 900), (390, 844)):
        await page.set_viewport_size({"width": width, "height": height})
        await page.screenshot(path=str(ARTIFACTS / f"lot-{name}-{width}.png"), full_page=True)
    await page.set_viewport_size({"width": 1366, "height": 900})
