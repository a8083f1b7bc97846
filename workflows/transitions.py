"""What the three case workflows share: the update decorator that checks a transition once for
its validator and its handler, the commit that moves a case and writes its record to SQL, and
timers that follow a moving moment."""

import asyncio
import functools
import inspect
from collections.abc import Awaitable, Callable
from contextlib import nullcontext
from datetime import datetime, timedelta
from typing import Any, Generic, TypeVar

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError, ApplicationError, RetryState

with workflow.unsafe.imports_passed_through():
    from activities.mail import NOTICE_REFUSED, Mail
    from activities.records import Records
    from domain.fields import NOTICE_DAYS
    from domain.lifecycle import table_for
    from domain.models import (
        NOT_ALLOWED,
        Actor,
        Answer,
        ApplicationRecord,
        ApplicationState,
        AuditEvent,
        CallRecord,
        CallState,
        Notification,
    )
    from domain.session import SessionRecord, SessionState
    from domain.stages import Action, Stage
    from domain.support import ClusterRecord, ClusterState
    from workflows.refusals import guard, not_allowed

CaseState = TypeVar("CaseState", CallState, ApplicationState, ClusterState, SessionState)
Handler = TypeVar("Handler", bound=Callable[..., Awaitable[Any]])
Check = Callable[[Any, Actor, Any], None]

# Per kind of case: the activity that writes its record, and the record's type.
RECORDERS = {
    CallState: (Records.record_call, CallRecord),
    ApplicationState: (Records.record_application, ApplicationRecord),
    ClusterState: (Records.record_cluster, ClusterRecord),
    SessionState: (Records.record_session, SessionRecord),
}
# Short steps (an SQL write or read, a workflow start) run as local activities, in this worker,
# and retry until the database answers: a transition waits, it is never lost.
STEP = dict(
    start_to_close_timeout=timedelta(seconds=30),
    retry_policy=RetryPolicy(maximum_interval=timedelta(seconds=30)),
)


# A notice is sent by an activity of its own, retried with a growing backoff for days (a call's
# `notice_days`): a mail server down over a weekend delays it, never loses it; a refusal (a bad
# address) is final.
RESENDING = RetryPolicy(
    initial_interval=timedelta(seconds=10),
    backoff_coefficient=2,
    maximum_interval=timedelta(hours=2),
    non_retryable_error_types=[NOTICE_REFUSED],
)


async def deliver(key: str, days: int) -> datetime | None:
    """Send the outbox's notification `key`; when it was sent, or None if it could not be
    within `days`."""
    try:
        return await workflow.execute_activity_method(
            Mail.deliver_notice,
            key,
            start_to_close_timeout=timedelta(seconds=30),  # an attempt lost with its worker
            schedule_to_close_timeout=timedelta(days=days),
            retry_policy=RESENDING,
        )
    except ActivityError as error:
        workflow.logger.warning("notice %s not delivered: %s", key, error.cause)
        if error.retry_state == RetryState.TIMEOUT:  # not refused: never sent within its days
            await step(Mail.give_up_notice, key, days)
        return None


def transition(action: Action, check: Check | None = None, exclusive: bool = True):
    """An operator transition as the Temporal update named after its action.

    The lifecycle table's rule and `check(workflow, actor, body)` run as the update's validator,
    which refuses before anything is written to history, and run again in the handler, under the
    case's lock (`exclusive`), since another update may have moved the case meanwhile: one check,
    two moments. The handler answers the case's new state; the update answers it with the
    fingerprint of the request that sent it (Answer).
    """

    def decorate(handler: Handler) -> Handler:
        if handler.__name__ != action.value:
            raise TypeError(f"update {handler.__name__} must be named after its action {action}")

        def verify(self: Any, actor: Actor, body: Any = None) -> None:
            guard(self.state.stage, action, actor)
            if check:
                check(self, actor, body)

        # Temporal requires a validator to declare its handler's parameters.
        verify.__signature__ = inspect.signature(handler)  # type: ignore[attr-defined]

        @functools.wraps(handler)
        async def run(self: Any, actor: Actor, *body: Any) -> Any:
            async with self.lock if exclusive else nullcontext():
                verify(self, actor, *body)
                state = await handler(self, actor, *body)
            return answer(state=state, request=actor.request)

        answer = Answer[handler.__annotations__["return"]]
        run.__annotations__ = handler.__annotations__ | {"return": answer}
        update = workflow.update(run)
        update.validator(verify)
        return update  # type: ignore[return-value]

    return decorate


def may(stage: Stage, action: Action) -> bool:
    """Whether the clock may still take `action` (an operator may have moved the case first)."""
    return stage in table_for(stage)[action].sources


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


async def step(activity: Callable, *args: Any) -> Any:
    """A short, idempotent step as a local activity: no round trip through the server, and a
    retry after a crash writes nothing twice."""
    return await workflow.execute_local_activity_method(activity, args=args, **STEP)


class Case(Generic[CaseState]):
    """What a case workflow holds: its state, and the lock that makes its transitions one at a
    time (a second concurrent one re-checks the stage and gets 409)."""

    state: CaseState
    notice_days: int = NOTICE_DAYS  # how long a notice is retried (an application: its call's)

    @functools.cached_property
    def lock(self) -> asyncio.Lock:
        return asyncio.Lock()

    @functools.cached_property
    def sending(self) -> dict[str, asyncio.Task[datetime | None]]:
        """The notices this run sends, by key: each answers when it was sent (None: never)."""
        return {}

    def notice_key(self, seq: int, position: int = 0) -> str:
        """The outbox key of transition `seq`'s notice (projection.writes keys them so)."""
        return f"{workflow.info().workflow_id}:{seq}:{position}"

    def deliver(self, seq: int, count: int) -> None:
        """Send the `count` notifications of transition `seq`, each by an activity of its own,
        while the case goes on."""
        for position in range(count):
            key = self.notice_key(seq, position)
            self.sending[key] = asyncio.create_task(deliver(key, self.notice_days))

    async def asked(self, activity: Any, *args: Any, **options: Any) -> Any:
        """An activity's answer (without options: a local step); its refusal (a guard of the
        ledger, a file refusing a decision) is this update's 409, told as it was, where an
        activity's failure would be a 500."""
        try:
            if options:
                return await workflow.execute_activity(activity, *args, **options)
            return await step(activity, *args)
        except ActivityError as error:
            cause = error.cause
            if isinstance(cause, ApplicationError) and cause.type == NOT_ALLOWED:
                raise not_allowed(cause.message, self.state.stage) from None
            raise

    def next_key(self) -> str:
        """A key naming the transition about to be recorded (its activities' writes use it)."""
        return f"{workflow.info().workflow_id}/{self.state.seq + 1}"

    async def created(self) -> bool:
        """Whether the case exists: a workflow started without its create update (a client that
        died mid-request) waits an hour for it, then keeps nothing."""
        if self.state.seq:
            return True
        try:
            await workflow.wait_condition(lambda: self.state.seq > 0, timeout=timedelta(hours=1))
        except TimeoutError:
            return False
        return True

    async def settled(self) -> None:
        """Before completing or continuing as new: no update still running, no notice still
        being sent."""
        while True:
            await workflow.wait_condition(workflow.all_handlers_finished)
            await asyncio.gather(*self.sending.values())
            if workflow.all_handlers_finished():
                return

    async def commit(
        self,
        actor: Actor,
        action: Action,
        reason: str | None = None,
        payload: dict | None = None,
        notify: Callable[[CaseState], list[Notification]] | None = None,
        source: Stage | None = None,
    ) -> CaseState:
        """Move the case to the action's target, write the transition's record (the case's row,
        its audit event, its notifications) to SQL in one transaction, and answer the new state.
        Every transition, the clock's and the operators', reaches SQL this way and no other.
        `source`: the stage the case left, when the handler already moved it (none for a case's
        first transition)."""
        state = self.state
        row = table_for(state.stage)[action]
        source = source or (state.stage if row.sources else None)
        state.stage = row.target or state.stage
        state.seq += 1
        state.updated_at = workflow.now()
        snapshot = state.model_copy(deep=True)
        recorder, make = RECORDERS[type(state)]
        event = audit_event(
            actor, action, snapshot.id, snapshot.seq, source, snapshot.stage, reason, payload
        )
        notifications = notify(snapshot) if notify else []
        await step(recorder, make(state=snapshot, event=event, notifications=notifications))
        self.deliver(snapshot.seq, len(notifications))
        return snapshot


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
