"""ApplicationWorkflow `application-{id}`: one application from registration to its eligibility."""

import asyncio
from collections.abc import Callable
from datetime import datetime

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from activities.prechecks import run_prechecks
    from activities.projection import Projection
    from domain import notices
    from domain.clock import due_after
    from domain.models import (
        CLOCK,
        Actor,
        Amendment,
        ApplicationRecord,
        ApplicationStart,
        ApplicationState,
        CheckItem,
        ComplementRequest,
        ComplementsAsk,
        ComplementsReply,
        EligibleDecision,
        IneligibleDecision,
        Notification,
        Withdrawal,
    )
    from domain.stages import (
        APPLICATION_RULES,
        FINAL_APPLICATION_STAGES,
        Action,
        ApplicationStage,
    )
    from workflows.transitions import (
        PROJECTION,
        audit_event,
        guard,
        invalid,
        not_allowed,
        sleep_until,
    )

CLOSE_SUBMISSIONS = "close_submissions"
DEADLINE_EXTENDED = "deadline_extended"
INCOMPLETE_FILE = "Dossier incomplet : compléments non reçus dans le délai"


@workflow.defn
class ApplicationWorkflow:
    @workflow.init
    def __init__(self, start: ApplicationStart) -> None:
        self.state = start.state
        self.rules = start.rules
        self.closing = False
        # One transition at a time: a second concurrent one re-checks the stage and gets 409.
        self.lock = asyncio.Lock()

    @workflow.run
    async def run(self, start: ApplicationStart) -> ApplicationStage:
        while self.state.stage not in FINAL_APPLICATION_STAGES:
            stage = self.state.stage
            if stage == ApplicationStage.RECEIVED:
                await workflow.wait_condition(lambda: self.closing or self.state.stage != stage)
                await self._clock(Action.CLOSE_SUBMISSIONS)
            elif stage == ApplicationStage.COMPLEMENTS_REQUESTED:
                if await sleep_until(self._complements_due, lambda: self.state.stage == stage):
                    await self._clock(Action.EXPIRE_COMPLEMENTS, reason=INCOMPLETE_FILE)
            else:
                await workflow.wait_condition(lambda: self.state.stage != stage)
        await workflow.wait_condition(workflow.all_handlers_finished)
        return self.state.stage

    # --- signals from the call ---------------------------------------------------------
    @workflow.signal(name=CLOSE_SUBMISSIONS)
    def close_submissions(self, _: datetime | None = None) -> None:
        self.closing = True

    @workflow.signal(name=DEADLINE_EXTENDED)
    def deadline_extended(self, deadline: datetime | None) -> None:
        if deadline and deadline > self.state.deadline:
            self.state.deadline = deadline

    # --- operator transitions ------------------------------------------------------------
    @workflow.update
    async def amend(self, actor: Actor, changes: Amendment) -> ApplicationState:
        async with self.lock:
            self._before_deadline(Action.AMEND, actor)
            self.state.data = self.state.data.model_copy(update=changes.changes())
            return await self._commit(
                actor, Action.AMEND, payload=changes.model_dump(mode="json", exclude_none=True)
            )

    @amend.validator
    def _amend(self, actor: Actor, changes: Amendment) -> None:
        self._before_deadline(Action.AMEND, actor)

    @workflow.update
    async def withdraw(self, actor: Actor, body: Withdrawal) -> ApplicationState:
        async with self.lock:
            self._before_deadline(Action.WITHDRAW, actor)
            self.state.reason = body.reason
            return await self._commit(actor, Action.WITHDRAW, reason=body.reason)

    @withdraw.validator
    def _withdraw(self, actor: Actor, body: Withdrawal) -> None:
        self._before_deadline(Action.WITHDRAW, actor)

    @workflow.update
    async def mark_eligible(self, actor: Actor, body: EligibleDecision) -> ApplicationState:
        async with self.lock:
            guard(self.state.stage, Action.MARK_ELIGIBLE, actor)
            self.state.reason = None
            return await self._commit(
                actor, Action.MARK_ELIGIBLE, reason=body.note, notify=notices.eligibility_decided
            )

    @mark_eligible.validator
    def _mark_eligible(self, actor: Actor, body: EligibleDecision) -> None:
        guard(self.state.stage, Action.MARK_ELIGIBLE, actor)

    @workflow.update
    async def mark_ineligible(self, actor: Actor, body: IneligibleDecision) -> ApplicationState:
        async with self.lock:
            guard(self.state.stage, Action.MARK_INELIGIBLE, actor)
            self.state.reason = body.reason
            return await self._commit(
                actor,
                Action.MARK_INELIGIBLE,
                reason=body.reason,
                notify=notices.eligibility_decided,
            )

    @mark_ineligible.validator
    def _mark_ineligible(self, actor: Actor, body: IneligibleDecision) -> None:
        guard(self.state.stage, Action.MARK_INELIGIBLE, actor)

    @workflow.update
    async def request_complements(self, actor: Actor, body: ComplementsAsk) -> ApplicationState:
        async with self.lock:
            self._check_complements_ask(actor, body)
            now = workflow.now()
            self.state.complements = ComplementRequest(
                items=body.items,
                note=body.note,
                requested_at=now,
                due_at=body.due_at or due_after(now, self.rules.complement_response_days),
            )
            return await self._commit(
                actor,
                Action.REQUEST_COMPLEMENTS,
                reason=body.note,
                payload=self.state.complements.model_dump(mode="json"),
                notify=notices.complements_requested,
            )

    @request_complements.validator
    def _request_complements(self, actor: Actor, body: ComplementsAsk) -> None:
        self._check_complements_ask(actor, body)

    @workflow.update
    async def submit_complements(self, actor: Actor, body: ComplementsReply) -> ApplicationState:
        async with self.lock:
            guard(self.state.stage, Action.SUBMIT_COMPLEMENTS, actor)
            data = self.state.data
            known = {d.casefold() for d in data.documents}
            data.documents = data.documents + [
                d for d in body.documents if d.casefold() not in known
            ]
            assert self.state.complements is not None
            self.state.complements.answered_at = workflow.now()
            self.state.checklist = await self._prechecks()
            return await self._commit(
                actor,
                Action.SUBMIT_COMPLEMENTS,
                reason=body.note,
                payload=body.model_dump(mode="json"),
            )

    @submit_complements.validator
    def _submit_complements(self, actor: Actor, body: ComplementsReply) -> None:
        guard(self.state.stage, Action.SUBMIT_COMPLEMENTS, actor)

    # --- helpers -------------------------------------------------------------------------
    def _before_deadline(self, action: Action, actor: Actor) -> None:
        guard(self.state.stage, action, actor)
        if workflow.now() >= self.state.deadline:
            raise not_allowed("La date limite de l'appel est passée.", self.state.stage)

    def _check_complements_ask(self, actor: Actor, body: ComplementsAsk) -> None:
        guard(self.state.stage, Action.REQUEST_COMPLEMENTS, actor)
        if body.due_at is not None and body.due_at <= workflow.now():
            raise invalid("La date limite de réponse doit être dans le futur.")

    def _complements_due(self) -> datetime:
        assert self.state.complements is not None
        return self.state.complements.due_at

    async def _prechecks(self) -> list[CheckItem]:
        return await workflow.execute_local_activity(
            run_prechecks, args=[self.state.data, self.rules], **PROJECTION
        )

    async def _clock(self, action: Action, reason: str | None = None) -> None:
        """A transition the clock makes, unless an operator moved the case first."""
        async with self.lock:
            if self.state.stage not in (rule := APPLICATION_RULES[action]).sources:
                return
            if rule.target == ApplicationStage.ELIGIBILITY_REVIEW:
                self.state.checklist = await self._prechecks()
            else:
                self.state.reason = reason
            notify = (
                notices.eligibility_decided if rule.target == ApplicationStage.INELIGIBLE else None
            )
            await self._commit(CLOCK, action, reason=reason, notify=notify)

    async def _commit(
        self,
        actor: Actor,
        action: Action,
        reason: str | None = None,
        payload: dict | None = None,
        notify: Callable[[ApplicationState], list[Notification]] | None = None,
    ) -> ApplicationState:
        """Apply the action's target stage, record it once in SQL, answer the new state."""
        source = self.state.stage
        target = APPLICATION_RULES[action].target
        now = workflow.now()
        self.state.stage = target or source
        self.state.seq += 1
        self.state.updated_at = now
        snapshot = self.state.model_copy(deep=True)
        event = audit_event(
            actor, action, snapshot.id, snapshot.seq, source, snapshot.stage, reason, payload
        )
        notifications: list[Notification] = notify(snapshot) if notify else []
        await workflow.execute_activity_method(
            Projection.record_application,
            ApplicationRecord(state=snapshot, event=event, notifications=notifications),
            **PROJECTION,
        )
        return snapshot
