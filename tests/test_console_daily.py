"""Each role's day in the console, in headless Chromium: the admin's refused form keeps what was
typed, the operator withdraws (after confirming) and marks files eligible in bulk, the admin
assigns evaluators in bulk and exports the list to XLSX, the evaluator sends a grid (refused once,
nothing lost), the committee decides from the evidence."""

import io
from pathlib import Path

import httpx
import openpyxl
import pytest
from playwright.async_api import Page, expect

from domain.models import DEFAULT_GRID
from tests.conftest import APPLICATION, auth, eventually
from tests.test_console import ARTIFACTS, BROWSER_FLAGS, browser_or_skip, open_call, signed_in_page

pytestmark = pytest.mark.asyncio(loop_scope="session")
NAMES = ("Cluster Journée Un", "Cluster Journée Deux", "Cluster Journée Retiré")


async def shot(page: Page, name: str) -> None:
    """The page at a laptop's width and at a phone's."""
    for width, height in ((1366, 900), (390, 844)):
        await page.set_viewport_size({"width": width, "height": height})
        await page.screenshot(path=str(ARTIFACTS / f"journee-{name}-{width}.png"), full_page=True)
    await page.set_viewport_size({"width": 1366, "height": 900})


async def stage_of(site: str, case_id: str) -> str:
    async with httpx.AsyncClient(base_url=site) as api:
        answer = await api.get(f"/applications/{case_id}", headers=auth("admin"))
    return answer.json()["stage"]


async def reached(site: str, case_id: str, stage: str) -> None:
    async def there() -> bool:
        return await stage_of(site, case_id) == stage

    await eventually(there, timeout=30, what=stage)


async def test_each_role_daily_path_through_the_console(site: str) -> None:
    executable = browser_or_skip()
    from playwright.async_api import async_playwright

    async with httpx.AsyncClient(base_url=site) as api:
        call_id = await open_call(
            api, "Appel à projets — une journée", seconds=12, evaluators_per_application=1
        )
        ids = []
        for name in NAMES:
            registered = await api.post(
                f"/calls/{call_id}/applications",
                headers=auth("operator"),
                json=APPLICATION | {"cluster_name": name},
            )
            ids.append(registered.json()["id"])

    ARTIFACTS.mkdir(exist_ok=True)
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=executable, args=BROWSER_FLAGS)

        # The admin's new call, refused for its opening date: everything typed is still there.
        admin = await signed_in_page(browser, site, "t-admin")
        await admin.goto(f"{site}/console/appels")
        await admin.get_by_label("Intitulé *").fill("Appel 2027 — brouillon")
        await admin.get_by_label("Ouverture (heure de Rabat) *").fill("2027-01-10T09:00")
        await admin.get_by_label("Date limite (15h00, heure de Rabat) *").fill("2027-01-05")
        await admin.get_by_role("button", name="Créer l'appel").click()
        await expect(admin.locator('[id="deadline-erreur"]')).to_contain_text(
            "la date limite doit suivre la date d'ouverture"
        )  # beside its field
        await expect(admin.get_by_label("Intitulé *")).to_have_value("Appel 2027 — brouillon")
        await expect(admin.get_by_label("Date limite (15h00, heure de Rabat) *")).to_have_value(
            "2027-01-05"
        )
        await shot(admin, "formulaire-refuse")

        # The operator withdraws the third file: nothing happens until the box is ticked.
        operator = await signed_in_page(browser, site, "t-operator")
        await operator.goto(f"{site}/console/candidatures/{ids[2]}")
        withdraw = operator.locator("#form-withdraw")
        await withdraw.get_by_label("Motif").fill("Le cluster se retire de l'appel.")
        await withdraw.get_by_role("button", name="Retirer la candidature").click()
        assert await stage_of(site, ids[2]) == "received"  # the browser asked to confirm
        await withdraw.get_by_label("Je confirme : cette action ne se défait pas").check()
        await withdraw.get_by_role("button", name="Retirer la candidature").click()
        await expect(operator.locator("#etape")).to_have_text("retirée")

        # After the deadline, both remaining files are marked eligible from the list at once.
        await reached(site, ids[0], "eligibility_review")
        await operator.goto(f"{site}/console/")
        await expect(operator.get_by_role("heading", name="À traiter")).to_be_visible()
        await expect(operator.get_by_role("link", name=NAMES[0])).to_be_visible()
        await shot(operator, "tableau-operateur")
        await operator.goto(f"{site}/console/candidatures?call_id={call_id}")
        for name in NAMES[:2]:
            await operator.get_by_label(f"Sélectionner {name}").check()
        await operator.get_by_role("button", name="Déclarer recevable").click()
        await expect(
            operator.get_by_text("Déclarer recevable : 2 sur 2 candidature(s).")
        ).to_be_visible()
        await shot(operator, "action-groupee")

        # The admin starts the evaluation, assigns Eve to both files at once, exports the list.
        await admin.goto(f"{site}/console/appels/{call_id}")
        await admin.get_by_role("button", name="Lancer l'évaluation").click()
        await admin.goto(f"{site}/console/")
        await expect(
            admin.get_by_role("heading", name="Évaluateurs à affecter (2)")
        ).to_be_visible()
        await admin.goto(f"{site}/console/candidatures?call_id={call_id}&stage=eligible")
        for name in NAMES[:2]:
            await admin.get_by_label(f"Sélectionner {name}").check()
        await admin.get_by_label("Eve Évaluatrice").check()
        await admin.get_by_role("button", name="Affecter des évaluateurs").click()
        results = admin.locator("#resultats")
        await expect(results.get_by_text("fait")).to_have_count(2)
        await admin.goto(f"{site}/console/candidatures?call_id={call_id}&tri=-cluster")
        async with admin.expect_download() as downloading:
            await admin.get_by_role("link", name="tableur (XLSX)").click()
        saved = Path(await (await downloading.value).path())
        sheet = openpyxl.load_workbook(io.BytesIO(saved.read_bytes())).active
        rows = list(sheet.iter_rows(values_only=True))
        header = list(rows[0])
        clusters = [row[header.index("Cluster")] for row in rows[1:]]
        assert clusters == sorted(NAMES, reverse=True)  # the list's filter and order
        stages = {row[header.index("Cluster")]: row[header.index("Étape")] for row in rows[1:]}
        assert stages[NAMES[0]] == "en évaluation" and stages[NAMES[2]] == "retirée"

        # Eve declares, then sends her grid: refused once for a comment left out, nothing lost.
        evaluator = await signed_in_page(browser, site, "t-evaluator")
        await evaluator.goto(f"{site}/console/candidatures")
        await shot(evaluator, "mes-evaluations")
        await evaluator.get_by_role("link", name=f"Déclarer mes intérêts : {NAMES[0]}").click()
        await evaluator.get_by_label("Je déclare n'avoir aucun conflit", exact=False).check()
        await evaluator.get_by_role("button", name="Déclarer mes intérêts").click()
        await expect(evaluator.get_by_text("Aucun conflit d'intérêts déclaré")).to_be_visible()
        await evaluator.goto(f"{site}/console/evaluer/{ids[0]}")  # the workspace
        grid = evaluator.locator("#form-submit_scores")
        for c in DEFAULT_GRID.criteria:
            await grid.locator(f'[id="score.{c.code}"]').select_option("4.0")
            if c != DEFAULT_GRID.criteria[-1]:
                await grid.locator(f'[id="comment.{c.code}"]').fill(f"Solide : {c.label}.")
        last = DEFAULT_GRID.criteria[-1]
        await grid.locator(f'[id="comment.{last.code}"]').fill(" ")  # blank: refused
        await grid.get_by_role("button", name="Transmettre ma grille").click()
        grid = evaluator.locator("#form-submit_scores")
        await expect(grid.locator(f'[id="comment.{last.code}-erreur"]')).to_be_visible()
        first = DEFAULT_GRID.criteria[0]
        await expect(grid.locator(f'[id="comment.{first.code}"]')).to_have_value(
            f"Solide : {first.label}."
        )
        await expect(grid.locator(f'[id="score.{first.code}"]')).to_have_value("4.0")
        await shot(evaluator, "grille-refusee")
        await grid.locator(f'[id="comment.{last.code}"]').fill("Équipe solide.")
        await grid.get_by_role("button", name="Transmettre ma grille").click()
        await expect(evaluator.get_by_text("Grille transmise : elle rejoint")).to_be_visible()

        # The committee finds the file to decide, reads the evidence and labels it.
        committee = await signed_in_page(browser, site, "t-committee")
        await reached(site, ids[0], "scored")
        await committee.goto(f"{site}/console/")
        await committee.get_by_role("link", name=NAMES[0]).click()
        await expect(committee.get_by_text(f"Solide : {first.label}.")).to_be_attached()
        await expect(committee.get_by_role("heading", name="Notes par critère")).to_be_visible()
        await (
            committee.locator("#form-label")
            .get_by_label("Motif communiqué")
            .fill("Dossier convaincant.")
        )
        await committee.get_by_role("button", name="Labelliser").click()
        await expect(committee.locator("#etape")).to_have_text("labellisée")
        await shot(committee, "decision")
        await browser.close()
