"""The console in headless Chromium: an operator signs in and takes a case to eligible by buttons."""

import asyncio
import os
import shutil
import zipfile
from datetime import timedelta
from pathlib import Path

import httpx
import pytest

from domain.models import DEFAULT_DOCUMENTS
from rehearsal.papers import pdf
from tests.conftest import APPLICATION, auth, secret, utcnow

pytestmark = pytest.mark.asyncio(loop_scope="session")
ARTIFACTS = Path(__file__).resolve().parent.parent / "test-artifacts"
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
BROWSER_FLAGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def browser_or_skip() -> str:
    if CHROMIUM is None:
        message = "Chromium not installed (Debian package `chromium`; .ci/run installs it)"
        if os.environ.get("REQUIRE_BROWSER") == "1":
            pytest.fail(message + " (REQUIRE_BROWSER=1)")
        pytest.skip(message)
    return CHROMIUM


async def open_call(api: httpx.AsyncClient, title: str, seconds: float, **rules: object) -> str:
    """A call created and published by the admin, open for `seconds`."""
    body = {
        "year": 2026,
        "title": title,
        "opens_at": utcnow().isoformat(),
        "deadline": (utcnow() + timedelta(seconds=seconds)).isoformat(),
        **rules,
    }
    created = await api.post("/calls", headers=auth("admin"), json=body)
    assert created.status_code == 201, created.text
    call_id = created.json()["id"]
    await api.post(f"/calls/{call_id}/publish", headers=auth("admin"))
    return call_id


async def test_operator_takes_an_application_to_eligible_with_buttons(site: str) -> None:
    executable = browser_or_skip()
    from playwright.async_api import async_playwright, expect

    async with httpx.AsyncClient(base_url=site) as api:  # the call is the admin's part
        await open_call(api, "Appel à projets clusters — console", seconds=25)

    ARTIFACTS.mkdir(exist_ok=True)
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=executable, args=BROWSER_FLAGS)
        page = await browser.new_page(viewport={"width": 1366, "height": 900}, locale="fr-FR")
        await page.goto(f"{site}/console/")
        await expect(page.get_by_role("heading", name="Connexion")).to_be_visible()
        await page.get_by_label("Jeton").fill(secret("t-operator"))
        await page.get_by_role("button", name="Se connecter").click()
        await expect(page.get_by_text("Bienvenue, Omar Opérateur.")).to_be_visible()

        await page.get_by_role("link", name="Appel à projets clusters — console").first.click()
        await page.get_by_label("Nom du cluster *").fill("Cluster Agro-Souss")
        await page.get_by_label("Secteur *").select_option("agro-industrie et cosmétique")
        await page.get_by_label("Contact : nom *").fill("Hind Amrani")
        await page.get_by_label("Contact : courriel *").fill("hind@agro-souss.ma")
        await page.locator("#members").fill("Argan Coop SA ; entreprise\nIAV Hassan II ; recherche")
        await page.get_by_role("button", name="Enregistrer la candidature").click()
        await expect(page.locator("#etape")).to_have_text("reçue")
        for kind in DEFAULT_DOCUMENTS:  # the dossier's files, one upload field per document
            await page.get_by_label(f"Fichier : {kind}").set_input_files(
                {"name": f"{kind}.pdf", "mimeType": "application/pdf", "buffer": pdf(kind)}
            )
            await (
                page.get_by_label(f"Fichier : {kind}")
                .locator("..")
                .get_by_role("button", name="Déposer")
                .click()
            )
            await expect(page.get_by_text(f"« {kind}.pdf » déposé : {kind}.")).to_be_visible()

        for _ in range(60):  # the deadline passes; the clock moves the case by itself
            await page.reload()
            if await page.locator("#etape").inner_text() == "examen de recevabilité":
                break
            await asyncio.sleep(0.5)
        await expect(page.locator("#etape")).to_have_text("examen de recevabilité")
        await expect(page.get_by_text("Dossier complet")).to_be_visible()

        await page.get_by_role("button", name="Déclarer irrecevable").click()  # no reason given
        await expect(page.locator("#mark_ineligible-reason-erreur")).to_have_text(
            "Motif : obligatoire"
        )  # beside the field (and at the top of the page)

        await page.get_by_role("button", name="Déclarer recevable").click()
        await expect(page.locator("#etape")).to_have_text("recevable")
        await expect(page.get_by_text("Déclarer recevable : fait.")).to_be_visible()
        await expect(page.get_by_text("Omar Opérateur (opérateur)").first).to_be_visible()
        await page.screenshot(path=str(ARTIFACTS / "console-recevable.png"), full_page=True)
        await browser.close()


async def signed_in_page(browser, site: str, token: str):  # noqa: ANN001, ANN201 (playwright's)
    context = await browser.new_context(viewport={"width": 1366, "height": 900}, locale="fr-FR")
    page = await context.new_page()
    await page.goto(f"{site}/console/connexion")
    await page.get_by_label("Jeton").fill(secret(token))
    await page.get_by_role("button", name="Se connecter").click()
    return page


async def test_a_dossier_read_by_its_evaluator_once_declared_and_zipped_for_the_committee(
    site: str,
) -> None:
    """An operator deposits (a renamed executable refused); the evaluator is refused the files
    until they declare, then reads them and previews a PDF; the committee downloads the ZIP."""
    executable = browser_or_skip()
    from playwright.async_api import async_playwright, expect

    async with httpx.AsyncClient(base_url=site) as api:
        call_id = await open_call(
            api, "Appel à projets clusters — fichiers", seconds=20, evaluators_per_application=1
        )
        registered = await api.post(
            f"/calls/{call_id}/applications", headers=auth("operator"), json=APPLICATION
        )
        application_id = registered.json()["id"]
    case_url = f"{site}/console/candidatures/{application_id}"

    ARTIFACTS.mkdir(exist_ok=True)
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=executable, args=BROWSER_FLAGS)
        operator = await signed_in_page(browser, site, "t-operator")
        await operator.goto(case_url)
        field = operator.get_by_label("Fichier : budget prévisionnel")
        await field.set_input_files(
            {"name": "budget.pdf", "mimeType": "application/pdf", "buffer": b"MZ\x90\x00" * 500}
        )
        await field.locator("..").get_by_role("button", name="Déposer").click()
        await expect(operator.get_by_text("Type de fichier refusé")).to_be_visible()
        for kind in DEFAULT_DOCUMENTS:
            field = operator.get_by_label(f"Fichier : {kind}")
            await field.set_input_files(
                {"name": f"{kind}.pdf", "mimeType": "application/pdf", "buffer": pdf(kind)}
            )
            await field.locator("..").get_by_role("button", name="Déposer").click()
            await expect(operator.get_by_text(f"« {kind}.pdf » déposé : {kind}.")).to_be_visible()
        await expect(operator.get_by_role("link", name="budget prévisionnel.pdf")).to_be_visible()
        await operator.screenshot(path=str(ARTIFACTS / "console-fichiers.png"), full_page=True)

        async with httpx.AsyncClient(base_url=site) as api:
            for _ in range(80):  # the deadline passes: the clock closes the call
                case = (
                    await api.get(f"/applications/{application_id}", headers=auth("admin"))
                ).json()
                if case["stage"] == "eligibility_review":
                    break
                await asyncio.sleep(0.5)
            checks = {c["code"]: c["passed"] for c in case["checklist"]}
            assert checks["documents_complete"], case["checklist"]
            for path, role, body in (
                (f"/applications/{application_id}/mark_eligible", "operator", {}),
                (f"/calls/{call_id}/start_evaluation", "admin", None),
                (
                    f"/applications/{application_id}/assign_evaluators",
                    "admin",
                    {"evaluators": ["Eve Évaluatrice"]},
                ),
            ):
                answer = await api.post(path, headers=auth(role), json=body)
                assert answer.status_code == 200, answer.text
            document_id = case["files"][0]["id"]

        evaluator = await signed_in_page(browser, site, "t-evaluator")
        await evaluator.goto(f"{site}/console/documents/{document_id}")  # not yet declared
        await expect(evaluator.get_by_text("Déclarez l'absence de conflit")).to_be_visible()
        await evaluator.goto(case_url)
        await expect(evaluator.get_by_text("Déclarez l'absence de conflit")).to_be_visible()
        await evaluator.goto(f"{site}/console/candidatures")
        await evaluator.get_by_role("link", name="Déclarer mes intérêts").click()
        await evaluator.get_by_label("Je déclare n'avoir aucun conflit", exact=False).check()
        await evaluator.get_by_role("button", name="Déclarer mes intérêts").click()
        await expect(evaluator.get_by_text("Aucun conflit d'intérêts déclaré")).to_be_visible()
        await evaluator.goto(case_url)
        await expect(evaluator.get_by_role("link", name="budget prévisionnel.pdf")).to_be_visible()
        await expect(evaluator.get_by_text("Déposer")).to_have_count(0)  # reading only
        await evaluator.locator("summary", has_text="Aperçu").first.click()
        preview = evaluator.locator("iframe.apercu").first
        await expect(preview).to_be_visible()
        source = await preview.get_attribute("src")
        read = await evaluator.request.get(f"{site}{source}")
        assert read.status == 200 and read.headers["content-type"] == "application/pdf"
        assert (await read.body()).startswith(b"%PDF")
        await evaluator.screenshot(path=str(ARTIFACTS / "console-apercu.png"), full_page=True)

        committee = await signed_in_page(browser, site, "t-committee")
        await committee.goto(case_url)
        async with committee.expect_download() as downloading:
            await committee.get_by_role("link", name="Télécharger tout le dossier (ZIP)").click()
        saved = await (await downloading.value).path()
        with zipfile.ZipFile(saved) as archive:
            assert len(archive.namelist()) == len(DEFAULT_DOCUMENTS)
            assert archive.read("budget prévisionnel/budget prévisionnel.pdf").startswith(b"%PDF")
        await browser.close()

    async with httpx.AsyncClient(base_url=site) as api:
        case = (await api.get(f"/applications/{application_id}", headers=auth("admin"))).json()
    readers = {d["actor"] for d in case["downloads"]}
    assert {"Eve Évaluatrice", "Karim Comité"} <= readers
