"""Issue #27's « done when »: a call of 60 decided in one committee session through the console,
its PV signed electronically by the president and the secretary (keys of a throw-away
authority, both signatures verified), the results published once it is signed and not before,
the 60 result letters at the applicants' addresses after the second signature only, and a
redress request answered by its dossier — on the time-skipping server, on SQLite and PostgreSQL.

The 60 files are seeded and scored through the API (the grids in a browser are
test_call_of_60's part); everything the session does goes through the console's forms."""

import asyncio
import hashlib
import time
import uuid
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import httpx
import pytest
from sqlalchemy import update
from sqlmodel import Session, col, select

from activities.signing import verify
from domain.clock import local
from domain.models import DEFAULT_GRID
from domain.money import mad
from domain.notices import decimal, long_day, sentence
from domain.session import motivation
from domain.workdays import response_due
from projection.queries import application_state
from projection.tables import ApplicationRow, OutboxRow, UserRow
from tests.conftest import APPLICATION, Service, eventually
from tests.test_call_of_60 import CONTACT, COUNT, NAME, RESULT, Api, gather, marks_of, weighted
from tests.test_evaluation import DRISS, EVE, NADIA, eligible_applications, ok
from tests.test_letters import received, text_of
from tests.test_result_letters import attachment, marks_stated, one_line, pdf_text
from tests.test_session_console import key_of, moved, refused_with, submit
from tests.test_session_workflow import MEMBERS, PANEL, PRESIDENT, SECRETARY, start_session
from tests.test_session_workflow import signing as signing  # noqa: F401 (the fixture)
from tests.test_signing import Authority

pytestmark = pytest.mark.asyncio(loop_scope="session")
TITLE = "Appel à projets de test"  # the call Service.new_call opens (tests.conftest)
SESSION = "Comité de pilotage — séance des 60"
ORGANISATION = "Technopole d'Oujda"  # Hassan's, and one applicant's member: a likely conflict
CONFLICTED = 45  # that applicant's index: Hassan withdraws from its file
APPEALING = 50  # the rejected applicant who asks for a review
LABELLED, RESERVE = 10, 10  # the first ten on the agenda labelled, the next ten on reserve
INTERNAL = "Note interne du comité : à ne jamais communiquer"
REDRESS_DAYS = 30  # the call's default, in working days of Morocco
AMOUNTS = (1_200_000, 1_000_000, 800_000)  # the first's amounts per year, less for each next


def outcome_of(rank: int) -> str:
    return "labelled" if rank < LABELLED else "reserve" if rank < LABELLED + RESERVE else "rejected"


def amounts_of(rank: int) -> list[float]:
    return [a - 50_000 * rank for a in AMOUNTS] if outcome_of(rank) == "labelled" else []


CODES = {
    "labelled": ["seuils_atteints", "qualite_rd"],
    "reserve": ["seuils_atteints", "enveloppe"],
    "rejected": ["note_globale"],
}
REASONS = {
    "labelled": "Le comité salue un programme exemplaire",
    "reserve": "Le dossier sera repris si un lauréat se désiste",
    "rejected": "Le comité encourage le porteur à consolider son plan",
}


def decision_form(rank: int, voters: int) -> dict[str, Any]:
    """The decision's form as the secretary fills it: its votes add up to the voters."""
    outcome = outcome_of(rank)
    votes = {  # unanimity, one abstention, one against
        "labelled": {"votes_for": voters},
        "reserve": {"votes_for": voters - 1, "abstentions": 1},
        "rejected": {"votes_for": voters - 1, "votes_against": 1},
    }[outcome]
    return {
        "outcome": outcome,
        "amounts": "\n".join(f"{a:,.0f}".replace(",", " ") for a in amounts_of(rank)),
        **{k: str(v) for k, v in votes.items()},
        "reason_codes": CODES[outcome],
        "reason": REASONS[outcome],
        "internal_note": INTERNAL,
    }


@dataclass
class Run:
    """The session's people in their browsers, what the run made and how long each part took."""

    service: Service
    authority: Authority
    admin: httpx.AsyncClient
    karim: httpx.AsyncClient  # the president
    salma: httpx.AsyncClient  # the secretary
    call_id: str
    ids: list[str]  # in test_call_of_60's order: NAME[n], CONTACT[n], marks_of(n)
    staff: dict[str, str]  # the evaluators' and the members' addresses
    session_id: str = ""
    agenda: list[dict] = field(default_factory=list)  # as the API gives it, best first
    figures: dict[str, float] = field(default_factory=dict)

    @property
    def here(self) -> str:
        return f"/console/seances/{self.session_id}"

    def timed(self, what: str, started: float) -> None:
        self.figures[what] = time.monotonic() - started


async def test_a_call_of_60_decided_in_one_session_signed_lettered_and_redressed(
    signing: tuple[Service, Authority],
) -> None:
    service, authority = signing
    started = time.monotonic()
    staff = addressed(service)
    call_id, ids = await sixty_evaluated(service)
    browsers = [await service.signed_in(t) for t in ("t-admin", "t-committee", "t-committee2")]
    run = Run(service, authority, *browsers, call_id, ids, staff)
    run.timed(f"{COUNT} dossiers déposés et notés (API)", started)
    try:
        await sit(run)
        signed_at = await sign_and_publish(run)
        await letters(run, signed_at)
        await redress(run, ids[APPEALING])
    finally:
        for browser in browsers:
            await browser.aclose()
    print(" · ".join(f"{k} : {v:.1f} s" for k, v in run.figures.items()))  # noqa: T201


def addressed(service: Service) -> dict[str, str]:
    """The evaluators and the session's members given addresses of this run's own, as staff
    accounts have: their notices (assignments, convocations) are sent, not refused."""
    tag = uuid.uuid4().hex[:8]
    staff = {
        name: f"{role}-{tag}@mcinet.gov.ma"
        for role, name in (
            *zip(("eve", "driss", "nadia"), PANEL, strict=True),
            ("president", PRESIDENT),
            ("secretaire", SECRETARY),
            *((f"membre{n}", name) for n, name in enumerate(MEMBERS, 1)),
        )
    }
    with Session(service.engine) as db:
        for name, address in staff.items():
            db.exec(update(UserRow).where(col(UserRow.name) == name).values(email=address))
        db.commit()
    return staff


async def sixty_evaluated(service: Service) -> tuple[str, list[str]]:
    """Through the API: 60 applications (test_call_of_60's names, addresses and marks), eligible
    once the deadline passed, each scored by three evaluators (their grids through the API too:
    the console's grid is test_call_of_60's and test_evaluator_console's part)."""
    data: dict[str, dict] = {
        name: {"contact": {"name": f"Contact {n + 1:02d}", "email": CONTACT[n]}}
        for n, name in enumerate(NAME)
    }
    members = [*APPLICATION["members"], {"name": ORGANISATION, "type": "research"}]
    data[NAME[CONFLICTED]]["members"] = members
    call_id, ids = await eligible_applications(service, NAME, **data)
    api = Api(service.http)

    async def evaluated(n: int, case: str) -> None:
        body = {"evaluators": PANEL}
        await ok(await service.post(f"/applications/{case}/assign_evaluators", "admin", body))
        for role in (EVE, DRISS, NADIA):
            await api.score(case, role, marks_of(n))

    await gather([evaluated(n, case) for n, case in enumerate(ids)])
    stats = (await service.get(f"/calls/{call_id}/stats", role="admin")).json()["by_stage"]
    assert stats == {"scored": COUNT}
    return call_id, ids


async def sit(run: Run) -> None:
    """The session prepared, convened, attended, opened, its 60 files decided one by one in
    agenda order, closed."""
    service, admin, karim, salma = run.service, run.admin, run.karim, run.salma
    # Its workflow started as the API's update-with-start would (the time-skipping server lacks
    # it); its title, date, members, functions and organisations set through the console's form.
    handle = await start_session(service, run.call_id)
    run.session_id = handle.id.removeprefix("session-")
    here = run.here
    edit = await admin.get(f"{here}/modifier")
    assert edit.status_code == 200, edit.text
    everyone = [PRESIDENT, SECRETARY, *MEMBERS]
    today = local(await service.env.get_current_time())  # the session sits now, in Rabat
    form = {
        "cle": key_of(edit, "form-seance"),
        "title": SESSION,
        "call_ids": [run.call_id],
        "meets_at": f"{today:%Y-%m-%dT%H:%M}",
        "place": "Rabat, salle du conseil",
        "quorum_percent": "50",
        "membre": everyone,
        f"fonction.{PRESIDENT}": "président",
        f"fonction.{SECRETARY}": "secrétaire",
        f"organisation.{MEMBERS[0]}": ORGANISATION,
        **{f"votant.{n}": "on" for n in everyone},
    }
    moved(await admin.post(f"{here}/modifier", data=form), here, "Séance enregistrée")

    started = time.monotonic()
    convened = await submit(admin, here, "convene", {"confirme": "on"})
    run.timed("convocation avec le dossier de séance", started)
    moved(convened, here, "Convoquer les membres : fait")
    pack = await admin.get(f"{here}/dossier-de-seance.pdf")
    assert pack.status_code == 200 and pack.headers["content-type"] == "application/pdf"
    run.agenda = (await service.get(f"/sessions/{run.session_id}", role="committee")).json()[
        "agenda"
    ]
    assert sorted(i["application_id"] for i in run.agenda) == sorted(run.ids)
    scores = [i["score"] for i in run.agenda]
    assert scores == sorted(scores, reverse=True)  # best first
    assert [i["application_id"] for i in run.agenda if i["likely"]] == [run.ids[CONFLICTED]]
    text = await asyncio.to_thread(pdf_text, pack.content)
    assert SESSION in text and NAME[CONFLICTED] in text and ORGANISATION in text
    for name in everyone:  # each member called, with the agenda and the pack attached
        message = await received(run.staff[name], "Convocation", SESSION)
        attached = list(message.iter_attachments())
        assert [p.get_filename() for p in attached] == ["dossier-de-seance.pdf"]
        assert attached[0].get_content() == pack.content
        called = text_of(message)
        assert f"Ordre du jour : {COUNT} dossier(s), par rang de classement." in called
        first, last = run.agenda[0], run.agenda[-1]
        for rank, item in ((1, first), (COUNT, last)):
            assert f"– {rank}. {item['cluster_name']} (réf. {item['application_id']})" in called
        assert f"/console/seances/{run.session_id}" in called

    # The quorum: more than half of five voting members.
    two = {"present": [PRESIDENT, SECRETARY]}
    moved(await submit(salma, here, "record_attendance", two), here, "Pointer les présents : fait")
    early = await submit(karim, here, "open_session", {})
    refused_with(early, 409, "Quorum non atteint : 2 membre(s) votant(s) présent(s), il en faut 3")
    all_five = {"present": everyone}
    moved(await submit(salma, here, "record_attendance", all_five), here, "fait")
    moved(await submit(karim, here, "open_session", {}), here, "Ouvrir la séance : fait")
    up = f"Examiner le dossier suivant : 1. {run.agenda[0]['cluster_name']}"
    assert up in (await salma.get(here)).text

    # Each file in agenda order: its declarations (Hassan withdraws from the one flagged), its
    # decision, and the next file comes up.
    started = time.monotonic()
    for rank, item in enumerate(run.agenda):
        url = f"{here}/dossiers/{item['application_id']}"
        flagged = bool(item["likely"])
        opening = {"withdrawn": [MEMBERS[0]]} if flagged else {}
        moved(await submit(salma, url, "open_item", opening), url, "Ouvrir le dossier : fait")
        decided = await submit(salma, url, "decide_item", decision_form(rank, 4 if flagged else 5))
        if rank + 1 < len(run.agenda):
            following = f"{here}/dossiers/{run.agenda[rank + 1]['application_id']}"
            moved(decided, following, "Décision enregistrée : dossier suivant")
        else:
            moved(decided, here, "tous les dossiers sont décidés")
    run.timed(f"{COUNT} dossiers ouverts et décidés (console)", started)

    started = time.monotonic()
    closed = await submit(karim, here, "close_session", {"confirme": "on"})
    run.timed("clôture avec le PV", started)
    moved(closed, here, "Clore la séance : fait")
    session = (await service.get(f"/sessions/{run.session_id}", role="committee")).json()
    decided = [i["decision"] for i in session["agenda"]]
    assert [d["outcome"] for d in decided] == [outcome_of(r) for r in range(COUNT)]
    for rank, (item, decision) in enumerate(zip(session["agenda"], decided, strict=True)):
        voters = 4 if item["likely"] else 5
        cast = decision["votes_for"] + decision["votes_against"] + decision["abstentions"]
        assert cast == voters == len(decision["voters"]), (rank, decision)
        assert decision["amounts"] == amounts_of(rank)
    [flagged] = [i for i in session["agenda"] if i["likely"]]
    assert flagged["withdrawn"] == [MEMBERS[0]]
    assert MEMBERS[0] not in flagged["decision"]["voters"]


async def sign_and_publish(run: Run) -> datetime:
    """The PV signed by the president, the publication refused, signed by the secretary, both
    signatures verified, the results published; when the second signature was recorded."""
    here, karim, salma = run.here, run.karim, run.salma
    call_page = f"/console/appels/{run.call_id}"
    call_actions = f"{call_page}/actions"
    started = time.monotonic()
    signed = await submit(karim, here, "sign_pv", {"confirme": "on"})
    run.timed("signature du président", started)
    moved(signed, here, "Signer le procès-verbal : fait")
    early = await submit(karim, call_page, "publish_results", {"confirme": "on"}, to=call_actions)
    waiting = (
        f"{COUNT} candidature(s) sans décision publiable : {COUNT} attendent la signature du "
        "procès-verbal de leur séance."
    )
    refused_with(early, 409, waiting)
    assert 'id="form-sign_pv"' not in (await karim.get(here)).text  # he has signed
    started = time.monotonic()
    signed = await submit(salma, here, "sign_pv", {"confirme": "on"})
    run.timed("signature du secrétaire", started)
    moved(signed, here, "Signer le procès-verbal : fait")
    page = (await run.admin.get(here)).text
    assert "PV signé" in page and f"signé par {PRESIDENT} (président)" in page
    assert f"signé par {SECRETARY} (secrétaire)" in page

    pv = await run.admin.get(f"{here}/pv/1.pdf")
    assert pv.status_code == 200 and pv.headers["content-type"] == "application/pdf"
    found = await asyncio.to_thread(verify, pv.content, [run.authority.root])  # its own loop
    assert [(s.function, s.signer) for s in found] == [
        ("président", PRESIDENT),
        ("secrétaire", SECRETARY),
    ]
    text = await asyncio.to_thread(pdf_text, pv.content)
    assert f"Procès-verbal n° 1 {SESSION}" in text and text.count("Votes pour :") == COUNT
    assert text.count("Aucun membre ne se retire") == COUNT - 1
    withdrawn = "Se retire pour conflit d'intérêts, sans prendre part au quorum ni au vote"
    assert f"{NAME[CONFLICTED]} (réf. {run.ids[CONFLICTED]})" in text
    assert f"{withdrawn} : {MEMBERS[0]}." in text
    assert f"Le président de séance {PRESIDENT} Le secrétaire de séance {SECRETARY}" in text
    assert INTERNAL not in text

    published = await submit(
        karim, call_page, "publish_results", {"confirme": "on"}, to=call_actions
    )
    moved(published, call_page, "Publier les résultats : fait")
    audit = (await run.service.get(f"/sessions/{run.session_id}", role="committee")).json()
    [_, second] = [e for e in audit["audit"] if e["action"] == "sign_pv"]
    assert second["payload"]["function"] == "secrétaire"
    return datetime.fromisoformat(second["at"])


async def letters(run: Run, signed_at: datetime) -> None:
    """60 result e-mails, each with its letter; none sent before the PV's second signature; a
    labelled, a reserve and a rejected letter read."""
    ids = run.ids
    started = time.monotonic()
    rank_of = {item["application_id"]: rank for rank, item in enumerate(run.agenda)}
    words = {
        "labelled": RESULT["Labelliser"],
        "reserve": RESULT["Liste d'attente"],
        "rejected": RESULT["Rejeter"],
    }

    async def all_sent() -> bool:  # 60 letters built and sent: a while on a loaded machine
        with Session(run.service.engine) as db:
            sent = select(OutboxRow).where(
                OutboxRow.kind == "result_published", OutboxRow.status == "sent"
            )
            return len(db.exec(sent).all()) == COUNT

    await eventually(all_sent, timeout=300, what=f"the {COUNT} letters sent")
    messages = {
        case: await received(CONTACT[n], case, words[outcome_of(rank_of[case])])
        for n, case in enumerate(ids)
    }
    run.timed(f"{COUNT} courriers reçus après la publication", started)
    pdfs = {case: attachment(message) for case, message in messages.items()}
    assert all(name == f"courrier-resultat-{case}.pdf" for case, (name, _) in pdfs.items())
    with Session(run.service.engine) as db:
        rows = db.exec(select(OutboxRow).where(OutboxRow.kind == "result_published")).all()
    assert len(rows) == COUNT
    assert all(r.status == "sent" and r.sent_at is not None for r in rows)
    assert all(r.sent_at > signed_at for r in rows), (min(r.sent_at for r in rows), signed_at)
    assert {r.attachment_sha256 for r in rows} == {
        hashlib.sha256(content).hexdigest() for _, content in pdfs.values()
    }

    by_rank = {rank: case for case, rank in rank_of.items()}
    for rank in (0, LABELLED, rank_of[ids[APPEALING]]):
        case = by_rank[rank]
        outcome = outcome_of(rank)
        text = await asyncio.to_thread(pdf_text, pdfs[case][1])
        assert f"« {TITLE} »" in text and NAME[ids.index(case)] in text
        assert f"Référence : {case}" in text
        reason = sentence(motivation(CODES[outcome], REASONS[outcome]))
        assert f"« {reason} »" in text, text
        marks_stated(text, marks_of(ids.index(case)))
        assert INTERNAL not in text
        if outcome == "labelled":
            assert "Décision du comité : dossier labellisé" in text
            for year, amount in enumerate(amounts_of(rank), start=1):
                assert one_line(f"Année {year} {mad(amount)}") in text
            assert one_line(f"Total {mad(sum(amounts_of(rank)))}") in text
        elif outcome == "reserve":
            assert "Décision du comité : dossier inscrit en liste d'attente" in text
            assert "Soutien accordé" not in text and "recours" not in text
        else:
            assert "Décision du comité : dossier non retenu" in text
            [row] = [r for r in rows if r.key.startswith(f"application-{case}:")]
            due = response_due(row.sent_at, REDRESS_DAYS, working=True)
            assert f"jusqu'au {long_day(due)} à 15:00, heure de Rabat" in text, text
            assert f"({REDRESS_DAYS} jours ouvrés au Maroc" in text


async def redress(run: Run, case: str) -> None:
    """A rejected applicant asks for a review: the clock compiles its dossier from the recorded
    history; the API and the case page serve the bytes storage keeps."""
    service = run.service

    async def counted() -> bool:
        return bool((await service.get(f"/applications/{case}")).json()["redress"]["due_at"])

    await eventually(counted, what="the redress window counted")
    started = time.monotonic()
    body = {"reason": "Les notes du plan R&D sont contestées."}
    await ok(await service.post(f"/applications/{case}/request_review", json=body))

    async def compiled() -> bool:
        audit = (await service.get(f"/applications/{case}")).json()["audit"]
        return audit[-1]["action"] == "compile_redress_dossier"

    await eventually(compiled, timeout=60, what="the redress dossier")
    run.timed("dossier de recours", started)
    with Session(service.engine) as db:
        row = db.get(ApplicationRow, case)
        assert row is not None
        redress = application_state(row).redress
    assert redress is not None and redress.dossier
    kept = service.storage.content(redress.dossier)
    url = (await service.get(f"/applications/{case}", role="committee")).json()["redress"]
    served = await service.get(url["dossier_url"], role="committee")
    assert served.status_code == 200 and served.headers["content-type"] == "application/pdf"
    link = f"/console/candidatures/{case}/dossier-de-recours.pdf"
    assert link in (await run.karim.get(f"/console/candidatures/{case}")).text
    downloaded = await run.karim.get(link)
    assert served.content == downloaded.content == kept

    text = await asyncio.to_thread(pdf_text, downloaded.content)
    assert f"Dossier de recours — {NAME[APPEALING]} (réf. {case}) Appel « {TITLE} »" in text
    assert "Motifs invoqués : « Les notes du plan R&D sont contestées. »" in text
    marks = marks_of(APPEALING)  # each evaluator's, and their mean
    for name in PANEL:
        assert f"{name} — note pondérée {decimal(weighted(marks))}" in text
    for c, mark in zip(DEFAULT_GRID.criteria, marks, strict=True):
        met = "atteint" if mark >= c.threshold else "non atteint"
        assert f"{c.label} {c.weight:g} {decimal(c.threshold)} {decimal(mark)} seuil {met}" in text
    assert f"Note globale pondérée 3,00 {decimal(weighted(marks))} seuil non atteint" in text
    assert f"Extrait du procès-verbal n° 1 de la séance « {SESSION} »" in text
    assert f"{PRESIDENT} (président) le" in text and f"{SECRETARY} (secrétaire) le" in text
    assert INTERNAL not in text
