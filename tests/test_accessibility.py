"""Accessibility and small screens: every kind of console page, filled with real cases, checked
by axe-core in Debian's Chromium at 1366 px and at 390 px (no serious or critical violation), with
a skip link to the content, a navigation landmark, the sign-in field focused on load and nothing
scrolling sideways on a phone; a screenshot of each in test-artifacts/<page-kind>-<width>.png.

axe-core comes from npm (tests/a11y, installed by scripts/setup.sh); without it the test skips,
or fails when REQUIRE_BROWSER=1 (as in CI)."""

import os
from collections.abc import Callable
from pathlib import Path
from typing import NamedTuple

import httpx
import pytest

from domain.models import DEFAULT_DOCUMENTS
from rehearsal.papers import pdf
from tests.conftest import APPLICATION, auth, eventually, secret, utcnow
from tests.test_clusters import TARGETS
from tests.test_console import ARTIFACTS, BROWSER_FLAGS, browser_or_skip, open_call
from tests.test_evaluation import sheet

pytestmark = pytest.mark.asyncio(loop_scope="session")
AXE = Path(__file__).resolve().parent / "a11y" / "node_modules" / "axe-core" / "axe.min.js"
VIEWPORTS = {1366: 900, 390: 844}  # a laptop, a phone
BLOCKING = {"serious", "critical"}
CONTENT = "contenu"  # the id of <main>, where the skip link leads
TOKEN_OF = {
    role: secret(f"t-{role}") for role in ("admin", "operator", "committee", "evaluator", "finance")
}
EVE = "Eve Évaluatrice"

# What axe sees: each violation with its impact, its help text and the elements at fault.
RUN_AXE = """async () => {
  const results = await axe.run(document, {resultTypes: ["violations"]});
  return results.violations.map(v => ({
    id: v.id, impact: v.impact, help: v.help,
    nodes: v.nodes.map(n => ({target: n.target.join(" "), html: n.html.slice(0, 160)})),
  }));
}"""
# The page's frame: skip link first in the tab order, <main> its target, a <nav> landmark.
LAYOUT = """() => {
  const focusable = document.querySelector(
    "a[href], button, input:not([type=hidden]), select, textarea, summary, [tabindex]:not([tabindex='-1'])");
  const main = document.querySelector("main");
  const beyond = e => e.getBoundingClientRect().right > window.innerWidth + 1;
  const clipped = e => {  // inside a box that scrolls or clips (unless positioned out of it)
    if (["absolute", "fixed"].includes(getComputedStyle(e).position)) return false;
    for (let a = e.parentElement; a && a !== document.body; a = a.parentElement)
      if (getComputedStyle(a).overflowX !== "visible") return true;
    return false;
  };
  const wide = [...document.body.querySelectorAll("*")]  // the innermost elements sticking out
    .filter(e => beyond(e) && !clipped(e) && ![...e.children].some(beyond))
    .slice(0, 3)
    .map(e => e.outerHTML.slice(0, 120));
  return {
    wide,
    first: focusable ? focusable.getAttribute("href") : null,
    main: main ? main.id : null,
    navs: document.querySelectorAll("nav, [role=navigation]").length,
    scroll: document.documentElement.scrollWidth,
    width: window.innerWidth,
  };
}"""


def axe_or_skip() -> Path:
    if not AXE.is_file():
        message = (
            "axe-core not installed (tests/a11y/node_modules: scripts/setup.sh runs `npm ci` "
            "there when npm exists; CI installs Debian's npm)"
        )
        if os.environ.get("REQUIRE_BROWSER") == "1":
            pytest.fail(message + " (REQUIRE_BROWSER=1)")
        pytest.skip(message)
    return AXE


async def seed(site: str) -> dict[str, str]:
    """Real cases through the API, so that every page kind shows content: a call whose results
    are published (two cases labelled; their support cases opened, one under contract), a call
    under evaluation (one case declared by the evaluator, with its files, one waiting for her
    declaration) and an open call with a case just registered."""
    async with httpx.AsyncClient(base_url=site, timeout=30) as api:

        async def post(path: str, role: str, body: object = None, status: int = 200) -> dict:
            answer = await api.post(path, headers=auth(role), json=body)
            assert answer.status_code == status, answer.text
            return answer.json()

        async def stage(path: str, wanted: str) -> None:
            async def reached() -> bool:
                answer = await api.get(path, headers=auth("admin"))
                return answer.status_code == 200 and answer.json()["stage"] == wanted

            await eventually(reached, timeout=30, what=f"{path} at {wanted}")

        async def register(call_id: str, name: str) -> str:
            body = {**APPLICATION, "cluster_name": name}
            return (await post(f"/calls/{call_id}/applications", "operator", body, 201))["id"]

        async def deposit(application_id: str, kinds: list[str]) -> None:
            for kind in kinds:
                answer = await api.post(
                    f"/applications/{application_id}/documents",
                    headers=auth("operator"),
                    files={"file": (f"{kind}.pdf", pdf(kind), "application/pdf")},
                    data={"kind": kind},
                )
                assert answer.status_code == 201, answer.text

        one_each = {"evaluators_per_application": 1}
        decided = await open_call(api, "Appel 2026 — résultats publiés", seconds=4, **one_each)
        evaluated = await open_call(api, "Appel 2026 — en évaluation", seconds=4, **one_each)
        current = await open_call(api, "Appel à projets clusters 2026", seconds=20 * 86400)
        labelled = await register(decided, "Cluster Agro-Souss")
        supported = await register(decided, "Cluster Textile de Fès")
        declared = await register(evaluated, "Cluster Aéronautique du Nord")
        waiting = await register(evaluated, "Cluster Halieutique de Dakhla")
        received = await register(current, "Cluster Numérique de Rabat")
        await deposit(labelled, list(DEFAULT_DOCUMENTS))
        await deposit(declared, list(DEFAULT_DOCUMENTS))
        await deposit(received, list(DEFAULT_DOCUMENTS)[:1])

        for application_id in (labelled, supported, declared, waiting):
            await stage(f"/applications/{application_id}", "eligibility_review")
            await post(f"/applications/{application_id}/mark_eligible", "operator")
        for call_id in (decided, evaluated):
            await stage(f"/calls/{call_id}", "closed")
            await post(f"/calls/{call_id}/start_evaluation", "admin")
        for application_id in (labelled, supported, declared, waiting):
            body = {"evaluators": [EVE]}
            await post(f"/applications/{application_id}/assign_evaluators", "admin", body)
        for application_id in (labelled, supported, declared):
            body = {"conflict": False}
            await post(f"/applications/{application_id}/declare_interest", "evaluator", body)
        reason = {"reason": "Projet structurant, gouvernance solide."}
        for application_id in (labelled, supported):
            marks = sheet(4, 4, 4.5, 3.5, 4)
            await post(f"/applications/{application_id}/submit_scores", "evaluator", marks)
            await stage(f"/applications/{application_id}", "scored")
            await post(f"/applications/{application_id}/label", "committee", reason)
        await post(f"/calls/{decided}/publish_results", "admin")
        for cluster_id in (labelled, supported):  # a labelled case opens its support case

            async def opened(cluster_id: str = cluster_id) -> bool:
                answer = await api.get(f"/clusters/{cluster_id}", headers=auth("admin"))
                return answer.status_code == 200

            await eventually(opened, timeout=30, what="the cluster's support case")
        terms = {
            "start_at": utcnow().isoformat(),
            "planned_amounts": [1_500_000, 1_200_000, 900_000],
            "kpi_targets": TARGETS,
        }
        await post(f"/clusters/{supported}/sign_contract", "admin", terms)
        await stage(f"/clusters/{supported}", "active")
    return {
        "decided": decided,
        "current": current,
        "labelled": labelled,
        "supported": supported,
        "declared": declared,
        "received": received,
    }


# A form sent without the browser's checks: the page comes back with each error beside its field.
REFUSE = """selector => {
  const form = document.querySelector(selector);
  form.noValidate = true;
  form.requestSubmit();
}"""


class PageKind(NamedTuple):
    name: str  # its screenshots: test-artifacts/<name>-<width>.png
    role: str | None  # who reads it (None: nobody signed in)
    path: str
    status: int = 200
    refuse: str | None = None  # a form sent empty on that page, to draw it as refused


def page_kinds(ids: dict[str, str]) -> list[PageKind]:
    case, cluster = "/console/candidatures/", "/console/clusters/"
    return [
        PageKind("connexion", None, "/console/connexion"),
        PageKind("tableau-admin", "admin", "/console/"),
        PageKind("tableau-operateur", "operator", "/console/"),
        PageKind("tableau-comite", "committee", "/console/"),
        PageKind("appels", "admin", "/console/appels"),
        PageKind("appel", "admin", f"/console/appels/{ids['decided']}"),
        PageKind("appel-operateur", "operator", f"/console/appels/{ids['current']}"),
        PageKind("candidatures", "admin", "/console/candidatures"),
        PageKind("candidature-admin", "admin", case + ids["labelled"]),
        PageKind("candidature-comite", "committee", case + ids["labelled"]),
        PageKind("candidature-operateur", "operator", case + ids["received"]),
        PageKind("candidature-evaluateur", "evaluator", case + ids["declared"]),
        PageKind("formulaire-refuse", "operator", case + ids["received"], 422, "#form-withdraw"),
        PageKind("evaluations", "evaluator", "/console/candidatures"),
        PageKind("clusters", "admin", "/console/clusters"),
        PageKind("cluster", "admin", cluster + ids["labelled"]),
        PageKind("cluster-actif", "operator", cluster + ids["supported"]),
        PageKind("budget", "admin", f"/console/appels/{ids['decided']}/budget"),
        PageKind("finances", "finance", "/console/finances"),
        PageKind("cluster-finances", "finance", cluster + ids["supported"]),
        PageKind("courriers", "admin", "/console/courriers"),
        PageKind("utilisateurs", "admin", "/console/utilisateurs"),
        PageKind("erreur-404", "admin", "/console/page-inexistante", 404),
    ]


async def signed_in(browser, site: str, role: str | None, width: int):  # noqa: ANN001, ANN201
    """A page in a browser context of its own at `width`, signed in as `role` through the form.
    The console's CSP (`default-src 'none'`) would refuse axe's script tag: bypassed here."""
    context = await browser.new_context(
        viewport={"width": width, "height": VIEWPORTS[width]}, locale="fr-FR", bypass_csp=True
    )
    page = await context.new_page()
    if role is not None:
        await page.goto(f"{site}/console/connexion")
        await page.locator("#jeton").fill(TOKEN_OF[role])
        await page.get_by_role("button", name="Se connecter").click()
        await page.wait_for_url(lambda url: "/connexion" not in url)
    return page


async def examine(page, kind: PageKind, width: int, site: str) -> list[str]:  # noqa: ANN001
    """What is wrong with one page at one width (its screenshot written either way)."""
    problems = []
    answer = await page.goto(f"{site}{kind.path}")
    if kind.refuse is not None:
        async with page.expect_navigation() as sent:
            await page.evaluate(REFUSE, kind.refuse)
        answer = await sent.value
    if answer is None or answer.status != kind.status:
        problems.append(f"{kind.name}: answered {answer and answer.status}, not {kind.status}")
    where = f"{kind.name}@{width}"
    await page.add_script_tag(path=str(AXE))
    for v in await page.evaluate(RUN_AXE):
        if v["impact"] in BLOCKING:
            nodes = "; ".join(f"{n['target']} `{n['html']}`" for n in v["nodes"])
            problems.append(f"{where}: [{v['impact']}] {v['id']} — {v['help']}: {nodes}")
    layout = await page.evaluate(LAYOUT)
    if layout["first"] != f"#{CONTENT}":
        problems.append(f"{where}: first focusable is {layout['first']!r}, not the skip link")
    if layout["main"] != CONTENT:
        problems.append(f"{where}: <main> has id {layout['main']!r}, not {CONTENT!r}")
    if not layout["navs"]:
        problems.append(f"{where}: no <nav> landmark")
    if width < 600 and layout["scroll"] > layout["width"] + 1:
        problems.append(
            f"{where}: the page scrolls sideways ({layout['scroll']} px wide "
            f"in a {layout['width']} px window): {layout['wide']}"
        )
    await page.screenshot(path=str(ARTIFACTS / f"{kind.name}-{width}.png"), full_page=True)
    return problems


async def with_browser(check: Callable) -> None:  # noqa: ANN001
    executable = browser_or_skip()
    axe_or_skip()
    from playwright.async_api import async_playwright

    ARTIFACTS.mkdir(exist_ok=True)
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=executable, args=BROWSER_FLAGS)
        try:
            await check(browser)
        finally:
            await browser.close()


async def test_sign_in_field_focused_and_skip_link_reaches_the_content(site: str) -> None:
    async def check(browser) -> None:  # noqa: ANN001
        page = await signed_in(browser, site, None, 1366)
        await page.goto(f"{site}/console/connexion")
        assert await page.evaluate("document.activeElement.id") == "jeton"

        page = await signed_in(browser, site, "operator", 390)
        await page.goto(f"{site}/console/")
        await page.keyboard.press("Tab")  # the first stop: the skip link, shown when focused
        skip = page.locator(f"a[href='#{CONTENT}']")
        assert await skip.evaluate("a => a === document.activeElement")
        assert (await skip.bounding_box() or {}).get("y", -1) >= 0, "skip link off-screen"
        await page.keyboard.press("Enter")
        assert await page.evaluate("document.activeElement.id") == CONTENT
        assert await page.locator(f"main#{CONTENT}").count() == 1
        assert await page.get_by_role("navigation").count() >= 1
        await page.keyboard.press("Tab")  # from the content on, not back to the header
        assert await page.evaluate("!document.activeElement.closest('header')")

    await with_browser(check)


@pytest.mark.timeout(300)  # seeding real cases, then 38 pages checked
async def test_every_page_kind_at_1366_and_390_px_without_serious_violation(site: str) -> None:
    browser_or_skip()
    axe_or_skip()
    ids = await seed(site)
    problems: list[str] = []

    async def check(browser) -> None:  # noqa: ANN001
        for width in VIEWPORTS:
            pages = {}
            for kind in page_kinds(ids):
                if kind.role not in pages:
                    pages[kind.role] = await signed_in(browser, site, kind.role, width)
                problems.extend(await examine(pages[kind.role], kind, width, site))

    await with_browser(check)
    assert not problems, "\n".join(problems)
