"""Result letters as PDF (#27): each applicant's result e-mail carries its letter, built as the
e-mail leaves: the call's title, the outcome, the public motivation, the marks per criterion
against the thresholds, the amounts per year where granted and, for a rejection, the last date of
a redress counted in Morocco's working days (across a public holiday here), the date the API
and the e-mail give too; never the committee's internal note. The letter is kept with the dossier
and downloaded from the API and the console, the same bytes; built again, it is the same bytes."""

import contextlib
import hashlib
import html
import io
import re
import uuid
from datetime import UTC, date, datetime, timedelta
from email.message import EmailMessage

import pypdf
import pytest
from sqlmodel import Session, select

from activities.letters import build_result_letter
from domain.clock import at_deadline_time, local
from domain.models import DEFAULT_GRID, CallSpec, Decision, Redress
from domain.money import mad
from domain.notices import due_text, long_day, sentence
from domain.stages import ApplicationStage as A
from domain.workdays import is_working_day, working_days_after
from projection.queries import application_state, call_state
from projection.tables import ApplicationRow, CallRow, OutboxRow
from tests.conftest import APPLICATION, Service, eventually
from tests.test_evaluation import ok, sheet
from tests.test_letters import INTERNAL, NOW, application, received, scored, text_of

TITLE = "Clusters innovants — appel de l'année"
NOTE = "Rapporteur réservé sur la gouvernance : ne pas communiquer"
REASONS = {"reject": "Plan R&D insuffisamment étayé", "label": "Premier du classement de l'appel"}
MARKS = {"reject": (3, 2, 3, 3, 2.5), "label": (4, 4, 4.5, 4, 4)}
REDRESS_DAYS = 2


def spec(title: str = TITLE) -> CallSpec:
    return CallSpec(
        year=2027, title=title, opens_at=NOW - timedelta(days=60), deadline=NOW - timedelta(days=1)
    )


def pdf_text(content: bytes) -> str:
    """The letter's words as a reader extracts them, spaces made one."""
    reader = pypdf.PdfReader(io.BytesIO(content))
    return " ".join(" ".join(page.extract_text() for page in reader.pages).split())


def one_line(text: str) -> str:
    return " ".join(text.split())


def marks_stated(text: str, marks: tuple[float, ...]) -> None:
    """Each criterion with its mean and its threshold, as French writes them, on its row."""
    for criterion, mark in zip(DEFAULT_GRID.criteria, marks, strict=True):
        row = f"{criterion.label} {mark:.2f} {criterion.threshold:.2f}".replace(".", ",")
        assert row in text, (row, text)
    assert "Note globale pondérée" in text and "3,00" in text  # against the overall threshold


# --- the letter alone --------------------------------------------------------------------------


def test_a_labelled_letter_states_the_amounts_per_year_and_keeps_the_note_inside() -> None:
    decision = Decision(
        outcome=A.LABELLED,
        reason="Premier du classement",
        internal_note=INTERNAL,
        decided_by="Karim Comité",
        decided_at=NOW,
        amounts=[1_500_000, 1_200_000, 950_000.0],
    )
    state = application(A.LABELLED, "Aéropôle", evaluation=scored(4, 4, 4, 4, 4), decision=decision)
    sent = datetime(2027, 3, 1, 9, 30, tzinfo=UTC)
    built = build_result_letter(state, spec(), sent, state.id)
    text = pdf_text(built.content)
    assert "Rabat, le 1er mars 2027" in text
    assert f"« {TITLE} »" in text and "Aéropôle" in text and "Salma Bennani" in text
    assert f"Référence : {state.id}" in text
    assert "Décision du comité : dossier labellisé" in text
    assert "« Premier du classement. »" in text
    marks_stated(text, (4, 4, 4, 4, 4))
    for year, amount in enumerate(decision.amounts, start=1):
        assert one_line(f"Année {year} {mad(amount)}") in text
    assert one_line(f"Total {mad(3_650_000)}") in text
    assert INTERNAL not in text and "recours" not in text
    # Built again (a retry that day, another hour): the same bytes.
    again = build_result_letter(state, spec(), sent + timedelta(hours=5), state.id)
    assert again.content == built.content and again.sha256 == built.sha256
    assert built.sha256 == hashlib.sha256(built.content).hexdigest()


def test_a_rejection_gives_its_redress_in_working_days_across_the_green_march() -> None:
    # Thursday 5 November 2026, after the deadline hour; Friday the 6th is the Green March.
    sent = datetime(2026, 11, 5, 16, 20, tzinfo=UTC)
    state = application(
        A.REJECTED,
        evaluation=scored(3, 2, 3, 3, 2.5),
        decision=Decision(
            outcome=A.REJECTED,
            reason="Plan R&D insuffisant",
            internal_note=INTERNAL,
            decided_by="Karim Comité",
            decided_at=NOW,
        ),
        redress=Redress(days=1),
    )
    text = pdf_text(build_result_letter(state, spec(), sent, state.id).content)
    assert "Décision du comité : dossier non retenu" in text
    assert "jusqu'au 9 novembre 2026 à 15:00, heure de Rabat (1 jour ouvré au Maroc" in text
    marks_stated(text, (3, 2, 3, 3, 2.5))
    assert "Innovation collaborative et plan R&D 2,00 2,50 seuil non atteint" in text
    assert "Note globale pondérée 2,67 3,00 seuil non atteint" in text
    assert INTERNAL not in text and "Soutien accordé" not in text


# --- through the service, to the mail catcher ------------------------------------------------


def holiday_ahead(today: date) -> date:
    """The first public holiday on a weekday, at least three days after `today`."""
    day = today + timedelta(days=2)
    while True:
        day += timedelta(days=1)
        if day.weekday() < 5 and not is_working_day(day):
            return day


def attachment(message: EmailMessage) -> tuple[str, bytes]:
    [part] = list(message.iter_attachments())
    assert part.get_content_type() == "application/pdf"
    return str(part.get_filename()), part.get_content()


@pytest.mark.asyncio(loop_scope="session")
async def test_the_result_mail_carries_its_letter_kept_with_the_dossier(skipping: Service) -> None:
    service = skipping
    now = await service.env.get_current_time()
    holiday = holiday_ahead(local(now).date())
    published_on = holiday - timedelta(days=1)  # the deadline that day, the results just after
    call_id = await service.new_call(
        title=TITLE,
        deadline=published_on.isoformat(),
        evaluators_per_application=1,
        redress_days=REDRESS_DAYS,
    )
    await ok(await service.post(f"/calls/{call_id}/publish", role="admin"))
    ids, contacts = {}, {}
    for outcome, name in (("reject", "Cluster TIC n° 8"), ("label", "Technopôle du Souss")):
        contacts[outcome] = f"{outcome}-{uuid.uuid4().hex[:8]}@clusters.ma"
        contact = {"name": "Salma Bennani", "email": contacts[outcome]}
        body = {**APPLICATION, "cluster_name": name, "contact": contact}
        created = await service.post(f"/calls/{call_id}/applications", json=body)
        assert created.status_code == 201, created.text
        ids[outcome] = created.json()["id"]
    await service.env.sleep(at_deadline_time(published_on) - now + timedelta(minutes=30))
    for case in ids.values():

        async def in_review(case: str = case) -> bool:
            stage = (await service.get(f"/applications/{case}")).json()["stage"]
            return stage == "eligibility_review"

        await eventually(in_review, what="the eligibility review")
        await ok(await service.post(f"/applications/{case}/mark_eligible"), "eligible")
    await ok(await service.post(f"/calls/{call_id}/start_evaluation", role="admin"))
    actions = {"reject": "reject", "label": "label"}
    for outcome, case in ids.items():
        body = {"evaluators": ["Eve Évaluatrice"]}
        await ok(await service.post(f"/applications/{case}/assign_evaluators", "admin", body))
        declared = {"conflict": False}
        await ok(
            await service.post(f"/applications/{case}/declare_interest", "evaluator", declared)
        )
        scores = sheet(*MARKS[outcome])
        await ok(await service.post(f"/applications/{case}/submit_scores", "evaluator", scores))
        decision = {"reason": REASONS[outcome], "internal_note": NOTE}
        await ok(
            await service.post(f"/applications/{case}/{actions[outcome]}", "committee", decision)
        )
    await ok(await service.post(f"/calls/{call_id}/publish_results", role="committee"))

    # The rejection: its letter in the e-mail, the redress's last date past the holiday.
    rejection = await received(contacts["reject"], ids["reject"], "non retenue")
    filename, content = attachment(rejection)
    assert filename == f"courrier-resultat-{ids['reject']}.pdf"
    text = pdf_text(content)
    assert f"« {TITLE} »" in text and "Cluster TIC n° 8" in text
    assert f"Référence : {ids['reject']}" in text
    assert "Décision du comité : dossier non retenu" in text
    assert f"« {sentence(REASONS['reject'])} »" in text
    marks_stated(text, MARKS["reject"])
    assert "Innovation collaborative et plan R&D 2,00 2,50 seuil non atteint" in text
    assert NOTE not in text and "note interne" not in text.casefold()

    async def window_counted() -> bool:
        case = (await service.get(f"/applications/{ids['reject']}")).json()
        return case["redress"]["due_at"] is not None

    await eventually(window_counted, what="the redress window")
    case = (await service.get(f"/applications/{ids['reject']}")).json()
    due = datetime.fromisoformat(case["redress"]["due_at"])
    with Session(service.engine) as db:
        row = db.exec(
            select(OutboxRow).where(
                OutboxRow.kind == "result_published", OutboxRow.recipient == contacts["reject"]
            )
        ).one()
        state = application_state(db.get(ApplicationRow, ids["reject"]))
        call = call_state(db.get(CallRow, call_id)).spec
    assert row.sent_at is not None and local(row.sent_at).date() == published_on
    assert due == working_days_after(row.sent_at, REDRESS_DAYS)
    assert local(due).date() > holiday + timedelta(days=REDRESS_DAYS - 1)  # the holiday skipped
    assert f"jusqu'au {long_day(due)} à 15:00, heure de Rabat" in text
    assert f"{REDRESS_DAYS} jours ouvrés au Maroc" in text
    assert f"réexamen de cette décision jusqu'au {due_text(due)}" in one_line(text_of(rejection))

    # Kept with the dossier: the outbox row names it, storage has these bytes.
    sha256 = hashlib.sha256(content).hexdigest()
    assert row.attachment == row.attachment_sha256 == sha256
    assert service.storage.content(sha256) == content
    # Built again from what the projection holds and the sending's date: the same bytes.
    again = build_result_letter(state, call, row.sent_at, ids["reject"])
    assert again.content == content and again.sha256 == sha256

    # The labelled case's letter: its outcome, its marks, no redress.
    labelled = await received(contacts["label"], ids["label"], "labellisée")
    _, labelled_pdf = attachment(labelled)
    labelled_text = pdf_text(labelled_pdf)
    assert "Décision du comité : dossier labellisé" in labelled_text
    assert f"« {sentence(REASONS['label'])} »" in labelled_text
    marks_stated(labelled_text, MARKS["label"])
    assert "recours" not in labelled_text and NOTE not in labelled_text

    # The API lists the case's letters and serves each one, the bytes the e-mail carried.
    listed = await service.get(f"/applications/{ids['reject']}/letters")
    assert listed.status_code == 200, listed.text
    [letter] = listed.json()
    assert letter["outcome"] == "rejected" and letter["sha256"] == sha256
    assert letter["size"] == len(content)
    assert datetime.fromisoformat(letter["sent_at"]) == row.sent_at
    for role in ("operator", "committee", "admin"):
        served = await service.get(letter["url"], role=role)
        assert served.status_code == 200, served.text
        assert served.headers["content-type"] == "application/pdf"
        assert served.content == content
    assert hashlib.sha256(served.content).hexdigest() == sha256
    # Another case's letter, or no letter at all, is unknown on this case.
    other = hashlib.sha256(labelled_pdf).hexdigest()
    for unknown in (other, "0" * 64):
        refused = await service.get(f"/applications/{ids['reject']}/letters/{unknown}.pdf")
        assert refused.status_code == 404, refused.text
        assert refused.json()["detail"] == "Courrier inconnu pour ce dossier."
    assert (await service.get(f"/applications/{ids['label']}/letters/{other}.pdf")).content == (
        labelled_pdf
    )
    # An evaluator not assigned to the case reads none of its letters.
    assert (await service.get(letter["url"], role="evaluator2")).status_code == 403

    # The console's case page links the letter; the link serves the same bytes.
    browser = await service.signed_in("t-operator")
    async with contextlib.aclosing(browser):
        page = (await browser.get(f"/console/candidatures/{ids['reject']}")).text
        link = f"/console/candidatures/{ids['reject']}/courriers/{sha256}.pdf"
        match = re.search(rf'<a href="{re.escape(link)}">([^<]*)</a>', page)
        assert match, page
        assert html.unescape(match.group(1)).startswith(
            "Courrier de résultat « rejetée » envoyé le"
        )
        downloaded = await browser.get(link)
        assert downloaded.status_code == 200 and downloaded.content == content
