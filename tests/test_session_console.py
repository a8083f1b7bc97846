"""The committee session in the console: every kind of form input the lifecycle table declares
is drawn and read (a new kind without either fails here), and a whole session through the pages
as its members use them, on the time-skipping server: prepared, convened, attendance pointed,
opened, an item opened with a withdrawal and decided, the next item, closed; each page in
French, each refused form shown again as typed, each form refused from another site."""

import html
import re
from functools import partial

import httpx
import pytest
from markupsafe import escape
from playwright.async_api import Page, expect
from starlette.datastructures import FormData

import console.views  # noqa: F401 (the templates' globals: the session's choices, the presets)
from console.forms import payload
from console.pages import templates
from domain.lifecycle import TRANSITIONS
from domain.models import DEFAULT_GRID, MemberType
from domain.session import REASON_CODES
from domain.table import F, FormField
from tests.conftest import APPLICATION, PDF_BYTES, Service, auth, eventually
from tests.test_accessibility import BLOCKING, RUN_AXE, axe_or_skip, signed_in
from tests.test_api import open_call as open_call_api
from tests.test_authorization import console_message
from tests.test_call_of_60 import OUT_OF_VIEW
from tests.test_console import ARTIFACTS, BROWSER_FLAGS, browser_or_skip, open_call
from tests.test_evaluation import DRISS, EVE, NAMES, sheet
from tests.test_session_workflow import MEMBERS, PRESIDENT, SECRETARY, scored_files, start_session

FORMS = templates.env.from_string(
    '{% from "_actions.html" import action_forms with context %}'
    "{{ action_forms('seances', 'abc', actions, 'k', evaluators, grid, files, sectors, assigned,"
    " members=members, items=items, item=item) }}"
)
CRITERION = DEFAULT_GRID.criteria[0].code


def _tags(page: str, name: str) -> list[str]:
    """The inputs, selects and text areas named `name`."""
    return re.findall(rf'<(?:input|select|textarea)\b[^>]*\bname="{re.escape(name)}"[^>]*>', page)


# How each kind is drawn: the control its field's name is on, and what that control must be.
DRAWN = {
    F.TEXT: lambda f: (f.name, 'type="text"'),
    F.TEXTAREA: lambda f: (f.name, "<textarea"),
    F.LINES: lambda f: (f.name, "<textarea"),
    F.DATE: lambda f: (f.name, 'type="date"'),
    F.NUMBER: lambda f: (f.name, 'inputmode="decimal"'),
    F.CHECKBOX: lambda f: (f.name, 'type="checkbox"'),
    F.CHOICE: lambda f: (f.name, 'type="radio"'),
    F.SECTOR: lambda f: (f.name, "<select"),
    F.AMOUNTS: lambda f: (f.name, "<textarea"),
    F.KPIS: lambda f: (f"{f.name}.patents", 'type="number"'),
    F.EVALUATORS: lambda f: (f.name, 'value="Eve Évaluatrice"'),
    F.ASSIGNED: lambda f: (f.name, "<select"),
    F.GRID: lambda f: (f"score.{CRITERION}", "<select"),
    F.FILE: lambda f: (f.name, "<select"),
    F.FILES: lambda f: (f.name, 'value="d1"'),
    F.CONFIRM: lambda f: (f.name, "required"),
    F.MEMBERS: lambda f: (f.name, "<textarea"),
    F.CONTACT: lambda f: (f"{f.name}.email", 'type="email"'),
    F.ITEM: lambda f: (f.name, "<select"),  # a choice on the session's page…
    F.PRESENT: lambda f: (f.name, 'value="Salma Comité"'),
    F.OUTCOME: lambda f: (f.name, 'value="reserve"'),
    F.REASON_CODES: lambda f: (f.name, 'value="note_globale"'),
    F.TRANCHE: lambda f: (f.name, "<select"),
}


def _drawn(action: str, item: str | None = None) -> str:
    return FORMS.render(
        actions=[action],
        evaluators=["Eve Évaluatrice"],
        grid=DEFAULT_GRID,
        files=[{"id": "d1", "kind": "autre", "filename": "a.pdf", "uploaded_at": None}],
        sectors=["textile"],
        assigned=["Eve Évaluatrice"],
        members=[("Karim Comité", "président"), ("Salma Comité", "secrétaire")],
        items=[("a1", "1. Cluster Alpha")],
        item=item,
        filled={},
        errors={},
    )


def test_every_kind_of_input_the_table_declares_is_drawn_as_its_kind() -> None:
    assert set(DRAWN) == set(F), "a kind of input without its drawing: add it to _actions.html"
    for action, row in TRANSITIONS.items():
        drawn = _drawn(action)
        for f in row.fields:
            name, mark = DRAWN[f.kind](f)
            assert any(mark in tag for tag in _tags(drawn, name)), (action, f.name, f.kind)
    # On an item's own page, its item is the page's: a hidden input, no choice.
    drawn = _drawn("decide_item", item="a1")
    assert _tags(drawn, "application_id") == [
        '<input type="hidden" name="application_id" value="a1">'
    ]
    for code, sentence in REASON_CODES.items():
        assert f'value="{code}"> {escape(sentence)}' in drawn
    assert "liste d&#39;attente" in drawn and "labellisée" in drawn and "rejetée" in drawn


# How each kind is read: what the form sends for a field « x », and what the body holds.
MISSING = object()
READ = {
    F.TEXT: ([("x", " abc ")], "abc"),
    F.TEXTAREA: ([("x", "Deux\nlignes")], "Deux\nlignes"),
    F.LINES: ([("x", "a\n\n b ")], ["a", "b"]),
    F.DATE: ([("x", "2027-01-04")], "2027-01-04"),
    F.NUMBER: ([("x", "1 000,5")], 1000.5),
    F.CHECKBOX: ([("x", "on")], True),
    F.CHOICE: ([("x", "false")], False),
    F.SECTOR: ([("x", "textile")], "textile"),
    F.AMOUNTS: ([("x", "1 200 000\n900000")], [1_200_000.0, 900_000.0]),
    F.KPIS: ([("x.patents", "2")], {"patents": 2}),
    F.EVALUATORS: ([("x", "Eve"), ("x", "Driss")], ["Eve", "Driss"]),
    F.ASSIGNED: ([("x", "Eve")], "Eve"),
    F.GRID: ([(f"score.{c.code}", "3,5") for c in DEFAULT_GRID.criteria], MISSING),
    F.FILE: ([("x", "d1")], "d1"),
    F.FILES: ([("x", "d1"), ("x", "d2")], ["d1", "d2"]),
    F.CONFIRM: ([("x", "on")], MISSING),  # never part of the body
    F.MEMBERS: ([("x", "Aero SA ; entreprise")], [{"name": "Aero SA", "type": MemberType.COMPANY}]),
    F.CONTACT: (
        [("x.name", "Salma"), ("x.email", "s@c.ma")],
        {"name": "Salma", "email": "s@c.ma", "phone": None},
    ),
    F.ITEM: ([("x", "a1")], "a1"),
    F.PRESENT: ([("x", "Karim Comité"), ("x", "Salma Comité")], ["Karim Comité", "Salma Comité"]),
    F.OUTCOME: ([("x", "reserve")], "reserve"),
    F.REASON_CODES: ([("x", "criteres"), ("x", "enveloppe")], ["criteres", "enveloppe"]),
    F.TRANCHE: ([("x", "1-1")], "1-1"),
}


@pytest.mark.parametrize("kind", list(F))
def test_every_kind_of_input_is_read(kind: F) -> None:
    assert set(READ) == set(F), "a kind of input without its reading: add it to console.forms"
    sent, expected = READ[kind]
    body = payload((FormField(name="x", label="X", kind=kind),), FormData(sent), DEFAULT_GRID)
    if kind == F.GRID:
        assert [s["score"] for s in body["x"]] == [3.5] * len(DEFAULT_GRID.criteria)
    else:
        assert body.get("x", MISSING) == expected


# --- a whole session through the console --------------------------------------------------------
CLUSTER_MEMBER = "Aero Parts SA"  # one of every test application's members (conftest)
EVIL = {"Origin": "https://evil.example"}


def key_of(page: httpx.Response, form_id: str) -> str:
    """The key the form `form_id` carries on the page (a browser sends it back)."""
    form = re.search(rf'<form\b[^>]*id="{form_id}".*?</form>', page.text, re.S)
    assert form, f"no form {form_id} on {page.request.url}"
    key = re.search(r'name="cle" value="([^"]+)"', form.group(0))
    assert key
    return key.group(1)


async def submit(
    browser: httpx.AsyncClient, page_path: str, action: str, data: dict, to: str | None = None
) -> httpx.Response:
    """The action's form on the page, filled with `data` and sent as the page sends it."""
    page = await browser.get(page_path)
    assert page.status_code == 200, page.text
    assert f'id="form-{action}"' in page.text, (action, page_path)
    return await browser.post(
        f"{to or page_path}/{action}", data={"cle": key_of(page, f"form-{action}"), **data}
    )


def moved(answer: httpx.Response, to: str, says: str) -> None:
    assert answer.status_code == 303, answer.text
    assert answer.headers["location"] == to
    message = console_message(answer)
    assert message and message["kind"] == "succes" and says in message["lines"][0], message


def refused_with(answer: httpx.Response, code: int, says: str) -> str:
    assert answer.status_code == code, answer.text[:2000]
    message = console_message(answer)
    assert message and any(says in line for line in message["lines"]), message
    return answer.text


@pytest.mark.asyncio(loop_scope="session")
async def test_a_session_sat_through_the_console(skipping: Service) -> None:
    service = skipping
    call_id, files = await scored_files(service, {"Cluster Alpha": 5, "Cluster Beta": 3})
    alpha, beta = files.values()
    members = [
        {"name": PRESIDENT, "function": "président"},
        {"name": SECRETARY, "function": "secrétaire"},
        {"name": MEMBERS[0], "organisation": CLUSTER_MEMBER},  # a likely conflict on each file
        {"name": MEMBERS[1]},
        {"name": MEMBERS[2]},
    ]
    handle = await start_session(service, call_id, members=members)
    session_id = handle.id.removeprefix("session-")
    here = f"/console/seances/{session_id}"
    admin = await service.signed_in("t-admin")
    karim = await service.signed_in("t-committee")  # the president
    salma = await service.signed_in("t-committee2")  # the secretary
    hassan = await service.signed_in("t-committee3")
    operator = await service.signed_in("t-operator")

    # The list: for the committee and the managers; only a manager prepares a session.
    listed = await admin.get("/console/seances")
    assert listed.status_code == 200
    assert "Comité de pilotage — séance 1" in listed.text and "séance en préparation" in listed.text
    assert 'href="/console/seances/nouvelle"' in listed.text
    assert '<a href="/console/seances" aria-current="page">Séances</a>' in listed.text
    seen = await karim.get("/console/seances")
    assert seen.status_code == 200 and "Préparer une séance" not in seen.text
    assert (await operator.get("/console/seances")).status_code == 403
    assert ">Séances</a>" not in (await operator.get("/console/appels")).text
    prepare = await karim.get("/console/seances/nouvelle")
    assert prepare.status_code == 303
    assert "Seul un gestionnaire" in console_message(prepare)["lines"][0]

    # The draft revised through its form: refused, it comes back as typed, each error beside
    # its field; accepted, the page shows it.
    edit = await admin.get(f"{here}/modifier")
    assert edit.status_code == 200 and 'value="Comité de pilotage — séance 1"' in edit.text
    form = {
        "cle": key_of(edit, "form-seance"),
        "title": "Comité de pilotage — séance de printemps",
        "call_ids": [call_id],
        "meets_at": "2027-04-15T10:00",
        "place": "Rabat, salle du conseil",
        "quorum_percent": "50",
        "membre": [PRESIDENT, SECRETARY, *MEMBERS],
        f"fonction.{PRESIDENT}": "président",
        f"fonction.{SECRETARY}": "membre",  # no secretary
        f"organisation.{MEMBERS[0]}": CLUSTER_MEMBER,
        **{f"votant.{n}": "on" for n in (PRESIDENT, SECRETARY, *MEMBERS)},
    }
    wrong = await admin.post(f"{here}/modifier", data=form)
    page = refused_with(wrong, 422, "un(e) seul(e) secrétaire")
    assert (
        'id="members-erreur"' in page and 'value="Comité de pilotage — séance de printemps"' in page
    )
    assert f'value="{CLUSTER_MEMBER}"' in page  # nothing typed is lost
    revised = await admin.post(
        f"{here}/modifier", data=form | {f"fonction.{SECRETARY}": "secrétaire"}
    )
    moved(revised, here, "Séance enregistrée")
    page = await admin.get(here)
    assert (
        "Comité de pilotage — séance de printemps" in page.text
        and "Rabat, salle du conseil" in page.text
    )
    assert "0 présent(s) sur 5 votant(s), il en faut 3" in page.text

    # Forged: from another site, or with a malformed key; the convocation wants its box ticked.
    forged = await admin.post(f"{here}/convene", data={"confirme": "on"}, headers=EVIL)
    assert forged.status_code == 403 and "intersites" in forged.text
    malformed = await admin.post(f"{here}/convene", data={"cle": "a b", "confirme": "on"})
    refused_with(malformed, 422, "malformée")
    unconfirmed = await submit(admin, here, "convene", {})
    refused_with(unconfirmed, 422, "cochez la confirmation")
    moved(
        await submit(admin, here, "convene", {"confirme": "on"}),
        here,
        "Convoquer les membres : fait",
    )
    page = (await admin.get(here)).text
    assert "séance convoquée" in page and "Cluster Alpha" in page and "Cluster Beta" in page
    assert page.index("Cluster Alpha") < page.index("Cluster Beta")  # best first
    assert "1 conflit(s) probable(s)" in page
    pack = await admin.get(f"{here}/dossier-de-seance.pdf")
    assert pack.status_code == 200 and pack.headers["content-type"] == "application/pdf"

    # Attendance: the quorum is told, and refused until it is reached.
    two = {"present": [PRESIDENT, SECRETARY]}
    moved(await submit(salma, here, "record_attendance", two), here, "Pointer les présents : fait")
    page = await salma.get(here)
    assert "2 présent(s) sur 5 votant(s), il en faut 3" in page.text
    assert f'name="present" value="{PRESIDENT}" checked' in page.text  # prefilled
    early = await submit(salma, here, "open_session", {})
    refused_with(early, 409, "Quorum non atteint : 2 membre(s) votant(s) présent(s), il en faut 3")
    four = {"present": [PRESIDENT, SECRETARY, MEMBERS[0], MEMBERS[1]]}
    moved(await submit(salma, here, "record_attendance", four), here, "fait")
    moved(await submit(karim, here, "open_session", {}), here, "Ouvrir la séance : fait")
    assert "Examiner le dossier suivant : 1. Cluster Alpha" in (await karim.get(here)).text

    # Alpha: its evidence, its likely conflict and why; refused until the member withdraws or
    # declares none; opened with the withdrawal, its quorum counted without him.
    item = f"{here}/dossiers/{alpha}"
    page = await salma.get(item)
    assert page.status_code == 200
    for seen_text in (
        "Conflit(s) probable(s) signalé(s)",
        f"{MEMBERS[0]} — membre du projet : {CLUSTER_MEMBER}",
        "Membres du cluster",
        "Notes par critère et par évaluateur",
        "Appréciations de",
        f'href="/console/candidatures/{alpha}"',
        "Cluster Beta →",
    ):
        assert seen_text in page.text, seen_text
    unclear = await submit(salma, item, "open_item", {})
    refused_with(unclear, 422, f"Conflit probable signalé pour {MEMBERS[0]}")
    withdrawn = await submit(salma, item, "open_item", {"withdrawn": [MEMBERS[0]]})
    moved(withdrawn, item, "Ouvrir le dossier : fait")
    page = await salma.get(item)
    assert "3 votant(s) présent(s) et sans conflit, il en faut 3" in page.text
    assert f"retrait(s) : {MEMBERS[0]}" in page.text
    assert f"{CLUSTER_MEMBER} (s'est retiré(e))" in html.unescape(page.text)
    assert "Reprendre le dossier en cours : 1. Cluster Alpha" in (await salma.get(here)).text

    # Decided: a miscount is refused, the form as typed; then the next file comes up.
    decision = {
        "outcome": "labelled",
        "amounts": "1 200 000\n1 000 000",
        "votes_for": "2",
        "reason_codes": ["seuils_atteints", "qualite_rd"],
        "reason": "Un programme de R&D remarquable.",
        "internal_note": "Unanimité après discussion.",
    }
    miscounted = await submit(salma, item, "decide_item", decision)
    page = refused_with(miscounted, 422, "2 voix exprimées")
    assert "Un programme de R&amp;D remarquable." in page and 'value="qualite_rd" checked' in page
    decided = await submit(salma, item, "decide_item", decision | {"votes_for": "3"})
    moved(decided, f"{here}/dossiers/{beta}", "Décision enregistrée : dossier suivant")
    page = (await admin.get(item)).text
    assert "labellisée" in page and "3 pour, 0 contre, 0 abstention(s)" in page
    assert (
        "Le dossier atteint les seuils de la grille" in page
        and "Unanimité après discussion." in page
    )
    assert "1\u202f200\u202f000 MAD" in page

    # Beta: the flagged member declares no conflict; rejected, the session's last file.
    beta_item = f"{here}/dossiers/{beta}"
    moved(await submit(salma, beta_item, "open_item", {"flags_cleared": "on"}), beta_item, "fait")
    rejected = {
        "outcome": "rejected",
        "votes_for": "3",
        "votes_against": "1",
        "reason_codes": ["note_globale"],
    }
    moved(
        await submit(salma, beta_item, "decide_item", rejected),
        here,
        "tous les dossiers sont décidés",
    )

    # Closed: the PV to sign, by the president and the secretary only; a scan deposited.
    moved(await submit(karim, here, "close_session", {"confirme": "on"}), here, "fait")
    page = (await admin.get(here)).text
    assert "PV à signer" in page and "Procès-verbal n° 1" in page and "à signer" in page
    assert "1 décidé(s)" not in page
    pv = await admin.get(f"{here}/pv/1.pdf")
    assert pv.status_code == 200 and pv.headers["content-type"] == "application/pdf"
    assert 'id="form-sign_pv"' in (await karim.get(here)).text
    assert 'id="form-sign_pv"' not in (await hassan.get(here)).text
    assert 'id="form-sign_pv"' not in (await admin.get(here)).text
    scan = await admin.post(
        f"{here}/pv-signe",
        files={"file": ("pv-signe.pdf", PDF_BYTES, "application/pdf")},
        data={"cle": "scan"},
    )
    moved(scan, here, "PV signé déposé")
    page = (await admin.get(here)).text
    assert "PV signé" in page and f"scan signé déposé par {PRESIDENT} (président)" in page
    assert 'id="form-correct_pv"' in page and 'id="form-deposit_signed_pv"' not in page
    for event in ("Séance modifiée", "Membres convoqués", "Décision du comité", "Séance close"):
        assert event in page, event
    listed = (await admin.get("/console/seances")).text
    assert "2 décidé(s), 0 à examiner" in listed
    for browser in (admin, karim, salma, hassan, operator):
        await browser.aclose()


# --- in Chromium, at a laptop's width and a phone's ---------------------------------------------
async def scored_on_site(api: httpx.AsyncClient, marks: dict[str, int]) -> str:
    """A call whose files are evaluated by Eve and Driss (each marked `marks[name]` throughout),
    on the dev server in real time: its deadline passes in three seconds."""
    call_id = await open_call(
        api, "Appel à projets — séance du comité", seconds=3, evaluators_per_application=2
    )
    ids = []
    for name in marks:
        body = APPLICATION | {"cluster_name": name}
        made = await api.post(f"/calls/{call_id}/applications", headers=auth("operator"), json=body)
        assert made.status_code == 201, made.text
        ids.append(made.json()["id"])

    async def at(case: str, stage: str) -> bool:
        return (await api.get(f"/applications/{case}", headers=auth("admin"))).json()[
            "stage"
        ] == stage

    for case in ids:
        await eventually(partial(at, case, "eligibility_review"), timeout=30, what="the deadline")
        assert (
            await api.post(f"/applications/{case}/mark_eligible", headers=auth("operator"))
        ).status_code == 200
    assert (
        await api.post(f"/calls/{call_id}/start_evaluation", headers=auth("admin"))
    ).status_code == 200
    for case, mark in zip(ids, marks.values(), strict=True):
        assigned = await api.post(
            f"/applications/{case}/assign_evaluators",
            headers=auth("admin"),
            json={"evaluators": [NAMES[EVE], NAMES[DRISS]]},
        )
        assert assigned.status_code == 200, assigned.text
        for role in (EVE, DRISS):
            path = f"/applications/{case}"
            declared = await api.post(
                f"{path}/declare_interest", headers=auth(role), json={"conflict": False}
            )
            assert declared.status_code == 200, declared.text
            marked = (mark,) * len(DEFAULT_GRID.criteria)
            scored = await api.post(
                f"{path}/submit_scores", headers=auth(role), json=sheet(*marked)
            )
            assert scored.status_code == 200, scored.text
        await eventually(partial(at, case, "scored"), what="the evaluation complete")
    return call_id


async def in_view(page: Page, name: str) -> list[str]:
    """The page at 1366 and 390 px, kept as screenshots; what it hides or scrolls sideways, and
    axe-core's serious or critical violations."""
    problems = []
    await page.add_script_tag(path=str(axe_or_skip()))
    for width, height in ((1366, 900), (390, 844)):
        await page.set_viewport_size({"width": width, "height": height})
        await page.screenshot(path=str(ARTIFACTS / f"seance-{name}-{width}.png"), full_page=True)
        problems += [f"{name} à {width} px : {line}" for line in await page.evaluate(OUT_OF_VIEW)]
        problems += [
            f"{name} à {width} px : [{v['impact']}] {v['id']} — {v['help']} {v['nodes']}"
            for v in await page.evaluate(RUN_AXE)
            if v["impact"] in BLOCKING
        ]
    await page.set_viewport_size({"width": 1366, "height": 900})
    return problems


@pytest.mark.asyncio(loop_scope="session")
async def test_a_session_prepared_and_sat_in_chromium_at_1366_and_390_px(site: str) -> None:
    executable = browser_or_skip()
    from playwright.async_api import async_playwright

    async with httpx.AsyncClient(base_url=site) as api:
        call_id = await scored_on_site(api, {"Cluster Alpha": 4, "Cluster Beta": 2})
    ARTIFACTS.mkdir(exist_ok=True)
    problems: list[str] = []
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=executable, args=BROWSER_FLAGS)
        admin = await signed_in(browser, site, "admin", 1366)  # axe's script: CSP bypassed
        await admin.goto(f"{site}/console/seances")
        await admin.get_by_role("link", name="Préparer une séance").click()
        problems += await in_view(admin, "preparer")

        # Prepared through its form: a call chosen, four members, a president, a secretary.
        await admin.get_by_label("Intitulé").fill("Comité de pilotage — séance d'automne")
        await admin.get_by_label("Date et heure (heure de Rabat)").fill("2027-10-14T10:00")
        await admin.get_by_label("Appel à projets — séance du comité").check()
        for name in (PRESIDENT, SECRETARY, MEMBERS[0], MEMBERS[1]):
            await admin.get_by_role("checkbox", name=name, exact=True).check()
        await admin.get_by_label(f"Fonction de {PRESIDENT}").select_option("président")
        await admin.get_by_label(f"Fonction de {SECRETARY}").select_option("secrétaire")
        await admin.get_by_label(f"Organisme de {MEMBERS[0]}").fill(CLUSTER_MEMBER)
        await admin.get_by_role("button", name="Préparer la séance").click()
        await expect(
            admin.get_by_role("heading", name="Comité de pilotage — séance d'automne")
        ).to_be_visible()
        await expect(admin.locator("#quorum")).to_contain_text(
            "0 présent(s) sur 4 votant(s), il en faut 3"
        )

        form = admin.locator("#form-convene")
        await form.get_by_label("Je confirme").check()
        await form.get_by_role("button", name="Convoquer les membres").click()
        form = admin.locator("#form-record_attendance")
        for name in (PRESIDENT, SECRETARY, MEMBERS[0]):
            await form.get_by_label(name).check()
        await form.get_by_role("button", name="Pointer les présents").click()
        await expect(admin.locator("#quorum")).to_contain_text("3 présent(s) sur 4 votant(s)")
        await admin.locator("#form-open_session").get_by_role("button").click()
        await expect(admin.locator("#etape")).to_have_text("séance ouverte")
        problems += await in_view(admin, "seance")

        # The first file: its likely conflict cleared, then its decision; the next comes up.
        await admin.get_by_role("link", name="Cluster Alpha").first.click()
        await expect(admin.locator("#conflits")).to_contain_text(CLUSTER_MEMBER)
        problems += await in_view(admin, "dossier-declarations")
        form = admin.locator("#form-open_item")
        await form.get_by_label("déclarent n'en avoir aucun").check()
        await form.get_by_role("button", name="Ouvrir le dossier").click()
        problems += await in_view(admin, "dossier-decision")
        form = admin.locator("#form-decide_item")
        await form.get_by_label("labellisée").check()
        await form.get_by_label("Voix pour").fill("3")
        await form.get_by_label(REASON_CODES["seuils_atteints"]).check()
        await form.get_by_role("button", name="Enregistrer la décision").click()
        await expect(admin.get_by_role("heading", name=re.compile("Cluster Beta"))).to_be_visible()
        await expect(admin.get_by_role("status")).to_contain_text("dossier suivant")
        await admin.get_by_role("link", name=re.compile("Cluster Alpha")).click()
        problems += await in_view(admin, "dossier-decide")
        await admin.goto(f"{site}/console/seances")
        problems += await in_view(admin, "liste")
        await browser.close()
    assert call_id and not problems, problems


@pytest.mark.asyncio(loop_scope="session")
async def test_a_session_prepared_through_its_form(dev: Service) -> None:
    """Update-with-start (the dev server): a refused form comes back as typed with each error
    beside its field; only the accounts that may sit are offered, only a manager prepares."""
    call_id = await open_call_api(dev)
    admin = await dev.signed_in("t-admin")
    karim = await dev.signed_in("t-committee")
    page = await admin.get("/console/seances/nouvelle")
    assert page.status_code == 200 and "Préparer une séance" in page.text
    assert f'name="membre" value="{PRESIDENT}"' in page.text
    assert "Eve Évaluatrice" not in page.text and "Omar Opérateur" not in page.text
    form = {
        "cle": key_of(page, "form-seance"),
        "title": "Séance extraordinaire",
        "call_ids": [call_id],
        "meets_at": "2027-06-03T09:30",
        "quorum_percent": "cent",
        "membre": [PRESIDENT, SECRETARY, MEMBERS[0]],
        f"fonction.{PRESIDENT}": "président",
        f"organisation.{MEMBERS[0]}": "Université Alpha",
        **{f"votant.{n}": "on" for n in (PRESIDENT, SECRETARY, MEMBERS[0])},
    }
    wrong = await admin.post("/console/seances/nouvelle", data=form)
    page = refused_with(wrong, 422, "Quorum")
    assert 'id="quorum_percent-erreur"' in page and 'value="cent"' in page
    assert 'value="Séance extraordinaire"' in page and 'value="Université Alpha"' in page
    forged = await admin.post(
        "/console/seances/nouvelle", data=form | {"membre": ["Eve Évaluatrice"]}
    )
    refused_with(forged, 422, "pas un compte actif du comité")
    no_secretary = await admin.post(
        "/console/seances/nouvelle", data=form | {"quorum_percent": "50"}
    )
    refused_with(no_secretary, 422, "un(e) seul(e) secrétaire")
    fixed = form | {"quorum_percent": "50", f"fonction.{SECRETARY}": "secrétaire"}
    refused_role = await karim.post("/console/seances/nouvelle", data=fixed)
    assert "Seul un gestionnaire" in console_message(refused_role)["lines"][0]
    made = await admin.post("/console/seances/nouvelle", data=fixed)
    assert made.status_code == 303, made.text
    session_page = await admin.get(made.headers["location"])
    assert session_page.status_code == 200 and "Séance extraordinaire" in session_page.text
    assert "03/06/2027 à 09:30" in session_page.text  # Rabat time, as typed
    for browser in (admin, karim):
        await browser.aclose()
