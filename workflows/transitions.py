"""Shared by the workflows: checks for validators and handlers, audit events, timers, and how a
transition reaches the SQL projection."""

import asyncio
from collections.abc import Callable, Coroutine
from contextvars import ContextVar
from datetime import datetime, timedelta
from typing import Any, TypeVar

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ApplicationError

with workflow.unsafe.imports_passed_through():
    from activities.projection import Projection
    from domain.models import (
        API_UPDATES,
        CASE_VERSION,
        FORBIDDEN,
        INVALID,
        NOT_ALLOWED,
        Actor,
        ApplicationRecord,
        ApplicationState,
        AuditEvent,
        CallRecord,
        CallState,
        Notification,
    )
    from domain.stages import STAGE_LABELS_FR, Action, Rule, Stage, allowed_actions, rules_for
    from domain.support import ClusterRecord, ClusterState

CaseState = TypeVar("CaseState", CallState, ApplicationState, ClusterState)
CaseRecord = CallRecord | ApplicationRecord | ClusterRecord

# Per kind of case: its projection write, its safety write (see Steps), its record.
RECORDERS = {
    CallState: (Projection.record_call, Projection.settle_calls, CallRecord),
    ApplicationState: (
        Projection.record_application,
        Projection.settle_applications,
        ApplicationRecord,
    ),
    ClusterState: (Projection.record_cluster, Projection.settle_clusters, ClusterRecord),
}

# Projection writes retry until the database answers: nothing is lost, only delayed.
PROJECTION = dict(
    start_to_close_timeout=timedelta(seconds=30),
    retry_policy=RetryPolicy(maximum_interval=timedelta(seconds=30)),
)
# Patch id: cases that ran before it replay with regular activities for these short steps.
LOCAL_STEPS = "short-steps-as-local-activities"
# Patch id: from here, an operator's transition answers as soon as the workflow holds it; the API
# writes the answered record to SQL, and the workflow writes it again a moment later (a no-op,
# unless the API could not), so the engine's reply no longer waits for the database.
WRITE_THROUGH = "operator-transitions-written-through-by-the-api"
# Patch id: from here, the safety writes a workflow owes within SAFETY_DELAY go in one local
# activity that answers nothing (the records are in the updates' answers): a burst of transitions
# on one case costs the engine one timer and one small marker, not one of each per transition.
SETTLED_TOGETHER = "safety-writes-settled-together"
# Patch id: from here, the transitions of updates the API names as its own (API_UPDATES) owe no
# safety write: the API recorded an intent for each, and the worker's sweeper writes what the API
# could not (activities.sweeper). Under load, that safety write was half the engine's work.
SETTLED_BY_API = "operator-transitions-settled-by-the-api"
# Cases started on this version (`version` in their start input) or later take the patch's new
# path without asking: asking, `workflow.patched` records a marker and upserts a search attribute
# (a visibility write) per patch and case, while a case that never ran older code has no other
# path to replay. Older cases still ask. A later patch is followed from a later version.
FOLLOWED_FROM = {LOCAL_STEPS: 6, WRITE_THROUGH: 6, SETTLED_TOGETHER: 6, SETTLED_BY_API: 7}
assert max(FOLLOWED_FROM.values()) == CASE_VERSION  # the version new cases start on
# Long enough that the API's write has usually landed, short enough that a transition the API
# could not write appears in SQL within seconds.
SAFETY_DELAY = timedelta(seconds=2)


class Steps:
    """How one workflow's steps reach the activities: which patches the case follows, its short
    steps, and the projection writes it still owes (those of operator transitions, made after
    their update has answered), settled before it completes or continues as new."""

    def __init__(self, version: int) -> None:
        self.version = version  # of the code that started the case (0: before versions)
        self.pending: set[asyncio.Task] = set()  # held here: the loop keeps only weak references
        self.owed: list[CaseRecord] = []  # not yet settled

    def follows(self, patch: str) -> bool:
        return self.version >= FOLLOWED_FROM[patch] or workflow.patched(patch)

    async def step(self, activity: Callable, arg: Any) -> Any:
        """A short, idempotent step (an SQL write or read, a workflow start) as a local activity:
        it runs in this worker without a round trip through the server, which halves a
        transition's latency; a retry after a crash simply writes nothing twice."""
        if self.follows(LOCAL_STEPS):
            return await workflow.execute_local_activity_method(activity, arg, **PROJECTION)
        return await workflow.execute_activity_method(activity, arg, **PROJECTION)

    def later(self, recorder: Callable, settle: Callable, record: CaseRecord) -> None:
        """The safety write of an operator transition, if its update still needs one."""
        update = workflow.current_update_info()
        if update and update.id.startswith(API_UPDATES) and self.follows(SETTLED_BY_API):
            return
        if not self.follows(SETTLED_TOGETHER):
            self._start(self._write(recorder, record))  # cases that ran before the patch
            return
        self.owed.append(record)
        if len(self.owed) == 1:
            self._start(self._settle(settle))

    def _start(self, write: Coroutine[Any, Any, None]) -> None:
        task = asyncio.create_task(write)
        self.pending.add(task)
        task.add_done_callback(self.pending.discard)

    async def _settle(self, settle: Callable) -> None:
        """Write, SAFETY_DELAY after the first, every record owed by then (two writers of one
        transition at once are harmless: the projection writes it once)."""
        await workflow.sleep(SAFETY_DELAY)
        records, self.owed = self.owed, []
        await self.step(settle, records)

    async def _write(self, recorder: Callable, record: CaseRecord) -> None:
        await workflow.sleep(SAFETY_DELAY)
        await self.step(recorder, record)

    async def handlers_and_writes_done(self) -> None:
        """Before completing or continuing as new: no handler running, no write still owed."""
        await workflow.wait_condition(lambda: workflow.all_handlers_finished() and not self.pending)


# The records of the update being handled, in order (an update may make two transitions, as the
# last score sheet completing the evaluation): each handler runs in a task of its own, whose
# context keeps its list apart from concurrent handlers' without any cleanup.
_answer: ContextVar[list | None] = ContextVar("answer", default=None)


def _answered(record: CaseRecord) -> list:
    answer = _answer.get()
    if answer is None:
        answer = []
        _answer.set(answer)
    answer.append(record)
    return answer


def guard(stage: Stage, action: Action, actor: Actor) -> Rule:
    """Raise the error the API turns into 403 or 409, or return the rule to apply."""
    rule = rules_for(stage)[action]
    if actor.role not in rule.roles:
        raise forbidden(f"Le rôle « {actor.role} » ne permet pas l'action « {action} ».")
    if stage not in rule.sources:
        raise not_allowed(
            f"Action « {action} » impossible à l'étape « {STAGE_LABELS_FR[stage]} ».", stage
        )
    return rule


def forbidden(message: str) -> ApplicationError:
    return ApplicationError(message, type=FORBIDDEN, non_retryable=True)


def invalid(message: str) -> ApplicationError:
    return ApplicationError(message, type=INVALID, non_retryable=True)


def not_allowed(message: str, stage: Stage) -> ApplicationError:
    return ApplicationError(
        message,
        {"stage": stage, "allowed_actions": allowed_actions(stage)},
        type=NOT_ALLOWED,
        non_retryable=True,
    )


async def sleep_until(moment: Callable[[], datetime], still: Callable[[], bool]) -> bool:
    """Wait until `moment()` (which may move) while `still()` holds; True if the time came."""
    while still():
        remaining = moment() - workflow.now()
        if remaining <= timedelta(0):
            return True
        target = moment()
        try:
            await workflow.wait_condition(
                lambda: not still() or moment() != target, timeout=remaining
            )
        except TimeoutError:
            pass
    return False


async def commit(
    state: CaseState,
    steps: Steps,
    actor: Actor,
    action: Action,
    source: Stage | None,
    reason: str | None = None,
    payload: dict | None = None,
    notify: Callable[[CaseState], list[Notification]] | None = None,
) -> list:
    """Move `state` to the action's target; answer the records (new state, audit event,
    notifications) of the transitions made so far by this update, or this one alone outside an
    update. Each is written once in SQL: at once for the clock's transitions; for an operator's,
    by the API that receives the answer, then, unless the API keeps an intent for it, by `steps`
    a moment later, as a safety net."""
    state.stage = rules_for(state.stage)[action].target or state.stage
    state.seq += 1
    state.updated_at = workflow.now()
    snapshot = state.model_copy(deep=True)
    event = audit_event(
        actor, action, snapshot.id, snapshot.seq, source, snapshot.stage, reason, payload
    )
    recorder, settle, make = RECORDERS[type(state)]
    notifications = notify(snapshot) if notify else []
    record = make(state=snapshot, event=event, notifications=notifications)
    if workflow.current_update_info() is None:
        await steps.step(recorder, record)
        return [record]
    if steps.follows(WRITE_THROUGH):
        steps.later(recorder, settle, record)
    else:
        await steps.step(recorder, record)
    return _answered(record)


def audit_event(
    actor: Actor,
    action: Action,
    case_id: str,
    seq: int,
    source: Stage | None,
    target: Stage,
    reason: str | None = None,
    payload: dict | None = None,
    workflow_id: str | None = None,
) -> AuditEvent:
    """The audit row of one transition, keyed by workflow id and sequence so it is written once."""
    return AuditEvent(
        workflow_id=workflow_id or workflow.info().workflow_id,
        seq=seq,
        case_id=case_id,
        action=action,
        actor=actor.name,
        role=actor.role,
        at=workflow.now(),
        from_stage=source,
        to_stage=target,
        reason=reason,
        payload=payload or {},
    )
