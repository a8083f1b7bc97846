"""The applicants' portal in Debian's Chromium, in French and in Arabic: a person signs in by
the link they were mailed, names themself, creates their association, fills their dossier,
uploads its files with the page's script (several at once, each with its progress bar), deposits
it and downloads a signed receipt that verifies offline; a deposit begun before the deadline and
sent after it is refused with its time. Every kind of portal page is checked by axe-core at 1366
and 390 px (no serious or critical violation, nothing scrolling sideways on a phone), with a
screenshot of each in test-artifacts/portal/<lang>-<page>-<width>.png.

Chromium and axe-core are found as by tests/test_accessibility.py: without them the tests skip,
or fail when REQUIRE_BROWSER=1."""

import asyncio
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, NamedTuple

import httpx
import pytest
import pytest_asyncio
from sqlalchemy import Engine, update
from sqlmodel import Session, select

from domain.models import DEFAULT_DOCUMENTS
from portal.i18n import Texts
from portal.receipt import verify
from projection.tables import ApplicationRow, SignInLinkRow
from tests.conftest import PDF_BYTES, auth, eventually, mails_to
from tests.test_accessibility import AXE, BLOCKING, RUN_AXE, VIEWPORTS, axe_or_skip
from tests.test_console import ARTIFACTS, BROWSER_FLAGS, browser_or_skip
from tests.test_portal import LINK, address, text_of
from tests.test_portal_deadline import seconds

pytestmark = pytest.mark.asyncio(loop_scope="session")
SHOTS = ARTIFACTS / "portal"
LOCALES = {"fr": "fr-FR", "ar": "ar-MA"}  # the browser's language, which the portal follows
LANGUAGES = pytest.mark.parametrize("lang", ["fr", "ar"])
DEADLINE_AHEAD = timedelta(seconds=25)  # time enough to prepare a dossier in the browser
PERSON, ASSOCIATION, CLUSTER = "Salma Bennani", "Association Souss Agro", "Cluster Souss Agro"

# What the person sees of the page's uploads, kept across the reload that ends them: each
# file's line and progress bar, as they change (a MutationObserver on #progression).
WATCH_UPLOADS = """() => {
  const shown = document.getElementById("progression");
  const record = () => sessionStorage.setItem("progression", JSON.stringify(
    [...shown.querySelectorAll("p")].map(p => ({
      text: p.querySelector("span").textContent,
      value: p.querySelector("progress").value,
    }))));
  new MutationObserver(record).observe(
    shown, {childList: true, subtree: true, characterData: true, attributes: true});
}"""
SEEN_UPLOADS = """() => {
  const seen = JSON.parse(sessionStorage.getItem("progression") || "[]");
  sessionStorage.removeItem("progression");
  return seen;
}"""
# Sideways scrolling, on either side (an Arabic page overflows to the left): the innermost
# elements sticking out, to say which.
SIDEWAYS = """() => {
  const out = e => {
    const box = e.getBoundingClientRect();
    return box.width > 0 && (box.right > window.innerWidth + 1 || box.left < -1);
  };
  const wide = [...document.body.querySelectorAll("*")]
    .filter(e => out(e) && ![...e.children].some(out))
    .slice(0, 3)
    .map(e => e.outerHTML.slice(0, 120));
  return {scroll: document.documentElement.scrollWidth, width: window.innerWidth, wide};
}"""


class Site(NamedTuple):
    url: str
    engine: Engine


@pytest_asyncio.fixture(loop_scope="session")
async def portal_site(site: str, engine: Engine) -> Site:
    """The service over real HTTP (tests.conftest.site), with its database to read."""
    return Site(site, engine)


async def publish_call(site: Site, title: str, deadline: datetime) -> tuple[str, datetime]:
    """A call created and published by the admin through the staff API, open until `deadline`
    (as stored: the portal shows that one); once the portal's lists see it open."""
    async with httpx.AsyncClient(base_url=site.url, timeout=30) as api:
        body = {
            "year": deadline.year,
            "title": title,
            "opens_at": datetime.now(UTC).isoformat(),
            "deadline": deadline.isoformat(),
        }
        created = await api.post("/calls", headers=auth("admin"), json=body)
        assert created.status_code == 201, created.text
        call_id = created.json()["id"]
        published = await api.post(f"/calls/{call_id}/publish", headers=auth("admin"))
        assert published.status_code == 200, published.text

        async def open_() -> bool:
            answer = await api.get(f"/calls/{call_id}", headers=auth("admin"))
            return answer.status_code == 200 and answer.json()["stage"] == "open"

        await eventually(open_, timeout=30, what="the call open")
        stored = (await api.get(f"/calls/{call_id}", headers=auth("admin"))).json()
    return call_id, datetime.fromisoformat(stored["spec"]["deadline"])


# The browser ----------------------------------------------------------------------------------

Page = Any  # playwright's
Look = Callable[[Page, str], Awaitable[None]]  # called on each kind of page reached


async def nothing(page: Page, kind: str) -> None:
    return None


async def with_page(lang: str, check: Callable[[Page], Awaitable[None]], **options: Any) -> None:
    """`check` run on a page of a fresh Chromium whose language is `lang`, at 1366 px."""
    executable = browser_or_skip()
    from playwright.async_api import async_playwright

    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=executable, args=BROWSER_FLAGS)
        try:
            context = await browser.new_context(
                viewport={"width": 1366, "height": VIEWPORTS[1366]},
                locale=LOCALES[lang],
                accept_downloads=True,
                **options,
            )
            await check(await context.new_page())
        finally:
            await browser.close()


async def submit(page: Page, form: str, status: int = 200) -> None:
    """The submit button of `form` (a CSS selector: the same in both languages) clicked, and the
    page it leads to loaded."""
    async with page.expect_navigation() as sent:
        await page.locator(f"{form} button[type=submit]").click()
    answer = await sent.value
    assert answer is not None and answer.status == status, (form, answer and answer.status)


async def in_language(page: Page, lang: str) -> None:
    html = page.locator("html")
    assert await html.get_attribute("lang") == lang, page.url
    assert await html.get_attribute("dir") == Texts(lang).dir, page.url


async def message(page: Page, kind: str) -> str:
    """The page's message block (role=status) of `kind` (succes, erreur), as shown."""
    shown = page.locator(".message[role=status]")
    assert await shown.is_visible(), f"no message on {page.url}"
    assert kind in (await shown.get_attribute("class") or ""), await shown.inner_text()
    return await shown.inner_text()


async def sign_in(page: Page, site: Site, lang: str, email: str, look: Look = nothing) -> str:
    """From the sign-in form to the home page, by the link read in the mail; the link."""
    answer = await page.goto(f"{site.url}/portail/connexion")
    assert answer.status == 200
    await in_language(page, lang)
    await look(page, "connexion")
    await page.locator("#email").fill(email)
    await submit(page, "main form[action='/portail/connexion']")
    assert email in await page.locator("main").inner_text()
    await look(page, "lien-envoye")

    [mail] = mails_to(email)
    assert mail["Content-Language"] == lang
    [link] = LINK.findall(text_of(mail))
    assert link.startswith(f"{site.url}/portail/lien/"), link
    answer = await page.goto(link)
    assert answer.status == 200
    await in_language(page, lang)
    await look(page, "lien")
    await submit(page, "main form[action^='/portail/lien/']")
    assert page.url == f"{site.url}/portail/"
    assert await page.locator("#name").is_visible()  # the home asks for the person's name
    await look(page, "accueil-nom")
    return link


async def open_association(page: Page, lang: str, look: Look = nothing) -> None:
    """The person's name, then their association: its page."""
    await page.locator("#name").fill(PERSON)
    await submit(page, "form[action='/portail/profil']")
    await message(page, "succes")
    assert PERSON in await page.locator("header").inner_text()
    await look(page, "accueil")
    await page.locator("#association").fill(ASSOCIATION)
    await submit(page, "form[action='/portail/associations']")
    assert "/portail/associations/" in page.url
    await message(page, "succes")
    await in_language(page, lang)
    assert await page.locator("h1").inner_text() == ASSOCIATION
    await look(page, "association")


def pieces() -> list[tuple[str, list[tuple[str, bytes]]]]:
    """The dossier's files, by kind: two for the first kind (sent at once), one for the others."""
    files = []
    for n, kind in enumerate(DEFAULT_DOCUMENTS):
        names = [f"piece-{n}a.pdf", f"piece-{n}b.pdf"] if n == 0 else [f"piece-{n}.pdf"]
        files.append((kind, [(name, PDF_BYTES + f"% {name}\n".encode()) for name in names]))
    return files


async def upload(page: Page, kind: str, files: list[tuple[str, bytes]]) -> None:
    """`files` chosen at once for `kind` and sent by the page's script: a progress bar each,
    each line saying « sent », then the page reloads showing the kind as provided."""
    await page.locator("#kind").select_option(kind)
    await page.locator("#file").set_input_files(
        [{"name": name, "mimeType": "application/pdf", "buffer": body} for name, body in files]
    )
    done = await page.locator("#envoi").get_attribute("data-done")
    await page.evaluate(WATCH_UPLOADS)
    await submit(page, "#envoi")
    seen = await page.evaluate(SEEN_UPLOADS)
    assert [(s["text"], s["value"]) for s in seen] == [(f"{n} — {done}", 1) for n, _ in files]
    provided = page.locator("#liste-controle li", has=page.locator(".fait"))
    kinds = [await li.get_attribute("data-kind") for li in await provided.all()]
    assert kind in kinds, (kind, kinds)


async def prepare_dossier(page: Page, lang: str, call_title: str, look: Look = nothing) -> None:
    """From the association's page: the call's dossier filled, saved, and its files uploaded."""
    await page.get_by_role("link", name=call_title).click()
    await page.wait_for_url("**/appels/*")
    await in_language(page, lang)
    assert await page.locator("#liste-controle .manque").count() == len(DEFAULT_DOCUMENTS)
    await look(page, "dossier-vide")

    await page.locator("#cluster_name").fill(CLUSTER)
    await page.locator("#sector").select_option(index=1)
    await page.locator("input[name=existing_cluster][value=non]").check()
    await page.locator("#support_years").fill("0")
    await page.locator("#phone").fill("+212 600 000 000")
    await page.locator("#requested_amounts").fill("500000\n400000")
    names, types = page.locator("input[name=member_name]"), page.locator("select[name=member_type]")
    for n, (name, kind) in enumerate(
        [("Coopérative Argan", "company"), ("Université Ibn Zohr", "research")]
    ):
        await names.nth(n).fill(name)
        await types.nth(n).select_option(kind)
    await submit(page, "form:has(#cluster_name)")
    await message(page, "succes")
    assert await page.locator("#cluster_name").input_value() == CLUSTER

    for kind, files in pieces():
        await upload(page, kind, files)
    assert await page.locator("#liste-controle .manque").count() == 0
    assert await page.locator("#liste-controle .fait").count() == len(DEFAULT_DOCUMENTS)
    await look(page, "dossier-complet")


async def deposit(page: Page, lang: str, look: Look = nothing) -> None:
    """« Déposer mon dossier »: the case page, with its receipt's links."""
    await submit(page, "form[action$='/deposer']")
    assert "/dossiers/" in page.url, page.url
    await message(page, "succes")
    await in_language(page, lang)
    assert await page.locator("h1").inner_text() == CLUSTER
    await look(page, "suivi")


async def downloaded(page: Page, link: str) -> bytes:
    async with page.expect_download() as started:
        await page.locator(link).click()
    download = await started.value
    return Path(await download.path()).read_bytes()


# The deposit ----------------------------------------------------------------------------------


@LANGUAGES
async def test_a_person_deposits_a_dossier_in_chromium_and_its_receipt_verifies(
    portal_site: Site, lang: str, tmp_path: Path
) -> None:
    title = f"Appel clusters 2027 ({lang})"
    await publish_call(portal_site, title, datetime.now(UTC) + timedelta(days=20))
    email = address("salma")

    async def check(page: Page) -> None:
        await sign_in(page, portal_site, lang, email)
        await open_association(page, lang)
        await prepare_dossier(page, lang, title)
        await deposit(page, lang)

        receipt = await downloaded(page, "a[href$='/recu.json']")
        pdf = await downloaded(page, "a[href$='/recu.pdf']")
        assert pdf.startswith(b"%PDF")
        key = await page.request.get(f"{portal_site.url}/portail/cle-publique.pem")
        assert key.ok
        folder = tmp_path / "dossier"
        folder.mkdir()
        for _, files in pieces():
            for name, body in files:
                (folder / name).write_bytes(body)
        checked = verify(receipt, None, await key.body(), folder=folder)
        assert checked.association_name == ASSOCIATION and checked.deposited_by == PERSON
        assert checked.call_title == title and checked.language == lang
        assert sorted(f.name for f in checked.files) == sorted(p.name for p in folder.iterdir())

    await with_page(lang, check)


@LANGUAGES
@pytest.mark.timeout(240)
async def test_a_deposit_sent_after_the_deadline_is_refused_with_its_time_in_chromium(
    portal_site: Site, lang: str
) -> None:
    deadline = datetime.now(UTC).replace(microsecond=0) + DEADLINE_AHEAD
    title = f"Appel qui ferme bientôt ({lang})"
    call_id, deadline = await publish_call(portal_site, title, deadline)

    async def check(page: Page) -> None:
        await sign_in(page, portal_site, lang, address("badr"))
        await open_association(page, lang)
        await prepare_dossier(page, lang, title)
        left = (deadline - datetime.now(UTC)).total_seconds()
        assert left > 0, f"the dossier took {-left:.1f} s too long to prepare: raise DEADLINE_AHEAD"
        await asyncio.sleep(left + 1)

        before = datetime.now(UTC)
        await submit(page, "form[action$='/deposer']")
        after = datetime.now(UTC)
        assert page.url.endswith(f"/appels/{call_id}"), page.url
        await in_language(page, lang)
        shown = await message(page, "erreur")
        texts = Texts(lang)
        assert texts.datetime(deadline, seconds=True) in shown, shown
        arrival = [texts.datetime(moment, seconds=True) for moment in seconds(before, after)]
        assert any(moment in shown for moment in arrival), (arrival, shown)
        if lang == "fr":
            assert "après la clôture de l'appel" in shown, shown
        assert await page.locator("form[action$='/deposer']").count() == 0  # closed now

    await with_page(lang, check)
    with Session(portal_site.engine) as db:
        registered = db.exec(select(ApplicationRow).where(ApplicationRow.call_id == call_id))
        assert registered.all() == []


# Accessibility --------------------------------------------------------------------------------


async def examine(page: Page, lang: str, kind: str, problems: list[str]) -> None:
    """One page at each width: axe's serious and critical violations, sideways scrolling on a
    phone, and its screenshot (taken either way)."""
    if not await page.evaluate("typeof axe !== 'undefined'"):
        await page.add_script_tag(path=str(AXE))
    for width, height in VIEWPORTS.items():
        await page.set_viewport_size({"width": width, "height": height})
        where = f"{lang}-{kind}@{width} ({page.url})"
        for v in await page.evaluate(RUN_AXE):
            if v["impact"] in BLOCKING:
                nodes = "; ".join(f"{n['target']} `{n['html']}`" for n in v["nodes"])
                problems.append(f"{where}: [{v['impact']}] {v['id']} — {v['help']}: {nodes}")
        layout = await page.evaluate(SIDEWAYS)
        if width < 600 and layout["scroll"] > layout["width"] + 1:
            problems.append(
                f"{where}: scrolls sideways ({layout['scroll']} px wide in a "
                f"{layout['width']} px window): {layout['wide']}"
            )
        await page.screenshot(path=str(SHOTS / f"{lang}-{kind}-{width}.png"), full_page=True)
    await page.set_viewport_size({"width": 1366, "height": VIEWPORTS[1366]})


@LANGUAGES
@pytest.mark.timeout(300)
async def test_every_portal_page_at_1366_and_390_px_without_serious_violation(
    portal_site: Site, lang: str
) -> None:
    """Each kind of page as the person meets it (the flow above), then a used link, an expired
    one and an unknown address."""
    axe_or_skip()
    title = f"Appel clusters 2027 ({lang})"
    await publish_call(portal_site, title, datetime.now(UTC) + timedelta(days=20))
    email = address("salma")
    problems: list[str] = []
    SHOTS.mkdir(parents=True, exist_ok=True)

    async def look(page: Page, kind: str) -> None:
        await examine(page, lang, kind, problems)

    async def check(page: Page) -> None:
        link = await sign_in(page, portal_site, lang, email, look)
        await open_association(page, lang, look)
        await prepare_dossier(page, lang, title, look)
        await deposit(page, lang, look)

        answer = await page.goto(link)
        assert answer.status == 410
        await look(page, "lien-utilise")

        await page.goto(f"{portal_site.url}/portail/connexion")
        await page.locator("#email").fill(email)
        await submit(page, "main form[action='/portail/connexion']")
        [second] = LINK.findall(text_of(mails_to(email)[-1]))
        with Session(portal_site.engine) as db:
            db.exec(  # type: ignore[call-overload]
                update(SignInLinkRow)
                .where(SignInLinkRow.email == email)
                .values(expires_at=datetime.now(UTC) - timedelta(seconds=1))
            )
            db.commit()
        answer = await page.goto(second)
        assert answer.status == 410
        assert await page.locator("main form[action='/portail/connexion']").count() == 1
        await look(page, "lien-expire")

        answer = await page.goto(f"{portal_site.url}/portail/page-inexistante")
        assert answer.status == 404
        await in_language(page, lang)
        await look(page, "erreur-404")

    # axe is added to each page as a script tag, which the portal's policy would refuse.
    await with_page(lang, check, bypass_csp=True)
    assert not problems, "\n".join(problems)
