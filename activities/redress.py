"""The redress dossier (#27): for a rejected applicant's request for review, one PDF built from the
case's recorded history, so that whoever examines the request reads what was decided and how: the
call's rules and grid, the deposit's dates against the deadline, each evaluator's declaration of
interests and whether it came before their first access to the files (the downloads log), their
marks and comments, the thresholds, the extract of the session's PV for the file, and who read
the files until the request.

Dated at the request, and built from what stood then (the PVs built, the signatures given and the
files read until that moment), so two builds give the same bytes. The clock builds it right after
the request, before any answer may order a new evaluation; storage keeps it by its SHA-256."""

from datetime import datetime
from typing import Any

from sqlalchemy import Engine
from sqlmodel import Session
from temporalio import activity
from temporalio.exceptions import ApplicationError

from activities.minutes import (
    call_specs,
    grid_marks,
    item_minutes,
    moment,
    sheet_marks,
)
from activities.pdf import BuiltPdf, build_pdf
from domain.ids import Kind, session_workflow_id
from domain.models import NOT_ALLOWED, ApplicationState, Assignment, AuditEvent, CallSpec
from domain.notices import decimal, sentence
from domain.session import OUTCOME_WORDS, SessionState
from projection.queries import application_state, audit_trail, downloads
from projection.storage import Storage
from projection.tables import ApplicationRow, CommitteeSessionRow
from projection.views import Download


def declaration(assignment: Assignment, first_access: datetime | None) -> str:
    """Whether the evaluator declared their interests before first reading the files."""
    declared = assignment.declared_at
    if first_access is None:
        return "aucun accès aux pièces"
    if declared is None:
        return f"non : pièces consultées le {moment(first_access)} sans déclaration"
    if declared <= first_access:
        return f"oui (premier accès aux pièces le {moment(first_access)})"
    return f"non : premier accès aux pièces le {moment(first_access)}, avant la déclaration"


def evaluator_context(
    assignment: Assignment, state: ApplicationState, spec: CallSpec, read: list[Download]
) -> dict[str, Any]:
    first = min((d.at for d in read if d.actor == assignment.evaluator), default=None)
    return {
        **sheet_marks(assignment, state, spec.grid),
        "assigned_at": moment(assignment.assigned_at),
        "declared_at": moment(assignment.declared_at) if assignment.declared_at else "",
        "conflict": assignment.conflict,
        "released_at": moment(assignment.released_at) if assignment.released_at else "",
        "before_access": declaration(assignment, first),
        "submitted_at": moment(assignment.submitted_at) if assignment.submitted_at else "",
    }


def pv_extract(
    state: ApplicationState, session: SessionState | None, events: list[AuditEvent]
) -> dict[str, Any] | None:
    """The session's PV for this file as it stood at the request: the session, its PV (number,
    fingerprint, signatures given by then) and the item's deliberation."""
    item = session.item(state.id) if session else None
    if session is None or item is None or item.decision is None:
        return None
    requested = state.redress.requested_at if state.redress else None
    pvs = [p for p in session.pvs if requested is None or p.built_at <= requested]
    pv = pvs[-1] if pvs else None
    return {
        "session": session.spec.title,
        "meets_at": moment(session.spec.meets_at),
        "place": session.spec.place or "",
        "pv": pv.number if pv else None,
        "sha256": pv.sha256 if pv else "",
        "signatures": [
            f"{s.name} ({s.function}{', copie signée scannée' if s.scan else ''}) le {moment(s.at)}"
            for s in (pv.signatures if pv else [])
            if requested is None or s.at <= requested
        ],
        "item": item_minutes(item, events),
    }


def build_redress_dossier(
    state: ApplicationState,
    spec: CallSpec,
    read: list[Download],
    session: SessionState | None,
    events: list[AuditEvent],
) -> BuiltPdf:
    """The dossier of the case's redress request; `read` is the case's downloads log (any
    order), `session` the one that decided it with its audit trail `events`."""
    redress = state.redress
    if redress is None or redress.requested_at is None:
        raise ValueError("a redress dossier needs a redress request")
    requested = redress.requested_at
    read = sorted((d for d in read if d.at <= requested), key=lambda d: (d.at, d.document_id))
    decision = state.decision
    context = {
        "cluster": state.data.cluster_name,
        "reference": state.id,
        "call": spec.title,
        "requested_at": moment(requested),
        "grounds": sentence(redress.reason or ""),
        "opens_at": moment(spec.opens_at),
        "deadline": moment(state.deadline),
        "registered_at": moment(state.registered_at),
        "sectors": spec.sectors,
        "required_documents": spec.required_documents,
        "evaluators_per_application": spec.evaluators_per_application,
        "evaluation_days": spec.evaluation_days,
        "consensus_spread": decimal(spec.consensus_spread),
        "redress_days": spec.redress_days,
        **grid_marks(state, spec.grid),
        "files": [
            {
                "kind": f.kind,
                "filename": f.filename,
                "sha256": f.sha256,
                "uploaded_at": moment(f.uploaded_at),
                "in_time": f.uploaded_at <= state.deadline,
            }
            for f in sorted(state.files, key=lambda f: (f.uploaded_at, f.id))
        ],
        "evaluators": [
            evaluator_context(a, state, spec, read)
            for a in (state.evaluation.assignments if state.evaluation else [])
        ],
        "extract": pv_extract(state, session, events),
        "decision": {
            "outcome": OUTCOME_WORDS.get(decision.outcome, decision.outcome.value),
            "decided_at": moment(decision.decided_at),
            "reason": sentence(decision.reason),
        }
        if decision
        else None,
        "downloads": [{"at": moment(d.at), "filename": d.filename, "actor": d.actor} for d in read],
    }
    title = f"Dossier de recours — {state.data.cluster_name} (réf. {state.id})"
    return build_pdf("redress.html", context, title=title, created=requested)


class RedressDossiers:
    """The redress dossier's activity (sync: the worker's thread pool)."""

    def __init__(self, engine: Engine, storage: Storage) -> None:
        self.engine = engine
        self.storage = storage

    @activity.defn
    def build_redress_dossier(self, application_id: str) -> str:
        """The dossier of the case's redress request, kept in storage: its SHA-256."""
        with Session(self.engine) as db:
            row = db.get(ApplicationRow, application_id)
            assert row is not None, f"no application {application_id}"
            state = application_state(row)
            if state.redress is None or state.redress.requested_at is None:
                raise ApplicationError(
                    "Aucune demande de recours enregistrée pour ce dossier.",
                    type=NOT_ALLOWED,
                    non_retryable=True,
                )
            spec = call_specs(db, [state.call_id])[state.call_id]
            read = downloads(db, Kind.APPLICATION, state.id)
            session_id = (state.decision and state.decision.session_id) or state.session_id
            session_row = db.get(CommitteeSessionRow, session_id) if session_id else None
            session = SessionState.model_validate(session_row.state) if session_row else None
            events = audit_trail(db, session_workflow_id(session.id)) if session else []
        built = build_redress_dossier(state, spec, read, session, events)
        return self.storage.keep_document(built.content)
