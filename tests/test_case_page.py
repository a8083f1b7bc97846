"""An application's case page in the console: the committee's three decisions as distinct forms,
revisable until the results are published (the letter carries the revised public reason, never
the internal note), the overall threshold beside the criteria, a redress answered beside its
grounds; the desk's amend form covering every field (a corrected e-mail receives the next
notice), the complements request prefilled with the missing pieces, preset reasons, a refused
upload told beside its form, a failed notice shown on the page."""

import contextlib
import re
from collections.abc import AsyncIterator
from datetime import timedelta
from email.message import EmailMessage

import httpx
import pytest
import pytest_asyncio
from sqlalchemy import Engine
from temporalio.testing import WorkflowEnvironment

from console.presets import PRESETS
from domain.models import DEFAULT_DOCUMENTS, DEFAULT_GRID
from domain.stages import Action
from tests.conftest import (
    APPLICATION,
    PDF_BYTES,
    Service,
    auth,
    end_cases,
    eventually,
    mails_to,
    running_service,
)
from tests.test_console import ARTIFACTS, BROWSER_FLAGS, browser_or_skip, open_call, signed_in_page
from tests.test_evaluation import DRISS, EVE, NADIA, NAMES, eligible_applications, ok, score

pytestmark = pytest.mark.asyncio(loop_scope="session")
DECISION_FORMS = ("form-label", "form-put_on_reserve", "form-reject")


@pytest_asyncio.fixture(loop_scope="session")
async def service(skipping_env: WorkflowEnvironment, engine: Engine) -> AsyncIterator[Service]:
    """The time-skipping server, the projection on SQLite; the test's cases ended after it, so
    no timer of theirs fires with no worker in a later test's years."""
    async with running_service(skipping_env, engine) as running:
        yield running
        await end_cases(running)


def text_of(message: EmailMessage) -> str:
    """A message's subject and plain text, decoded."""
    body = message.get_body(preferencelist=("plain",))
    return f"{message['Subject']}\n{body.get_content() if body else ''}"


def contact(address: str) -> dict:
    return {"contact": {"name": "Salma Bennani", "email": address}}


async def stage(service: Service, case_id: str) -> str:
    return (await service.get(f"/applications/{case_id}", role="admin")).json()["stage"]


async def scored_case(service: Service, name: str, address: str, *marks: float) -> tuple:
    """A case scored alike by the call's three evaluators."""
    call_id, (case_id,) = await eligible_applications(service, [name], **{name: contact(address)})
    panel = (EVE, DRISS, NADIA)
    await ok(
        await service.post(
            f"/applications/{case_id}/assign_evaluators",
            role="admin",
            json={"evaluators": [NAMES[k] for k in panel]},
        ),
        "evaluation",
    )
    await score(service, case_id, dict.fromkeys(panel, marks))

    async def scored() -> bool:
        return await stage(service, case_id) == "scored"

    await eventually(scored, what="the evaluation's completion")
    return call_id, case_id


async def test_a_decision_is_revised_before_publication_and_frozen_after(service: Service) -> None:
    address = "revision@cluster-sud.ma"
    call_id, case_id = await scored_case(service, "Cluster Révisé", address, 3, 3, 3, 2.5, 2.5)
    page = f"/console/candidatures/{case_id}"
    committee = await service.signed_in("t-committee")
    async with contextlib.aclosing(committee):
        first = (await committee.get(page)).text
        # Three distinct forms, each titled and coloured by where it leads; each field says
        # what the applicant reads; the overall threshold beside the criteria.
        for form in DECISION_FORMS:
            assert f'id="{form}"' in first
        assert 'class="action ton-retard"' in first and 'class="danger" type="submit">Rejeter' in (
            first
        )
        assert first.count("Motif communiqué au candidat") == 3
        assert first.count("Note interne du comité (jamais communiquée au candidat)") == 3
        assert "Note globale <strong>2,85</strong> / seuil 3,00 — " in first
        overall = first.split("Note globale <strong>2,85</strong> / seuil 3,00 — ")[1]
        assert overall.startswith('<span class="etape retard">non atteint</span>')
        assert "Réviser la décision" not in first

        unticked = await committee.post(
            f"{page}/actions/reject", data={"reason": "Seuil non atteint.", "cle": "r-1"}
        )
        assert unticked.status_code == 422 and "cochez la confirmation" in unticked.text
        assert await stage(service, case_id) == "scored"

        reserve = PRESETS[Action.PUT_ON_RESERVE]["reason"][0]
        reserved = await committee.post(
            f"{page}/actions/put_on_reserve",
            data={"reason.modele": reserve, "internal_note": "Classé 12e.", "cle": "r-2"},
        )
        assert reserved.status_code == 303, reserved.text
        revising = (await committee.get(page)).text
        assert "Réviser la décision" in revising and "Décision actuelle" in revising
        assert f"<dd>{reserve}</dd>".replace("'", "&#39;") in revising
        assert "<dd>Classé 12e.</dd>" in revising
        for form in DECISION_FORMS:
            assert f'id="{form}"' in revising

        rejected = await committee.post(
            f"{page}/actions/reject",
            data={
                "reason": "La note globale (2,85) reste sous le seuil de 3.",
                "internal_note": "Secret du comité : à revoir l'an prochain.",
                "confirme": "on",
                "cle": "r-3",
            },
        )
        assert rejected.status_code == 303, rejected.text

    audit = (await service.get(f"/applications/{case_id}", role="admin")).json()["audit"]
    decisions = [e for e in audit if e["action"] in ("put_on_reserve", "reject")]
    assert [e["action"] for e in decisions] == ["put_on_reserve", "reject"]
    assert decisions[1]["payload"]["revises"] == "reserve"

    await ok(await service.post(f"/calls/{call_id}/publish_results", role="admin"))

    async def lettered() -> bool:
        return any("non retenue" in text_of(m) for m in mails_to(address))

    await eventually(lettered, what="the result letter")
    body = next(text_of(m) for m in mails_to(address) if "non retenue" in text_of(m))
    assert "reste sous le seuil de 3" in body
    assert "Secret du comité" not in body and "Classé 12e" not in body
    assert "enveloppe de l'appel" not in body

    async def published() -> bool:
        case = (await service.get(f"/applications/{case_id}", role="committee")).json()
        return bool(case["decision"] and case["decision"]["published_at"])

    await eventually(published, what="the decision's publication")
    case = (await service.get(f"/applications/{case_id}", role="committee")).json()
    assert not {"label", "put_on_reserve", "reject"} & set(case["allowed_actions"])
    committee = await service.signed_in("t-committee")
    async with contextlib.aclosing(committee):
        after = (await committee.get(page)).text
    assert not any(f'id="{form}"' in after for form in DECISION_FORMS)
    assert "Réviser la décision" not in after


async def test_a_redress_is_answered_beside_its_grounds(service: Service) -> None:
    address = "recours@cluster-est.ma"
    call_id, case_id = await scored_case(service, "Cluster Recours", address, 2, 2, 2, 2, 2)
    await ok(
        await service.post(
            f"/applications/{case_id}/reject", role="committee", json={"reason": "Seuils."}
        )
    )
    await ok(await service.post(f"/calls/{call_id}/publish_results", role="admin"))

    async def open_to_redress() -> bool:
        case = (await service.get(f"/applications/{case_id}")).json()
        return bool(case["redress"] and case["redress"]["due_at"])

    await eventually(open_to_redress, what="the redress window")
    grounds = "La gouvernance a été notée sans nos lettres d'engagement."
    await ok(
        await service.post(f"/applications/{case_id}/request_review", json={"reason": grounds}),
        "review_requested",
    )
    committee = await service.signed_in("t-committee")
    async with contextlib.aclosing(committee):
        text = (await committee.get(f"/console/candidatures/{case_id}")).text
    card = text.split('<section class="recours"')[1].split("</section>")[0]
    assert grounds.replace("'", "&#39;") in card and "Notes contestées" in card
    assert DEFAULT_GRID.criteria[0].label in card and "Note globale (pondérée)" in card
    # Grounds first, then the two answers, each titled: no two identical « Réponse » boxes.
    assert card.index("Motifs du recours") < card.index('id="form-uphold_rejection"')
    assert '<h4 class="titre" id="titre-uphold_rejection">Maintenir le rejet</h4>' in card
    assert (
        '<h4 class="titre" id="titre-order_re_evaluation">Ordonner une nouvelle évaluation</h4>'
        in card
    )
    assert text.index('<section class="recours"') < text.index("<h2>Évaluation</h2>")


async def test_the_desk_amends_every_field_and_asks_for_the_missing_pieces(
    service: Service,
) -> None:
    call_id = await service.new_call()
    await ok(await service.post(f"/calls/{call_id}/publish", role="admin"))
    wrong, right = "salma@clustre-nord.ma", "salma@cluster-nord-corrige.ma"
    created = await service.post(
        f"/calls/{call_id}/applications", json=APPLICATION | contact(wrong)
    )
    case_id = created.json()["id"]
    page = f"/console/candidatures/{case_id}"
    operator = await service.signed_in("t-operator")
    async with contextlib.aclosing(operator):
        form = (await operator.get(page)).text.split('id="form-amend"')[1].split("</form>")[0]
        # Prefilled from the case: every field the API accepts.
        assert f'name="contact.email" value="{wrong}"' in form
        assert "Aero Parts SA ; entreprise\nUniversité Abdelmalek Essaâdi ; recherche" in form
        for name in ("cluster_name", "legal_form", "sector", "existing_cluster", "support_years"):
            assert f'name="{name}"' in form, name
        assert 'name="previous_cluster_id"' in form and 'name="contact.phone"' in form
        typo = await operator.post(
            f"{page}/actions/amend",
            data={"members": "Aero Parts SA", "contact.email": right, "cle": "a-0"},
        )
        assert typo.status_code == 422 and "écrivez « Nom ; type »" in typo.text
        amended = await operator.post(
            f"{page}/actions/amend",
            data={
                "cluster_name": APPLICATION["cluster_name"],
                "legal_form": "association",
                "sector": APPLICATION["sector"],
                "members": "Aero Parts SA ; entreprise\nENSA Tétouan ; formation",
                "support_years": "0",
                "contact.name": "Salma Bennani",
                "contact.email": right,
                "contact.phone": "+212 600 000 000",
                "cle": "a-1",
            },
        )
        assert amended.status_code == 303, amended.text
        data = (await service.get(f"/applications/{case_id}")).json()["data"]
        assert data["contact"] == {
            "name": "Salma Bennani",
            "email": right,
            "phone": "+212 600 000 000",
            "language": "fr",  # kept: the console's form does not send it
        }
        assert [m["name"] for m in data["members"]] == ["Aero Parts SA", "ENSA Tétouan"]

        await service.env.sleep(timedelta(days=31))  # the deadline passes, no file deposited

        async def in_review() -> bool:
            return await stage(service, case_id) == "eligibility_review"

        await eventually(in_review, what="the eligibility review")
        shown = (await operator.get(page)).text
        # The checklist first, then the forms; the request lists what is missing.
        assert shown.index("Contrôles automatiques") < shown.index('id="form-mark_eligible"')
        items = shown.split('<textarea id="request_complements-items" name="items">')[1]
        assert items.split("</textarea>")[0].splitlines() == [
            d.replace("'", "&#39;") for d in DEFAULT_DOCUMENTS
        ]
        preset = PRESETS[Action.MARK_INELIGIBLE]["reason"][0]
        refused = await operator.post(
            f"{page}/actions/mark_ineligible",
            data={"reason.modele": preset, "reason": "Aucune pièce reçue.", "cle": "i-1"},
        )
        assert refused.status_code == 303, refused.text
    case = (await service.get(f"/applications/{case_id}")).json()
    assert case["stage"] == "ineligible" and case["reason"] == f"{preset}\nAucune pièce reçue."

    async def told() -> bool:
        return any(APPLICATION["cluster_name"] in text_of(m) for m in mails_to(right))

    await eventually(told, what="the notice at the corrected address")
    assert not [m for m in mails_to(wrong) if "irrecevable" in text_of(m).lower()]


async def test_a_refused_upload_is_told_beside_its_form(service: Service) -> None:
    call_id = await service.new_call()
    await ok(await service.post(f"/calls/{call_id}/publish", role="admin"))
    created = await service.post(f"/calls/{call_id}/applications", json=APPLICATION)
    case_id = created.json()["id"]
    operator = await service.signed_in("t-operator")
    async with contextlib.aclosing(operator):
        refused = await operator.post(
            f"/console/candidatures/{case_id}/documents?piece=2",
            files={"file": ("statuts.pdf", b"MZ\x90\x00 not a pdf", "application/pdf")},
            data={"kind": DEFAULT_DOCUMENTS[1], "cle": "d-1"},
        )
        accepted = await operator.post(
            f"/console/candidatures/{case_id}/documents?piece=2",
            files={"file": ("statuts.pdf", PDF_BYTES, "application/pdf")},
            data={"kind": DEFAULT_DOCUMENTS[1], "cle": "d-2"},
        )
    assert refused.status_code == 415
    row = refused.text.split('<div class="carte" id="fichiers">')[1].split("</tr>")[2]
    assert 'id="depot-erreur"' in row and 'id="fichier-2"' in row  # beside the second form
    assert 'action="/console/candidatures/' in row and "documents?piece=2#fichiers" in row
    assert accepted.status_code == 303 and accepted.headers["location"].endswith("#fichiers")


async def test_a_failed_notice_shows_on_the_case_page(service: Service) -> None:
    """An evaluator without an address: their assignment's notice fails, and the page says so."""
    _, (case_id,) = await eligible_applications(service, ["Cluster Courrier"])
    await ok(
        await service.post(
            f"/applications/{case_id}/assign_evaluators",
            role="admin",
            json={"evaluators": [NAMES[EVE]], "incomplete": True},
        )
    )
    admin = await service.signed_in("t-admin")
    async with contextlib.aclosing(admin):

        async def banner() -> bool:
            text = (await admin.get(f"/console/candidatures/{case_id}")).text
            return 'id="non-remis"' in text

        await eventually(banner, what="the undelivered banner")
        text = (await admin.get(f"/console/candidatures/{case_id}")).text
    shown = text.split('id="non-remis"')[1].split("</div>")[0]
    assert "Courrier non remis" in shown and 'href="#courriers"' in shown
    assert text.index('id="non-remis"') < text.index("<h2>Dossier</h2>")


# --- in Chromium: what a person sees, at a laptop's width and a phone's ---------------------


async def shot(page, name: str) -> None:  # noqa: ANN001 (playwright's)
    for width, height in ((1366, 900), (390, 844)):
        await page.set_viewport_size({"width": width, "height": height})
        await page.screenshot(path=str(ARTIFACTS / f"dossier-{name}-{width}.png"), full_page=True)
        wide = await page.evaluate(
            "() => [...document.querySelectorAll('form.action, form.depot, button')]"
            ".filter(e => e.getBoundingClientRect().right > window.innerWidth + 1).length"
        )
        assert wide == 0, f"{name} at {width} px: {wide} form(s) or button(s) out of view"
    await page.set_viewport_size({"width": 1366, "height": 900})


async def test_the_case_page_in_chromium(site: str) -> None:
    executable = browser_or_skip()
    from playwright.async_api import async_playwright, expect

    async with httpx.AsyncClient(base_url=site) as api:
        call_id = await open_call(
            api, "Appel — page du dossier", seconds=4, evaluators_per_application=1
        )
        created = await api.post(
            f"/calls/{call_id}/applications", headers=auth("operator"), json=APPLICATION
        )
        case_id = created.json()["id"]

    ARTIFACTS.mkdir(exist_ok=True)
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=executable, args=BROWSER_FLAGS)
        operator = await signed_in_page(browser, site, "t-operator")
        await operator.goto(f"{site}/console/candidatures/{case_id}")
        upload = operator.get_by_label(f"Fichier : {DEFAULT_DOCUMENTS[-1]}")
        await upload.set_input_files(
            {"name": "budget.pdf", "mimeType": "application/pdf", "buffer": b"MZ not a pdf"}
        )
        await upload.locator("..").get_by_role("button", name="Déposer").click()
        error = operator.locator("#depot-erreur")
        await expect(error).to_be_visible()
        await expect(error).to_be_in_viewport()  # not out of view at the top of the page
        await shot(operator, "depot-refuse")

        async with httpx.AsyncClient(base_url=site) as api:

            async def at(stage: str) -> bool:
                answer = await api.get(f"/applications/{case_id}", headers=auth("admin"))
                return answer.json()["stage"] == stage

            await eventually(lambda: at("eligibility_review"), timeout=30, what="review")
            await operator.reload()
            await shot(operator, "recevabilite")
            for path, role, body in (
                ("mark_eligible", "operator", None),
                ("assign_evaluators", "admin", {"evaluators": [NAMES[EVE]]}),
                ("declare_interest", EVE, {"conflict": False}),
            ):
                if path == "assign_evaluators":
                    started = await api.post(
                        f"/calls/{call_id}/start_evaluation", headers=auth("admin")
                    )
                    assert started.status_code == 200, started.text
                done = await api.post(
                    f"/applications/{case_id}/{path}", headers=auth(role), json=body
                )
                assert done.status_code == 200, done.text
            marks = {
                "scores": [
                    {"criterion": c.code, "score": 2.5, "comment": "Juste."}
                    for c in DEFAULT_GRID.criteria
                ]
            }
            sent = await api.post(
                f"/applications/{case_id}/submit_scores", headers=auth(EVE), json=marks
            )
            assert sent.status_code == 200, sent.text
            await eventually(lambda: at("scored"), timeout=30, what="scored")

        committee = await signed_in_page(browser, site, "t-committee")
        await committee.goto(f"{site}/console/candidatures/{case_id}")
        overall = committee.get_by_text(re.compile(r"Note globale 2,50 / seuil 3,00"))
        await expect(overall.first).to_be_visible()
        reject = committee.locator("#form-reject")
        await reject.get_by_label("Motif communiqué au candidat").fill("Seuil global non atteint.")
        await reject.get_by_role("button", name="Rejeter").click()
        await expect(committee.locator("#etape")).to_have_text("évaluée")  # the box is not ticked
        await shot(committee, "decision")
        await reject.get_by_label("Je confirme").check()
        await reject.get_by_role("button", name="Rejeter").click()
        await expect(committee.locator("#etape")).to_have_text("rejetée")
        await expect(committee.get_by_role("heading", name="Réviser la décision")).to_be_visible()
        await shot(committee, "revision")
        await browser.close()
