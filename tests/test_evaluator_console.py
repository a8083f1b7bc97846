"""The evaluator's console: a declaration made knowing the applicant, its members and the call
(never its files), a conflict acknowledged with what follows, and a workspace where the dossier
sits beside the grid, the scale is told per criterion, a draft is kept and a refused grid loses
nothing. In Chromium (with screenshots at 1366 and 390 px) and over HTTP (refusals, forgeries,
the draft in file storage)."""

import hashlib
import uuid

import httpx
import pytest
from playwright.async_api import Page, expect

from domain.grading import SCALE
from domain.models import DEFAULT_DOCUMENTS, DEFAULT_GRID
from rehearsal.papers import pdf
from tests.conftest import APPLICATION, Service, auth, eventually
from tests.test_authorization import console_message
from tests.test_console import ARTIFACTS, BROWSER_FLAGS, browser_or_skip, open_call, signed_in_page

pytestmark = pytest.mark.asyncio(loop_scope="session")
EVE, DRISS, YOUSSEF = "t-evaluator", "t-evaluator2", "t-evaluator4"
UNIVERSITY = "Université Abdelmalek Essaâdi"  # a member an evaluator may work for
CRITERIA = DEFAULT_GRID.criteria
FIRST, LAST = CRITERIA[0], CRITERIA[-1]


async def case_in_evaluation(api: httpx.AsyncClient, name: str, seconds: float) -> str:
    """A case with its files, eligible, Eve and Driss assigned (the call's deadline passes in
    `seconds`)."""
    call_id = await open_call(
        api, f"Appel à projets — {name}", seconds=seconds, evaluators_per_application=2
    )
    registered = await api.post(
        f"/calls/{call_id}/applications",
        headers=auth("operator"),
        json=APPLICATION | {"cluster_name": name},
    )
    assert registered.status_code == 201, registered.text
    case_id = registered.json()["id"]
    for kind in DEFAULT_DOCUMENTS:
        filed = await api.post(
            f"/applications/{case_id}/documents",
            files={"file": (f"{kind}.pdf", pdf(kind, f"Pièce : {kind}."), "application/pdf")},
            data={"kind": kind},
            headers=auth("operator"),
        )
        assert filed.status_code == 201, filed.text

    async def in_review() -> bool:
        answer = await api.get(f"/applications/{case_id}", headers=auth("admin"))
        return answer.json()["stage"] == "eligibility_review"

    await eventually(in_review, timeout=30, what="the deadline to close the call")
    for path, role, body in (
        (f"/applications/{case_id}/mark_eligible", "operator", {}),
        (f"/calls/{call_id}/start_evaluation", "admin", None),
        (
            f"/applications/{case_id}/assign_evaluators",
            "admin",
            {"evaluators": ["Eve Évaluatrice", "Driss Évaluateur"]},
        ),
    ):
        answer = await api.post(path, headers=auth(role), json=body)
        assert answer.status_code == 200, answer.text
    return case_id


async def shot(page: Page, name: str) -> dict[int, dict]:
    """The page at a laptop's width and at a phone's; where its dossier and grid sit in each."""
    boxes = {}
    for width, height in ((1366, 900), (390, 844)):
        await page.set_viewport_size({"width": width, "height": height})
        await page.wait_for_timeout(800)  # the preview's PDF drawn
        await page.screenshot(
            path=str(ARTIFACTS / f"evaluateur-{name}-{width}.png"), full_page=True
        )
        wide = await page.evaluate("document.documentElement.scrollWidth")
        assert wide <= width, (name, width, wide)  # nothing scrolls sideways
        if await page.locator("section.document").count():
            boxes[width] = {
                "dossier": await page.locator("section.document").bounding_box(),
                "grille": await page.locator("#form-submit_scores").bounding_box(),
                "lecteur": await page.locator("iframe.lecteur").bounding_box(),
            }
    await page.set_viewport_size({"width": 1366, "height": 900})
    return boxes


async def test_an_evaluator_declares_knowing_the_members_then_marks_beside_the_dossier(
    site: str,
) -> None:
    executable = browser_or_skip()
    from playwright.async_api import async_playwright

    name = "Cluster Évaluation Nord"
    async with httpx.AsyncClient(base_url=site) as api:
        case_id = await case_in_evaluation(api, name, seconds=8)
    case_page = f"{site}/console/candidatures/{case_id}"

    ARTIFACTS.mkdir(exist_ok=True)
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=executable, args=BROWSER_FLAGS)

        # Driss sees who applies, with whom, before declaring: no file yet, no answer chosen.
        driss = await signed_in_page(browser, site, DRISS)
        await driss.goto(f"{site}/console/candidatures")
        await driss.get_by_role("link", name=f"Déclarer mes intérêts : {name}").click()
        await expect(
            driss.get_by_role("heading", name=f"Déclaration d'intérêts — {name}")
        ).to_be_visible()
        members = driss.get_by_role("region", name="Membres du cluster")
        await expect(members.get_by_role("cell", name=UNIVERSITY)).to_be_visible()
        await expect(members.get_by_role("cell", name="recherche")).to_be_visible()
        await expect(driss.get_by_text("Appel à projets — " + name).first).to_be_visible()
        await expect(driss.get_by_text("(cluster-nord.ma)")).to_be_visible()
        assert await driss.locator('a[href^="/console/documents/"], iframe').count() == 0
        for answer in await driss.get_by_role("radio").all():
            await expect(answer).not_to_be_checked()
        await shot(driss, "declaration")

        # He works for the university: a conflict, acknowledged with what happens next.
        await driss.get_by_label("Je déclare un conflit d'intérêts", exact=False).check()
        await driss.get_by_label("Note (facultative)").fill(f"J'enseigne à l'{UNIVERSITY}.")
        await driss.get_by_role("button", name="Déclarer mes intérêts").click()
        await expect(
            driss.get_by_text(
                "Conflit d'intérêts enregistré : le dossier sera confié à un autre évaluateur ; "
                "vous n'y avez plus accès ; les gestionnaires sont prévenus."
            )
        ).to_be_visible()
        await driss.get_by_role("link", name="Retour à « Mes évaluations »").click()
        await expect(driss.get_by_role("heading", name="Mes évaluations")).to_be_visible()
        await expect(driss.get_by_text(name)).to_have_count(0)
        for page in (case_page, f"{site}/console/evaluer/{case_id}"):
            await driss.goto(page)  # no longer his: back to his list, told why
            await expect(
                driss.get_by_text("Vous avez déclaré un conflit d'intérêts")
            ).to_be_visible()
            await expect(driss.get_by_role("heading", name="Mes évaluations")).to_be_visible()

        # Eve has none: straight to the workspace, the dossier's main document beside the grid.
        eve = await signed_in_page(browser, site, EVE)
        await eve.goto(f"{site}/console/evaluer/{case_id}")
        await eve.get_by_label("Je déclare n'avoir aucun conflit", exact=False).check()
        await eve.get_by_role("button", name="Déclarer mes intérêts").click()
        await expect(eve.get_by_text("Aucun conflit d'intérêts déclaré")).to_be_visible()
        main = await eve.locator("iframe.lecteur").get_attribute("src")
        read = await eve.request.get(f"{site}{main}")
        assert read.status == 200 and read.headers["content-type"] == "application/pdf"
        chooser = eve.get_by_role("link", name=f"Afficher : {DEFAULT_DOCUMENTS[0]}")
        assert await chooser.get_attribute("href") == main  # the dossier itself comes first
        await expect(
            eve.get_by_role("link", name="Afficher : budget prévisionnel")
        ).to_have_attribute("target", "lecteur")
        scale = " · ".join(f"{mark} {meaning}" for mark, meaning in SCALE.items())
        await expect(eve.get_by_text(scale)).to_be_visible()
        guide = eve.get_by_text(f"Poids {FIRST.weight:.0f} · seuil 2,50 sur 5").first
        await expect(guide).to_be_visible()
        grid = eve.locator("#form-submit_scores")
        await expect(grid.locator(f'[id="comment.{FIRST.code}"]')).to_have_attribute("required", "")

        # A draft: what is typed so far, kept without sending anything, found again later.
        await grid.locator(f'[id="score.{FIRST.code}"]').select_option("4.0")
        await grid.locator(f'[id="comment.{FIRST.code}"]').fill("Stratégie claire et chiffrée.")
        await grid.get_by_role("button", name="Enregistrer le brouillon").click()
        await expect(eve.get_by_text("Brouillon enregistré : rien n'est transmis")).to_be_visible()
        await eve.goto(f"{site}/console/evaluer/{case_id}")  # reopened: the draft is there
        grid = eve.locator("#form-submit_scores")
        await expect(grid.locator(f'[id="score.{FIRST.code}"]')).to_have_value("4.0")
        await expect(grid.locator(f'[id="comment.{FIRST.code}"]')).to_have_value(
            "Stratégie claire et chiffrée."
        )
        await expect(eve.get_by_text("Brouillon enregistré le")).to_be_visible()
        await eve.goto(f"{site}/console/candidatures")  # her list says a draft waits
        await expect(eve.get_by_text("· brouillon enregistré")).to_be_visible()
        await eve.goto(f"{site}/console/evaluer/{case_id}")
        grid = eve.locator("#form-submit_scores")
        boxes = await shot(eve, "espace")
        wide, narrow = boxes[1366], boxes[390]
        assert wide["grille"]["x"] >= wide["dossier"]["x"] + wide["dossier"]["width"]  # beside
        assert wide["lecteur"]["height"] >= 500  # a tall preview, not a thumbnail
        assert narrow["grille"]["y"] >= narrow["dossier"]["y"] + narrow["dossier"]["height"]

        # Sent with a comment left blank: refused beside it, everything else as typed.
        for c in CRITERIA[1:]:
            await grid.locator(f'[id="score.{c.code}"]').select_option("3.5")
            if c != LAST:
                await grid.locator(f'[id="comment.{c.code}"]').fill(f"Correct : {c.label}.")
        await grid.locator(f'[id="comment.{LAST.code}"]').fill(" ")
        await grid.get_by_role("button", name="Transmettre ma grille").click()
        grid = eve.locator("#form-submit_scores")
        await expect(grid.locator(f'[id="comment.{LAST.code}-erreur"]')).to_contain_text(
            "obligatoire"
        )
        await expect(grid.locator(f'[id="comment.{LAST.code}"]')).to_have_attribute(
            "aria-invalid", "true"
        )
        await expect(grid.locator(f'[id="comment.{FIRST.code}"]')).to_have_value(
            "Stratégie claire et chiffrée."
        )
        await expect(grid.locator(f'[id="score.{LAST.code}"]')).to_have_value("3.5")
        await grid.locator(f'[id="comment.{LAST.code}"]').fill("Réseau d'entreprises dense.")
        await grid.get_by_role("button", name="Transmettre ma grille").click()
        await expect(eve.get_by_role("status")).to_contain_text("Grille transmise")
        await expect(eve.get_by_text("Stratégie claire et chiffrée.")).to_be_attached()
        await eve.goto(f"{site}/console/evaluer/{case_id}")  # sent: nothing more to mark
        await expect(eve.get_by_text("Votre grille est transmise.")).to_be_visible()
        await browser.close()


def form(**fields: str) -> dict[str, str]:
    """A form as its page sends it: a fresh key each time (a key names one request)."""
    return {"cle": uuid.uuid4().hex, **fields}


def sheet(**changes: str) -> dict[str, str]:
    marks = {f"score.{c.code}": "3.0" for c in CRITERIA}
    comments = {f"comment.{c.code}": f"Appréciation : {c.label}." for c in CRITERIA}
    return form(**marks | comments | changes)


async def test_declaration_and_draft_are_the_assigned_evaluators_alone(dev: Service) -> None:
    case_id = await case_in_evaluation(dev.http, "Cluster Évaluation Sud", seconds=4)
    page, declare = f"/console/evaluer/{case_id}", f"/console/evaluer/{case_id}/declaration"
    draft, send = f"/console/evaluer/{case_id}/brouillon", f"/console/evaluer/{case_id}/grille"
    eve, driss = await dev.signed_in(EVE), await dev.signed_in(DRISS)
    stranger, admin = await dev.signed_in(YOUSSEF), await dev.signed_in("t-admin")
    document_id = (await dev.get(f"/applications/{case_id}", role="admin")).json()["files"][0]["id"]
    try:
        # Not assigned: refused, sent to their own list with the reason; the case is never named.
        refused = await stranger.get(page)
        assert refused.status_code == 303 and refused.headers["location"] == "/console/candidatures"
        assert console_message(refused)["lines"] == ["Cette candidature ne vous est pas affectée."]
        shown = await stranger.get("/console/candidatures")
        assert "Cluster Évaluation Sud" not in shown.text
        for path in (declare, draft, send):
            answer = await stranger.post(path, data=sheet(conflict="false"))
            assert answer.status_code == 303, (path, answer.status_code)
            assert "pas affectée" in console_message(answer)["lines"][0]
        # Staff have the case's page, not these.
        other = await admin.get(page)
        assert other.headers["location"] == f"/console/candidatures/{case_id}"
        assert "ne permet pas cette action" in console_message(other)["lines"][0]

        # Before declaring: the applicant and its members, no file, no other evaluator.
        before = await eve.get(page)
        assert before.status_code == 200 and UNIVERSITY in before.text
        assert "/console/documents/" not in before.text and "documents.zip" not in before.text
        assert "Driss" not in before.text
        for path in (f"/console/documents/{document_id}", f"/console/candidatures/{case_id}"):
            closed = await eve.get(path)  # the files stay shut until she declares
            assert closed.status_code == 303
            assert "Déclarez l'absence de conflit" in console_message(closed)["lines"][0]
        assert (await eve.get(f"/console/candidatures/{case_id}/documents.zip")).status_code == 303

        # No choice made: refused beside the choice; nothing declared.
        unchosen = await eve.post(declare, data=form(note="Rien à signaler."))
        assert unchosen.status_code == 422
        assert 'id="declare_interest-conflict-erreur"' in unchosen.text
        assert "Rien à signaler." in unchosen.text  # as typed
        # Forged: from another site, or with a malformed key.
        for path in (declare, draft, send):
            forged = await eve.post(
                path, data=sheet(conflict="true"), headers={"Origin": "https://evil.example"}
            )
            assert forged.status_code == 403 and "intersites" in forged.text, path
        malformed = await eve.post(declare, data={"cle": "a b", "conflict": "true"})
        assert malformed.status_code == 422 and "malformée" in malformed.text
        assert (await eve.get(page)).status_code == 200  # still to declare
        declared = await eve.post(declare, data=form(conflict="false"))
        assert declared.headers["location"] == page

        # A draft: kept under drafts/, by the evaluator's name hashed; bounded as the sheet.
        saved = await eve.post(
            draft, data=form(**{f"score.{FIRST.code}": "4.0", f"comment.{FIRST.code}": "Bien."})
        )
        assert (
            saved.status_code == 303
            and "Brouillon enregistré" in console_message(saved)["lines"][0]
        )
        person = hashlib.sha256("Eve Évaluatrice".encode()).hexdigest()
        path = f"{dev.storage.root}/drafts/{person}/{case_id}.json"
        assert dev.storage.fs.exists(path) and "Eve" not in path
        kept = dev.storage.fs.cat_file(path)
        for wrong, field in (
            ({f"score.{FIRST.code}": "4.2"}, f"score.{FIRST.code}"),
            ({f"comment.{LAST.code}": "x" * 2001}, f"comment.{LAST.code}"),
        ):
            refused = await eve.post(draft, data=form(**wrong))
            assert refused.status_code == 422 and f'id="{field}-erreur"' in refused.text
            assert dev.storage.fs.cat_file(path) == kept  # the last good draft stays
        reopened = await eve.get(page)
        assert "Bien." in reopened.text and 'value="4.0" selected' in reopened.text

        # Sent: the sheet reaches the case, the draft goes.
        blank = await eve.post(send, data=sheet(**{f"comment.{LAST.code}": "  "}))
        assert blank.status_code == 422 and f'id="comment.{LAST.code}-erreur"' in blank.text
        assert dev.storage.fs.exists(path)
        sent = await eve.post(send, data=sheet())
        assert sent.headers["location"] == f"/console/candidatures/{case_id}"
        assert console_message(sent)["lines"][0].startswith("Grille transmise")
        assert not dev.storage.fs.exists(path)
        case = (await dev.get(f"/applications/{case_id}", role="admin")).json()
        [own] = [
            a for a in case["evaluation"]["assignments"] if a["evaluator"] == "Eve Évaluatrice"
        ]
        assert own["submitted_at"] and own["sheet"]["scores"][0]["comment"] == (
            f"Appréciation : {FIRST.label}."
        )

        # Driss declares a conflict: acknowledged; the case and its pages are closed to him.
        conflict = await driss.post(declare, data=form(conflict="true"))
        assert conflict.headers["location"] == f"{page}/conflit"
        told = await driss.get(f"{page}/conflit")
        assert told.status_code == 200 and "les gestionnaires sont prévenus" in told.text
        for path in (page, f"/console/candidatures/{case_id}", f"/console/documents/{document_id}"):
            closed = await driss.get(path)
            assert closed.status_code == 303, path
            assert "conflit d'intérêts" in console_message(closed)["lines"][0]
        assert (await eve.get(f"{page}/conflit")).headers["location"] == page  # not hers
    finally:
        for session in (eve, driss, stranger, admin):
            await session.aclose()
