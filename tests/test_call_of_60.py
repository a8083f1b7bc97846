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
from email.message import EmailMessage
from typing import Any

import httpx
import pytest
from playwright.async_api import Page, expect
from sqlalchemy import Engine, update
from sqlmodel import Session

from domain import notices
from domain.models import DEFAULT_DOCUMENTS, DEFAULT_GRID
from projection.tables import UserRow
from tests.conftest import APPLICATION, PDF_BYTES, auth, eventually, mails_to
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


async def gather(jobs: list, limit: int = 6) -> list:
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
    def found() -> list[EmailMessage]:
        return [m for m in mails_to(address) if words in str(m["Subject"])]

    async def came() -> bool:
        return len(found()) >= count

    await eventually(came, timeout=timeout, what=f"{count} « {words} » to {address}")
    return found()


async def test_a_call_of_60_through_every_console(site: str, engine: Engine) -> None:
    executable = browser_or_skip()
    from playwright.async_api import async_playwright

    started = time.monotonic()
    with Session(engine) as db:  # the evaluators' addresses, where their notices go
        for role, address in EVALUATOR_MAIL.items():
            db.exec(update(UserRow).where(UserRow.name == NAMES[role]).values(email=address))
        db.commit()

    # 1. Seeded through the API: 60 applications and their PDF files, then the deadline passes.
    async with httpx.AsyncClient(base_url=site, timeout=60) as http:
        api = Api(http)
        call_id = await open_call(http, TITLE, seconds=45, evaluators_per_application=2)
        ids = await gather([seed(api, call_id, i) for i in range(COUNT)])
        seeded = time.monotonic() - started
        print(f"seeded in {seeded:.0f} s")  # noqa: T201
        assert seeded < 40, f"seeding took {seeded:.0f} s: the call closes at 45 s"
        await api.until(call_id, {"eligibility_review": COUNT}, timeout=60)
        case = dict(zip(NAME, ids, strict=True))
        complete = ids[:COMPLEMENTS]

        ARTIFACTS.mkdir(exist_ok=True)
        shots = Shots()
        async with async_playwright() as playwright:
            browser = await playwright.chromium.launch(
                executable_path=executable, args=BROWSER_FLAGS
            )
            await run_consoles(browser, site, api, call_id, ids, case, complete, shots)
            await browser.close()

        await read_letters(api, ids)
    assert not shots.problems, "\n".join(shots.problems)
    print(f"call of 60: {time.monotonic() - started:.0f} s")  # noqa: T201


async def run_consoles(
    browser,  # noqa: ANN001 (playwright's)
    site: str,
    api: Api,
    call_id: str,
    ids: list[str],
    case: dict[str, str],
    complete: list[str],
    shots: Shots,
) -> None:
    listing = f"{site}/console/candidatures?call_id={call_id}"

    # 2. The operator: the complete files in bulk (a page of 100, all ticked, three unticked).
    operator = await signed_in_page(browser, site, "t-operator")
    await operator.goto(f"{listing}&taille=100")
    await expect(operator.locator('input[name="ids"]')).to_have_count(COUNT)
    await operator.get_by_role("link", name=f"Sélectionner les {COUNT} de cette page").click()
    await expect(operator.locator('input[name="ids"]:checked')).to_have_count(COUNT)
    for index in (COMPLEMENTS, LATE, INELIGIBLE):
        await operator.get_by_label(f"Sélectionner {NAME[index]}", exact=True).uncheck()
    await shots.take(operator, "liste-operateur")
    await (
        operator.locator("#lot-mark_eligible")
        .get_by_role("button", name="Déclarer recevable")
        .click()
    )
    await expect(
        operator.get_by_text(
            f"Déclarer recevable : {COMPLEMENTS} sur {COMPLEMENTS} candidature(s)."
        )
    ).to_be_visible(timeout=SLOW)

    # Complements for two, the form prefilled with the missing piece; one ineligible, a preset.
    for index in (COMPLEMENTS, LATE):
        await operator.goto(f"{site}/console/candidatures/{ids[index]}")
        form = operator.locator("#form-request_complements")
        await expect(form.get_by_label("Pièces demandées (une par ligne)")).to_have_value(MISSING)
        if index == COMPLEMENTS:
            await shots.take(operator, "dossier-operateur")
        await form.get_by_role("button", name="Demander des compléments").click()
        await expect(operator.locator("#etape")).to_have_text("compléments demandés")
    await operator.goto(f"{site}/console/candidatures/{ids[INELIGIBLE]}")
    form = operator.locator("#form-mark_ineligible")
    await form.get_by_label("Formulation courante", exact=False).select_option(INELIGIBLE_REASON)
    await form.get_by_role("button", name="Déclarer irrecevable").click()
    await expect(operator.locator("#etape")).to_have_text("irrecevable")

    # The first answers with its budget; the desk marks it eligible from its page.
    first = ids[COMPLEMENTS]
    files = {"file": ("budget.pdf", PDF_BYTES, "application/octet-stream")}
    budget = await api.post(
        f"/applications/{first}/documents", "operator", files=files, data={"kind": MISSING}
    )
    await api.post(
        f"/applications/{first}/submit_complements", "operator", json={"files": [budget["id"]]}
    )
    await operator.goto(f"{site}/console/candidatures/{first}")
    await (
        operator.locator("#form-mark_eligible")
        .get_by_role("button", name="Déclarer recevable")
        .click()
    )
    await expect(operator.locator("#etape")).to_have_text("recevable")
    evaluated = [*complete, first]  # 58 cases go to the evaluators
    marks = {c: marks_of(i) for i, c in enumerate(evaluated)}

    # 3. The admin starts the evaluation and assigns every case from a balanced proposal.
    admin = await signed_in_page(browser, site, "t-admin")
    await admin.goto(f"{site}/console/appels/{call_id}")
    await admin.get_by_role("button", name="Lancer l'évaluation").click()
    await expect(admin.locator("#etape")).to_have_text("en évaluation")
    await admin.goto(f"{listing}&stage=eligible&taille=100&tout=1")
    await expect(admin.locator('input[name="ids"]:checked')).to_have_count(len(evaluated))
    for role in NAMES:  # each evaluator's open workload beside their name
        await expect(
            admin.locator("#lot-assign_evaluators").get_by_text(f"{NAMES[role]} — 0 en cours")
        ).to_be_visible()
    await shots.take(admin, "liste-admin")
    await admin.get_by_role("button", name="Proposer une affectation équilibrée").click()
    await expect(admin.get_by_role("heading", name="Affectation proposée")).to_be_visible()
    await expect(admin.locator("tr[id^=proposition-]")).to_have_count(len(evaluated))
    await expect(admin.locator("#affectation input[type=checkbox]:checked")).to_have_count(
        2 * len(evaluated)
    )
    await shots.take(admin, "proposition")
    await admin.get_by_role("button", name="Confirmer l'affectation").click()
    await expect(
        admin.get_by_text(f"Affecter des évaluateurs : {len(evaluated)} sur {len(evaluated)}")
    ).to_be_visible(timeout=SLOW)
    await api.until(
        call_id,
        {"evaluation": len(evaluated), "complements_requested": 1, "ineligible": 1},
    )
    panels = {c: [a["evaluator"] for a in await api.active(c)] for c in evaluated}
    loads = [sum(NAMES[r] in p for p in panels.values()) for r in NAMES]
    assert all(len(p) == 2 for p in panels.values())
    assert max(loads) - min(loads) <= 1, loads  # balanced: 116 assignments over four
    assigned_first = {r: sum(NAMES[r] in p for p in panels.values()) for r in NAMES}

    # 4. The evaluators: each declares and scores one case in the console; the rest of the
    # 116 grids go through the API (a grid in the browser takes seconds: the API keeps the
    # test short; the console's own path is the one each evaluator takes here).
    conflicted = next(c for c in evaluated[:20] if NAMES[EVE] in panels[c])  # a top case
    in_browser: dict[str, str] = {}  # evaluator role → the case they score in the console
    for role in (DRISS, NADIA, YOUSSEF, EVE):
        taken = {conflicted, *in_browser.values()}
        in_browser[role] = next(
            c
            for c in evaluated[5:]
            if NAMES[role] in panels[c]
            and c not in taken
            and not any(c == in_browser.get(ROLE_OF[other]) for other in panels[c])
        )
    by_api = [
        (c, ROLE_OF[name])
        for c in evaluated
        for name in panels[c]
        if c != conflicted and in_browser.get(ROLE_OF[name]) != c
    ]
    half = len(by_api) // 2
    await gather([api.score(c, role, marks[c]) for c, role in by_api[:half]])

    # Mid-way, Eve declares a conflict on a case she was given, after seeing its members.
    eve = await signed_in_page(browser, site, "t-evaluator")
    await eve.goto(f"{site}/console/candidatures")
    await shots.take(eve, "mes-evaluations")
    await eve.goto(f"{site}/console/evaluer/{conflicted}")
    await expect(eve.get_by_role("heading", name="Membres (2)")).to_be_visible()
    await shots.take(eve, "declaration")
    await eve.get_by_label("Je déclare un conflit d'intérêts", exact=False).check()
    await eve.get_by_role("button", name="Déclarer mes intérêts").click()
    await expect(eve.get_by_text("Conflit d'intérêts enregistré", exact=False)).to_be_visible()
    conflicted_name = next(n for n, c in case.items() if c == conflicted)

    # The admin finds it under « Évaluateurs manquants », with why, and replaces Eve.
    await admin.goto(f"{site}/console/")
    missing = admin.locator("div", has=admin.get_by_role("heading", name="Évaluateurs manquants"))
    await expect(missing.get_by_role("link", name=conflicted_name)).to_be_visible()
    await expect(
        missing.get_by_text(f"1 manquant(s) : conflit déclaré par {NAMES[EVE]}")
    ).to_be_visible()
    await shots.take(admin, "a-traiter")
    await admin.goto(f"{listing}&stage=evaluation&q={conflicted_name.replace(' ', '+')}")
    await admin.get_by_label(f"Sélectionner {conflicted_name}", exact=True).check()
    await admin.get_by_role("button", name="Proposer une affectation équilibrée").click()
    row = admin.locator(f"#proposition-{conflicted}")
    await expect(row).to_contain_text("1 sur 2")
    await expect(row.get_by_label(f"{NAMES[EVE]} pour", exact=False)).to_have_count(0)
    await admin.get_by_role("button", name="Confirmer l'affectation").click()
    await expect(admin.get_by_text("Affecter des évaluateurs : 1 sur 1")).to_be_visible()
    await admin.goto(f"{site}/console/")
    missing = admin.locator("div", has=admin.get_by_role("heading", name="Évaluateurs manquants"))
    await expect(missing.get_by_role("link", name=conflicted_name)).to_have_count(0)
    panels[conflicted] = [a["evaluator"] for a in await api.active(conflicted)]
    assert NAMES[EVE] not in panels[conflicted] and len(panels[conflicted]) == 2
    stayed, new = await split_panel(api, conflicted)
    assigned_first[ROLE_OF[new]] += 1  # told of the replaced case too

    # Each evaluator in their console: an explicit declaration, then the workspace's grid.
    pages = {EVE: eve}
    for role, token in (
        (DRISS, "t-evaluator2"),
        (NADIA, "t-evaluator3"),
        (YOUSSEF, "t-evaluator4"),
    ):
        pages[role] = await signed_in_page(browser, site, token)
    for role, chosen in in_browser.items():
        await grade_in_console(
            pages[role], site, chosen, marks[chosen], shots if role == DRISS else None
        )
    await gather([api.score(c, role, marks[c]) for c, role in by_api[half:]])
    await api.score(conflicted, ROLE_OF[stayed], marks[conflicted])
    await api.until(
        call_id,
        {
            "scored": len(evaluated) - 1,
            "evaluation": 1,
            "complements_requested": 1,
            "ineligible": 1,
        },
    )

    # 5. The committee: « Dossiers à décider » in ranking order, then decisions from the ranking.
    committee = await signed_in_page(browser, site, "t-committee")
    ranking = await api.get(f"/calls/{call_id}/ranking", "committee")
    order = [e["cluster_name"] for e in ranking["ranked"] + ranking["below_threshold"]]
    await committee.goto(f"{site}/console/")
    todo = committee.locator("div", has=committee.get_by_role("heading", name="Dossiers à décider"))
    shown = await todo.locator("p > a[href^='/console/candidatures/']").all_inner_texts()
    assert shown == order[: len(shown)] and len(shown) == 20
    await committee.get_by_role("link", name=f"Décider depuis le classement : {TITLE}").click()
    rows = committee.locator("tr[id^=decision-]")
    await expect(rows).to_have_count(len(evaluated) - 1)
    entries = ranking["ranked"] + ranking["below_threshold"]
    assert [await r.get_attribute("id") for r in await rows.all()] == [
        f"decision-{e['application_id']}" for e in entries
    ]
    outcome: dict[str, str] = {}
    met = [e for e in entries if e["result"]["thresholds_met"]]
    left = met[-1]["application_id"]  # left undecided: it waits on the committee
    for k, e in enumerate(entries):
        c = e["application_id"]
        if c == left:
            continue
        choice = "Labelliser" if k < 15 else "Liste d'attente" if e in met else "Rejeter"
        outcome[c] = choice
        await committee.locator(f"#decision-{c}").get_by_label(choice, exact=True).check()
    custom = {entries[0]["application_id"]: "Premier du classement : plan R&D exemplaire."}
    for c, reason in custom.items():
        await committee.locator(f"#decision-{c}").get_by_role("textbox").fill(reason)
    await committee.get_by_label("Note interne du comité", exact=False).fill(INTERNAL)
    await shots.take(committee, "decisions")
    await committee.get_by_role("button", name="Vérifier les décisions").click()
    labelled = sum(v == "Labelliser" for v in outcome.values())
    reserve = sum(v == "Liste d'attente" for v in outcome.values())
    rejected = sum(v == "Rejeter" for v in outcome.values())
    recap = f"{labelled} labellisé(s), {reserve} en liste d'attente, {rejected} rejeté(s)"
    await expect(committee.get_by_text(f"À confirmer : {recap}")).to_be_visible()
    await shots.take(committee, "recapitulatif")
    await committee.get_by_label("Je confirme ces décisions", exact=False).check()
    await committee.get_by_role("button", name="Envoyer les décisions").click()
    await expect(
        committee.get_by_text(f"{len(outcome)} décision(s) prise(s) sur {len(outcome)} : {recap}.")
    ).to_be_visible(timeout=SLOW)

    # Publishing now is refused, the waiting cases counted by whom they wait on.
    await committee.goto(f"{site}/console/appels/{call_id}")
    publish = committee.locator("#form-publish_results")
    await publish.get_by_label("Je confirme : cette action ne se défait pas").check()
    await publish.get_by_role("button", name="Publier les résultats").click()
    await expect(
        committee.get_by_text(
            "3 candidature(s) sans décision publiable : 1 attendent le porteur du projet ; "
            "1 attendent les évaluateurs ; 1 attendent le comité."
        )
    ).to_be_visible()
    await shots.take(committee, "publication-refusee")

    # The newcomer scores the replaced case; the late complements end ineligible; the case left
    # is decided on its own page.
    await grade_in_console(pages[ROLE_OF[new]], site, conflicted, marks[conflicted], None)
    late = ids[LATE]
    files = {"file": ("budget.pdf", PDF_BYTES, "application/octet-stream")}
    budget = await api.post(
        f"/applications/{late}/documents", "operator", files=files, data={"kind": MISSING}
    )
    await api.post(
        f"/applications/{late}/submit_complements", "operator", json={"files": [budget["id"]]}
    )
    await api.post(
        f"/applications/{late}/mark_ineligible", "operator", json={"reason": LATE_REASON}
    )
    for c, action, choice in (
        (left, "put_on_reserve", "Liste d'attente"),
        (conflicted, "label", "Labelliser"),
    ):
        await reached(api, c, "scored")
        await committee.goto(f"{site}/console/candidatures/{c}")
        form = committee.locator(f"#form-{action}")
        await form.get_by_label("Motif communiqué au candidat", exact=False).fill(
            f"Décision prise sur la fiche du dossier ({choice.lower()})."
        )
        await form.get_by_role("button").click()
        await expect(committee.locator("#etape")).not_to_have_text("évaluée")
        outcome[c] = choice

    # A reserve decision revised on its case page: both stay in the history.
    revised = next(c for c, v in outcome.items() if v == "Liste d'attente" and c != left)
    await committee.goto(f"{site}/console/candidatures/{revised}")
    await expect(committee.get_by_role("heading", name="Réviser la décision")).to_be_visible()
    form = committee.locator("#form-label")
    await form.get_by_label("Motif communiqué au candidat", exact=False).fill(REVISED)
    await form.get_by_label("Note interne du comité", exact=False).fill(INTERNAL)
    await form.get_by_role("button", name="Labelliser").click()
    await expect(committee.locator("#etape")).to_have_text("labellisée")
    history = committee.locator("ol.fil")
    first_decision = history.locator("li", has_text="évaluée → liste d'attente")
    await expect(first_decision).to_contain_text("Inscrite en liste d'attente")
    await expect(first_decision).to_contain_text("inscrit en liste d'attente")  # its reason
    revision = history.locator("li", has_text="liste d'attente → labellisée")
    await expect(revision).to_contain_text("Labellisée")
    await expect(revision).to_contain_text(f"« {REVISED} »")
    await shots.take(committee, "revision")
    outcome[revised] = "Labelliser"

    await committee.goto(f"{site}/console/appels/{call_id}")
    publish = committee.locator("#form-publish_results")
    await publish.get_by_label("Je confirme : cette action ne se défait pas").check()
    await publish.get_by_role("button", name="Publier les résultats").click()
    await expect(committee.locator("#etape")).to_have_text("résultats publiés")
    api.outcome, api.revised, api.marks, api.assigned = outcome, revised, marks, assigned_first
    api.conflicted, api.newcomer = conflicted, new


async def split_panel(api: Api, case: str) -> tuple[str, str]:
    """The case's evaluator kept from the first panel, and the one added for Eve."""
    held = await api.active(case)
    held.sort(key=lambda a: a["assigned_at"])
    return held[0]["evaluator"], held[-1]["evaluator"]


async def reached(api: Api, case: str, stage: str) -> None:
    async def there() -> bool:
        return await api.stage(case) == stage

    await eventually(there, timeout=30, what=stage)


async def grade_in_console(
    page: Page, site: str, case: str, marks: tuple[float, ...], shots: Shots | None
) -> None:
    """The evaluator's declaration (no conflict, chosen explicitly), then the workspace's grid."""
    await page.goto(f"{site}/console/evaluer/{case}")
    await page.get_by_label("Je déclare n'avoir aucun conflit", exact=False).check()
    await page.get_by_role("button", name="Déclarer mes intérêts").click()
    await expect(page.get_by_role("heading", name="Grille d'évaluation")).to_be_visible()
    grid = page.locator("#form-submit_scores")
    for c, mark in zip(DEFAULT_GRID.criteria, marks, strict=True):
        await grid.locator(f'[id="score.{c.code}"]').select_option(str(mark))
        await grid.locator(f'[id="comment.{c.code}"]').fill(f"Appréciation : {c.label}.")
    if shots:
        await shots.take(page, "espace-evaluation")
    await grid.get_by_role("button", name="Transmettre ma grille").click()
    await expect(page.get_by_text("Grille transmise : elle rejoint", exact=False)).to_be_visible()


async def read_letters(api: Api, ids: list[str]) -> None:
    """6. Every letter an applicant received names the call's title and says what it means."""
    outcome: dict[str, str] = api.outcome  # type: ignore[attr-defined]
    word = {
        "Labelliser": "labellisée",
        "Liste d'attente": "en liste d'attente",
        "Rejeter": "non retenue",
    }
    for c, choice in outcome.items():
        index = ids.index(c)
        await mail_count(CONTACT[index], word[choice], 1)
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
        assert received, NAME[index]
        detail = await api.get(f"/applications/{c}", "committee")
        for message in received:
            subject, text = str(message["Subject"]), text_of(message)
            assert subject.startswith(f"{TITLE} — candidature {c}"), subject
            assert TITLE in text and api_call_id_absent(text), text
            assert INTERNAL not in text and INTERNAL not in html_of(message)
            assert f"Référence à rappeler : {c}" in text
        kinds = [str(m["Subject"]).rsplit(c, 1)[1].strip() for m in received]
        assert "enregistrée" in kinds, (NAME[index], kinds)
        if index == INELIGIBLE or index == LATE:
            [letter] = [m for m in received if str(m["Subject"]).endswith("irrecevable")]
            reason = INELIGIBLE_REASON if index == INELIGIBLE else LATE_REASON
            assert f"Motif : {reason}" in text_of(letter)
        if index in (COMPLEMENTS, LATE):
            [letter] = [m for m in received if "pièces à compléter" in str(m["Subject"])]
            assert f"– {MISSING}" in text_of(letter)
        if c not in outcome:
            continue
        [result] = [m for m in received if str(m["Subject"]).endswith(word[outcome[c]])]
        text = text_of(result)
        reason = detail["decision"]["reason"]
        assert f"« {notices.sentence(reason)} »" in " ".join(text.split()) or (
            f"« {notices.sentence(reason)} »" in text
        ), text
        if c == api.revised:  # type: ignore[attr-defined]
            assert reason == REVISED and f"« {REVISED} »" in text
            assert "Nous avons le plaisir" in text
        if outcome[c] == "Rejeter":
            marks = api.marks[c]  # type: ignore[attr-defined]
            for criterion, mark in zip(DEFAULT_GRID.criteria, marks, strict=True):
                line = f"– {criterion.label} : {decimal(mark)} / 5 (seuil {decimal(criterion.threshold)})"
                line += " — seuil non atteint" if mark < criterion.threshold else ""
                assert line + "\n" in text, (line, text)
            overall = f"– Note globale pondérée : {decimal(weighted(marks))} / 5 (seuil 3,00)"
            assert overall in text, text
            assert "Seuil(s) non atteint(s) :" in text
        else:
            assert "Notes obtenues" not in text

    # The evaluators: told of each case (the console's bulk assignment sends no digest).
    for role, count in api.assigned.items():  # type: ignore[attr-defined]
        assigned = await mail_count(EVALUATOR_MAIL[role], "à évaluer", count)
        for message in assigned:
            assert str(message["Subject"]).startswith(f"{TITLE} — candidature ")
            assert TITLE in text_of(message) and "/console/evaluer/" in text_of(message)
    short = [
        m
        for m in mails_to(PROGRAMME)
        if api.conflicted in str(m["Subject"])  # type: ignore[attr-defined]
    ]
    assert len(short) == 1 and "évaluateurs manquants" in str(short[0]["Subject"])
    assert str(short[0]["Subject"]).startswith(f"{TITLE} — évaluateurs manquants")


def api_call_id_absent(text: str) -> bool:
    return re.search(r"\b20\d\d-[0-9a-f]{12}\b", text) is None
