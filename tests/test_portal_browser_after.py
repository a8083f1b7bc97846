"""After the deposit, in Debian's Chromium, in French and in Arabic: complements answered through
the case page's forms move the case on by itself; a published rejection shows with its letter,
downloaded as a PDF, and a redress request typed in the page goes through; a labelled cluster
uploads its report's files and sends its yearly report (one indicator left empty).

The person acts in the browser (clicks, file inputs, typing; buttons found by their form, never
by their French words); the staff and the clock are driven as in tests/test_portal_after.py,
whose helpers these are. The workflows run on the time-skipping server: the browser reaches the
test's own app, served over real HTTP (`served`). The portal reads the wall clock for the
deposit, so the dossier is deposited first, then the server's clock closes the call."""

import asyncio
import re
import socket
from collections.abc import AsyncIterator
from datetime import datetime, timedelta
from typing import NamedTuple

import pytest
import pytest_asyncio
import uvicorn
from babel.messages.pofile import read_po
from sqlalchemy import Engine
from temporalio.testing import WorkflowEnvironment

from domain.support import REPORT_FILES
from portal.i18n import Texts, catalogue_path
from tests.conftest import PDF_BYTES, Service, end_cases, eventually, running_service
from tests.test_clusters import stage_is
from tests.test_evaluation import ok
from tests.test_portal import address
from tests.test_portal_after import (
    ASKED,
    HIGH,
    INTERNAL,
    ITEMS,
    LOW,
    PLAN,
    REJECTED,
    closed,
    complements_asked,
    evaluated,
    open_call,
    published,
    settled,
    shows_no_evaluation,
    supported,
)
from tests.test_portal_browser import (
    ASSOCIATION,
    LANGUAGES,
    PERSON,
    Page,
    Site,
    deposit,
    downloaded,
    in_language,
    message,
    open_association,
    prepare_dossier,
    sign_in,
    submit,
    with_page,
)

pytestmark = pytest.mark.asyncio(loop_scope="session")
BY = f"{PERSON} ({ASSOCIATION})"  # how the staff's side names the person who acted


class Served(NamedTuple):
    service: Service  # the staff's API (in-process) and the clock
    site: Site  # the same app over real HTTP, for Chromium


@pytest_asyncio.fixture(loop_scope="session")
async def served(skipping_env: WorkflowEnvironment, engine: Engine) -> AsyncIterator[Served]:
    """A worker on the time-skipping server and its app, served over HTTP on a free port too
    (its lifespan already ran in running_service); the links it mails lead there."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    url = f"http://127.0.0.1:{port}"
    async with running_service(skipping_env, engine, public_url=url) as service:
        app = service.http._transport.app  # type: ignore[attr-defined]
        config = uvicorn.Config(
            app, host="127.0.0.1", port=port, log_level="warning", lifespan="off"
        )
        server = uvicorn.Server(config)
        serving = asyncio.create_task(server.serve())
        try:
            while not server.started:
                assert not serving.done(), "the portal's server did not start"
                await asyncio.sleep(0.05)
            yield Served(service, Site(url, engine))
        finally:
            server.should_exit = True
            await serving
            await end_cases(service)


# What the Arabic pages must not show: the portal's own French sentences (its catalogue's
# sources), each fixed part of more than one word (a lone word could be a name).
def _french_sources() -> list[str]:
    with catalogue_path("ar").open("rb") as file:
        catalogue = read_po(file, locale="ar")
    parts = set()
    for entry in list(catalogue)[1:]:
        for source in entry.id if isinstance(entry.id, tuple) else (entry.id,):
            parts.update(p.strip(" :.") for p in re.split(r"%\(\w+\)s|\n", source))
    return sorted(p for p in parts if " " in p)


FRENCH_SOURCES = _french_sources()


async def case_page(page: Page, url: str, lang: str, *data: str) -> str:
    """The case page (re)loaded, in its language and direction: its main part's words. In
    Arabic, none of the portal's French sentences (`data`: the French the staff typed)."""
    answer = await page.goto(url)
    assert answer is not None and answer.status == 200, answer and answer.status
    return await shown(page, lang, *data)


async def shown(page: Page, lang: str, *data: str) -> str:
    """The page as it is now (after a form's redirect): as `case_page` checks it."""
    await in_language(page, lang)
    words = " ".join((await page.locator("main").inner_text()).split())
    if lang == "ar":
        rest = words
        for typed in data:
            rest = rest.replace(" ".join(typed.split()), "")
        french = [s for s in FRENCH_SOURCES if s in rest]
        assert not french, f"untranslated on {page.url}: {french}"
    return words


async def stage_label(page: Page) -> list[str]:
    return [" ".join(s.split()) for s in await page.locator("main .etape").all_inner_texts()]


async def file_chosen(page: Page, field: str, name: str, content: bytes) -> None:
    await page.locator(field).set_input_files(
        {"name": name, "mimeType": "application/pdf", "buffer": content}
    )


async def deposited_in_browser(page: Page, served: Served, lang: str, title: str) -> str:
    """Signed in by link, the association made, its dossier filled and deposited in the browser
    (tests/test_portal_browser.py's steps): the case page's address."""
    await sign_in(page, served.site, lang, address("salma"))
    await open_association(page, lang)
    await prepare_dossier(page, lang, title)
    await deposit(page, lang)
    return page.url


# --- complements ---------------------------------------------------------------------------


@LANGUAGES
async def test_complements_answered_in_chromium_move_the_case_on_by_itself(
    served: Served, lang: str
) -> None:
    service, texts = served.service, Texts(lang)
    _ = texts.gettext
    title = f"Appel clusters — compléments ({lang})"
    await open_call(service, title)
    french = (title, ASSOCIATION, *ITEMS, ASKED)
    content = PDF_BYTES + b"% budget signe\n"

    async def check(page: Page) -> None:
        case = await deposited_in_browser(page, served, lang, title)
        application_id = case.rsplit("/", 1)[1]
        due = await complements_asked(service, application_id)

        words = await case_page(page, case, lang, *french)
        assert await stage_label(page) == [_("Compléments demandés")]
        assert all(item in words for item in ITEMS) and ASKED in words
        assert f"{_('À faire avant le')} {texts.datetime(due)}" in words, words

        # The signed budget chosen and added through the page's form.
        await page.locator("#kind").select_option("complément")
        await file_chosen(page, "#file", "budget-signe.pdf", content)
        await submit(page, "form[action$='/complements/fichier']")
        assert await message(page, "succes") == _("Fichier ajouté.")
        words = await shown(page, lang, *french)
        assert f"{_('Fichiers ajoutés :')} budget-signe.pdf" in words, words

        # Sent with a word: the review resumes by itself.
        await page.locator("#note").fill("Budget signé joint.")
        await submit(page, "form[action$='/complements']")
        done = _("Compléments envoyés : le programme reprend l'examen de votre dossier.")
        assert await message(page, "succes") == done
        await shown(page, lang, *french)
        assert await stage_label(page) == [_("Examen de recevabilité")]
        assert await page.locator("form[action$='/complements']").count() == 0

        staff = (await service.get(f"/applications/{application_id}")).json()
        assert staff["stage"] == "eligibility_review"
        [answer] = [f for f in staff["files"] if f["filename"] == "budget-signe.pdf"]
        assert answer["kind"] == "complément" and answer["size"] == len(content)
        assert answer["uploaded_by"] == BY
        [sent] = [e for e in staff["audit"] if e["action"] == "submit_complements"]
        assert sent["role"] == "applicant" and PERSON in sent["actor"]

    await with_page(lang, check)
    await settled(service)


# --- a rejection, its letter and a redress request -----------------------------------------


@LANGUAGES
async def test_a_published_rejection_its_letter_and_a_redress_request_in_chromium(
    served: Served, lang: str
) -> None:
    service, texts = served.service, Texts(lang)
    _ = texts.gettext
    title = f"Appel clusters — résultats ({lang})"
    call_id = await open_call(service, title)
    french = (title, ASSOCIATION, REJECTED)
    reason = (
        "Le plan R&D a été mal lu." if lang == "fr" else "لم تتم قراءة خطة البحث والتطوير جيدا."
    )

    async def check(page: Page) -> None:
        case = await deposited_in_browser(page, served, lang, title)
        application_id = case.rsplit("/", 1)[1]
        await closed(service, application_id)
        scored = await evaluated(service, call_id, application_id, LOW)
        decision = {"reason": REJECTED, "internal_note": INTERNAL}
        rejected = await service.post(
            f"/applications/{application_id}/reject", role="committee", json=decision
        )
        await ok(rejected, "rejected")
        await published(service, call_id, application_id)

        words = await case_page(page, case, lang, *french)
        assert await stage_label(page) == [_("Non retenu")]
        assert _("Décision du comité") in words and REJECTED in words
        shows_no_evaluation(words, scored)

        # The letter the e-mail carried, downloaded as the person does: a click.
        [letter] = (await service.get(f"/applications/{application_id}/letters")).json()
        link = page.locator(f"main a[href$='/courriers/{letter['sha256']}.pdf']")
        sent_at = datetime.fromisoformat(letter["sent_at"])
        expected = _("Courrier du %(date)s (PDF)") % {"date": texts.date(sent_at)}
        assert " ".join((await link.inner_text()).split()) == expected
        pdf = await downloaded(page, f"main a[href$='/courriers/{letter['sha256']}.pdf']")
        assert pdf.startswith(b"%PDF") and len(pdf) == letter["size"]

        # The redress request, typed and sent.
        form = "form[action$='/recours']"
        assert await page.locator(f"{form} button[type=submit]").inner_text() == _(
            "Envoyer la demande de réexamen"
        )
        await page.locator("#reason").fill(reason)
        await submit(page, form)
        done = _("Demande de réexamen envoyée : le comité l'examinera.")
        assert await message(page, "succes") == done
        words = await shown(page, lang, *french)
        assert await stage_label(page) == [_("Réexamen demandé")]
        assert await page.locator(form).count() == 0
        shows_no_evaluation(words, scored)

        staff = (await service.get(f"/applications/{application_id}")).json()
        assert staff["stage"] == "review_requested"
        assert staff["redress"]["reason"] == reason
        [request] = [e for e in staff["audit"] if e["action"] == "request_review"]
        assert request["role"] == "applicant" and PERSON in request["actor"]

        async def compiled() -> bool:  # the redress dossier the request sets off
            audit = (await service.get(f"/applications/{application_id}")).json()["audit"]
            return "compile_redress_dossier" in [e["action"] for e in audit]

        await eventually(compiled, timeout=60, what="the redress dossier")

    await with_page(lang, check)
    await settled(service)


# --- a labelled cluster's yearly report ----------------------------------------------------


@LANGUAGES
async def test_a_labelled_cluster_sends_its_yearly_report_in_chromium(
    served: Served, lang: str
) -> None:
    service, texts = served.service, Texts(lang)
    _ = texts.gettext
    title = f"Appel clusters — soutien ({lang})"
    call_id = await open_call(service, title)
    french = (title, ASSOCIATION)
    # An Arabic reader may type the indicators in Eastern Arabic digits: « ٣ » is 3.
    kpis = {"rd_projects": "3" if lang == "fr" else "٣", "startups": "1", "rd_jobs": "8"}
    kpis |= {"trainings": "5", "patents": ""}  # the patents left empty: not declared
    plan = PLAN if lang == "fr" else "مشروعان تعاونيان مع الجامعة وبراءة اختراع مودعة."

    async def check(page: Page) -> None:
        case = await deposited_in_browser(page, served, lang, title)
        cluster_id = case.rsplit("/", 1)[1]  # the cluster's case is the application's
        await closed(service, cluster_id)
        await evaluated(service, call_id, cluster_id, HIGH)
        await supported(service, call_id, cluster_id)
        await case_page(page, case, lang, *french, "Premier du classement")
        assert await stage_label(page) == [_("Labellisé"), _("Soutien en cours")]
        assert await page.locator("form[action$='/rapport']").count() == 0

        await service.env.sleep(timedelta(days=340))  # asked 30 days before the anniversary
        await stage_is(service, cluster_id, "report_requested")
        [year] = (await service.get(f"/clusters/{cluster_id}")).json()["years"]
        words = await case_page(page, case, lang, *french, "Premier du classement")
        assert await stage_label(page) == [_("Labellisé"), _("Rapport annuel demandé")]
        due = _("Rapport annuel attendu avant le %(date)s.") % {
            "date": texts.datetime(datetime.fromisoformat(year["ends_at"]))
        }
        assert due in words, words

        # The three files, each chosen for its kind and added through the page's form.
        for field, kind in REPORT_FILES.items():
            await page.locator("#report-kind").select_option(kind)
            await file_chosen(page, "#report-file", f"{field}.pdf", PDF_BYTES + kind.encode())
            await submit(page, "form[action$='/rapport/fichier']")
            assert await message(page, "succes") == _("Fichier ajouté.")
            await shown(page, lang, *french, "Premier du classement")

        for name, typed in kpis.items():
            await page.locator(f"#kpi-{name}").fill(typed)
        await page.locator("#plan").fill(plan)
        await submit(page, "form[action$='/rapport']")
        done = _("Rapport annuel envoyé : le programme l'examinera.")
        assert await message(page, "succes") == done
        await shown(page, lang, *french, "Premier du classement")
        assert await stage_label(page) == [_("Labellisé"), _("Rapport en examen")]
        assert await page.locator("form[action$='/rapport']").count() == 0

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
        assert report["next_year_plan"] == plan
        files = {f["id"]: f for f in support["files"]}
        for field, kind in REPORT_FILES.items():
            assert files[report[field]]["kind"] == kind
            assert files[report[field]]["filename"] == f"{field}.pdf"
            assert files[report[field]]["uploaded_by"] == BY
        [recorded] = [e for e in support["audit"] if e["action"] == "record_report"]
        assert recorded["role"] == "applicant" and PERSON in recorded["actor"]

    await with_page(lang, check)
    await settled(service)


# --- words the Arabic case page owes its reader --------------------------------------------
PROGRAMME_KINDS = ("complément", "autre")  # the kinds web.files offers whatever the call


@pytest.mark.parametrize("lang", ["ar"])
async def test_the_complements_form_names_the_programme_s_own_kinds_in_arabic(
    served: Served, lang: str
) -> None:
    """« complément » and « autre » are the portal's own choices (web.files.OTHER_KINDS), not
    the call's: an Arabic reader reads them in Arabic (the option's value stays the kind)."""
    service = served.service
    title = "Appel clusters — pièces (ar)"
    await open_call(service, title)

    async def check(page: Page) -> None:
        case = await deposited_in_browser(page, served, lang, title)
        application_id = case.rsplit("/", 1)[1]
        await closed(service, application_id)
        asked = await service.post(
            f"/applications/{application_id}/request_complements",
            json={"items": ITEMS, "note": ASKED},
        )
        await ok(asked, "complements_requested")
        await case_page(page, case, lang)
        for kind in PROGRAMME_KINDS:
            option = page.locator(f"#kind option[value='{kind}']")
            label = " ".join((await option.inner_text()).split())
            assert label != kind, f"the option {kind!r} reads in French on the Arabic page"

    await with_page(lang, check)
    await settled(service)
