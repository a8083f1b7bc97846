"""What the clock does to an application (ApplicationWorkflow's base): when it is finished, the
next alarm of its evaluation, the response times counted from a notice's sending, and each
transition the clock makes, with what it changes and the notifications it sends."""

from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from activities.cases import Cases
    from activities.prechecks import Prechecks
    from activities.sessions import DOCUMENT
    from domain import notices
    from domain.allocation import INSUFFICIENT_FUNDS
    from domain.lifecycle import DECISIONS
    from domain.models import (
        CLOCK,
        ApplicationState,
        CallRules,
        CheckItem,
        ClusterStart,
        Decision,
        FromNotice,
        Notification,
        Redress,
    )
    from domain.stages import FINAL_APPLICATION_STAGES, Action, ApplicationStage
    from domain.workdays import response_due
    from workflows.transitions import Case, may, sleep_until, step

Notify = Callable[[ApplicationState], list[Notification]]
INCOMPLETE_FILE = "Dossier incomplet : compléments non reçus dans le délai"
UNDELIVERED = (
    "Le courrier n'a pu être remis : le délai ne court pas ; vérifiez l'adresse du contact."
)


class ApplicationClock(Case[ApplicationState]):
    rules: CallRules
    published: bool

    def _finished(self) -> bool:
        stage, decision = self.state.stage, self.state.decision
        # A reserve file waits, once announced, for funds to come back or its list to close.
        return stage in FINAL_APPLICATION_STAGES or (
            stage == ApplicationStage.LABELLED
            and decision is not None
            and decision.published_at is not None
        )

    def _result_to_announce(self) -> bool:
        decision = self.state.decision
        return (
            self.published
            and self.state.stage in DECISIONS
            and decision is not None
            and decision.published_at is None
        )

    def _dossier_missing(self) -> bool:
        return self.state.redress is not None and self.state.redress.dossier is None

    async def _compile_dossier(self) -> Notify | None:
        assert self.state.redress is not None
        # activities.redress, named (not imported: the API need not load WeasyPrint).
        self.state.redress.dossier = await workflow.execute_activity(
            "build_redress_dossier", self.state.id, result_type=str, **DOCUMENT
        )
        return None

    def _redress_due(self) -> datetime:
        assert self.state.redress is not None and self.state.redress.due_at is not None
        return self.state.redress.due_at

    def _evaluation_alarm(self) -> tuple[datetime, Action] | None:
        """The next reminder, or the overdue flag, while scores are awaited."""
        evaluation = self.state.evaluation
        if (
            not evaluation
            or not evaluation.due_at
            or evaluation.overdue
            or not evaluation.waiting()
        ):
            return None
        offsets = sorted(self.rules.reminder_days, reverse=True)
        if evaluation.reminders_sent < len(offsets):
            reminder = evaluation.due_at - timedelta(days=offsets[evaluation.reminders_sent])
            return reminder, Action.REMIND_EVALUATORS
        return evaluation.due_at, Action.FLAG_OVERDUE

    async def _evaluation_clock(self) -> None:
        alarm = self._evaluation_alarm()
        stage = self.state.stage
        if alarm is None:
            await workflow.wait_condition(
                lambda: self.state.stage != stage or self._evaluation_alarm() is not None
            )
        elif await sleep_until(
            lambda: alarm[0],
            lambda: self.state.stage == stage and self._evaluation_alarm() == alarm,
        ):
            await self._clock(alarm[1], self._chase_evaluators)

    # --- what the clock changes, each returning the notifications it sends ------------------
    async def _close_submissions(self) -> Notify | None:
        self.state.checklist = await self._prechecks()
        return None

    async def _expire_complements(self) -> Notify | None:
        self.state.reason = INCOMPLETE_FILE
        return notices.eligibility_decided

    async def _chase_evaluators(self) -> Notify | None:
        evaluation = self.state.evaluation
        assert evaluation is not None
        names = [a.evaluator for a in evaluation.waiting()]
        if evaluation.reminders_sent < len(self.rules.reminder_days):
            evaluation.reminders_sent += 1
            return lambda state: notices.evaluation_reminder(state, names)
        evaluation.overdue = True
        return lambda state: notices.evaluation_overdue(state, names)

    async def _announce_result(self) -> Notify | None:
        decision = self.state.decision
        assert decision is not None
        now = workflow.now()
        decision.published_at = now
        if decision.outcome == ApplicationStage.REJECTED:  # counted from the notice's sending
            notice = self.notice_key(self.state.seq + 1)
            self.state.redress = Redress(days=self.rules.redress_days, notice=notice)
        if decision.outcome == ApplicationStage.LABELLED:
            self.state.cluster_id = self.state.id
            await step(
                Cases.start_cluster,
                ClusterStart(
                    cluster_id=self.state.cluster_id,
                    application_id=self.state.id,
                    call_id=self.state.call_id,
                    cluster_name=self.state.data.cluster_name,
                    sector=self.state.data.sector,
                    labelled_at=now,
                    max_support_years=self.rules.max_support_years,
                    contact_email=self.state.data.contact.email,
                    contact_language=self.state.data.contact.language,
                    report_lead_days=self.rules.report_lead_days,
                    report_reminder_days=self.rules.report_reminder_days,
                    previous_cluster_id=self.state.data.previous_cluster_id,
                    granted=decision.amounts,
                    contract_due=now + timedelta(days=self.rules.contract_days),
                ),
            )
        return lambda state: notices.result_published(state, self.rules.grid)

    async def _expire_reserve(self) -> Notify | None:
        """The reserve list closed with the file still on it: not retained, and told so."""
        self.state.reason = INSUFFICIENT_FUNDS
        self.state.decision = Decision(
            outcome=ApplicationStage.NOT_RETAINED,
            reason=INSUFFICIENT_FUNDS,
            decided_by=CLOCK.name,
            decided_at=workflow.now(),
            published_at=workflow.now(),
        )
        return lambda state: notices.result_published(state, self.rules.grid)

    def _complements_due(self) -> datetime:
        assert self.state.complements is not None and self.state.complements.due_at is not None
        return self.state.complements.due_at

    async def _counted(self, counted: FromNotice) -> bool:
        """Whether a response time runs: from its notice's sending (a transition of the clock
        records the date); never for a notice that could not be sent, which flags the case
        for the operator instead of letting the time run out unseen."""
        if counted.due_at is not None:
            return True
        if counted.undelivered:
            return False
        # The transition that wrote the notice schedules it once its record is written.
        await workflow.wait_condition(lambda: counted.notice in self.sending)
        sent = await self.sending[counted.notice]

        async def start() -> Notify | None:
            assert counted.days is not None and sent is not None
            counted.due_at = response_due(sent, counted.days, counted.working_days)
            return None

        async def stop() -> Notify | None:
            counted.undelivered = True
            return None

        if sent is None:
            await self._clock(Action.NOTICE_UNDELIVERED, stop, UNDELIVERED)
        else:
            await self._clock(Action.NOTICE_SENT, start)
        return counted.due_at is not None

    async def _prechecks(self) -> list[CheckItem]:
        received = [f.kind for f in self.state.files]
        return await step(Prechecks.run_prechecks, self.state.data, self.rules, received)

    async def _clock(
        self,
        action: Action,
        change: Callable[[], Awaitable[Notify | None]] | None = None,
        reason: str | None = None,
    ) -> None:
        """A transition the clock makes, unless an operator moved the case first."""
        async with self.lock:
            if not may(self.state.stage, action):
                return
            notify = await change() if change else None
            await self.commit(CLOCK, action, reason=reason or self.state.reason, notify=notify)
