"""The redress dossier (#27), built by its activity from the projection's rows, on SQLite and
PostgreSQL: the call's rules and grid, the deposit against the deadline, each evaluator's
declaration and whether it came before their first access to the files, their marks and comments,
the thresholds, the extract of the session's PV for the file, the downloads until the request;
never the internal note; the same bytes when built again, even after the case has moved on."""

from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import Engine
from sqlmodel import Session
from temporalio.exceptions import ApplicationError

from activities.minutes import Keystore, Minutes
from activities.redress import RedressDossiers
from domain.ids import Kind, application_workflow_id
from domain.models import NOT_ALLOWED, ApplicationRecord, Decision, Redress
from domain.session import Function, PvSignature
from domain.stages import Action, ApplicationStage, Role
from projection.storage import Storage
from projection.tables import DownloadRow
from tests.test_minutes import (
    DEADLINE,
    EVALUATORS,
    FES,
    INTERNAL,
    MEETS,
    MOTIVES,
    PRESIDENT,
    SECRETARY,
    SESSION_TITLE,
    TITLE,
    Committee,
    event,
    pdf_text,
)

EVE, DRISS = EVALUATORS
GROUNDS = "Le plan R&D a été mal lu : l'annexe 4 détaille les partenariats"
REQUESTED = MEETS + timedelta(days=20)


@pytest.fixture
def storage(tmp_path: Path) -> Storage:
    return Storage(str(tmp_path / "documents"))


@pytest.fixture
def rejected(any_engine: Engine, storage: Storage, tmp_path: Path) -> Committee:
    """The session decided and its PV signed; the Fès file rejected, its files read by its
    evaluators (Driss Évaluateur before his declaration), then its redress requested."""
    committee = Committee(any_engine)
    committee.convene()
    committee.sit()
    pv = committee.close(Minutes(any_engine, storage, Keystore(tmp_path / "aucune")))
    for n, (name, function) in enumerate(
        ((PRESIDENT, Function.PRESIDENT), (SECRETARY, Function.SECRETARY)), 1
    ):
        pv.signatures.append(
            PvSignature(name=name, function=function, at=MEETS + timedelta(days=n))
        )
        committee.record(Action.SIGN_PV, MEETS + timedelta(days=n), pv=1, function=function)
    state = committee.files[FES.id]
    decided = committee.state.item(FES.id)
    assert decided is not None and decided.decision is not None
    state.stage = ApplicationStage.REJECTED
    state.decision = Decision(
        outcome=ApplicationStage.REJECTED,
        reason=MOTIVES[FES.id],
        internal_note=INTERNAL,
        decided_by=PRESIDENT,
        decided_at=decided.decision.decided_at,
        published_at=MEETS + timedelta(days=5),
        session_id=committee.state.id,
    )
    state.session_id = committee.state.id
    state.redress = Redress(days=30, requested_at=REQUESTED, reason=GROUNDS)
    write(committee, state, Action.REQUEST_REVIEW, REQUESTED)
    reads = [
        (EVE, 0, DEADLINE + timedelta(days=4)),  # after her declaration (3 days after)
        (DRISS, 1, DEADLINE + timedelta(days=2, hours=2)),  # before his (3 days and 1 hour)
        (EVE, 1, DEADLINE + timedelta(days=5)),
        ("Karim Comité", 0, MEETS - timedelta(days=1)),
        ("Omar Opérateur", 1, REQUESTED + timedelta(hours=1)),  # after the request
    ]
    with Session(any_engine) as db:
        for actor, n, at in reads:
            document = state.files[n]
            role = Role.EVALUATOR if actor in EVALUATORS else Role.COMMITTEE
            db.add(
                DownloadRow(
                    document_id=document.id,
                    case_kind=Kind.APPLICATION,
                    case_id=state.id,
                    actor=actor,
                    role=role,
                    at=at,
                )
            )
        db.commit()
    return committee


def write(committee: Committee, state, action: Action, at) -> None:  # noqa: ANN001
    state.seq += 1
    state.updated_at = at
    committee.projection.write(
        ApplicationRecord(
            state=state,
            event=event(application_workflow_id, state.id, state.seq, action, at, state.stage),
        )
    )


def test_the_dossier_tells_the_history_of_the_rejected_file(rejected, storage) -> None:
    dossiers = RedressDossiers(rejected.engine, storage)
    sha256 = dossiers.build_redress_dossier(FES.id)
    text = pdf_text(storage.content(sha256))
    assert f"Dossier de recours — {FES.name} (réf. {FES.id})" in text
    assert f"Appel « {TITLE} ». Demande de recours reçue le 26 avril 2027 à 10:30" in text
    assert f"Motifs invoqués : « {GROUNDS}. »" in text
    # The call's rules, the deposit against the deadline (15:00 in Rabat).
    assert "Date limite de dépôt 15 janvier 2027 à 15:00" in text
    assert "3 évaluateur(s) par dossier, 21 jours pour noter" in text
    assert "30 jours ouvrés après l'envoi du résultat" in text
    assert "dossier de candidature dossier de candidature.pdf 6 janvier 2027 à 15:00 oui" in text
    assert "budget prévisionnel budget prévisionnel.pdf 7 janvier 2027 à 15:00 oui" in text
    # Each evaluator: the declaration against the first access, the marks and comments.
    eve, driss = text.index(f"{EVE} — note pondérée 2,67"), text.index(f"{DRISS} — note pondérée")
    part = text[eve:driss]
    assert "Déclaration d'intérêts 18 janvier 2027 à 15:00 : aucun conflit" in part
    assert (
        "Déclaration avant le premier accès aux pièces oui (premier accès aux pièces le 19 janvier 2027 à 15:00)"
        in part
    )
    assert f"Innovation collaborative et plan R&D 2,00 {EVE} sur Innovation collaborative" in part
    assert f"Appréciation générale : Appréciation de {EVE} sur {FES.name}" in part
    part = text[driss:]
    assert "non : premier accès aux pièces le 17 janvier 2027 à 17:00, avant la déclaration" in part
    # The thresholds, and the session's PV extract as it stood at the request.
    assert "Innovation collaborative et plan R&D 25 2,50 2,00 seuil non atteint" in text
    assert "Note globale pondérée 3,00 2,54 seuil non atteint" in text
    assert f"Extrait du procès-verbal n° 1 de la séance « {SESSION_TITLE} » du 6 avril 2027" in text
    assert f"{PRESIDENT} (président) le 7 avril 2027" in text
    assert f"{SECRETARY} (secrétaire) le 8 avril 2027" in text
    assert "3. Cluster Textile de Fès (réf. c3). Aucun membre ne se retire" in text
    assert "Décision dossier non retenu (6 avril 2027 à 11:40)" in text
    assert "pour : 3 — contre : 0 — abstentions : 1" in text
    assert f"« {MOTIVES[FES.id]} »" in text
    assert INTERNAL not in text and "Note interne" not in text
    # The downloads until the request, oldest first; the one after it is not there.
    log = text[text.index("6. Consultations des pièces") :]
    assert log.index(DRISS) < log.index(EVE) < log.index("Karim Comité")
    assert "Omar Opérateur" not in log


def test_built_again_later_it_is_the_same_bytes(rejected, storage) -> None:
    dossiers = RedressDossiers(rejected.engine, storage)
    first = dossiers.build_redress_dossier(FES.id)
    assert dossiers.build_redress_dossier(FES.id) == first
    # The case moves on: the rejection upheld, a correction of the PV after the request, more
    # downloads. The dossier still tells the history as it stood at the request.
    state = rejected.files[FES.id]
    state.redress.dossier = first
    state.redress.answer = "Le comité maintient sa décision"
    write(rejected, state, Action.UPHOLD_REJECTION, REQUESTED + timedelta(days=3))
    minutes = Minutes(rejected.engine, storage, Keystore(Path("aucune")))
    rejected.correct(minutes, "Erreur matérielle", REQUESTED + timedelta(days=4))
    assert dossiers.build_redress_dossier(FES.id) == first


def test_no_dossier_without_a_request(rejected, storage) -> None:
    dossiers = RedressDossiers(rejected.engine, storage)
    with pytest.raises(ApplicationError) as refused:
        dossiers.build_redress_dossier("a1")  # labelled: no redress
    assert refused.value.non_retryable and refused.value.type == NOT_ALLOWED
    assert refused.value.message == "Aucune demande de recours enregistrée pour ce dossier."
