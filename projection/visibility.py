"""Who sees what: a case's state, its stage counts and its audit trail mapped to the public
models (projection.views) for one reader. One function per kind of case maps state to answer;
one policy says what each role may read of it. Every face answers through these."""

from datetime import UTC, datetime

from pydantic import BaseModel

from domain.lifecycle import DECISIONS, TRANSITIONS, allowed_actions
from domain.models import Actor, ApplicationState, AuditEvent, CallState
from domain.session import SIGNATORIES, SessionState
from domain.stages import Action, ApplicationStage, CallStage, Role
from domain.support import ClusterState
from projection.views import (
    AgendaEntry,
    ApplicationView,
    AuditEntry,
    CallView,
    ClusterView,
    SessionDetail,
    SessionView,
)

# Who reads every evaluator's sheet, comments and scores; the others read their own, if any.
SCORE_READERS = frozenset({Role.ADMIN, Role.COMMITTEE})
# Events whose payload is an evaluator's sheet, or the scores of all of them.
SCORE_EVENTS = frozenset({Action.SUBMIT_SCORES, Action.COMPLETE_EVALUATION})
# Who reads the committee's internal note on a decision (never an applicant).
NOTE_READERS = frozenset({Role.ADMIN, Role.COMMITTEE})
NOTE = "internal_note"
# Who reads a redress dossier: it names the evaluators and holds their marks and comments, which
# only the score sheets' readers see.
DOSSIER_READERS = SCORE_READERS
# Who reads a call's money (its envelopes, the reserve files it proposed): staff, not evaluators,
# who see only the files assigned to them.
MONEY_READERS = frozenset({Role.ADMIN, Role.OPERATOR, Role.COMMITTEE, Role.FINANCE})
# Keys of a payload that are the workflow's bookkeeping, for no reader (a notice's outbox key).
INTERNAL_KEYS = frozenset({"notice", "seq", "workflow_id", "run_id", "update_id", "request"})


def call_view(state: CallState, actor: Actor | None = None) -> CallView:
    """The call; for `actor` outside MONEY_READERS, without its money (None: staff's view)."""
    view = CallView.model_validate(
        state.model_dump() | {"allowed_actions": allowed_actions(state.stage)}
    )
    if actor is not None and actor.role not in MONEY_READERS:
        view = view.model_copy(update={"budget": None, "promotions": []})
    return view


def application_actions(state: ApplicationState, results_out: bool = False) -> list[Action]:
    """What the case allows now: its stage's actions, less the committee's decisions once its
    decision is published, or its call's results (`results_out`: the case hears of it a moment
    later; the workflow refuses a revision then: `_check_revisable`)."""
    decision = state.decision
    published = decision is not None and (results_out or decision.published_at is not None)
    return [
        action
        for action in allowed_actions(state.stage)
        if not (published and TRANSITIONS[action].target in DECISIONS)
    ]


def application_view(
    state: ApplicationState, deadline: datetime | None = None, results_out: bool = False
) -> ApplicationView:
    """`deadline`: its call's, as the projection has it now (an extension reaches the case's
    own state with its next transition); `results_out`: its call's results are published."""
    due = state.due_at()
    waits_on_complements = state.stage == ApplicationStage.COMPLEMENTS_REQUESTED
    return ApplicationView.model_validate(
        state.model_dump()
        | {
            "redress": redress_view(state),
            "deadline": deadline or state.deadline,
            "due_at": due,
            "allowed_actions": application_actions(state, results_out),
            "overdue": waits_on_complements and due is not None and due < datetime.now(UTC),
        }
    )


def redress_view(state: ApplicationState) -> dict | None:
    """The case's redress, its dossier as the address that serves it once built."""
    redress = state.redress
    if redress is None:
        return None
    url = f"/applications/{state.id}/redress-dossier.pdf" if redress.dossier else None
    return redress.model_dump() | {"dossier_url": url}


def cluster_view(state: ClusterState) -> ClusterView:
    return ClusterView.model_validate(
        state.model_dump()
        | {
            "report_due_at": state.report_due(),
            "allowed_actions": allowed_actions(state.stage),
            "total_support": sum(y.amount for y in state.years),
            "previous_cluster_id": state.origin.previous_cluster_id,
        }
    )


def session_actions(state: SessionState, actor: Actor) -> list[Action]:
    """What `actor` may do in the session now: its stage's actions for their role; a committee
    account only in a session it sits in, and the PV's signature only for a signatory who has
    not signed it yet (the workflow refuses the others: workflows.session)."""
    member = state.spec.member(actor.name)
    if actor.role == Role.COMMITTEE and member is None:
        return []
    pv = state.pv
    unsigned = (
        member is not None
        and member.function in SIGNATORIES
        and pv is not None
        and not pv.signed_by(member.function)
    )
    return [a for a in allowed_actions(state.stage, actor.role) if a != Action.SIGN_PV or unsigned]


def quorum_view(state: SessionState, withdrawn: list[str] | None = None) -> dict:
    """The voting members present (less those `withdrawn` from an item) against the quorum."""
    present, needed = state.quorum(withdrawn or [])
    return {"voting_present": present, "needed": needed, "reached": present >= needed}


def session_view(state: SessionState, actor: Actor) -> SessionView:
    base = f"/sessions/{state.id}"
    pack = state.pack
    return SessionView.model_validate(
        state.model_dump()
        | {
            "agenda": [
                item.model_dump()
                | {"pending": item.pending, "quorum": quorum_view(state, item.withdrawn)}
                for item in state.agenda
            ],
            "quorum": quorum_view(state),
            "pack": pack.model_dump() | {"url": f"{base}/pack.pdf"} if pack else None,
            "pvs": [
                pv.model_dump()
                | {"signed": pv.complete, "url": f"{base}/pv.pdf?number={pv.number}"}
                for pv in state.pvs
            ],
            "allowed_actions": session_actions(state, actor),
        }
    )


def session_detail(
    state: SessionState,
    texts: dict[str, tuple[str | None, str | None]],
    events: list[AuditEvent],
    actor: Actor,
) -> SessionDetail:
    """The session with each decision's texts (`texts`: motivation and internal note per file)
    and its timeline, as `actor` may read them: the internal note for NOTE_READERS alone."""
    view = session_view(state, actor)
    notes = actor.role in NOTE_READERS
    agenda = []
    for item in view.agenda:
        motivation, note = texts.get(item.application_id, (None, None))
        entry = item.model_dump() | {"motivation": motivation, NOTE: note if notes else None}
        agenda.append(AgendaEntry.model_validate(entry))
    audit = timeline(events)
    if not notes:
        audit = [
            e.model_copy(update={"payload": {k: v for k, v in e.payload.items() if k != NOTE}})
            for e in audit
        ]
    return SessionDetail.model_validate(view.model_dump() | {"agenda": agenda, "audit": audit})


def view_of(
    state: CallState | ApplicationState | ClusterState | SessionState, actor: Actor
) -> BaseModel:
    """A case's state as `actor` may see it."""
    if isinstance(state, CallState):
        return call_view(state, actor)
    if isinstance(state, ClusterState):
        return cluster_view(state)
    if isinstance(state, SessionState):
        return session_view(state, actor)
    return seen_by(application_view(state), actor)


def seen_by(view: ApplicationView, actor: Actor) -> ApplicationView:
    """What a role may see of a case. Admin and committee: everything. An operator: no score
    sheet nor any evaluator's own score. An evaluator: the file and their own sheet; neither
    the others' scores nor the result, nor the redress dossier; no decision before the
    results are published."""
    if actor.role in SCORE_READERS:
        return view
    changes: dict = {}
    if view.evaluation is not None:
        assignments = [
            a.model_copy(update={"sheet": None}) if a.evaluator != actor.name else a
            for a in view.evaluation.assignments
            if actor.role != Role.EVALUATOR or a.evaluator == actor.name
        ]
        result = view.evaluation.result
        if result is not None:
            result = (
                None
                if actor.role == Role.EVALUATOR
                else result.model_copy(update={"evaluator_scores": {}})
            )
        update = {"assignments": assignments, "result": result}
        changes["evaluation"] = view.evaluation.model_copy(update=update)
    if actor.role == Role.EVALUATOR:  # their own next step only: declare, then score
        mine = view.evaluation.assignments if view.evaluation else []
        own = next((a for a in mine if a.evaluator == actor.name), None)
        step = None
        if own and not own.declared_at:
            step = Action.DECLARE_INTEREST
        elif own and not own.conflict and not own.submitted_at:
            step = Action.SUBMIT_SCORES
        changes["allowed_actions"] = [a for a in view.allowed_actions if a == step]
    if view.redress is not None and actor.role not in DOSSIER_READERS:
        changes["redress"] = view.redress.model_copy(update={"dossier_url": None})
    decision = view.decision
    if actor.role == Role.EVALUATOR and not (decision and decision.published_at):
        changes["decision"] = None
        if view.stage in DECISIONS:
            changes |= {"stage": ApplicationStage.SCORED, "allowed_actions": []}
    return view.model_copy(update=changes)


def counts_seen_by(counts: dict[str, int], call: CallState, actor: Actor) -> dict[str, int]:
    """Applications per stage; for an evaluator, the decisions count as scored until the call's
    results are published."""
    published = call.stage in (CallStage.RESULTS_PUBLISHED, CallStage.ARCHIVED)
    if actor.role != Role.EVALUATOR or published:
        return counts
    folded: dict[str, int] = {}
    for stage, count in counts.items():
        shown = ApplicationStage.SCORED if stage in DECISIONS else stage
        folded[shown] = folded.get(shown, 0) + count
    return folded


def timeline(events: list[AuditEvent]) -> list[AuditEntry]:
    """A case's events as answers: without the workflow's bookkeeping, for any reader."""
    return [
        AuditEntry.model_validate(
            event.model_dump(exclude={"payload"})
            | {"payload": {k: v for k, v in event.payload.items() if k not in INTERNAL_KEYS}}
        )
        for event in events
    ]


def audit_seen_by(events: list[AuditEvent], actor: Actor) -> list[AuditEntry]:
    """An application's timeline for `actor`: an evaluator reads their own events only; a sheet
    or the scores are read by the score readers and by the evaluator who wrote the sheet."""
    entries = []
    for event, entry in zip(events, timeline(events), strict=True):
        if actor.role == Role.EVALUATOR and event.actor != actor.name:
            continue
        own_sheet = event.action == Action.SUBMIT_SCORES and event.actor == actor.name
        if event.action in SCORE_EVENTS and actor.role not in SCORE_READERS and not own_sheet:
            entry = entry.model_copy(update={"payload": {}})
        entries.append(entry)
    return entries
