"""After the deposit, in the applicants' portal: complements answered there move the case on by
itself (a reader sees them but cannot answer); the committee's decision shows once published,
with its public reason and its letter, never a score nor an evaluator's name, and a redress
request goes through; a labelled cluster reads its support schedule and sends its yearly report.

The portal reads the wall clock and the workflows the time-skipping server's: each dossier is
deposited first (its call's deadline is 30 days ahead on the server's clock, which is never
behind the wall clock), then the server's clock closes the call."""

import html
import re
from contextlib import AsyncExitStack, aclosing
from datetime import datetime, timedelta

import httpx
import pytest
from sqlmodel import Session, select

from domain.models import DEFAULT_DOCUMENTS
from domain.support import REPORT_FILES
from portal.i18n import Texts
from projection.tables import OutboxRow
from tests.conftest import PDF_BYTES, Service, eventually
from tests.test_clock import wait_stage
from tests.test_clusters import TARGETS, stage_is
from tests.test_evaluation import DRISS, EVE, NADIA, NAMES, ok, score
from tests.test_portal import address, signed_in

pytestmark = pytest.mark.asyncio(loop_scope="session")
FRENCH = Texts("fr")
PANEL = (EVE, DRISS, NADIA)
FORM = {
    "legal_form": "association",
    "sector": "Agroalimentaire",
    "existing_cluster": "non",
    "support_years": "0",
    "phone": "+212 600 000 000",
    "requested_amounts": "1200000\n1000000",
    "member_name": ["Coopérative Argan", "Université Ibn Zohr"],
    "member_type": ["company", "research"],
}
REPRESENTATIVE = "Salma Bennani"


def visible(page: httpx.Response) -> str:
    """The page's words as its reader sees them (the main part, no markup, spaces made one)."""
    assert page.status_code == 200, page.text
    main = page.text.split("<main", 1)[1]
    return " ".join(html.unescape(re.sub(r"<[^>]+>", " ", main)).split())


async def association(
    service: Service, stack: AsyncExitStack, name: str, **members: str
) -> tuple[str, dict[str, httpx.AsyncClient]]:
    """An association made by REPRESENTATIVE, its `members` (name: role) invited and joined:
    its page's path and each person's browser, by name (closed with `stack`)."""
    browsers = {}
    emails = {}
    for person in (REPRESENTATIVE, *members):
        emails[person] = address(person.split()[0].lower())
        browser = await signed_in(service, emails[person], person)
        browsers[person] = await stack.enter_async_context(aclosing(browser))
    made = await browsers[REPRESENTATIVE].post("/portail/associations", data={"name": name})
    assert made.status_code == 303, made.text
    home = made.headers["location"]
    for person, role in members.items():
        invited = await browsers[REPRESENTATIVE].post(
            f"{home}/membres", data={"email": emails[person], "role": role}
        )
        assert invited.status_code == 303, invited.text
        joined = await browsers[person].post(f"/portail/invitations/{home.rsplit('/', 1)[1]}")
        assert joined.status_code == 303 and joined.headers["location"] == home
    return home, browsers


async def deposited(browser: httpx.AsyncClient, home: str, call_id: str, cluster: str) -> str:
    """The association's dossier for the call drafted, its files uploaded and deposited, as
    tests/test_portal.py does it: the case page's path."""
    dossier = f"{home}/appels/{call_id}"
    saved = await browser.post(dossier, data={**FORM, "cluster_name": cluster})
    assert saved.status_code == 303, saved.text
    for n, kind in enumerate(DEFAULT_DOCUMENTS):
        sent = await browser.post(
            f"{dossier}/fichiers",
            data={"kind": kind},
            files={
                "file": (f"piece-{n}.pdf", PDF_BYTES + f"% pièce {n}\n".encode(), "application/pdf")
            },
            headers={"Accept": "application/json"},
        )
        assert sent.status_code == 201, sent.text
    done = await browser.post(f"{dossier}/deposer")
    assert done.status_code == 303, done.text
    case = done.headers["location"]
    assert "/dossiers/" in case, case
    return case


async def open_call(service: Service, title: str) -> str:
    call_id = await service.new_call(title=title)
    await ok(await service.post(f"/calls/{call_id}/publish", role="admin"), "open")
    return call_id


async def closed(service: Service, application_id: str) -> None:
    """The call's deadline passed on the server's clock: the case in its eligibility review."""
    await service.env.sleep(timedelta(days=31))
    await wait_stage(service, "applications", application_id, "eligibility_review")


async def evaluated(service: Service, call_id: str, application_id: str, marks: tuple) -> dict:
    """Eligible, evaluated by the panel with the same `marks`: the case as the committee sees
    it, scored."""
    await ok(await service.post(f"/applications/{application_id}/mark_eligible"), "eligible")
    await ok(await service.post(f"/calls/{call_id}/start_evaluation", role="admin"))
    panel = {"evaluators": [NAMES[role] for role in PANEL]}
    assigned = await service.post(
        f"/applications/{application_id}/assign_evaluators", role="admin", json=panel
    )
    await ok(assigned, "evaluation")
    scored = await score(service, application_id, dict.fromkeys(PANEL, marks))
    assert scored["stage"] == "scored"
    return scored


async def published(service: Service, call_id: str, application_id: str) -> None:
    """The results published, and the case's result letter sent (its e-mail gone)."""
    await ok(await service.post(f"/calls/{call_id}/publish_results", role="committee"))

    async def sent() -> bool:
        return bool((await service.get(f"/applications/{application_id}/letters")).json())

    await eventually(sent, timeout=60, what="the result letter")


async def settled(service: Service) -> None:
    """Every notice the test's cases wrote delivered (or refused): none still on its way when
    the test ends and its cases are terminated (conftest.end_cases)."""

    async def delivered() -> bool:
        with Session(service.engine) as db:
            return (
                db.exec(select(OutboxRow.id).where(OutboxRow.status == "pending")).first() is None
            )

    await eventually(delivered, timeout=60, what="the notices")


async def complements_asked(service: Service, application_id: str) -> datetime:
    """The call closed, then the operator's request for complements: its due date, which runs
    from the notice's sending."""
    await closed(service, application_id)
    asked = await service.post(
        f"/applications/{application_id}/request_complements",
        json={"items": ITEMS, "note": ASKED},
    )
    await ok(asked, "complements_requested")

    async def counted() -> bool:
        staff = (await service.get(f"/applications/{application_id}")).json()
        return staff["complements"]["due_at"] is not None

    await eventually(counted, what="the complements notice")
    staff = (await service.get(f"/applications/{application_id}")).json()
    return datetime.fromisoformat(staff["complements"]["due_at"])


# --- complements ---------------------------------------------------------------------------
ITEMS = ["Budget prévisionnel signé", "Procès-verbal de l'assemblée constitutive"]
ASKED = "Le budget joint n'est pas signé."
ANSWERING = ("add_document", "submit_complements")


async def test_complements_answered_in_the_portal_move_the_case_on_by_itself(
    skipping: Service,
) -> None:
    service = skipping
    call_id = await open_call(service, "Appel clusters — compléments")
    async with AsyncExitStack() as stack:
        home, people = await association(
            service,
            stack,
            "Association Rif Numérique",
            **{"Omar Idrissi": "contributeur", "Leila Amrani": "lecteur"},
        )
        omar, leila = people["Omar Idrissi"], people["Leila Amrani"]
        case = await deposited(people[REPRESENTATIVE], home, call_id, "Cluster Rif Numérique")
        application_id = case.rsplit("/", 1)[1]
        due = await complements_asked(service, application_id)
        for browser in (omar, leila):
            page = visible(await browser.get(case))
            assert "Compléments demandés" in page and all(item in page for item in ITEMS)
            assert ASKED in page and f"À faire avant le {FRENCH.datetime(due)}" in page

        # A reader sees the request, no form, and cannot answer it.
        reader = (await leila.get(case)).text
        assert "/complements" not in reader and "Envoyer mes compléments" not in reader
        assert f'action="{case}/complements/fichier"' in (await omar.get(case)).text
        sneaked = await leila.post(
            f"{case}/complements/fichier",
            data={"kind": "complément"},
            files={"file": ("lecteur.pdf", PDF_BYTES, "application/pdf")},
        )
        assert sneaked.status_code in (403, 404), sneaked.text
        sent_by_reader = await leila.post(f"{case}/complements", data={"note": "Voici"})
        assert sent_by_reader.status_code in (403, 404), sent_by_reader.text
        untouched = (await service.get(f"/applications/{application_id}")).json()
        assert untouched["stage"] == "complements_requested"
        assert len(untouched["files"]) == len(DEFAULT_DOCUMENTS)

        # The contributor adds the signed budget and sends: the review resumes by itself.
        content = PDF_BYTES + b"% budget signe\n"
        added = await omar.post(
            f"{case}/complements/fichier",
            data={"kind": "complément"},
            files={"file": ("budget-signe.pdf", content, "application/pdf")},
        )
        assert added.status_code == 303 and added.headers["location"] == case, added.text
        page = visible(await omar.get(case))
        assert "Fichier ajouté." in page and "Fichiers ajoutés : budget-signe.pdf" in page
        sent = await omar.post(f"{case}/complements", data={"note": "Budget signé joint."})
        assert sent.status_code == 303 and sent.headers["location"] == case, sent.text
        page = visible(await omar.get(case))
        assert "Compléments envoyés : le programme reprend l'examen de votre dossier." in page
        assert "Examen de recevabilité" in page and "Envoyer mes compléments" not in page

        staff = (await service.get(f"/applications/{application_id}")).json()
        assert staff["stage"] == "eligibility_review"
        [answer] = [f for f in staff["files"] if f["filename"] == "budget-signe.pdf"]
        assert answer["kind"] == "complément" and answer["size"] == len(content)
        assert answer["uploaded_by"] == "Omar Idrissi (Association Rif Numérique)"
        answered = [e for e in staff["audit"] if e["action"] in ANSWERING]
        assert [(e["action"], e["role"]) for e in answered] == [
            ("add_document", "applicant"),
            ("submit_complements", "applicant"),
        ]
        assert all("Omar Idrissi" in e["actor"] for e in answered)

        # Sent twice (a second click, a page kept open): refused, in words an applicant reads.
        again = await omar.post(f"{case}/complements", data={"note": "Budget signé joint."})
        assert again.status_code == 303 and again.headers["location"] == case
        shown = await omar.get(case)
        refusal = re.search(r'<div class="message erreur"[^>]*>(.*?)</div>', shown.text, re.S)
        assert refusal, "no error message on the page"
        words = " ".join(html.unescape(re.sub(r"<[^>]+>", " ", refusal.group(1))).split())
        assert "submit_complements" not in words, words  # no command's name
        assert (
            "n'est pas possible à l'étape actuelle de votre dossier (Examen de recevabilité)"
            in words
        )
        after = (await service.get(f"/applications/{application_id}")).json()
        assert after["stage"] == "eligibility_review" and len(after["audit"]) == len(staff["audit"])
    await settled(service)


# --- a rejection, its letter and a redress request -----------------------------------------
REJECTED = "Plan R&D insuffisamment étayé"
INTERNAL = "Rapporteur réservé sur la gouvernance : ne pas communiquer"
LOW = (3, 2, 3, 3, 2.5)


def shows_no_evaluation(page: str, scored: dict) -> None:
    """Neither an evaluator's name, nor a mark or a score, nor the committee's own note."""
    for name in NAMES.values():
        assert name not in page, name
    assert not re.search(r"\bnote\b", page, re.IGNORECASE), page
    result = scored["evaluation"]["result"]
    for value in [result["weighted_score"], *result["criterion_means"].values()]:
        for shown in (f"{value:.2f}", f"{value:.1f}"):
            assert shown not in page and shown.replace(".", ",") not in page, shown
    assert INTERNAL not in page


async def test_a_published_rejection_its_letter_and_a_redress_request(skipping: Service) -> None:
    service = skipping
    call_id = await open_call(service, "Appel clusters — résultats")
    async with AsyncExitStack() as stack:
        home, people = await association(
            service, stack, "Association Oasis Tech", **{"Omar Idrissi": "contributeur"}
        )
        omar = people["Omar Idrissi"]
        case = await deposited(people[REPRESENTATIVE], home, call_id, "Cluster Oasis Tech")
        application_id = case.rsplit("/", 1)[1]
        await closed(service, application_id)
        scored = await evaluated(service, call_id, application_id, LOW)
        page = visible(await omar.get(case))
        assert "En attente de la décision du comité" in page
        shows_no_evaluation(page, scored)

        decision = {"reason": REJECTED, "internal_note": INTERNAL}
        rejected = await service.post(
            f"/applications/{application_id}/reject", role="committee", json=decision
        )
        await ok(rejected, "rejected")
        page = visible(await omar.get(case))  # decided, not yet published
        assert "En attente de la décision du comité" in page and "Non retenu" not in page
        assert REJECTED not in page and "Demander un réexamen" not in page
        shows_no_evaluation(page, scored)
        early = await omar.post(f"{case}/recours", data={"reason": "Trop tôt"})
        assert early.status_code == 303 and early.headers["location"] == case
        assert "(En attente de la décision du comité)" in visible(await omar.get(case))
        grounds = {"file": ("grounds.pdf", PDF_BYTES, "application/pdf")}
        too_soon = await omar.post(f"{case}/recours/fichier", data={"kind": "autre"}, files=grounds)
        assert too_soon.status_code == 303  # refused: the results are not published
        assert "pas encore publiés" in visible(await omar.get(case))
        assert (await service.get(f"/applications/{application_id}")).json()["stage"] == "rejected"

        await published(service, call_id, application_id)
        shown = await omar.get(case)
        page = visible(shown)
        assert "Non retenu" in page and "Décision du comité" in page and REJECTED in page
        assert "Demander un réexamen" in page
        shows_no_evaluation(page, scored)
        [letter] = (await service.get(f"/applications/{application_id}/letters")).json()
        link = f"{case}/courriers/{letter['sha256']}.pdf"
        assert f'href="{link}"' in shown.text
        downloaded = await omar.get(link)
        assert downloaded.status_code == 200, downloaded.text
        assert downloaded.headers["content-type"] == "application/pdf"
        assert downloaded.content.startswith(b"%PDF") and len(downloaded.content) == letter["size"]
        assert (await omar.get(f"{case}/courriers/{'0' * 64}.pdf")).status_code == 404

        added = await omar.post(f"{case}/recours/fichier", data={"kind": "autre"}, files=grounds)
        assert added.status_code == 303 and "grounds.pdf" in visible(await omar.get(case))
        asked = await omar.post(f"{case}/recours", data={"reason": "Le plan R&D a été mal lu."})
        assert asked.status_code == 303 and asked.headers["location"] == case, asked.text
        page = visible(await omar.get(case))
        assert "Demande de réexamen envoyée : le comité l'examinera." in page
        assert "Réexamen demandé" in page and "Demander un réexamen" not in page
        shows_no_evaluation(page, scored)
        staff = (await service.get(f"/applications/{application_id}")).json()
        assert staff["stage"] == "review_requested"
        assert staff["redress"]["reason"] == "Le plan R&D a été mal lu."
        [kept] = [f for f in staff["files"] if f["filename"] == "grounds.pdf"]
        assert kept["kind"] == "autre" and "Omar Idrissi" in kept["uploaded_by"]
        [request] = [e for e in staff["audit"] if e["action"] == "request_review"]
        assert request["role"] == "applicant" and "Omar Idrissi" in request["actor"]

        async def compiled() -> bool:  # the redress dossier the request sets off
            audit = (await service.get(f"/applications/{application_id}")).json()["audit"]
            return "compile_redress_dossier" in [e["action"] for e in audit]

        await eventually(compiled, timeout=60, what="the redress dossier")
    await settled(service)


async def supported(service: Service, call_id: str, cluster_id: str) -> None:
    """The application labelled and published, its support case open and its contract signed."""
    label = {"reason": "Premier du classement"}
    await ok(
        await service.post(f"/applications/{cluster_id}/label", role="committee", json=label),
        "labelled",
    )
    await published(service, call_id, cluster_id)

    async def opened() -> bool:
        return (await service.get(f"/clusters/{cluster_id}")).status_code == 200

    await eventually(opened, what="the support case")
    now = await service.env.get_current_time()
    terms = {"start_at": now.isoformat(), "planned_amounts": [1_200_000], "kpi_targets": TARGETS}
    signed = await service.post(f"/clusters/{cluster_id}/sign_contract", "admin", json=terms)
    await ok(signed, "active")


# --- a labelled cluster's yearly report ----------------------------------------------------
HIGH = (4, 4, 4.5, 4, 4)
PLAN = "Deux projets collaboratifs avec l'université et un brevet déposé."


async def test_a_labelled_cluster_sends_its_yearly_report_from_the_portal(
    skipping: Service,
) -> None:
    service = skipping
    call_id = await open_call(service, "Appel clusters — soutien")
    async with AsyncExitStack() as stack:
        home, people = await association(
            service, stack, "Association Atlas Agro", **{"Omar Idrissi": "contributeur"}
        )
        omar = people["Omar Idrissi"]
        case = await deposited(people[REPRESENTATIVE], home, call_id, "Cluster Atlas Agro")
        cluster_id = case.rsplit("/", 1)[1]  # the cluster's case is the application's
        await closed(service, cluster_id)
        await evaluated(service, call_id, cluster_id, HIGH)
        await supported(service, call_id, cluster_id)
        page = visible(await omar.get(case))
        assert "Labellisé" in page and "Soutien en cours" in page
        assert "Envoyer le rapport annuel" not in page

        await service.env.sleep(timedelta(days=340))  # asked 30 days before the anniversary
        await stage_is(service, cluster_id, "report_requested")
        support = (await service.get(f"/clusters/{cluster_id}")).json()
        [year] = support["years"]
        shown = await omar.get(case)
        page = visible(shown)
        assert "Rapport annuel demandé" in page and "Échéancier du soutien" in page
        due = datetime.fromisoformat(year["ends_at"])
        assert f"Rapport annuel attendu avant le {FRENCH.datetime(due)}." in page
        starts = datetime.fromisoformat(year["starts_at"])
        assert f"{FRENCH.date(starts)} – {FRENCH.date(due)}" in page
        amounts = [t["amount"] for t in year["tranches"]] or [year["amount"]]
        assert all(" ".join(FRENCH.amount(a).split()) in page for a in amounts), page
        assert f'action="{case}/rapport"' in shown.text

        for field, kind in REPORT_FILES.items():
            added = await omar.post(
                f"{case}/rapport/fichier",
                data={"kind": kind},
                files={"file": (f"{field}.pdf", PDF_BYTES + kind.encode(), "application/pdf")},
            )
            assert added.status_code == 303 and added.headers["location"] == case, added.text
            assert "Fichier ajouté." in visible(await omar.get(case))
        kpis = {
            "rd_projects": "3",
            "patents": "",
            "startups": "1",
            "rd_jobs": "8",
            "trainings": "5",
        }
        sent = await omar.post(f"{case}/rapport", data={**kpis, "next_year_plan": PLAN})
        assert sent.status_code == 303 and sent.headers["location"] == case, sent.text
        page = visible(await omar.get(case))
        assert "Rapport annuel envoyé : le programme l'examinera." in page
        assert "Rapport en examen" in page and "Envoyer le rapport annuel" not in page

        support = (await service.get(f"/clusters/{cluster_id}")).json()
        assert support["stage"] == "under_review"
        report = support["years"][0]["report"]
        assert report["kpi_actuals"] == {
            "rd_projects": 3,
            "patents": None,
            "startups": 1,
            "rd_jobs": 8,
            "trainings": 5,
        }
        assert report["next_year_plan"] == PLAN
        files = {f["id"]: f for f in support["files"]}
        for field, kind in REPORT_FILES.items():
            assert files[report[field]]["kind"] == kind
            assert files[report[field]]["uploaded_by"] == "Omar Idrissi (Association Atlas Agro)"
        [recorded] = [e for e in support["audit"] if e["action"] == "record_report"]
        assert recorded["role"] == "applicant" and "Omar Idrissi" in recorded["actor"]
        patents = [
            k
            for k in (await service.get(f"/clusters/{cluster_id}/kpis")).json()
            if k["indicator"] == "patents"
        ]
        assert patents[0]["actual"] is None and patents[0]["reported"]
        console = await stack.enter_async_context(aclosing(await service.signed_in("t-admin")))
        staff_page = (await console.get(f"/console/clusters/{cluster_id}")).text
        assert staff_page.count("<em>non déclaré</em>") == 1
    await settled(service)
