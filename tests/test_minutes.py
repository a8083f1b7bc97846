"""The committee session's documents (#27), built by the activities from the projection's rows as
the workflows write them (Projection.write of each transition's record), on SQLite and
PostgreSQL: the meeting pack (agenda, each file's marks per criterion and per evaluator with their
comments, spread, thresholds, likely conflicts), the PV (members and functions, attendance and
quorum, the withdrawals named, each decision with its amounts, votes and public motivation, the
agenda's changes; never an internal note), the same bytes when built again, a correction that
names the PV it replaces, and the signatures of the president then the secretary, both valid
against a throw-away authority; a signatory without a key is told what to do."""

import io
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pypdf
import pytest
from sqlalchemy import Engine
from temporalio.exceptions import ApplicationError

from activities.minutes import Keystore, Minutes, key_filename
from activities.sessions import SignOrder
from activities.signing import verify
from domain.clock import at_deadline_time
from domain.ids import application_workflow_id, call_workflow_id, session_workflow_id
from domain.models import (
    DEFAULT_GRID,
    NOT_ALLOWED,
    ApplicationInput,
    ApplicationRecord,
    ApplicationState,
    Assignment,
    AuditEvent,
    CallRecord,
    CallSpec,
    CallState,
    CriterionScore,
    DocumentRef,
    Evaluation,
    ScoreSheet,
)
from domain.money import mad
from domain.scoring import evaluate
from domain.session import (
    AgendaItem,
    Function,
    ItemOutcome,
    Pv,
    SessionMember,
    SessionRecord,
    SessionSpec,
    SessionState,
    likely_conflicts,
)
from domain.stages import Action, ApplicationStage, CallStage, Role, SessionStage
from projection.storage import Storage
from projection.writes import Projection
from tests.test_signing import Authority

A = ApplicationStage
CALL_ID = "2027-c0ffee01"
TITLE = "Clusters innovants 2027"
SESSION_TITLE = "Comité de pilotage du 6 avril 2027"
DEADLINE = at_deadline_time(date(2027, 1, 15))
CONVENED = datetime(2027, 3, 29, 9, 0, tzinfo=UTC)
MEETS = datetime(2027, 4, 6, 9, 30, tzinfo=UTC)  # 10:30 in Rabat (after Ramadan: UTC+1)
INTERNAL = "Note interne : le rapporteur doute de la sincérité du budget"
PASSPHRASE = "phrase de passe"
PRESIDENT, SECRETARY = "Amina Berrada", "Youssef Alaoui"
MEMBERS = [
    SessionMember(name=PRESIDENT, function=Function.PRESIDENT, organisation="Ministère"),
    SessionMember(name=SECRETARY, function=Function.SECRETARY, organisation="Ministère"),
    SessionMember(name="Karim Comité", organisation="Université Abdelmalek Essaâdi"),
    SessionMember(name="Salma Comité", organisation="Technopôle Agadir"),
    SessionMember(name="Hassan Comité", organisation="CGEM"),
]
PRESENT = [PRESIDENT, SECRETARY, "Karim Comité", "Salma Comité"]  # Hassan Comité is absent
EVALUATORS = ("Eve Évaluatrice", "Driss Évaluateur")


@dataclass(frozen=True)
class File:
    id: str
    name: str
    members: tuple[str, ...]
    marks: tuple[tuple[float, ...], tuple[float, ...]]  # per evaluator, in the grid's order


NORD = File("a1", "Cluster Aéronautique du Nord", ("Aero Parts SA", "Université Abdelmalek Essaâdi"),
            ((4, 4, 4.5, 4, 4), (4.5, 4, 4, 4, 3.5)))  # fmt: skip
SOUSS = File("b2", "Technopôle du Souss", ("Technopôle Agadir", "Argan Bio SARL"),
             ((4, 3, 3.5, 3, 3), (2, 2.5, 2.5, 2.5, 2)))  # fmt: skip
FES = File("c3", "Cluster Textile de Fès", ("Filature de Fès", "ENSAM Meknès"),
           ((3, 2, 3, 3, 2.5), (2.5, 2, 3, 2.5, 2)))  # fmt: skip
BIOMASSE = File("d4", "Cluster Biomasse de l'Oriental", ("Oriental Énergie",),
                ((3, 3, 3, 3, 3), (3, 3, 3, 3, 3)))  # fmt: skip
DAKHLA = File("e5", "Cluster Halieutique de Dakhla", ("Dakhla Pêche SA",),
              ((4, 4, 4, 4, 4), (4, 4, 3.5, 4, 4)))  # fmt: skip
FILES = (NORD, SOUSS, FES, BIOMASSE, DAKHLA)
MOTIVES = {
    NORD.id: "Le comité relève la qualité du programme de R&D collaboratif.",
    SOUSS.id: "L'enveloppe de l'appel ne permet pas de soutenir le dossier à ce stade.",
    FES.id: "Un ou plusieurs critères n'atteignent pas leur seuil. Plan R&D trop peu étayé.",
    DAKHLA.id: "Le dossier atteint les seuils de la grille d'évaluation.",
}
REMOVED = "Dossier retiré à la demande du porteur, qui fusionne avec un autre cluster"
ADDED = "Évaluation achevée après la convocation"


def spec() -> CallSpec:
    return CallSpec(
        year=2027,
        title=TITLE,
        opens_at=datetime(2026, 11, 2, 9, tzinfo=UTC),
        deadline=DEADLINE,
        consensus_spread=1.0,
    )


def pdf_text(content: bytes) -> str:
    """A PDF's words as a reader extracts them, spaces made one."""
    reader = pypdf.PdfReader(io.BytesIO(content))
    return " ".join(" ".join(page.extract_text() for page in reader.pages).split())


def one_line(text: str) -> str:
    return " ".join(text.split())


def application(file: File, at: datetime) -> ApplicationState:
    """A file deposited before the deadline, scored by two evaluators."""
    registered = DEADLINE - timedelta(days=10)
    sheets, assignments = {}, []
    for n, (evaluator, marks) in enumerate(zip(EVALUATORS, file.marks, strict=True)):
        sheet = ScoreSheet(
            scores=[
                CriterionScore(criterion=c.code, score=m, comment=f"{evaluator} sur {c.label}")
                for c, m in zip(DEFAULT_GRID.criteria, marks, strict=True)
            ],
            comment=f"Appréciation de {evaluator} sur {file.name}",
        )
        sheets[evaluator] = sheet
        assignments.append(
            Assignment(
                evaluator=evaluator,
                assigned_at=DEADLINE + timedelta(days=2),
                declared_at=DEADLINE + timedelta(days=3, hours=n),
                submitted_at=DEADLINE + timedelta(days=9, hours=n),
                sheet=sheet,
            )
        )
    data = ApplicationInput.model_validate(
        {
            "cluster_name": file.name,
            "sector": "aéronautique",
            "members": [{"name": m, "type": "company"} for m in file.members],
            "contact": {"name": "Salma Bennani", "email": f"contact@{file.id}.ma"},
        }
    )
    files = [
        DocumentRef(
            id=f"{file.id}{n:030x}",
            kind=kind,
            filename=f"{kind}.pdf",
            content_type="application/pdf",
            size=1000,
            sha256=f"{n:064x}",
            uploaded_by="Salma Bennani",
            uploaded_at=registered + timedelta(days=n),
        )
        for n, kind in enumerate(("dossier de candidature", "budget prévisionnel"), 1)
    ]
    return ApplicationState(
        id=file.id,
        call_id=CALL_ID,
        call_title=TITLE,
        stage=A.SCORED,
        data=data,
        deadline=DEADLINE,
        registered_at=registered,
        files=files,
        evaluation=Evaluation(
            assignments=assignments,
            result=evaluate(DEFAULT_GRID, sheets, spec().consensus_spread),
        ),
        seq=1,
        updated_at=at,
    )


def event(workflow_id, case_id: str, seq: int, action: Action, at: datetime, to: str, **more):  # noqa: ANN001
    return AuditEvent(
        workflow_id=workflow_id(case_id),
        seq=seq,
        case_id=case_id,
        action=action,
        actor=more.pop("actor", PRESIDENT),
        role=more.pop("role", Role.COMMITTEE),
        at=at,
        from_stage=None,
        to_stage=to,
        **more,
    )


@dataclass
class Committee:
    """A session of the committee as its workflow records it, transition by transition."""

    engine: Engine
    state: SessionState = field(init=False)
    files: dict[str, ApplicationState] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.projection = Projection(self.engine)
        call = CallState(
            id=CALL_ID, stage=CallStage.UNDER_EVALUATION, spec=spec(), seq=1, updated_at=DEADLINE
        )
        self.projection.write(
            CallRecord(
                state=call,
                event=event(
                    call_workflow_id, CALL_ID, 1, Action.CREATE, DEADLINE, call.stage, role="admin"
                ),
            )
        )
        for file in FILES:
            self.files[file.id] = state = application(file, CONVENED - timedelta(days=1))
            self.projection.write(
                ApplicationRecord(
                    state=state,
                    event=event(
                        application_workflow_id,
                        file.id,
                        1,
                        Action.COMPLETE_EVALUATION,
                        state.updated_at,
                        A.SCORED,
                        actor="horloge",
                        role=Role.SYSTEM,
                    ),  # fmt: skip
                )
            )
        self.state = SessionState(
            id="5e55",
            stage=SessionStage.DRAFT,
            spec=SessionSpec(
                title=SESSION_TITLE,
                call_ids=[CALL_ID],
                meets_at=MEETS,
                place="Rabat, salle du conseil du ministère",
                members=MEMBERS,
            ),
            updated_at=CONVENED,
        )

    def item(self, file: File, rank: int) -> AgendaItem:
        state = self.files[file.id]
        result = state.evaluation.result
        return AgendaItem(
            application_id=file.id,
            call_id=CALL_ID,
            cluster_name=file.name,
            rank=rank,
            score=result.weighted_score,
            consensus=not result.consensus_needed,
            likely=likely_conflicts(
                [(m, None) for m in MEMBERS], state.data.contact.email, list(file.members)
            ),
        )

    def record(self, action: Action, at: datetime, why: str | None = None, **payload) -> None:
        self.state.seq += 1
        self.state.updated_at = at
        self.projection.write(
            SessionRecord(
                state=self.state,
                event=event(
                    session_workflow_id,
                    self.state.id,
                    self.state.seq,
                    action,
                    at,
                    self.state.stage,
                    reason=why,
                    payload=payload,
                ),  # fmt: skip
            )
        )

    def convene(self) -> None:
        self.record(Action.CREATE_SESSION, CONVENED - timedelta(days=2))
        self.state.agenda = [self.item(f, n) for n, f in enumerate(FILES[:4], 1)]
        self.state.convened_at = CONVENED
        self.state.stage = SessionStage.CONVENED
        self.record(Action.CONVENE, CONVENED, agenda=[f.id for f in FILES[:4]])

    def sit(self) -> None:
        at = MEETS
        self.state.present = PRESENT
        self.record(Action.RECORD_ATTENDANCE, at, present=PRESENT, voting_present=4, quorum=3)
        self.state.opened_at = at = at + timedelta(minutes=5)
        self.state.stage = SessionStage.OPEN
        self.record(Action.OPEN_SESSION, at, voting_present=4, quorum=3)
        removed = self.state.item(BIOMASSE.id)
        removed.removed_at, removed.removed_reason = at + timedelta(minutes=1), REMOVED
        self.record(Action.REMOVE_ITEM, removed.removed_at, REMOVED, application_id=BIOMASSE.id)
        added = self.item(DAKHLA, 5).model_copy(update={"added_at": at + timedelta(minutes=2)})
        self.state.agenda.append(added)
        self.record(Action.ADD_ITEM, added.added_at, ADDED, application_id=DAKHLA.id)
        at += timedelta(minutes=10)
        # Karim Comité withdraws from the Nord file (his university is a member); Salma Comité,
        # flagged on the Souss file, declares she has no conflict.
        self.decide(
            NORD, at, A.LABELLED, [1_500_000, 1_200_000, 900_000.0], (3, 0, 0), ["Karim Comité"]
        )
        self.decide(SOUSS, at + timedelta(minutes=20), A.RESERVE, [], (3, 1, 0), [], cleared=True)
        self.decide(FES, at + timedelta(minutes=40), A.REJECTED, [], (3, 0, 1), [])
        self.decide(DAKHLA, at + timedelta(minutes=60), A.LABELLED, [800_000.0], (4, 0, 0), [])

    def decide(self, file, at, outcome, amounts, votes, withdrawn, cleared=False) -> None:  # noqa: ANN001
        item = self.state.item(file.id)
        item.opened_at, item.withdrawn = at, withdrawn
        opening = {"application_id": file.id, "withdrawn": withdrawn, "flags_cleared": cleared}
        self.record(Action.OPEN_ITEM, at, **opening)
        voters = [n for n in PRESENT if n not in withdrawn]
        seq = self.state.seq + 1
        item.decision = ItemOutcome(
            outcome=outcome,
            amounts=amounts,
            votes_for=votes[0],
            votes_against=votes[1],
            abstentions=votes[2],
            voters=voters,
            decided_at=at + timedelta(minutes=15),
            decided_by=PRESIDENT,
            seq=seq,
        )
        self.record(
            Action.DECIDE_ITEM,
            item.decision.decided_at,
            MOTIVES[file.id],
            application_id=file.id,
            outcome=outcome,
            amounts=amounts,
            votes_for=votes[0],
            votes_against=votes[1],
            abstentions=votes[2],
            reason_codes=[],
            reason=MOTIVES[file.id],
            internal_note=INTERNAL,
            motivation=MOTIVES[file.id],
            withdrawn=withdrawn,
            voters=voters,
        )

    def close(self, minutes: Minutes) -> Pv:
        """Closed: the PV built from the state as the workflow passes it (not yet written)."""
        self.state.closed_at = at = MEETS + timedelta(hours=3)
        return self._pv(minutes, Action.CLOSE_SESSION, at, None, None)

    def correct(self, minutes: Minutes, reason: str, at: datetime) -> Pv:
        return self._pv(minutes, Action.CORRECT_PV, at, self.state.pv.number, reason)

    def _pv(self, minutes, action, at, corrects, correction) -> Pv:  # noqa: ANN001
        pv = Pv(
            number=len(self.state.pvs) + 1,
            sha256="",
            built_at=at,
            corrects=corrects,
            correction=correction,
        )
        self.state.pvs.append(pv)
        pv.sha256 = minutes.build_pv(self.state)
        self.state.stage = SessionStage.CLOSED
        self.record(action, at, correction, pv=pv.number, sha256=pv.sha256)
        return pv


@pytest.fixture(scope="module")
def authority() -> Authority:
    return Authority("Autorité de certification du programme (essai)")


@pytest.fixture
def keys(tmp_path: Path, authority: Authority) -> Keystore:
    folder = tmp_path / "signing"
    folder.mkdir()
    for name in (PRESIDENT, SECRETARY):
        (folder / key_filename(name)).write_bytes(authority.pkcs12(name, PASSPHRASE.encode()))
    return Keystore(folder, PASSPHRASE)


@pytest.fixture
def minutes(any_engine: Engine, tmp_path: Path, keys: Keystore) -> Minutes:
    return Minutes(any_engine, Storage(str(tmp_path / "documents")), keys)


@pytest.fixture
def committee(any_engine: Engine) -> Committee:
    return Committee(any_engine)


def test_the_meeting_pack_shows_the_agenda_and_each_files_evidence(committee, minutes) -> None:
    committee.convene()
    sha256 = minutes.build_pack(committee.state)
    assert minutes.build_pack(committee.state) == sha256  # built again: the same bytes
    text = pdf_text(minutes.storage.content(sha256))
    assert f"Dossier de séance — {SESSION_TITLE}" in text
    assert "6 avril 2027 à 10:30" in text and "convoquée le 29 mars 2027 à 10:00" in text
    assert f"« {TITLE} »" in text
    # The agenda, best first: rank, file, mark, consensus, likely conflict.
    assert "1 Cluster Aéronautique du Nord (a1) 4,08 oui Karim Comité" in text
    assert "2 Technopôle du Souss (b2) 2,83 écart à discuter Salma Comité" in text
    souss = text[text.index("2. Technopôle du Souss") :]
    assert "Membres du projet : Technopôle Agadir, Argan Bio SARL." in souss
    assert "Contact : Salma Bennani, contact@b2.ma." in souss
    assert (
        "Conflit probable signalé : Salma Comité : membre du projet : Technopôle Agadir." in souss
    )
    # Marks per criterion against the thresholds, then each evaluator's with their comments.
    assert "Stratégie et création de valeur 25 2,50 3,00 seuil atteint" in souss
    assert "Note globale pondérée 3,00 2,83 seuil non atteint" in souss
    assert "Écart entre évaluateurs : 1,05 (discussion de consensus au-delà de 1,00)" in souss
    assert "écart à discuter" in souss
    assert "Évaluation de Eve Évaluatrice — note pondérée 3,35" in souss
    assert "Budget et pérennité 2,00 Driss Évaluateur sur Budget et pérennité" in souss
    assert (
        "Appréciation générale : Appréciation de Driss Évaluateur sur Technopôle du Souss" in souss
    )
    assert INTERNAL not in text


def test_the_pv_states_the_sitting_and_every_decision_without_the_internal_note(
    committee, minutes
) -> None:
    committee.convene()
    committee.sit()
    pv = committee.close(minutes)
    content = minutes.storage.content(pv.sha256)
    text = pdf_text(content)
    assert f"Procès-verbal n° 1 {SESSION_TITLE}" in text
    assert "s'est réuni le 6 avril 2027 à 10:30 (heure de Rabat), Rabat, salle du conseil" in text
    assert "PV rectificatif" not in text
    # Members, functions, attendance and the quorum.
    assert "Amina Berrada président Ministère délibérative présent" in text
    assert "Youssef Alaoui secrétaire Ministère délibérative présent" in text
    assert "Hassan Comité membre CGEM délibérative absent" in text
    assert "plus de 50 % des 5 membres votants, soit 3 présents au moins" in text
    assert "À l'ouverture : 4 membres votants présents" in text and "le quorum est atteint" in text
    # Each decision in the agenda's order, with the withdrawals named.
    nord, souss = (
        text.index("1. Cluster Aéronautique du Nord"),
        text.index("2. Technopôle du Souss"),
    )
    fes, dakhla = (
        text.index("3. Cluster Textile de Fès"),
        text.index("5. Cluster Halieutique de Dakhla"),
    )
    assert nord < souss < fes < dakhla
    part = text[nord:souss]
    assert (
        "Se retire pour conflit d'intérêts, sans prendre part au quorum ni au vote : Karim Comité."
        in part
    )
    assert "Décision dossier labellisé" in part
    assert "pour : 3 — contre : 0 — abstentions : 0" in part
    assert "Votants Amina Berrada, Youssef Alaoui, Salma Comité" in part
    for year, amount in enumerate((1_500_000, 1_200_000, 900_000), 1):
        assert one_line(f"Année {year} : {mad(amount)}") in part
    assert one_line(f"Total : {mad(3_600_000)}") in part
    assert f"« {MOTIVES[NORD.id]} »" in part
    part = text[souss:fes]
    assert "Aucun membre ne se retire pour conflit d'intérêts." in part
    assert "levé par la déclaration d'absence de conflit du membre : Salma Comité" in part
    assert (
        "Décision dossier inscrit en liste d'attente" in part
        and "pour : 3 — contre : 1 — abstentions : 0" in part
    )
    assert "Montants" not in part
    part = text[fes:dakhla]
    assert (
        "Décision dossier non retenu" in part and "pour : 3 — contre : 0 — abstentions : 1" in part
    )
    assert f"« {MOTIVES[FES.id]} »" in part
    # The agenda's changes after convening, and the file taken off it with its reason.
    assert (
        "ajouté Cluster Halieutique de Dakhla (e5) Évaluation achevée après la convocation." in text
    )
    assert f"retiré Cluster Biomasse de l'Oriental (d4) {REMOVED}." in text
    assert (
        "Dossiers retirés de l'ordre du jour Rang Dossier Retiré le Motif 4 Cluster Biomasse"
        in text
    )
    assert "4. Cluster Biomasse" not in text
    assert "Le président de séance Amina Berrada Le secrétaire de séance Youssef Alaoui" in text
    # The internal note stays in the audit trail.
    assert INTERNAL not in text and "Note interne" not in text
    # Built again from the same record, later (a retry, an auditor's check): the same bytes.
    assert minutes.build_pv(committee.state) == pv.sha256
    meta = pypdf.PdfReader(io.BytesIO(content)).metadata
    assert meta.creation_date == committee.state.closed_at


def test_a_correction_names_the_pv_it_replaces(committee, minutes) -> None:
    committee.convene()
    committee.sit()
    first = committee.close(minutes)
    reason = "Erreur matérielle sur le montant de la deuxième année du Cluster Aéronautique du Nord"
    second = committee.correct(minutes, reason, MEETS + timedelta(days=3))
    assert second.sha256 != first.sha256
    text = pdf_text(minutes.storage.content(second.sha256))
    assert "Procès-verbal n° 2" in text
    assert "PV rectificatif n° 2, annule et remplace le PV n° 1." in text
    assert f"Motif de la rectification : {reason}." in text
    # The first PV, built again, is still the bytes kept.
    committee.state.pvs.pop()
    assert minutes.build_pv(committee.state) == first.sha256


def test_the_pv_signed_by_the_president_then_the_secretary_verifies(
    committee, minutes, authority
) -> None:
    committee.convene()
    committee.sit()
    pv = committee.close(minutes)
    once = minutes.sign_pv(SignOrder(sha256=pv.sha256, name=PRESIDENT, function=Function.PRESIDENT))
    twice = minutes.sign_pv(SignOrder(sha256=once, name=SECRETARY, function=Function.SECRETARY))
    built, signed = minutes.storage.content(pv.sha256), minutes.storage.content(twice)
    assert signed.startswith(minutes.storage.content(once)) and signed.startswith(built)
    found = verify(signed, [authority.root])
    assert [(s.function, s.signer) for s in found] == [
        ("président", PRESIDENT),
        ("secrétaire", SECRETARY),
    ]
    assert "1. Cluster Aéronautique du Nord" in pdf_text(signed)


def test_a_signatory_without_a_key_is_told_to_deposit_a_scan(committee, minutes) -> None:
    committee.convene()
    committee.sit()
    pv = committee.close(minutes)
    (minutes.keys.folder / key_filename(SECRETARY)).unlink()
    order = SignOrder(sha256=pv.sha256, name=SECRETARY, function=Function.SECRETARY)
    with pytest.raises(ApplicationError) as refused:
        minutes.sign_pv(order)
    assert refused.value.non_retryable and refused.value.type == NOT_ALLOWED
    assert refused.value.message.startswith(
        f"Aucune clé de signature pour {SECRETARY} : déposez le PV signé scanné, ou installez la clé"
    )
    assert "youssef-alaoui.p12" in refused.value.message
    # A key that does not open with the deployment's passphrase says so too.
    wrong = Minutes(minutes.engine, minutes.storage, Keystore(minutes.keys.folder, "autre"))
    order = SignOrder(sha256=pv.sha256, name=PRESIDENT, function=Function.PRESIDENT)
    with pytest.raises(ApplicationError, match="La clé de signature de Amina Berrada ne s'ouvre"):
        wrong.sign_pv(order)


def test_a_key_file_is_named_after_the_account() -> None:
    assert key_filename("Amina Berrada") == "amina-berrada.p12"
    assert key_filename("  Hassan  EL-Ouazzani  ") == "hassan-el-ouazzani.p12"
    assert key_filename("Leïla Aït Brahim") == "leila-ait-brahim.p12"
