"""Letters that say what they mean: each notice names the call by its title and the cluster by
its name, gives the reference to quote and what to do next; a rejection its marks against the
thresholds, a probation its conditions, review date and amount; the committee's internal note
never leaves; evaluators get a link into the console. First every kind rendered from facts,
then real cases driven through the API to the mail catcher."""

import contextlib
import dataclasses
import re
import uuid
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage

import pytest
import pytest_asyncio
from sqlalchemy import Engine, update
from sqlmodel import Session, select
from temporalio.service import RPCError
from temporalio.testing import WorkflowEnvironment

from activities.mail import Relay, written_in
from domain import notices
from domain.bodies import DigestItem
from domain.ids import Kind, workflow_id
from domain.models import (
    DEFAULT_GRID,
    ApplicationInput,
    ApplicationState,
    Assignment,
    CallSpec,
    CallState,
    ClusterStart,
    ComplementRequest,
    Decision,
    Evaluation,
    EvaluationResult,
    Notification,
    Redress,
)
from domain.session import AgendaItem, Function, SessionMember, SessionSpec, SessionState
from domain.session_notices import session_convened
from domain.stages import ApplicationStage, CallStage, ClusterStage, SessionStage
from domain.support import ClusterState, ContractTerms, KPIs, Probation, SupportYear
from domain.workdays import working_days_after
from projection.tables import ApplicationRow, CallRow, ClusterRow, OutboxRow, UserRow
from tests.conftest import (
    APPLICATION,
    CATCHER,
    Service,
    eventually,
    mail_relay,
    mails_to,
    report,
    running_service,
)
from tests.test_evaluation import ok, sheet

NOW = datetime(2027, 3, 1, 10, tzinfo=UTC)
RELAY = Relay(host="", programme="programme@clusters.ma", public_url="https://clusters.gov.ma")
INTERNAL = "Note interne : le rapporteur doute du budget"
# What no letter may say: a word twice in a row, « de le », « que il », a name's kind said
# twice, a doubled full stop, a space before a full stop or a comma, a placeholder left.
WRONG = {
    "doubled word": re.compile(r"\b(\w+) \1\b", re.IGNORECASE),
    "de le": re.compile(r"\b(de|à) (le|les)\b", re.IGNORECASE),
    "elision": re.compile(r"\b(que|de|le|la|ne|se|je|me|te) [aeiouéèêâîôû]", re.IGNORECASE),
    "doubled stop": re.compile(r"\.\s*\.|\s[.,]"),
    "kind twice": re.compile(r"cluster « cluster|appel « appel", re.IGNORECASE),
    "motif : x :": re.compile(r"Motif : [^«\n]*:"),
    "placeholder": re.compile(r"[⟨⟩{}]"),
}


def application(stage: ApplicationStage, name: str = "Cluster TIC n° 8", **state: object):
    data = ApplicationInput.model_validate({**APPLICATION, "cluster_name": name})
    return ApplicationState(
        id="3fa2c1d0e9ab",
        call_id="2027-e2c4bc7d81d2",
        call_title="Appel à projets clusters 2027",
        stage=stage,
        data=data,
        deadline=NOW - timedelta(days=1),
        registered_at=NOW - timedelta(days=30),
        updated_at=NOW,
        **state,
    )


def scored(*means: float) -> Evaluation:
    """An evaluation whose means per criterion, in the default grid's order, are these."""
    marks = {c.code: m for c, m in zip(DEFAULT_GRID.criteria, means, strict=True)}
    overall = sum(c.weight * marks[c.code] for c in DEFAULT_GRID.criteria) / 100
    failed = [c.code for c in DEFAULT_GRID.criteria if marks[c.code] < c.threshold]
    result = EvaluationResult(
        weighted_score=round(overall, 3),
        criterion_means=marks,
        evaluator_scores={"Eve Évaluatrice": overall},
        spread=0,
        consensus_needed=False,
        thresholds_met=not failed and overall >= DEFAULT_GRID.overall_threshold,
        failed_criteria=failed,
    )
    assignment = Assignment(evaluator="Eve Évaluatrice", assigned_at=NOW)
    return Evaluation(assignments=[assignment], due_at=NOW + timedelta(days=21), result=result)


def decided(outcome: ApplicationStage, reason: str) -> Decision:
    return Decision(
        outcome=outcome,
        reason=reason,
        internal_note=INTERNAL,
        decided_by="Karim Comité",
        decided_at=NOW,
    )


def call() -> CallState:
    spec = CallSpec(
        year=2027,
        title="Appel à projets clusters 2027",
        opens_at=NOW - timedelta(days=60),
        deadline=NOW - timedelta(days=1),
    )
    return CallState(
        id="2027-e2c4bc7d81d2", stage=CallStage.UNDER_EVALUATION, spec=spec, updated_at=NOW
    )


def cluster(stage: ClusterStage, name: str = "Technopôle du Souss", **year: object):
    start = ClusterStart(
        cluster_id="3fa2c1d0e9ab",
        application_id="3fa2c1d0e9ab",
        call_id="2027-e2c4bc7d81d2",
        cluster_name=name,
        sector="TIC",
        labelled_at=NOW - timedelta(days=400),
        max_support_years=8,
        contact_email="direction@souss.ma",
    )
    targets = KPIs(rd_projects=4, patents=1, startups=2, rd_jobs=10, trainings=6)
    terms = ContractTerms(
        start_at=NOW - timedelta(days=365), planned_amounts=[1.5e6, 1.2e6], kpi_targets=targets
    )
    support_year = SupportYear(
        year=2,
        starts_at=NOW,
        ends_at=NOW + timedelta(days=365),
        amount=1_200_000,
        kpi_targets=targets,
        **year,
    )
    return ClusterState(
        id="3fa2c1d0e9ab",
        stage=stage,
        origin=start,
        contract=terms,
        years=[support_year],
        reason="Rapport non transmis." if stage != ClusterStage.ACTIVE else None,
        updated_at=NOW,
    )


def convened_session() -> SessionState:
    """A session convened with two files on its agenda, one of them not marked."""
    members = [
        SessionMember(name="Karim Comité", function=Function.PRESIDENT),
        SessionMember(name="Salma Comité", function=Function.SECRETARY),
        SessionMember(name="Hassan Comité"),
    ]
    spec = SessionSpec(
        title="Comité de pilotage — séance de juin",
        call_ids=["2027-0a1b2c3d4e5f"],
        meets_at=NOW + timedelta(days=10),
        place="Rabat, salle du conseil",
        members=members,
    )
    agenda = [
        AgendaItem(
            application_id=f"{n:012x}",
            call_id=spec.call_ids[0],
            cluster_name=name,
            rank=n,
            score=score,
        )
        for n, (name, score) in enumerate([("Aéropôle", 3.85), ("Cluster TIC n° 8", None)], 1)
    ]
    return SessionState(
        id="5e55a0c1", stage=SessionStage.CONVENED, spec=spec, agenda=agenda, updated_at=NOW
    )


def every_notice() -> Iterator[tuple[str, Notification]]:
    """Each kind of notice, in each of its variants, as a workflow writes it."""
    A, C = ApplicationStage, ClusterStage
    rejected = application(
        A.REJECTED,
        evaluation=scored(3, 2, 3, 3, 2.5),
        decision=decided(A.REJECTED, "Liste d'attente : enveloppe 2027 limitée"),
        redress=Redress(days=30),
    )
    complements = ComplementRequest(
        items=["budget prévisionnel", "statuts signés"],
        note="Le budget doit couvrir trois ans",
        requested_at=NOW,
        days=10,
    )
    digest = [
        DigestItem(
            evaluator=evaluator,
            application_id=f"{n:012x}",
            cluster_name=name,
            due_at=NOW + timedelta(days=21),
        )
        for n, (evaluator, name) in enumerate(
            [
                ("Eve Évaluatrice", "Cluster TIC n° 8"),
                ("Eve Évaluatrice", "Association Agrinova"),
                ("Driss Évaluateur", "Aéropôle"),
            ]
        )
    ]
    probation = Probation(
        conditions="Recruter un directeur R&D", review_at=NOW + timedelta(days=90)
    )
    made = {
        "registered": [notices.registered(application(A.RECEIVED))],
        "complements_requested": [
            notices.complements_requested(application(A.COMPLEMENTS_REQUESTED, complements=c))
            for c in (complements, complements.model_copy(update={"note": None}))
        ],
        "eligibility_decided": [
            notices.eligibility_decided(application(A.ELIGIBLE, "Association Agrinova")),
            notices.eligibility_decided(application(A.INELIGIBLE, reason="Statuts non conformes.")),
        ],
        "evaluators_assigned": [
            notices.evaluators_assigned(
                application(A.EVALUATION, evaluation=scored(3, 3, 3, 3, 3)), ["Eve Évaluatrice"]
            )
        ],
        "assignments_digest": [notices.assignments_digest(call(), digest)],
        "evaluation_reminder": [
            notices.evaluation_reminder(
                application(A.EVALUATION, evaluation=scored(3, 3, 3, 3, 3)), ["Eve Évaluatrice"]
            )
        ],
        "evaluation_overdue": [
            notices.evaluation_overdue(application(A.EVALUATION), ["Eve Évaluatrice"])
        ],
        "evaluators_short": [notices.evaluators_short(application(A.EVALUATION), 1)],
        "result_published": [
            notices.result_published(rejected, DEFAULT_GRID),
            notices.result_published(
                application(
                    A.LABELLED,
                    "Aéropôle",
                    evaluation=scored(4, 4, 4, 4, 4),
                    decision=decided(A.LABELLED, "Premier du classement."),
                ),
                DEFAULT_GRID,
            ),
            notices.result_published(
                application(
                    A.RESERVE,
                    evaluation=scored(3.5, 3.5, 3.5, 3.5, 3.5),
                    decision=decided(A.RESERVE, "Enveloppe 2027 limitée"),
                ),
                DEFAULT_GRID,
            ),
        ],
        "review_answered": [
            notices.review_answered(
                application(stage, redress=Redress(days=30, answer="Les notes sont confirmées"))
            )
            for stage in (A.REJECTION_FINAL, A.EVALUATION)
        ],
        "report_requested": [notices.report_requested(cluster(C.REPORT_REQUESTED))],
        "report_reminder": [notices.report_reminder(cluster(C.REPORT_REQUESTED))],
        "report_overdue": [notices.report_overdue(cluster(C.REPORT_OVERDUE, "Cluster Agro"))],
        "probation_review": [notices.probation_review(cluster(C.ACTIVE, probation=probation))],
        "support_decided": [
            notices.support_decided(cluster(C.ACTIVE, probation=probation)),
            notices.support_decided(cluster(C.ACTIVE, "Cluster Textile du Nord")),
            *(notices.support_decided(cluster(s)) for s in (C.SUSPENDED, C.TERMINATED, C.ENDED)),
        ],
        "session_convened": [session_convened(convened_session())],
    }
    assert set(made) == set(notices.KINDS), "a kind of notice has no case here"
    for kind, variants in made.items():
        for notifications in variants:
            for notification in notifications:
                assert notification.kind == kind
                yield kind, notification


def test_no_letter_says_a_word_twice_nor_elides_wrongly() -> None:
    for kind, notification in every_notice():
        sent = written_in(
            notification.body, RELAY, NOW, notification.due_days, notification.due_working
        )
        for text in (notification.subject, sent):
            for what, pattern in WRONG.items():
                assert not pattern.search(text), (kind, what, pattern.search(text), text)


def test_each_letter_names_the_call_and_the_cluster_and_keeps_the_note_inside() -> None:
    for kind, notification in every_notice():
        text = f"{notification.subject}\n{notification.body}"
        assert INTERNAL not in text and "2027-e2c4bc7d81d2" not in text, kind
        assert not re.search(r"cluster\W+cluster", text, re.IGNORECASE), (kind, text)
        if notification.recipient == "salma@cluster-nord.ma":
            assert "« Appel à projets clusters 2027 »" in notification.body, kind
            assert notification.subject.startswith("Appel à projets clusters 2027 — "), kind


def test_what_a_rejection_a_probation_and_an_evaluator_read() -> None:
    letters: dict[str, list[str]] = {}
    for kind, notification in every_notice():
        sent = written_in(
            notification.body, RELAY, NOW, notification.due_days, notification.due_working
        )
        letters.setdefault(kind, []).append(f"{notification.subject}\n{sent}")
    rejection = letters["result_published"][0]
    assert "« Liste d'attente : enveloppe 2027 limitée. »" in rejection
    assert "– Stratégie et création de valeur : 3,00 / 5 (seuil 2,50)\n" in rejection
    assert "– Innovation collaborative et plan R&D : 2,00 / 5 (seuil 2,50) — seuil non" in rejection
    assert "– Note globale pondérée : 2,67 / 5 (seuil 3,00) — seuil non atteint" in rejection
    assert "écrivez à programme@clusters.ma en exposant vos motifs" in rejection
    # The redress runs 30 working days of Morocco from the sending, as the workflow counts it.
    assert f"jusqu'au {notices.due_text(working_days_after(NOW, 30))} (heure" in rejection
    assert "Notes obtenues" not in "".join(letters["result_published"][1:])
    probation = letters["support_decided"][0]
    assert "sous probation pour l'année 2" in probation
    assert "Conditions à remplir : Recruter un directeur R&D." in probation
    assert "Date de revue : le 30/05/2027." in probation
    assert "Montant du soutien de l'année : 1\u202f200\u202f000 MAD." in probation
    for kind, page in (
        ("evaluators_assigned", "evaluer"),
        ("evaluation_reminder", "evaluer"),
        ("evaluators_short", "candidatures"),
        ("evaluation_overdue", "candidatures"),
    ):
        [letter] = letters[kind]
        assert f"https://clusters.gov.ma/console/{page}/3fa2c1d0e9ab" in letter, kind
    to_driss, to_eve = letters["assignments_digest"]  # one message each, by name
    assert to_eve.startswith("Appel à projets clusters 2027 — 2 candidature(s) à évaluer\n")
    assert "– « Cluster TIC n° 8 », grille attendue avant le 22/03/2027 à 11:00" in to_eve
    assert "– Le cluster « Association Agrinova », grille" in to_eve
    assert "https://clusters.gov.ma/console/evaluer/000000000001" in to_eve
    assert "Aéropôle" in to_driss and "Agrinova" not in to_driss
    assert "« Cluster TIC n° 8 »" in letters["registered"][0]
    assert "le cluster « Cluster" not in "".join(sum(letters.values(), []))


# --- real cases, through the API, to the mail catcher ------------------------------------------
PUBLIC = "https://clusters.example.ma"
TITLE = "Clusters innovants 2027"
INTERNAL_NOTE = "Rapporteur réservé sur la gouvernance : ne pas communiquer"


@pytest_asyncio.fixture(loop_scope="session")
async def letters(skipping_env: WorkflowEnvironment, engine: Engine) -> AsyncIterator[Service]:
    """On the time-skipping server, the console's public address set (PUBLIC_URL). Its cases
    end with it: a case left waking up with no worker would stop the next tests' time."""
    relay = dataclasses.replace(mail_relay(), public_url=PUBLIC)
    async with running_service(skipping_env, engine, relay=relay) as service:
        yield service
        with Session(engine) as db:
            cases = [
                workflow_id(kind, case)
                for kind, table in (
                    (Kind.CALL, CallRow),
                    (Kind.APPLICATION, ApplicationRow),
                    (Kind.CLUSTER, ClusterRow),
                )
                for case in db.exec(select(table.id))
            ]
        for case in cases:
            with contextlib.suppress(RPCError):
                await service.client.get_workflow_handle(case).terminate("fin du test")


def text_of(message: EmailMessage) -> str:
    return message.get_body(("plain",)).get_content().replace("\r\n", "\n")


async def received(address: str, *words: str) -> EmailMessage:
    """The one message to `address` whose subject holds these words, once it has come."""

    def found() -> list[EmailMessage]:
        return [m for m in mails_to(address) if all(w in str(m["Subject"]) for w in words)]

    async def came() -> bool:
        return bool(found())

    await eventually(came, what=f"a message to {address} about {words}")
    [message] = found()
    return message


@pytest.mark.asyncio(loop_scope="session")
async def test_letters_of_a_real_call_say_what_they_mean(letters: Service) -> None:
    service = letters
    eve = f"eve-{uuid.uuid4().hex[:8]}@evaluateurs.ma"
    with Session(service.engine) as db:
        db.exec(update(UserRow).where(UserRow.name == "Eve Évaluatrice").values(email=eve))
        db.commit()
    call_id = await service.new_call(title=TITLE, evaluators_per_application=1)
    await ok(await service.post(f"/calls/{call_id}/publish", role="admin"))
    names = {"reject": "Cluster TIC n° 8", "label": "Technopôle du Souss", "reserve": "Agrinova"}
    ids, contacts = {}, {}
    for outcome, name in names.items():
        contacts[outcome] = f"{outcome}-{uuid.uuid4().hex[:8]}@clusters.ma"
        contact = {"name": "Salma Bennani", "email": contacts[outcome]}
        body = {**APPLICATION, "cluster_name": name, "contact": contact}
        created = await service.post(f"/calls/{call_id}/applications", json=body)
        assert created.status_code == 201, created.text
        ids[outcome] = created.json()["id"]
    await service.env.sleep(timedelta(days=31))
    for case in ids.values():

        async def in_review(case: str = case) -> bool:
            return (await service.get(f"/applications/{case}")).json()["stage"] == (
                "eligibility_review"
            )

        await eventually(in_review, what="the eligibility review")
        await ok(await service.post(f"/applications/{case}/mark_eligible"), "eligible")
    await ok(await service.post(f"/calls/{call_id}/start_evaluation", role="admin"))

    # Driss declares a conflict on Agrinova: the programme is told, with the link to the case.
    await ok(
        await service.post(
            f"/applications/{ids['reserve']}/assign_evaluators",
            role="admin",
            json={"evaluators": ["Driss Évaluateur"]},
        )
    )
    await ok(
        await service.post(
            f"/applications/{ids['reserve']}/declare_interest",
            role="evaluator2",
            json={"conflict": True, "note": "Ancien membre du bureau"},
        )
    )
    short = await received("programme@clusters.ma", "évaluateurs manquants", ids["reserve"])
    assert f"{PUBLIC}/console/candidatures/{ids['reserve']}" in text_of(short)
    assert str(short["Subject"]).startswith(f"Appel « {TITLE} » — ")

    # Eve evaluates the three: each assignment reaches her with a link into the console.
    marks = {"reject": (3, 2, 3, 3, 3), "label": (4, 4, 4, 4, 4), "reserve": (3.5,) * 5}
    for outcome, case in ids.items():
        body = {"evaluators": ["Eve Évaluatrice"]}
        await ok(await service.post(f"/applications/{case}/assign_evaluators", "admin", body))
        assigned = await received(eve, case, "à évaluer")
        link = f"{PUBLIC}/console/evaluer/{case}"  # the evaluator's page of the case
        assert link in text_of(assigned)
        assert f'<a href="{link}">' in assigned.get_body(("html",)).get_content()
        assert f"Dossier : Candidature {case}" in text_of(assigned)
        await ok(
            await service.post(
                f"/applications/{case}/declare_interest", "evaluator", {"conflict": False}
            )
        )
        scores = sheet(*marks[outcome])
        await ok(await service.post(f"/applications/{case}/submit_scores", "evaluator", scores))
    actions = {"reject": "reject", "label": "label", "reserve": "put_on_reserve"}
    reasons = {
        "reject": "Plan R&D insuffisamment étayé",
        "label": "Premier du classement de l'appel.",
        "reserve": "Enveloppe 2027 limitée",
    }
    for outcome, case in ids.items():
        decision = {"reason": reasons[outcome], "internal_note": INTERNAL_NOTE}
        await ok(
            await service.post(f"/applications/{case}/{actions[outcome]}", "committee", decision)
        )
    await ok(await service.post(f"/calls/{call_id}/publish_results", role="committee"))

    results = {
        outcome: await received(contacts[outcome], ids[outcome], word)
        for outcome, word in (
            ("reject", "non retenue"),
            ("label", "labellisée"),
            ("reserve", "en liste d'attente"),
        )
    }
    for outcome, message in results.items():
        text = text_of(message)
        assert str(message["Subject"]) == (
            f"Appel « {TITLE} » — candidature {ids[outcome]} "
            + {"reject": "non retenue", "label": "labellisée", "reserve": "en liste d'attente"}[
                outcome
            ]
        )
        assert f"« {TITLE} »" in text and call_id not in text
        assert " ".join(text.split()).count(names[outcome]) == 1, text
        assert f"Référence à rappeler : {ids[outcome]}" in text
        assert f"« {notices.sentence(reasons[outcome])} »" in text
        assert message["Reply-To"] == "programme@clusters.ma"
    rejection = text_of(results["reject"])
    assert "– Stratégie et création de valeur : 3,00 / 5 (seuil 2,50)\n" in rejection
    assert "– Innovation collaborative et plan R&D : 2,00 / 5 (seuil 2,50) — seuil non" in rejection
    assert "– Note globale pondérée : 2,75 / 5 (seuil 3,00) — seuil non atteint" in rejection
    assert "Seuil(s) non atteint(s) : Innovation collaborative et plan R&D ; note globale" in (
        rejection
    )
    assert "demander un réexamen de cette décision jusqu'au" in rejection
    assert "écrivez à programme@clusters.ma en exposant vos motifs" in rejection
    assert "La liste d'attente n'emporte pas la labellisation." in text_of(results["reserve"])
    assert "Prochaine étape : le programme vous proposera la convention-programme" in text_of(
        results["label"]
    )

    # The labelled cluster's second year is renewed on probation: conditions, review, amount.
    cluster_id = ids["label"]

    async def supported() -> bool:
        return (await service.get(f"/clusters/{cluster_id}")).status_code == 200

    await eventually(supported, what="the support case")
    now = await service.env.get_current_time()
    terms = {
        "start_at": now.isoformat(),
        "planned_amounts": [1_500_000, 1_200_000, 1_000_000],
        "kpi_targets": {"rd_projects": 4, "patents": 1, "startups": 2, "rd_jobs": 10},
    }
    await ok(await service.post(f"/clusters/{cluster_id}/sign_contract", "admin", terms), "active")
    await service.env.sleep(timedelta(days=340))  # the report is asked 30 days ahead
    await received(contacts["label"], "rapport annuel de l'année 1 attendu")
    body = await report(service, cluster_id, 1)
    await ok(await service.post(f"/clusters/{cluster_id}/record_report", json=body))
    review_at = (await service.env.get_current_time()) + timedelta(days=90)
    probation = {"conditions": "Recruter un directeur R&D", "review_at": review_at.isoformat()}
    renewed = await service.post(
        f"/clusters/{cluster_id}/renew_on_probation", role="admin", json=probation
    )
    await ok(renewed, "active")
    letter = await received(contacts["label"], "sous probation")
    assert str(letter["Subject"]) == (
        "Cluster « Technopôle du Souss » — soutien renouvelé sous probation pour l'année 2"
    )
    text = text_of(letter)
    assert "Conditions à remplir : Recruter un directeur R&D." in text
    assert f"Date de revue : le {notices.day(review_at)}." in text
    assert "Montant du soutien de l'année : 1\u202f200\u202f000 MAD." in text
    assert f"Référence à rappeler : {cluster_id}" in text

    # The committee's internal note reached nobody: neither a message nor the outbox.
    ours = [
        m
        for m in CATCHER.messages.values()
        if m["To"] in contacts.values() or any(i in str(m["Subject"]) for i in ids.values())
    ]
    assert len(ours) >= 15
    for message in ours:
        for part in ("plain", "html"):
            assert INTERNAL_NOTE not in message.get_body((part,)).get_content()
    with Session(service.engine) as db:
        bodies = list(db.exec(select(OutboxRow.body)))
    assert bodies and not any(INTERNAL_NOTE in b for b in bodies)
