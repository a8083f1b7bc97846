"""A pilot call of 60 applications run through every role's console in headless Chromium (issue
#26's « done when »): seeded through the API with their files, the desk's eligibility in bulk, a
balanced assignment, a conflict declared mid-way listed in the admin's « À traiter » and
replaced, the committee's decisions from the ranking, one revised before publication, a refused
publication counting who each case waits on; then every letter read at the mail catcher, and
each role's key pages checked at 1366 and 390 px for an action out of view."""

import asyncio
import re
import time
import uuid
from dataclasses import dataclass, field
from email.message import EmailMessage
from typing import Any

import httpx
import pytest
from playwright.async_api import Page, expect
from sqlalchemy import Engine, update
from sqlmodel import Session, select

from domain import notices
from domain.models import DEFAULT_DOCUMENTS, DEFAULT_GRID
from projection.tables import OutboxRow, UserRow
from tests.conftest import APPLICATION, CATCHER, PDF_BYTES, auth, eventually, mails_to
from tests.test_console import ARTIFACTS, BROWSER_FLAGS, browser_or_skip, open_call, signed_in_page
from tests.test_evaluation import DRISS, EVE, NADIA, NAMES, YOUSSEF, sheet

pytestmark = pytest.mark.asyncio(loop_scope="session")

RUN = uuid.uuid4().hex[:6]  # the catcher is shared by the whole session: our addresses apart
TITLE = f"Appel pilote clusters {RUN}"
COUNT = 60
NAME = [f"Cluster Pilote {n:02d}" for n in range(1, COUNT + 1)]
CONTACT = [f"pilote{n:02d}-{RUN}@clusters.ma" for n in range(1, COUNT + 1)]
MISSING = DEFAULT_DOCUMENTS[-1]  # « budget prévisionnel »: left out of the last three
COMPLEMENTS, LATE, INELIGIBLE = COUNT - 3, COUNT - 2, COUNT - 1  # their indexes
INELIGIBLE_REASON = "Dossier incomplet : des pièces obligatoires manquent."  # a preset
LATE_REASON = "Le porteur n'est pas une association légalement constituée."
INTERNAL = f"Note interne {RUN} : enveloppe à confirmer par le ministère"
REVISED = "Le comité relève le plan R&D à l'examen et retient finalement le dossier."
ROLE_OF = {name: role for role, name in NAMES.items()}
EVALUATOR_MAIL = {role: f"{role}-{RUN}@evaluateurs.ma" for role in NAMES}
PROGRAMME = "programme@clusters.ma"
LETTERS = ARTIFACTS / "soixante-courriers.txt"  # a few cases' letters, to read
SLOW = 90_000  # ms: a bulk action is one update per case, 60 of them in one request
OUTCOMES = ("Labelliser", "Liste d'attente", "Rejeter")  # the ranking page's choices
RESULT = dict(zip(OUTCOMES, ("labellisée", "en liste d'attente", "non retenue"), strict=True))
CALL_ID = re.compile(r"\b20\d\d-[0-9a-f]{12}\b")  # a call named by its id, not its title


def marks_of(index: int) -> tuple[float, ...]:
    """Each case's marks (both evaluators alike): a third high, a third in between, the rest
    under the thresholds, spread so that the ranking has few ties."""
    if index < 20:
        return (5.0 if index % 2 else 4.5, 4.5, 4.0, 4.0, 4.0 + (index % 3) / 2)
    if index < 40:
        return (3.5, 3.5, 3.5, 3.5, 3.0 + (index % 2) / 2)
    return (2.0, 2.0 + (index % 2) / 2, 3.0, 3.0, 3.0)


def decimal(value: float) -> str:
    return f"{value:.2f}".replace(".", ",")


def weighted(marks: tuple[float, ...]) -> float:
    criteria = DEFAULT_GRID.criteria
    return sum(c.weight * m for c, m in zip(criteria, marks, strict=True)) / sum(
        c.weight for c in criteria
    )


# --- what a page must not hide ------------------------------------------------------------------
# Each visible control or link in <main>: inside the page's width (the page itself never wider
# than the window), or reachable in a box that scrolls sideways (a wide table, by design) — never
# a button; and never cut off by an ancestor whose overflow is hidden.
OUT_OF_VIEW = """() => {
  const width = window.innerWidth, problems = [];
  const page = document.documentElement.scrollWidth;
  if (page > width) problems.push(`la page défile de côté (${page} px > ${width} px)`);
  const what = el => `${el.tagName.toLowerCase()} « ${(el.innerText || el.value || el.name || el.getAttribute('aria-label') || '').trim().slice(0, 60)} »`;
  for (const el of document.querySelectorAll(
      'main button, main input:not([type=hidden]), main select, main textarea, main a[href]')) {
    const r = el.getBoundingClientRect(), style = getComputedStyle(el);
    if (r.width === 0 || r.height === 0 || style.visibility === 'hidden') continue;
    let scroller = null;
    for (let p = el.parentElement; p && p !== document.body; p = p.parentElement) {
      const s = getComputedStyle(p), box = p.getBoundingClientRect();
      const cuts = ['hidden', 'clip'];
      if ((cuts.includes(s.overflowX) && (r.left < box.left - 1 || r.right > box.right + 1)) ||
          (cuts.includes(s.overflowY) && (r.top < box.top - 1 || r.bottom > box.bottom + 1)))
        problems.push(`${what(el)} coupé par un parent (overflow ${s.overflowX}/${s.overflowY})`);
      if (!scroller && ['auto', 'scroll'].includes(s.overflowX) && p.scrollWidth > p.clientWidth)
        scroller = p;
    }
    const inside = r.left >= -1 && r.right <= width + 1;
    if (!inside && (!scroller || el.tagName === 'BUTTON'))
      problems.push(`${what(el)} hors de la largeur (${Math.round(r.left)}–${Math.round(r.right)} px)`);
  }
  return problems;
}"""


PROBES = """() => {
  const far = document.createElement('button');
  far.className = 'sonde'; far.textContent = 'Hors champ'; far.style.marginLeft = '3000px';
  const box = document.createElement('div');
  box.className = 'sonde'; box.style.cssText = 'overflow: hidden; height: 1rem';
  const cut = document.createElement('button');
  cut.textContent = 'Coupé'; cut.style.marginTop = '3rem';
  box.append(cut);
  document.querySelector('main').append(far, box);
}"""


class Shots:
    """Each key page at a laptop's and a phone's width, its out-of-view actions noted."""

    def __init__(self) -> None:
        self.problems: list[str] = []

    async def take(self, page: Page, name: str) -> None:
        for width, height in ((1366, 900), (390, 844)):
            await page.set_viewport_size({"width": width, "height": height})
            path = ARTIFACTS / f"soixante-{name}-{width}.png"
            await page.screenshot(path=str(path), full_page=True)
            found = await page.evaluate(OUT_OF_VIEW)
            self.problems += [f"{name} à {width} px : {line}" for line in found]
        await page.set_viewport_size({"width": 1366, "height": 900})

    async def prove_it_sees(self, page: Page) -> None:
        """The check finds what it looks for: a button pushed off the page, one cut off."""
        await page.evaluate(PROBES)
        found = " | ".join(await page.evaluate(OUT_OF_VIEW))
        await page.evaluate("() => document.querySelectorAll('.sonde').forEach(e => e.remove())")
        assert "la page défile de côté" in found, found
        assert "button « Hors champ » hors de la largeur" in found, found
        assert "button « Coupé » coupé par un parent" in found, found


# --- the API's side -------------------------------------------------------------------------------
class Api:
    """The service's API over HTTP, each call with the role's token."""

    def __init__(self, http: httpx.AsyncClient) -> None:
        self.http = http

    async def post(self, path: str, role: str, **kw: Any) -> dict:
        answer = await self.http.post(path, headers=auth(role), **kw)
        assert answer.status_code in (200, 201), (path, answer.status_code, answer.text)
        return answer.json()

    async def get(self, path: str, role: str = "admin") -> dict:
        answer = await self.http.get(path, headers=auth(role))
        assert answer.status_code == 200, (path, answer.text)
        return answer.json()

    async def counts(self, call_id: str) -> dict[str, int]:
        return (await self.get(f"/calls/{call_id}/stats"))["by_stage"]

    async def until(self, call_id: str, expected: dict[str, int], timeout: float = 60) -> None:
        async def there() -> bool:
            return await self.counts(call_id) == expected

        try:
            await eventually(there, timeout=timeout, what=f"stages {expected}")
        except AssertionError:
            raise AssertionError(f"{await self.counts(call_id)} != {expected}") from None

    async def stage(self, case: str) -> str:
        return (await self.get(f"/applications/{case}"))["stage"]

    async def active(self, case: str) -> list[dict]:
        """The case's assignments still held (no conflict, not released)."""
        evaluation = (await self.get(f"/applications/{case}"))["evaluation"] or {}
        return [
            a
            for a in evaluation.get("assignments", [])
            if not a["conflict"] and not a.get("released_at")
        ]

    async def score(self, case: str, role: str, marks: tuple[float, ...]) -> None:
        base = f"/applications/{case}"
        await self.post(f"{base}/declare_interest", role, json={"conflict": False})
        await self.post(f"{base}/submit_scores", role, json=sheet(*marks))


async def gather(jobs: list, limit: int = 10) -> list:
    """Run the coroutines a few at a time (the dev server and two cores)."""
    gate = asyncio.Semaphore(limit)

    async def one(job):  # noqa: ANN001, ANN202
        async with gate:
            return await job

    return await asyncio.gather(*(one(j) for j in jobs))


async def seed(api: Api, call_id: str, index: int) -> str:
    """One application and its files; the last three without their budget."""
    body = APPLICATION | {
        "cluster_name": NAME[index],
        "contact": {"name": f"Contact {index + 1:02d}", "email": CONTACT[index]},
    }
    case = (await api.post(f"/calls/{call_id}/applications", "operator", json=body))["id"]
    for kind in DEFAULT_DOCUMENTS:
        if kind == MISSING and index >= COMPLEMENTS:
            continue
        files = {"file": (f"{kind}.pdf", PDF_BYTES, "application/octet-stream")}
        await api.post(
            f"/applications/{case}/documents", "operator", files=files, data={"kind": kind}
        )
    return case


def text_of(message: EmailMessage) -> str:
    return message.get_body(("plain",)).get_content().replace("\r\n", "\n")


def html_of(message: EmailMessage) -> str:
    part = message.get_body(("html",))
    return part.get_content() if part else ""


async def mail_count(address: str, words: str, count: int, timeout: float = 60) -> list:
    """The messages to `address` whose subject holds `words`, once `count` of them came."""

    def found() -> list[EmailMessage]:
        return [m for m in mails_to(address) if words in str(m["Subject"])]

    async def came() -> bool:
        return len(found()) >= count

    try:
        await eventually(came, timeout=timeout, what=f"{count} « {words} » to {address}")
    except AssertionError:
        subjects = [str(m["Subject"]) for m in mails_to(address)]
        raise AssertionError(f"{count} « {words} » to {address}; came: {subjects}") from None
    return found()


@dataclass
class Pilot:
    """The run: where it is, what it seeded, and what each role did (read by the letters)."""

    site: str
    api: Api
    browser: Any  # playwright's
    shots: Shots
    call_id: str = ""
    ids: list[str] = field(default_factory=list)
    pages: dict[str, Page] = field(default_factory=dict)
    evaluated: list[str] = field(default_factory=list)  # the cases the evaluators receive
    marks: dict[str, tuple[float, ...]] = field(default_factory=dict)
    panels: dict[str, list[str]] = field(default_factory=dict)  # the bulk assignment's
    conflicted: str = ""  # the case Eve declares a conflict on
    newcomer: str = ""  # who replaces her
    outcome: dict[str, str] = field(default_factory=dict)  # case → the committee's command
    revised: str = ""  # the decision revised before publication

    def url(self, path: str) -> str:
        return f"{self.site}/console{path}"

    @property
    def listing(self) -> str:
        return self.url(f"/candidatures?call_id={self.call_id}")

    async def page(self, token: str) -> Page:
        """The console signed in with `token`, one browser context each."""
        if token not in self.pages:
            self.pages[token] = await signed_in_page(self.browser, self.site, token)
        return self.pages[token]


@pytest.mark.timeout(420)  # about 100 s here; the suite's 180 s is for a single path
async def test_a_call_of_60_through_every_console(site: str, engine: Engine) -> None:
    executable = browser_or_skip()
    from playwright.async_api import async_playwright

    started = time.monotonic()
    with Session(engine) as db:  # the evaluators' addresses, where their notices go
        for role, address in EVALUATOR_MAIL.items():
            db.exec(update(UserRow).where(UserRow.name == NAMES[role]).values(email=address))
        db.commit()
    ARTIFACTS.mkdir(exist_ok=True)
    async with httpx.AsyncClient(base_url=site, timeout=60) as http, async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=executable, args=BROWSER_FLAGS)
        run = Pilot(site, Api(http), browser, Shots())
        await seed_the_call(run)
        await desk(run)
        await assign(run)
        await evaluate(run)
        await decide(run)
        await run.shots.prove_it_sees(await run.page("t-committee"))
        await browser.close()
        await read_letters(run, engine)
    assert not run.shots.problems, "\n".join(run.shots.problems)
    print(f"call of 60: {time.monotonic() - started:.0f} s")  # noqa: T201


async def seed_the_call(run: Pilot) -> None:
    """1. Through the API: the call (two evaluators a case), 60 applications and their PDF
    files (the last three without their budget); then the deadline passes."""
    started = time.monotonic()
    run.call_id = await open_call(run.api.http, TITLE, seconds=35, evaluators_per_application=2)
    run.ids = await gather([seed(run.api, run.call_id, i) for i in range(COUNT)])
    seeded = time.monotonic() - started
    assert seeded < 33, f"seeding took {seeded:.0f} s: the call closes at 35 s"
    await run.api.until(run.call_id, {"eligibility_review": COUNT}, timeout=60)


async def desk(run: Pilot) -> None:
    """2. The operator: the complete files in bulk (a page of 100, all ticked, the three
    incomplete unticked); complements asked for two (the form prefilled with the missing
    piece), one ineligible for a preset reason; the first complements answered, marked
    eligible from its page."""
    api, ids = run.api, run.ids
    operator = await run.page("t-operator")
    await operator.goto(f"{run.listing}&taille=100")
    await expect(operator.locator('input[name="ids"]')).to_have_count(COUNT)
    await operator.get_by_role("link", name=f"Sélectionner les {COUNT} de cette page").click()
    await expect(operator.locator('input[name="ids"]:checked')).to_have_count(COUNT)
    for index in (COMPLEMENTS, LATE, INELIGIBLE):
        await operator.get_by_label(f"Sélectionner {NAME[index]}", exact=True).uncheck()
    await run.shots.take(operator, "liste-operateur")
    bulk = operator.locator("#lot-mark_eligible")
    await bulk.get_by_role("button", name="Déclarer recevable").click()
    done = f"Déclarer recevable : {COMPLEMENTS} sur {COMPLEMENTS} candidature(s)."
    await expect(operator.get_by_text(done)).to_be_visible(timeout=SLOW)

    for index in (COMPLEMENTS, LATE):
        await operator.goto(run.url(f"/candidatures/{ids[index]}"))
        form = operator.locator("#form-request_complements")
        await expect(form.get_by_label("Pièces demandées (une par ligne)")).to_have_value(MISSING)
        if index == COMPLEMENTS:
            await run.shots.take(operator, "dossier-operateur")
        await form.get_by_role("button", name="Demander des compléments").click()
        await expect(operator.locator("#etape")).to_have_text("compléments demandés")
    await operator.goto(run.url(f"/candidatures/{ids[INELIGIBLE]}"))
    form = operator.locator("#form-mark_ineligible")
    await form.get_by_label("Formulation courante", exact=False).select_option(INELIGIBLE_REASON)
    await form.get_by_role("button", name="Déclarer irrecevable").click()
    await expect(operator.locator("#etape")).to_have_text("irrecevable")

    first = ids[COMPLEMENTS]
    await answer_complements(api, first)
    await operator.goto(run.url(f"/candidatures/{first}"))
    form = operator.locator("#form-mark_eligible")
    await form.get_by_role("button", name="Déclarer recevable").click()
    await expect(operator.locator("#etape")).to_have_text("recevable")
    run.evaluated = [*ids[:COMPLEMENTS], first]
    run.marks = {c: marks_of(i) for i, c in enumerate(run.evaluated)}


async def answer_complements(api: Api, case: str) -> None:
    """The applicant's missing budget, deposited and recorded by the desk."""
    files = {"file": ("budget.pdf", PDF_BYTES, "application/octet-stream")}
    budget = await api.post(
        f"/applications/{case}/documents", "operator", files=files, data={"kind": MISSING}
    )
    body = {"files": [budget["id"]]}
    await api.post(f"/applications/{case}/submit_complements", "operator", json=body)


async def assign(run: Pilot) -> None:
    """3. The admin starts the evaluation and assigns every case from a balanced proposal,
    each evaluator's open workload shown."""
    admin = await run.page("t-admin")
    count = len(run.evaluated)
    await admin.goto(run.url(f"/appels/{run.call_id}"))
    await admin.get_by_role("button", name="Lancer l'évaluation").click()
    await expect(admin.locator("#etape")).to_have_text("en évaluation")
    await admin.goto(f"{run.listing}&stage=eligible&taille=100&tout=1")
    await expect(admin.locator('input[name="ids"]:checked')).to_have_count(count)
    for name in NAMES.values():
        workload = admin.locator("#lot-assign_evaluators").get_by_text(f"{name} — 0 en cours")
        await expect(workload).to_be_visible()
    await run.shots.take(admin, "liste-admin")
    await admin.get_by_role("button", name="Proposer une affectation équilibrée").click()
    await expect(admin.get_by_role("heading", name="Affectation proposée")).to_be_visible()
    await expect(admin.locator("tr[id^=proposition-]")).to_have_count(count)
    ticked = admin.locator("#affectation input[type=checkbox]:checked")
    await expect(ticked).to_have_count(2 * count)
    await expect(admin.locator("#affectation").get_by_text("en cours").first).to_be_visible()
    await run.shots.take(admin, "proposition")
    await admin.get_by_role("button", name="Confirmer l'affectation").click()
    done = f"Affecter des évaluateurs : {count} sur {count} candidature(s)."
    await expect(admin.get_by_text(done)).to_be_visible(timeout=SLOW)
    waiting = {"evaluation": count, "complements_requested": 1, "ineligible": 1}
    await run.api.until(run.call_id, waiting)
    run.panels = {c: [a["evaluator"] for a in await run.api.active(c)] for c in run.evaluated}
    loads = [sum(name in p for p in run.panels.values()) for name in NAMES.values()]
    assert all(len(p) == 2 for p in run.panels.values())
    assert max(loads) - min(loads) <= 1, loads  # 116 assignments over four evaluators


async def evaluate(run: Pilot) -> None:
    """4. Each evaluator declares (an explicit choice) and scores one case in their console;
    the other grids go through the API with each evaluator's token (116 grids in a browser
    would take minutes). Mid-way Eve declares a conflict; the admin finds the case under
    « Évaluateurs manquants » with why, and replaces her from a proposal; the newcomer's grid
    waits until after the first attempt to publish."""
    api, panels, marks = run.api, run.panels, run.marks
    run.conflicted = conflicted = next(c for c in run.evaluated[:20] if NAMES[EVE] in panels[c])
    in_browser: dict[str, str] = {}  # evaluator → the case they score in the console
    for role in (DRISS, NADIA, YOUSSEF, EVE):
        taken = {conflicted, *in_browser.values()}
        in_browser[role] = next(
            c for c in run.evaluated[5:] if NAMES[role] in panels[c] and c not in taken
        )
    by_api = [
        (c, ROLE_OF[name])
        for c in run.evaluated
        for name in panels[c]
        if c != conflicted and in_browser.get(ROLE_OF[name]) != c
    ]
    half = len(by_api) // 2
    await gather([api.score(c, role, marks[c]) for c, role in by_api[:half]])

    eve = await run.page("t-evaluator")
    await eve.goto(run.url("/candidatures"))
    await run.shots.take(eve, "mes-evaluations")
    await eve.goto(run.url(f"/evaluer/{conflicted}"))
    await expect(eve.get_by_role("heading", name="Membres (2)")).to_be_visible()
    await run.shots.take(eve, "declaration")
    await eve.get_by_label("Je déclare un conflit d'intérêts", exact=False).check()
    await eve.get_by_role("button", name="Déclarer mes intérêts").click()
    await expect(eve.get_by_text("Conflit d'intérêts enregistré", exact=False)).to_be_visible()

    name = NAME[run.ids.index(conflicted)]
    admin = await run.page("t-admin")
    await admin.goto(run.url("/"))
    missing = admin.locator("div", has=admin.get_by_role("heading", name="Évaluateurs manquants"))
    await expect(missing.get_by_role("link", name=name)).to_be_visible()
    why = f"1 manquant(s) : conflit déclaré par {NAMES[EVE]}"
    await expect(missing.get_by_text(why)).to_be_visible()
    await run.shots.take(admin, "a-traiter")
    await admin.goto(f"{run.listing}&stage=evaluation&q={name.replace(' ', '+')}")
    await admin.get_by_label(f"Sélectionner {name}", exact=True).check()
    await admin.get_by_role("button", name="Proposer une affectation équilibrée").click()
    row = admin.locator(f"#proposition-{conflicted}")
    await expect(row).to_contain_text("1 sur 2")
    await expect(row.get_by_label(f"{NAMES[EVE]} pour", exact=False)).to_have_count(0)
    await admin.get_by_role("button", name="Confirmer l'affectation").click()
    await expect(admin.get_by_text("Affecter des évaluateurs : 1 sur 1")).to_be_visible()
    await admin.goto(run.url("/"))
    missing = admin.locator("div", has=admin.get_by_role("heading", name="Évaluateurs manquants"))
    await expect(missing.get_by_role("link", name=name)).to_have_count(0)
    held = sorted(await api.active(conflicted), key=lambda a: a["assigned_at"])
    stayed, run.newcomer = (a["evaluator"] for a in held)
    assert NAMES[EVE] not in (stayed, run.newcomer)

    for role, case in in_browser.items():
        page = await run.page(f"t-{role}")
        await grade_in_console(run, page, case, "espace-evaluation" if role == DRISS else "")
    await gather([api.score(c, role, marks[c]) for c, role in by_api[half:]])
    await api.score(conflicted, ROLE_OF[stayed], marks[conflicted])
    count = len(run.evaluated)
    waiting = {"scored": count - 1, "evaluation": 1, "complements_requested": 1, "ineligible": 1}
    await api.until(run.call_id, waiting)


async def grade_in_console(run: Pilot, page: Page, case: str, shot: str) -> None:
    """The evaluator's declaration (no conflict, chosen explicitly), then the workspace's grid."""
    await page.goto(run.url(f"/evaluer/{case}"))
    await page.get_by_label("Je déclare n'avoir aucun conflit", exact=False).check()
    await page.get_by_role("button", name="Déclarer mes intérêts").click()
    await expect(page.get_by_role("heading", name="Grille d'évaluation")).to_be_visible()
    grid = page.locator("#form-submit_scores")
    for c, mark in zip(DEFAULT_GRID.criteria, run.marks[case], strict=True):
        await grid.locator(f'[id="score.{c.code}"]').select_option(str(mark))
        await grid.locator(f'[id="comment.{c.code}"]').fill(f"Appréciation : {c.label}.")
    if shot:
        await run.shots.take(page, shot)
    await grid.get_by_role("button", name="Transmettre ma grille").click()
    await expect(page.get_by_text("Grille transmise : elle rejoint", exact=False)).to_be_visible()


async def decide(run: Pilot) -> None:
    """5. The committee: « Dossiers à décider » in ranking order; decisions from the ranking,
    the recap confirmed, one case left; publishing refused, the waiting cases counted by whom
    they wait on; the last cases decided on their pages, one decision revised (both in the
    history); then the results published, and no revision offered after."""
    api, outcome = run.api, run.outcome
    committee = await run.page("t-committee")
    ranking = await api.get(f"/calls/{run.call_id}/ranking", "committee")
    entries = ranking["ranked"] + ranking["below_threshold"]
    await committee.goto(run.url("/"))
    todo = committee.locator("div", has=committee.get_by_role("heading", name="Dossiers à décider"))
    shown = await todo.locator("p > a[href^='/console/candidatures/']").all_inner_texts()
    assert shown == [e["cluster_name"] for e in entries[:20]]
    await committee.get_by_role("link", name=f"Décider depuis le classement : {TITLE}").click()
    rows = committee.locator("tr[id^=decision-]")
    await expect(rows).to_have_count(len(entries))
    assert [await r.get_attribute("id") for r in await rows.all()] == [
        f"decision-{e['application_id']}" for e in entries
    ]
    met = [e for e in entries if e["result"]["thresholds_met"]]
    left = met[-1]["application_id"]  # left undecided: it waits on the committee
    for k, e in enumerate(entries):
        if (c := e["application_id"]) != left:
            outcome[c] = "Labelliser" if k < 15 else "Liste d'attente" if e in met else "Rejeter"
            await committee.locator(f"#decision-{c}").get_by_label(outcome[c], exact=True).check()
    first = committee.locator(f"#decision-{entries[0]['application_id']}")
    await first.get_by_role("textbox").fill("Premier du classement : plan R&D exemplaire.")
    await committee.get_by_label("Note interne du comité", exact=False).fill(INTERNAL)
    await run.shots.take(committee, "decisions")
    await committee.get_by_role("button", name="Vérifier les décisions").click()
    counts = [sum(v == w for v in outcome.values()) for w in OUTCOMES]
    recap = "{} labellisé(s), {} en liste d'attente, {} rejeté(s)".format(*counts)
    await expect(committee.get_by_text(f"À confirmer : {recap}")).to_be_visible()
    await run.shots.take(committee, "recapitulatif")
    await committee.get_by_label("Je confirme ces décisions", exact=False).check()
    await committee.get_by_role("button", name="Envoyer les décisions").click()
    sent = f"{len(outcome)} décision(s) prise(s) sur {len(outcome)} : {recap}."
    await expect(committee.get_by_text(sent)).to_be_visible(timeout=SLOW)

    await publish(run, committee)
    refused = (
        "3 candidature(s) sans décision publiable : 1 attendent le porteur du projet ; "
        "1 attendent les évaluateurs ; 1 attendent le comité."
    )
    await expect(committee.get_by_text(refused)).to_be_visible()
    await run.shots.take(committee, "publication-refusee")

    newcomer = await run.page(f"t-{ROLE_OF[run.newcomer]}")
    await grade_in_console(run, newcomer, run.conflicted, "")
    late = run.ids[LATE]
    await answer_complements(api, late)
    body = {"reason": LATE_REASON}
    await api.post(f"/applications/{late}/mark_ineligible", "operator", json=body)
    for c, action, choice in (
        (left, "put_on_reserve", "Liste d'attente"),
        (run.conflicted, "label", "Labelliser"),
    ):
        await reached(api, c, "scored")
        await committee.goto(run.url(f"/candidatures/{c}"))
        form = committee.locator(f"#form-{action}")
        reason = f"Décision prise sur la fiche du dossier ({choice.lower()})."
        await form.get_by_label("Motif communiqué au candidat", exact=False).fill(reason)
        await form.get_by_role("button").click()
        await expect(committee.locator("#etape")).not_to_have_text("évaluée")
        outcome[c] = choice

    run.revised = next(c for c, v in outcome.items() if v == "Liste d'attente" and c != left)
    await committee.goto(run.url(f"/candidatures/{run.revised}"))
    await expect(committee.get_by_role("heading", name="Réviser la décision")).to_be_visible()
    form = committee.locator("#form-label")
    await form.get_by_label("Motif communiqué au candidat", exact=False).fill(REVISED)
    await form.get_by_label("Note interne du comité", exact=False).fill(INTERNAL)
    await form.get_by_role("button", name="Labelliser").click()
    await expect(committee.locator("#etape")).to_have_text("labellisée")
    history = committee.locator("ol.fil")
    before = history.locator("li", has_text="évaluée → liste d'attente")
    await expect(before).to_contain_text("Inscrite en liste d'attente")
    await expect(before).to_contain_text("inscrit en liste d'attente")  # its reason
    after = history.locator("li", has_text="liste d'attente → labellisée")
    await expect(after).to_contain_text("Labellisée — ")
    await expect(after).to_contain_text(f"« {REVISED} »")
    await run.shots.take(committee, "revision")
    outcome[run.revised] = "Labelliser"

    await publish(run, committee)
    await expect(committee.locator("#etape")).to_have_text("résultats publiés")
    await committee.goto(run.url(f"/candidatures/{run.revised}"))
    await expect(committee.get_by_role("heading", name="Réviser la décision")).to_have_count(0)
    await expect(committee.locator("form[id^=form-]")).to_have_count(0)


async def publish(run: Pilot, committee: Page) -> None:
    await committee.goto(run.url(f"/appels/{run.call_id}"))
    form = committee.locator("#form-publish_results")
    await form.get_by_label("Je confirme : cette action ne se défait pas").check()
    await form.get_by_role("button", name="Publier les résultats").click()


async def reached(api: Api, case: str, stage: str) -> None:
    async def there() -> bool:
        return await api.stage(case) == stage

    await eventually(there, timeout=30, what=stage)


async def read_letters(run: Pilot, engine: Engine) -> None:
    """6. Every letter an applicant received names the call by its title and gives the
    reference; result letters quote the public reason (the revised one for the revised case),
    a rejection its marks per criterion against the thresholds; the internal note nowhere.
    Each evaluator got one digest per assignment batch, no message per case; the programme was
    told of the case left short."""
    ids, outcome = run.ids, run.outcome
    for c, command in outcome.items():
        await mail_count(CONTACT[ids.index(c)], RESULT[command], 1)
    await mail_count(CONTACT[LATE], "irrecevable", 1)
    LETTERS.write_text(
        "\n\n=====\n\n".join(
            f"À : {m['To']}\nObjet : {m['Subject']}\n\n{text_of(m)}"
            for index in (0, 45, COMPLEMENTS, LATE, INELIGIBLE)
            for m in mails_to(CONTACT[index])
        )
    )
    for index, c in enumerate(ids):
        received = mails_to(CONTACT[index])
        for message in received:
            subject, text = str(message["Subject"]), text_of(message)
            assert subject.startswith(f"{TITLE} — candidature {c} "), subject
            assert TITLE in text and not CALL_ID.search(text), text
            assert f"Référence à rappeler : {c}" in text
        subjects = [str(m["Subject"]) for m in received]
        assert f"{TITLE} — candidature {c} enregistrée" in subjects
        if index in (INELIGIBLE, LATE):
            [letter] = [m for m in received if str(m["Subject"]).endswith("irrecevable")]
            reason = INELIGIBLE_REASON if index == INELIGIBLE else LATE_REASON
            assert f"Motif : {reason}" in text_of(letter)
        if index in (COMPLEMENTS, LATE):
            [letter] = [m for m in received if "pièces à compléter" in str(m["Subject"])]
            assert f"– {MISSING}" in text_of(letter)
        if c in outcome:
            [result] = [m for m in received if str(m["Subject"]).endswith(RESULT[outcome[c]])]
            decision = (await run.api.get(f"/applications/{c}", "committee"))["decision"]
            result_says(run, c, text_of(result), decision["reason"])

    for role, name in NAMES.items():
        batches = [[c for c, panel in run.panels.items() if name in panel]]
        if name == run.newcomer:
            batches.append([run.conflicted])
        digests = await mail_count(EVALUATOR_MAIL[role], "candidature(s) à évaluer", len(batches))
        assert len(digests) == len(batches), [str(m["Subject"]) for m in digests]
        for message, listed in zip(digests, batches, strict=True):
            assert str(message["Subject"]) == f"{TITLE} — {len(listed)} candidature(s) à évaluer"
            text = " ".join(text_of(message).split())
            for c in listed:
                assert f"« {NAME[ids.index(c)]} », grille attendue avant le" in text, text
                assert f"/console/evaluer/{c}" in text
        singles = [
            m for m in mails_to(EVALUATOR_MAIL[role]) if set(ids) & set(str(m["Subject"]).split())
        ]
        assert not singles, [str(m["Subject"]) for m in singles]  # the digest instead
    [short] = [m for m in mails_to(PROGRAMME) if run.conflicted in str(m["Subject"])]
    subject = f"{TITLE} — évaluateurs manquants : candidature {run.conflicted}"
    assert str(short["Subject"]) == subject

    ours = [
        m
        for m in list(CATCHER.messages.values())
        if RUN in str(m["To"]) or any(c in str(m["Subject"]) for c in ids)
    ]
    assert len(ours) > 3 * COUNT
    for message in ours:
        assert INTERNAL not in text_of(message) and INTERNAL not in html_of(message)
    with Session(engine) as db:
        assert not any(INTERNAL in b for b in db.exec(select(OutboxRow.body)))


def result_says(run: Pilot, case: str, text: str, reason: str) -> None:
    """A result letter: the committee's public reason quoted; a rejection's marks."""
    assert f"« {notices.sentence(reason)} »" in text, text
    if case == run.revised:
        assert reason == REVISED and "Nous avons le plaisir" in text
    if run.outcome[case] != "Rejeter":
        assert "Notes obtenues" not in text
        return
    marks = run.marks[case]
    for criterion, mark in zip(DEFAULT_GRID.criteria, marks, strict=True):
        line = f"– {criterion.label} : {decimal(mark)} / 5 (seuil {decimal(criterion.threshold)})"
        line += " — seuil non atteint" if mark < criterion.threshold else ""
        assert line + "\n" in text, (line, text)
    overall = decimal(weighted(marks))
    assert f"– Note globale pondérée : {overall} / 5 (seuil 3,00)" in text, text
    assert "Seuil(s) non atteint(s) :" in text
