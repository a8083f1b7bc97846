"""The committee session's documents (#27): the meeting pack its members receive at convening, the
procès-verbal (PV) built at closing (or a correction of it), and the PV's electronic signatures
by the president then the secretary.

Everything printed comes from the recorded history: the session's state as the workflow passes
it (the projection's row lags one transition behind while the document is built), the texts of
its audit trail (a decision's motivation travels there, never in the state), and the calls' and
files' rows. The dates are the record's, so the same record gives the same bytes, and a retry
keeps the same SHA-256 in storage (content-addressed). A signature carries its own time: the PV
as built is the deterministic document, its signed versions are kept beside it.

The committee's internal notes are never printed: the PV may be read by the Cour des comptes
and by the applicants; a note stays in the audit trail, for the ministry's eyes only."""

import re
from collections.abc import Iterable
from datetime import datetime
from pathlib import Path
from typing import Any

from pyhanko.sign.signers import Signer
from sqlalchemy import Engine
from sqlmodel import Session, col, select
from temporalio import activity
from temporalio.exceptions import ApplicationError

from activities.pdf import BuiltPdf, build_pdf
from activities.sessions import SignOrder
from activities.signing import Signatory, sign, signer_from_pkcs12
from domain.clock import local
from domain.ids import session_workflow_id
from domain.models import (
    NOT_ALLOWED,
    ApplicationState,
    Assignment,
    AuditEvent,
    CallSpec,
    Grid,
)
from domain.money import mad
from domain.notices import decimal, long_day, result_marks, sentence
from domain.search import folded
from domain.session import OUTCOME_WORDS, AgendaItem, Function, SessionState
from domain.stages import Action
from projection.queries import application_state, audit_trail, call_state
from projection.storage import Storage
from projection.tables import ApplicationRow, CallRow

KEY_SUFFIX = ".p12"


def moment(value: datetime) -> str:
    """« 2 mars 2026 à 10:30 », in Rabat."""
    return f"{long_day(value)} à {local(value):%H:%M}"


def names(people: Iterable[str]) -> str:
    return ", ".join(people)


# --- what the documents are built from ----------------------------------------------------------
def call_specs(db: Session, call_ids: Iterable[str]) -> dict[str, CallSpec]:
    rows = db.exec(select(CallRow).where(col(CallRow.id).in_(list(call_ids))))
    return {row.id: call_state(row).spec for row in rows}


def files_of(db: Session, application_ids: Iterable[str]) -> dict[str, ApplicationState]:
    rows = db.exec(select(ApplicationRow).where(col(ApplicationRow.id).in_(list(application_ids))))
    return {row.id: application_state(row) for row in rows}


def events_until(events: Iterable[AuditEvent], until: datetime) -> list[AuditEvent]:
    """The session's events recorded by `until`: a PV built again later reads the same ones."""
    return [e for e in events if e.at <= until]


def decision_event(item: AgendaItem, events: list[AuditEvent]) -> AuditEvent:
    """The audit event that recorded the item's decision (it holds the motivation)."""
    assert item.decision is not None
    found = next((e for e in events if e.seq == item.decision.seq), None)
    if found is None or found.action != Action.DECIDE_ITEM:
        # The decision's record is written before the session goes on: not there yet, retry.
        raise RuntimeError(f"decision of {item.application_id} not found in the audit trail")
    return found


def latest(events: list[AuditEvent], action: Action, application_id: str) -> AuditEvent | None:
    return next(
        (
            e
            for e in reversed(events)
            if e.action == action and e.payload.get("application_id") == application_id
        ),
        None,
    )


# --- the PV -----------------------------------------------------------------------------------
def item_minutes(item: AgendaItem, events: list[AuditEvent]) -> dict[str, Any]:
    """One decided item as the PV states it (and the redress dossier quotes it): the members
    who withdrew, the likely conflicts cleared, the outcome, amounts, votes and the public
    motivation. Never the internal note, although its event holds it."""
    decision = item.decision
    assert decision is not None
    event = decision_event(item, events)
    opening = latest(events, Action.OPEN_ITEM, item.application_id)
    cleared = [c for c in item.likely if c.member not in item.withdrawn]
    return {
        "rank": item.rank,
        "cluster": item.cluster_name,
        "reference": item.application_id,
        "score": None if item.score is None else decimal(item.score),
        "withdrawn": item.withdrawn,
        "cleared": [f"{c.member} ({c.why})" for c in cleared]
        if opening is not None and opening.payload.get("flags_cleared")
        else [],
        "outcome": OUTCOME_WORDS[decision.outcome],
        "amounts": [mad(a) for a in decision.amounts],
        "total": mad(sum(decision.amounts)) if decision.amounts else "",
        "votes_for": decision.votes_for,
        "votes_against": decision.votes_against,
        "abstentions": decision.abstentions,
        "voters": names(decision.voters),
        "decided_at": moment(decision.decided_at),
        "motivation": sentence(str(event.payload.get("motivation") or event.reason or "")),
    }


def agenda_changes(state: SessionState, events: list[AuditEvent]) -> list[dict[str, str]]:
    """The agenda's changes after convening, in their order: files added, files removed."""
    changes = []
    for item in state.agenda:
        if item.added_at is not None:
            added = latest(events, Action.ADD_ITEM, item.application_id)
            why = added.reason if added is not None and added.reason else ""
            changes.append((item.added_at, "ajouté", item, why))
        if item.removed_at is not None:
            changes.append((item.removed_at, "retiré", item, item.removed_reason or ""))
    changes.sort(key=lambda c: (c[0], c[2].rank))
    return [
        {
            "at": moment(at),
            "change": change,
            "cluster": item.cluster_name,
            "reference": item.application_id,
            "reason": sentence(why),
        }
        for at, change, item, why in changes
    ]


def pv_context(
    state: SessionState, number: int, calls: dict[str, CallSpec], events: list[AuditEvent]
) -> dict[str, Any]:
    pv = state.pvs[number - 1]
    events = events_until(events, pv.built_at)
    spec = state.spec
    voting = spec.voting()
    present, needed = state.quorum()
    opening = next((e for e in events if e.action == Action.OPEN_SESSION), None)
    agenda = sorted(state.agenda, key=lambda i: i.rank)
    return {
        "number": pv.number,
        "corrects": pv.corrects,
        "correction": sentence(pv.correction or ""),
        "session": spec.title,
        "meets_at": moment(spec.meets_at),
        "place": spec.place or "",
        "calls": [calls[c].title if c in calls else c for c in spec.call_ids],
        "convened_at": moment(state.convened_at) if state.convened_at else "",
        "opened_at": moment(state.opened_at) if state.opened_at else "",
        "closed_at": moment(state.closed_at) if state.closed_at else "",
        "built_at": moment(pv.built_at),
        "members": [
            {
                "name": m.name,
                "function": m.function.value,
                "organisation": m.organisation or "",
                "voting": m.voting,
                "present": m.name in state.present,
            }
            for m in spec.members
        ],
        "quorum_percent": spec.quorum_percent,
        "voting": len(voting),
        "needed": needed,
        "present": present,
        "reached": present >= needed,
        "opening_present": opening.payload.get("voting_present") if opening else None,
        "items": [item_minutes(i, events) for i in agenda if i.decision is not None],
        "removed": [
            {
                "rank": i.rank,
                "cluster": i.cluster_name,
                "reference": i.application_id,
                "at": moment(i.removed_at),
                "reason": sentence(i.removed_reason or ""),
            }
            for i in agenda
            if i.removed_at is not None
        ],
        "changes": agenda_changes(state, events),
        "president": spec.signatory(Function.PRESIDENT),
        "secretary": spec.signatory(Function.SECRETARY),
    }


def build_pv(
    state: SessionState, number: int, calls: dict[str, CallSpec], events: list[AuditEvent]
) -> BuiltPdf:
    """The PV number `number` of the session (1, or a correction), dated when it was built
    (the closing, or the correction)."""
    pv = state.pvs[number - 1]
    title = f"Procès-verbal n° {pv.number} — {state.spec.title}"
    return build_pdf(
        "pv.html", pv_context(state, number, calls, events), title=title, created=pv.built_at
    )


# --- the meeting pack -------------------------------------------------------------------------
def grid_marks(state: ApplicationState, grid: Grid) -> dict[str, Any]:
    """The grid's criteria (weight, threshold) with the file's means against them, the weighted
    score against the overall threshold and the spread between evaluators, ready to print."""
    scored = result_marks(state, grid)
    result = state.evaluation.result if state.evaluation else None
    return {
        "criteria": [
            {
                "label": m["label"],
                "weight": f"{c.weight:g}".replace(".", ","),
                "threshold": decimal(m["threshold"]),
                "mean": "—" if m["mark"] is None else decimal(m["mark"]),
                "met": m["met"],
            }
            for c, m in zip(grid.criteria, scored["marks"], strict=True)
        ],
        "overall": "—" if scored["overall"] is None else decimal(scored["overall"]),
        "overall_threshold": decimal(scored["overall_threshold"]),
        "overall_met": scored["overall_met"],
        "spread": decimal(result.spread) if result else "—",
    }


def sheet_marks(assignment: Assignment, state: ApplicationState, grid: Grid) -> dict[str, Any]:
    """An evaluator's grid: their weighted score, each criterion's mark and comment."""
    result = state.evaluation.result if state.evaluation else None
    labels = {c.code: c.label for c in grid.criteria}
    sheet = assignment.sheet
    return {
        "name": assignment.evaluator,
        "score": decimal(result.evaluator_scores[assignment.evaluator])
        if result and assignment.evaluator in result.evaluator_scores
        else "—",
        "scores": [
            {
                "label": labels.get(s.criterion, s.criterion),
                "score": decimal(s.score),
                "comment": s.comment,
            }
            for s in (sheet.scores if sheet else [])
        ],
        "comment": sheet.comment or "" if sheet else "",
    }


def file_brief(item: AgendaItem, state: ApplicationState, spec: CallSpec) -> dict[str, Any]:
    """One file as the members read it before the session: the applicant, the marks per
    criterion and per evaluator with their comments, the thresholds, spread and consensus."""
    evaluation = state.evaluation
    result = evaluation.result if evaluation else None
    sheets = [a for a in evaluation.assignments if a.sheet and not a.conflict] if evaluation else []
    grid = spec.grid
    return {
        "rank": item.rank,
        "cluster": state.data.cluster_name,
        "reference": state.id,
        "call": spec.title,
        "sector": state.data.sector,
        "legal_form": state.data.legal_form,
        "existing": state.data.existing_cluster,
        "support_years": state.data.support_years,
        "members": [m.name for m in state.data.members],
        "contact": state.data.contact,
        **grid_marks(state, grid),
        "consensus_spread": decimal(spec.consensus_spread),
        "consensus_needed": bool(result and result.consensus_needed),
        "evaluators": [sheet_marks(a, state, grid) for a in sheets],
        "likely": [f"{c.member} : {c.why}" for c in item.likely],
    }


def build_pack(
    state: SessionState, calls: dict[str, CallSpec], files: dict[str, ApplicationState]
) -> BuiltPdf:
    """The meeting pack: the agenda, then each file's evidence; dated at convening."""
    if state.convened_at is None:
        raise ValueError("a meeting pack is built when the session is convened")
    spec = state.spec
    agenda = sorted((i for i in state.agenda if i.removed_at is None), key=lambda i: i.rank)
    context = {
        "session": spec.title,
        "meets_at": moment(spec.meets_at),
        "place": spec.place or "",
        "convened_at": moment(state.convened_at),
        "calls": [calls[c].title if c in calls else c for c in spec.call_ids],
        "members": [
            {"name": m.name, "function": m.function.value, "organisation": m.organisation or ""}
            for m in spec.members
        ],
        "agenda": [
            {
                "rank": i.rank,
                "cluster": i.cluster_name,
                "reference": i.application_id,
                "score": "—" if i.score is None else decimal(i.score),
                "consensus": {True: "oui", False: "écart à discuter", None: "—"}[i.consensus],
                "likely": names(c.member for c in i.likely),
            }
            for i in agenda
        ],
        "files": [
            file_brief(i, files[i.application_id], calls[i.call_id])
            for i in agenda
            if i.application_id in files and i.call_id in calls
        ],
    }
    title = f"Dossier de séance — {spec.title}"
    return build_pdf("pack.html", context, title=title, created=state.convened_at)


# --- signatures -------------------------------------------------------------------------------
def key_filename(name: str) -> str:
    """The PKCS#12 file of an account's signing key: « Amina Berrada » → amina-berrada.p12."""
    return re.sub(r"[^a-z0-9]+", "-", folded(name)).strip("-") + KEY_SUFFIX


class Keystore:
    """The signatories' keys: one PKCS#12 file per account in a folder of the deployment
    (SIGNING_KEYS_DIR), opened with SIGNING_PASSPHRASE (empty: none)."""

    def __init__(self, folder: Path, passphrase: str = "") -> None:
        self.folder = folder
        self.passphrase = passphrase.encode() if passphrase else None

    def signer(self, name: str) -> Signer:
        path = self.folder / key_filename(name)
        if not path.is_file():
            raise ApplicationError(
                f"Aucune clé de signature pour {name} : déposez le PV signé scanné, ou installez "
                f"la clé ({path.name} dans le dossier des clés de signature).",
                type=NOT_ALLOWED,
                non_retryable=True,
            )
        try:
            return signer_from_pkcs12(path.read_bytes(), self.passphrase)
        except ValueError as error:
            raise ApplicationError(
                f"La clé de signature de {name} ne s'ouvre pas ({path.name} : fichier ou phrase "
                "de passe) : déposez le PV signé scanné, ou réinstallez la clé.",
                type=NOT_ALLOWED,
                non_retryable=True,
            ) from error


def sign_pv(pdf: bytes, name: str, function: str, keys: Keystore) -> bytes:
    """`pdf` signed by `name` as `function` (président, secrétaire), as an incremental update
    on top of any earlier signature, which stays valid."""
    signatory = Signatory(function=str(function), name=name, signer=keys.signer(name))
    return sign(pdf, signatory, reason=f"Procès-verbal approuvé par le {function} de la séance")


# --- the activities ---------------------------------------------------------------------------
class Minutes:
    """The session workflow's documents; sync activities (the worker's thread pool): a PDF is a
    second or more of CPU."""

    def __init__(self, engine: Engine, storage: Storage, keys: Keystore) -> None:
        self.engine = engine
        self.storage = storage
        self.keys = keys

    @activity.defn
    def build_pack(self, state: SessionState) -> str:
        """The meeting pack of the session being convened (its agenda frozen): its SHA-256."""
        with Session(self.engine) as db:
            calls = call_specs(db, state.spec.call_ids)
            files = files_of(db, (i.application_id for i in state.agenda))
        return self.storage.keep_document(build_pack(state, calls, files).content)

    @activity.defn
    def build_pv(self, state: SessionState) -> str:
        """The session's last PV (`state.pv`: the closing's, or a correction), as built: its
        SHA-256, before any signature."""
        pv = state.pv
        assert pv is not None, "no PV to build"
        with Session(self.engine) as db:
            calls = call_specs(db, state.spec.call_ids)
            events = audit_trail(db, session_workflow_id(state.id))
        return self.storage.keep_document(build_pv(state, pv.number, calls, events).content)

    @activity.defn
    def sign_pv(self, order: SignOrder) -> str:
        """The PV's bytes kept as `order.sha256`, signed by `order.name`: the signed bytes'
        SHA-256. No key for that account: a non-retryable refusal saying what to do."""
        signed = sign_pv(self.storage.content(order.sha256), order.name, order.function, self.keys)
        return self.storage.keep_document(signed)
