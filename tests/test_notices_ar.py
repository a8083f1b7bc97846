"""Notices in the applicant's language: a contact who reads Arabic gets each notice addressed to
the applicant (and to its labelled cluster) worded in Arabic, with the case's facts and its
dates in Rabat time as Moroccan administration writes them, laid out right to left; a contact
without a language (every history before the portal) reads the same French as before; the
staff's notices and copies stay French. First each kind rendered from facts, then the mail
activity on a real SMTP server, then a registration through the API to the mail catcher."""

import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from pathlib import Path

import pytest
from pydantic import ValidationError
from sqlalchemy import Engine
from sqlmodel import Session, select
from temporalio.testing import ActivityEnvironment

from activities.mail import Mail, written_in
from activities.mailcatcher import Catcher, relay_to, start_catcher
from domain import notices
from domain.models import (
    DEFAULT_GRID,
    Amendment,
    ApplicationInput,
    ApplicationState,
    ComplementRequest,
    Contact,
    Notification,
    Redress,
)
from domain.notices import PROGRAMME, due_text, language_of
from domain.stages import ApplicationStage, ClusterStage
from domain.support import ClusterState, Probation
from domain.workdays import response_due, working_days_after
from projection.storage import Storage
from projection.tables import OutboxRow
from tests.conftest import APPLICATION, Service, eventually, mails_to, utcnow
from tests.test_api import open_call
from tests.test_letters import NOW, RELAY, application, cluster, decided, scored

A, C = ApplicationStage, ClusterStage
REF = "3fa2c1d0e9ab"
CALL = "Appel à projets clusters 2027"
ARABIC = re.compile(r"[\u0600-\u06ff]")
# What the staff and the applicant wrote, quoted as they wrote it (the notices translate only
# their own words): once these are taken out, no Latin word may be left.
FACTS = [
    CALL,
    "Cluster TIC n° 8",
    "Technopôle du Souss",
    "Association Agrinova",
    "Aéropôle",
    "Cluster Agro",
    "Cluster Textile du Nord",
    "budget prévisionnel",
    "statuts signés",
    "Le budget doit couvrir trois ans.",
    "Statuts non conformes.",
    "Liste d'attente : enveloppe 2027 limitée.",
    "Premier du classement.",
    "Enveloppe 2027 limitée.",
    "Les notes sont confirmées.",
    "Recruter un directeur R&D.",
    "Rapport non transmis.",
    *(c.label for c in DEFAULT_GRID.criteria),
    "programme@clusters.ma",
    REF,
]


def in_arabic(state: ApplicationState) -> ApplicationState:
    contact = state.data.contact.model_copy(update={"language": "ar"})
    return state.model_copy(update={"data": state.data.model_copy(update={"contact": contact})})


def cluster_in_arabic(state: ClusterState) -> ClusterState:
    origin = state.origin.model_copy(update={"contact_language": "ar"})
    return state.model_copy(update={"origin": origin})


def applicant_notices(arabic: bool = True) -> Iterator[tuple[str, Notification]]:
    """Each notice to the applicant or its cluster, in each variant, for a contact who reads
    Arabic (or, `arabic` false, one who gave no language)."""
    to_ar = in_arabic if arabic else (lambda state: state)
    on = cluster_in_arabic if arabic else (lambda state: state)
    complements = ComplementRequest(
        items=["budget prévisionnel", "statuts signés"],
        note="Le budget doit couvrir trois ans",
        requested_at=NOW,
        days=10,
    )
    probation = Probation(
        conditions="Recruter un directeur R&D", review_at=NOW + timedelta(days=90)
    )
    results = [
        (
            A.REJECTED,
            "Cluster TIC n° 8",
            scored(3, 2, 3, 3, 2.5),
            "Liste d'attente : enveloppe 2027 limitée",
        ),
        (A.LABELLED, "Aéropôle", scored(4, 4, 4, 4, 4), "Premier du classement."),
        (A.RESERVE, "Cluster TIC n° 8", scored(3.5, 3.5, 3.5, 3.5, 3.5), "Enveloppe 2027 limitée"),
        (A.NOT_RETAINED, "Cluster TIC n° 8", None, "Enveloppe 2027 limitée"),
    ]
    made = {
        "registered": [notices.registered(to_ar(application(A.RECEIVED)))],
        "complements_requested": [
            notices.complements_requested(
                to_ar(application(A.COMPLEMENTS_REQUESTED, complements=request))
            )
            for request in (complements, complements.model_copy(update={"note": None}))
        ],
        "eligibility_decided": [
            notices.eligibility_decided(to_ar(application(A.ELIGIBLE, "Association Agrinova"))),
            notices.eligibility_decided(
                to_ar(application(A.INELIGIBLE, reason="Statuts non conformes."))
            ),
        ],
        "result_published": [
            notices.result_published(
                to_ar(
                    application(
                        outcome,
                        name,
                        evaluation=evaluation,
                        decision=decided(outcome, reason),
                        redress=Redress(days=30) if outcome == A.REJECTED else None,
                    )
                ),
                DEFAULT_GRID,
            )
            for outcome, name, evaluation, reason in results
        ],
        "review_answered": [
            notices.review_answered(
                to_ar(
                    application(stage, redress=Redress(days=30, answer="Les notes sont confirmées"))
                )
            )
            for stage in (A.REJECTION_FINAL, A.EVALUATION)
        ],
        "report_requested": [notices.report_requested(on(cluster(C.REPORT_REQUESTED)))],
        "report_reminder": [notices.report_reminder(on(cluster(C.REPORT_REQUESTED)))],
        "report_overdue": [notices.report_overdue(on(cluster(C.REPORT_OVERDUE, "Cluster Agro")))],
        "support_decided": [
            notices.support_decided(on(cluster(C.ACTIVE, probation=probation))),
            notices.support_decided(on(cluster(C.ACTIVE, "Cluster Textile du Nord"))),
            *(
                notices.support_decided(on(cluster(s)))
                for s in (C.SUSPENDED, C.TERMINATED, C.ENDED)
            ),
        ],
    }
    assert set(made) == notices.TO_APPLICANT, "an applicant's notice has no case here"
    for kind, variants in made.items():
        for notifications in variants:
            for notification in notifications:
                assert notification.kind == kind
                yield kind, notification


def sent(notification: Notification) -> str:
    """The text as it leaves, on NOW: its dates and addresses written in."""
    return written_in(
        notification.body, RELAY, NOW, notification.due_days, notification.due_working
    )


def letters_of(arabic: bool = True) -> dict[str, list[str]]:
    letters: dict[str, list[str]] = {}
    for kind, notification in applicant_notices(arabic):
        if notification.recipient != PROGRAMME:
            letters.setdefault(kind, []).append(f"{notification.subject}\n{sent(notification)}")
    return letters


def test_every_applicant_notice_reads_in_arabic_with_the_case_s_facts() -> None:
    for kind, notification in applicant_notices():
        if notification.recipient == PROGRAMME:
            continue
        text = sent(notification)
        assert language_of(notification.body) == "ar", kind
        first = next(c for c in notification.subject if c.isalpha())
        assert ARABIC.match(first), (kind, notification.subject)
        assert REF in notification.subject + text, kind
        assert not re.search(r"[⟨⟩{}]", text), (kind, text)  # nothing left to write in
        left = f"{notification.subject}\n{text}"
        for fact in FACTS:
            left = left.replace(fact, "")
        assert not re.findall(r"[A-Za-zÀ-ÿ]{2,}", left), (kind, left)
    letters = letters_of()
    [registered] = letters["registered"]
    assert registered.startswith(f"الدعوة « {CALL} » — تسجيل الترشيح {REF}\n")
    assert (
        f"تم تسجيل ترشيح التكتل « Cluster TIC n° 8 » برسم الدعوة لتقديم المشاريع « {CALL} »"
        in registered
    )
    assert f"تحت المرجع {REF}." in registered
    with_note, without_note = letters["complements_requested"]
    assert "– budget prévisionnel\n– statuts signés\n" in with_note
    assert "توضيح من البرنامج: Le budget doit couvrir trois ans." in with_note
    assert "توضيح" not in without_note
    # Ten days from the sending, at 15:00 in Rabat, as the workflow counts it.
    assert "آخر أجل للرد: 11/03/2027 على الساعة 15:00 (بتوقيت الرباط)" in with_note
    eligible, ineligible = letters["eligibility_decided"]
    assert "مقبول شكلًا" in eligible.splitlines()[0] and "غير" not in eligible.splitlines()[0]
    assert "غير مقبول شكلًا" in ineligible and "السبب: Statuts non conformes." in ineligible
    rejection, labelled, reserve, not_retained = letters["result_published"]
    assert rejection.splitlines()[0].endswith(f"الترشيح {REF} غير منتقى")
    assert "علّلت اللجنة قرارها بما يلي: « Liste d'attente : enveloppe 2027 limitée. »" in rejection
    assert "– Stratégie et création de valeur: 3,00 / 5 (العتبة 2,50)\n" in rejection
    assert (
        "– Innovation collaborative et plan R&D: 2,00 / 5 (العتبة 2,50) — لم تُبلَغ العتبة"
        in rejection
    )
    assert "– النقطة الإجمالية المرجحة: 2,67 / 5 (العتبة 3,00) — لم تُبلَغ العتبة" in rejection
    redress_due = due_text(working_days_after(NOW, 30), "ar")
    assert redress_due == "14/04/2027 على الساعة 15:00"
    assert f"طلب إعادة النظر في هذا القرار إلى غاية {redress_due} (بتوقيت الرباط)" in rejection
    assert "حصل التكتل على العلامة" in labelled and "الاتفاقية" in labelled
    assert "النقط المحصل عليها" not in labelled + reserve + not_retained
    assert "لائحة الانتظار" in reserve.splitlines()[0]
    assert "أُغلقت لائحة الانتظار" in not_retained
    final, again = letters["review_answered"]
    assert "رد اللجنة: Les notes sont confirmées." in final and "نهائي" in final
    assert "يخضع الملف لتقييم جديد" in again
    [requested] = letters["report_requested"]
    assert requested.startswith("التكتل « Technopôle du Souss » — التقرير السنوي للسنة 2 منتظر\n")
    assert "– تقرير النشاط؛\n– القوائم المالية؛" in requested
    year_end = cluster(C.REPORT_REQUESTED).years[-1].ends_at
    assert f"منتظر قبل {due_text(year_end, 'ar')} (بتوقيت الرباط)" in requested
    [reminder] = letters["report_reminder"]
    assert reminder.startswith("تذكير: ")
    [overdue] = letters["report_overdue"]
    assert "« Cluster Agro »" in overdue and "متأخرًا" in overdue
    probation, renewed, suspended, terminated, ended = letters["support_decided"]
    assert "تجديد الدعم تحت المراقبة للسنة 2" in probation
    assert "مبلغ دعم السنة: 1\u202f200\u202f000 درهم." in probation
    assert "الشروط الواجب استيفاؤها: Recruter un directeur R&D." in probation
    assert "تاريخ المراجعة: 30/05/2027." in probation
    assert "المراقبة" not in renewed
    assert "تعليق الدعم" in suspended and "السبب: Rapport non transmis." in suspended
    assert "فسخ الدعم" in terminated and "انتهاء الدعم" in ended


def test_arabic_dates_are_the_same_moments_in_rabat_time() -> None:
    """Rabat is an hour ahead of UTC but during Ramadan: the moment stays, its clock time not."""
    june = datetime(2027, 6, 15, 14, 0, tzinfo=UTC)
    ramadan = datetime(2027, 2, 20, 14, 0, tzinfo=UTC)
    assert due_text(june, "ar") == "15/06/2027 على الساعة 15:00"
    assert due_text(ramadan, "ar") == "20/02/2027 على الساعة 14:00"
    assert due_text(june) == "15/06/2027 à 15:00"  # the French, as before
    state = in_arabic(application(A.RECEIVED)).model_copy(update={"deadline": june})
    [notice] = notices.registered(state)
    assert "إلى غاية 15/06/2027 على الساعة 15:00 (بتوقيت الرباط)" in notice.body


def test_a_contact_without_a_language_reads_the_same_french_as_before() -> None:
    assert Contact(name="Salma Bennani", email="salma@cluster-nord.ma").language == "fr"
    with pytest.raises(ValidationError):
        Contact(name="Salma Bennani", email="salma@cluster-nord.ma", language="en")  # type: ignore[arg-type]
    # A state recorded before the field existed (a history's payload) replays as French.
    recorded = application(A.RECEIVED).model_dump(mode="json")
    del recorded["data"]["contact"]["language"]
    old = ApplicationState.model_validate(recorded)
    assert old.data.contact.language == "fr"
    [notice] = notices.registered(old)
    assert notice.subject == f"{CALL} — candidature {REF} enregistrée"
    assert notice.body == (
        f"La candidature de « Cluster TIC n° 8 » à « {CALL} » est enregistrée sous la "
        f"référence {REF}.\n\nJusqu'au 28/02/2027 à 10:00 (heure de Rabat), elle peut être "
        "complétée, modifiée ou retirée : écrivez à ⟨adresse du programme⟩ en rappelant cette "
        "référence. Passé ce délai, le dossier est examiné tel qu'il a été déposé et la "
        "décision de recevabilité vous est adressée par courrier."
    )
    assert language_of(notice.body) == "fr"
    # Every French notice is worded as when no language was said.
    french = [(k, n) for k, n in applicant_notices(arabic=False)]
    for kind, notification in french:
        assert language_of(notification.body) == "fr", kind
        assert not ARABIC.search(notification.subject + notification.body), kind
    said = ApplicationInput.model_validate(
        {**APPLICATION, "contact": {**APPLICATION["contact"], "language": "fr"}}
    )
    unsaid = ApplicationInput.model_validate(APPLICATION)
    assert said == unsaid


def test_the_staff_s_copies_stay_french() -> None:
    """A late report: the cluster reads Arabic, the programme's copy is the French one; a
    probation's review is the programme's alone."""
    late = cluster(C.REPORT_OVERDUE, "Cluster Agro")
    to_cluster, to_programme = notices.report_overdue(cluster_in_arabic(late))
    _, french_copy = notices.report_overdue(late)
    assert language_of(to_cluster.body) == "ar" and to_cluster.recipient == "direction@souss.ma"
    assert to_programme == french_copy and to_programme.recipient == PROGRAMME
    assert to_programme.subject == "Cluster Agro — rapport annuel de l'année 2 en retard"
    probation = Probation(conditions="Recruter", review_at=NOW + timedelta(days=90))
    [review] = notices.probation_review(cluster_in_arabic(cluster(C.ACTIVE, probation=probation)))
    assert review.recipient == PROGRAMME and language_of(review.body) == "fr"
    evaluated = in_arabic(application(A.EVALUATION, evaluation=scored(3, 3, 3, 3, 3)))
    [to_eve] = notices.evaluators_assigned(evaluated, ["Eve Évaluatrice"])
    assert language_of(to_eve.body) == "fr"


def test_an_applicant_notice_without_its_arabic_wording_fails_at_import() -> None:
    kinds = dict(notices.KINDS)

    def evaluators_short(state: ApplicationState) -> list[Notification]:
        """Une notice au candidat sans sa version arabe"""
        return []

    with pytest.raises(AssertionError, match="domain/templates/ar/evaluators_short.txt"):
        notices.applicant_notice(evaluators_short)
    assert notices.KINDS == kinds  # nothing registered by a refused declaration
    # No Arabic wording for a notice that is not the applicant's.
    assert set(notices.WORDINGS["ar"]) == notices.TO_APPLICANT
    assert {"evaluators_assigned", "probation_review", "session_convened"}.isdisjoint(
        notices.TO_APPLICANT
    )


# --- the mail activity, on a real SMTP server on loopback --------------------------------------


def delivered(engine: Engine, tmp_path: Path, rows: list[OutboxRow]) -> dict[str, EmailMessage]:
    """Each row sent by the mail activity; the messages the relay received, by address."""
    catcher = Catcher()
    controller = start_catcher(catcher)
    keys = [row.key for row in rows]
    with Session(engine) as db:
        db.add_all(rows)
        db.commit()
    mail = Mail(engine, relay_to(controller, RELAY), Storage(str(tmp_path / "documents")))
    try:
        for key in keys:
            ActivityEnvironment().run(mail.deliver_notice, key)
    finally:
        controller.stop()
    messages = {str(m["To"]): m for m in catcher.messages.values()}
    assert len(messages) == len(rows)
    return messages


def outbox_row(key: str, notification: Notification, recipient: str | None = None) -> OutboxRow:
    """The row a workflow's record writes for `notification` (projection.writes)."""
    recipient = recipient or notification.recipient
    values = {**notification.model_dump(), "recipient": recipient}
    return OutboxRow(key=key, created_at=utcnow(), **values)


def parts(message: EmailMessage) -> tuple[str, str]:
    text = message.get_body(("plain",)).get_content().replace("\r\n", "\n")
    return text, message.get_body(("html",)).get_content()


def test_the_mail_lays_an_arabic_notice_out_right_to_left(engine: Engine, tmp_path: Path) -> None:
    request = ComplementRequest(items=["budget prévisionnel"], requested_at=NOW, days=10)
    asked = in_arabic(application(A.COMPLEMENTS_REQUESTED, complements=request))
    [arabic] = notices.complements_requested(asked)
    late = cluster_in_arabic(cluster(C.REPORT_OVERDUE, "Cluster Agro"))
    _, to_programme = notices.report_overdue(late)
    [french] = notices.registered(application(A.RECEIVED))
    keys = [f"application-{REF}:3:0", f"cluster-{REF}:5:1", f"application-{REF}:1:0"]
    rows = [
        outbox_row(keys[0], arabic),
        outbox_row(keys[1], to_programme),
        outbox_row(keys[2], french, "autre@cluster-nord.ma"),
    ]
    messages = delivered(engine, tmp_path, rows)

    message = messages["salma@cluster-nord.ma"]
    text, html = parts(message)
    assert str(message["Subject"]).startswith("الدعوة « ")
    assert message["Content-Language"] == "ar"
    assert text.startswith("السيدة المحترمة، السيد المحترم،\n\nأظهرت دراسة مقبولية")
    assert f"\n\nالمرجع الواجب التذكير به: {REF}\n" in text
    assert f"مراسلة programme@clusters.ma، مع التذكير بالمرجع {REF}." in text
    assert text.endswith("برنامج دعم التكتلات\nوزارة الصناعة والتجارة — المملكة المغربية\n")
    with Session(engine) as db:
        row = db.exec(select(OutboxRow).where(OutboxRow.key == keys[0])).one()
    assert row.sent_at is not None and row.status == "sent"
    due = due_text(response_due(row.sent_at, 10, False), "ar")
    assert f"آخر أجل للرد: {due} (بتوقيت الرباط)" in text  # written in at the sending
    assert '<html lang="ar" dir="rtl">' in html
    assert "<p>السيدة المحترمة، السيد المحترم،</p>" in html and "⟨" not in html

    text, html = parts(messages["programme@clusters.ma"])  # the programme's copy: French
    assert text.startswith("Madame, Monsieur,\n\nLe rapport annuel")
    assert f"Dossier : Dossier de soutien du cluster {REF}" in text
    assert '<html lang="fr">' in html and "rtl" not in html

    text, html = parts(messages["autre@cluster-nord.ma"])  # a contact who gave no language
    assert text.startswith("Madame, Monsieur,\n\nLa candidature de « Cluster TIC n° 8 »")
    assert f"Référence à rappeler : {REF}" in text
    assert text.endswith(
        "Le Programme d'appui aux clusters\n"
        "Ministère de l'Industrie et du Commerce — Royaume du Maroc\n"
    )
    assert '<html lang="fr">' in html and "rtl" not in html


# --- a registration through the API, to the mail catcher ---------------------------------------


@pytest.mark.asyncio(loop_scope="session")
async def test_an_applicant_who_reads_arabic_is_told_of_the_registration_in_arabic(
    skipping: Service,
) -> None:
    call_id = await open_call(skipping)
    email = f"arabe-{call_id}@cluster-nord.ma"
    contact = {"name": "Salma Bennani", "email": email, "language": "ar"}
    created = await skipping.post(
        f"/calls/{call_id}/applications", json={**APPLICATION, "contact": contact}
    )
    assert created.status_code == 201, created.text
    case = created.json()
    application_id = case["id"]
    assert case["data"]["contact"]["language"] == "ar"

    async def came() -> bool:
        return bool(mails_to(email))

    await eventually(came, what="the registration notice")
    [message] = mails_to(email)
    text, html = parts(message)
    deadline = datetime.fromisoformat(case["deadline"])
    assert message["Subject"].startswith("الدعوة « Appel à projets clusters 2026 » — ")
    assert message["Subject"].endswith(f"تسجيل الترشيح {application_id}")
    assert text.startswith("السيدة المحترمة، السيد المحترم،\n\n")
    assert "تم تسجيل ترشيح التكتل « Cluster Aéronautique du Nord »" in text
    assert f"تحت المرجع {application_id}." in text
    assert f"إلى غاية {due_text(deadline, 'ar')} (بتوقيت الرباط)" in text
    assert "يُرجى مراسلة programme@clusters.ma مع التذكير بهذا المرجع" in text
    assert '<html lang="ar" dir="rtl">' in html and 'dir="rtl"' in html
    assert "تم تسجيل ترشيح التكتل" in html
    assert message["Content-Language"] == "ar"


def test_a_new_contact_keeps_the_language_unless_it_says_another() -> None:
    """The console's amend form sends a contact without its language: the applicant's stays."""
    data = ApplicationInput.model_validate(
        {
            "cluster_name": "Cluster TIC",
            "sector": "TIC",
            "contact": {"name": "Salma", "email": "salma@exemple.ma", "language": "ar"},
        }
    )
    kept = Amendment(contact={"name": "Omar", "email": "omar@exemple.ma"}).applied_to(data)
    assert kept.contact.name == "Omar" and kept.contact.language == "ar"
    chosen = {"name": "Omar", "email": "omar@exemple.ma", "language": "fr"}
    assert Amendment(contact=chosen).applied_to(data).contact.language == "fr"
    assert Amendment(sector="Agro").applied_to(data).contact.language == "ar"
