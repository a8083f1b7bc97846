"""ClusterWorkflow `cluster-{id}`: a labelled cluster's support, one run per support year.

The id is the labelled application's. Each renewal moves the case to its next year and the run
continues as new, so a cluster followed for decades keeps a short history.
"""

from datetime import datetime, timedelta

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from domain import notices
    from domain.fields import MAX_CASE_BYTES
    from domain.models import CLOCK, Actor, ClusterStart, Deposit
    from domain.stages import FINAL_CLUSTER_STAGES, Action, ClusterStage
    from domain.support import (
        REPORT_FILES,
        AnnualReport,
        ClusterState,
        ContractTerms,
        Note,
        Probation,
        ProbationRenewal,
        Reason,
        Renewal,
        SupportYear,
        add_years,
    )
    from workflows.files import check_room, held, reference
    from workflows.refusals import invalid, not_allowed
    from workflows.transitions import Case, may, sleep_until, transition

MAX_REACHED = "Durée maximale de soutien atteinte"


@workflow.defn
class ClusterWorkflow(Case[ClusterState]):
    @workflow.init
    def __init__(self, start: ClusterStart, state: ClusterState | None = None) -> None:
        self.state = state or ClusterState(
            id=start.cluster_id,
            stage=ClusterStage.AWAITING_CONTRACT,
            origin=start,
            updated_at=workflow.now(),
        )
        self.year = self._year()  # the support year this run serves

    @workflow.run
    async def run(self, start: ClusterStart, state: ClusterState | None = None) -> ClusterStage:
        if state is None:
            await self.commit(CLOCK, Action.OPEN_CASE)
        while self.state.stage not in FINAL_CLUSTER_STAGES:
            if self._year() != self.year:  # renewed: the next year gets a run of its own
                await self.settled()
                workflow.continue_as_new(args=[start, self.state])
            stage = self.state.stage
            if stage == ClusterStage.AWAITING_CONTRACT:
                await workflow.wait_condition(lambda: self.state.stage != stage)
                continue
            alarm = self._alarm()
            if await sleep_until(
                lambda: alarm[0], lambda: self.state.stage == stage and self._alarm() == alarm
            ):
                await self._clock(alarm[1])
        await self.settled()
        return self.state.stage

    @workflow.query
    def snapshot(self) -> ClusterState:
        return self.state

    # --- checks beyond the lifecycle table's rule (validator and handler alike) ------------
    def _check_contract(self, actor: Actor, terms: ContractTerms) -> None:
        years = self.state.origin.max_support_years
        if len(terms.planned_amounts) > years:
            raise invalid(f"Au plus {years} montants annuels : durée maximale de soutien.")
        if add_years(terms.start_at, years) <= workflow.now():
            raise invalid("Cette convention serait déjà échue : vérifiez la date de début.")

    def _check_deposit(self, actor: Actor, body: Deposit) -> None:
        """So many bytes per support year begun, as an application has for its dossier."""
        check_room(self.state.files, body, MAX_CASE_BYTES * max(1, len(self.state.years)))

    def _check_report(self, actor: Actor, report: AnnualReport) -> None:
        """Each of the report's files is one of this cluster's, deposited as its kind."""
        for name, kind in REPORT_FILES.items():
            ref = held(self.state.files, getattr(report, name), kind.capitalize())
            if ref.kind != kind:
                raise invalid(
                    f"« {ref.filename} » est déposé comme « {ref.kind} », pas « {kind} »."
                )

    def _check_renewal(self, actor: Actor, body: Renewal) -> None:
        if self._year() >= self.state.origin.max_support_years:
            raise not_allowed(
                "Dernière année de soutien : le soutien s'achève à l'anniversaire.",
                self.state.stage,
            )

    def _check_probation(self, actor: Actor, body: ProbationRenewal) -> None:
        self._check_renewal(actor, body)
        if body.review_at <= workflow.now():
            raise invalid("La date de revue de la probation doit être dans le futur.")

    # --- programme manager and operator -------------------------------------------------------
    @transition(Action.SIGN_CONTRACT, _check_contract)
    async def sign_contract(self, actor: Actor, terms: ContractTerms) -> ClusterState:
        self.state.contract = terms
        self.state.years = [self._new_year(1, terms.planned_amounts[0])]
        self.year = 1
        return await self.commit(actor, Action.SIGN_CONTRACT, payload=terms.model_dump(mode="json"))

    @transition(Action.ADD_CLUSTER_DOCUMENT, _check_deposit)
    async def add_cluster_document(self, actor: Actor, body: Deposit) -> ClusterState:
        """A file's reference (its bytes are in storage): the audit trail keeps it with its hash."""
        ref = reference(actor, body)
        self.state.files.append(ref)
        return await self.commit(
            actor, Action.ADD_CLUSTER_DOCUMENT, payload=ref.model_dump(mode="json")
        )

    @transition(Action.RECORD_REPORT, _check_report)
    async def record_report(self, actor: Actor, report: AnnualReport) -> ClusterState:
        year = self._current()
        year.report = report
        year.report_received_at = workflow.now()
        return await self.commit(
            actor, Action.RECORD_REPORT, payload=report.model_dump(mode="json")
        )

    @transition(Action.RENEW, _check_renewal)
    async def renew(self, actor: Actor, body: Renewal) -> ClusterState:
        return await self._renew(Action.RENEW, actor, body, None)

    @transition(Action.RENEW_ON_PROBATION, _check_probation)
    async def renew_on_probation(self, actor: Actor, body: ProbationRenewal) -> ClusterState:
        probation = Probation(conditions=body.conditions, review_at=body.review_at)
        return await self._renew(Action.RENEW_ON_PROBATION, actor, body, probation)

    @transition(Action.SUSPEND)
    async def suspend(self, actor: Actor, body: Reason) -> ClusterState:
        self.state.suspended_from = self.state.stage
        self.state.reason = body.reason
        return await self.commit(
            actor, Action.SUSPEND, reason=body.reason, notify=notices.support_decided
        )

    @transition(Action.RESUME)
    async def resume(self, actor: Actor, body: Note) -> ClusterState:
        source = self.state.stage
        self.state.stage = self.state.suspended_from or ClusterStage.ACTIVE
        self.state.suspended_from = None
        self.state.reason = None
        return await self.commit(actor, Action.RESUME, reason=body.note, source=source)

    @transition(Action.TERMINATE)
    async def terminate(self, actor: Actor, body: Reason) -> ClusterState:
        self.state.reason = body.reason
        return await self.commit(
            actor, Action.TERMINATE, reason=body.reason, notify=notices.support_decided
        )

    # --- years and the clock --------------------------------------------------------------------
    def _year(self) -> int:
        return self.state.current.year if self.state.current else 0

    def _current(self) -> SupportYear:
        assert self.state.current is not None
        return self.state.current

    def _new_year(self, number: int, amount: float) -> SupportYear:
        assert self.state.contract is not None
        start = self.state.contract.start_at
        return SupportYear(
            year=number,
            starts_at=add_years(start, number - 1),
            ends_at=add_years(start, number),
            amount=amount,
            kpi_targets=self.state.contract.kpi_targets,
        )

    async def _renew(
        self, action: Action, actor: Actor, body: Renewal, probation: Probation | None
    ) -> ClusterState:
        assert self.state.contract is not None
        planned = self.state.contract.planned_amounts
        number = self._year() + 1
        amount = body.amount if body.amount is not None else planned[min(number, len(planned)) - 1]
        self._current().decision = action
        following = self._new_year(number, amount)
        following.probation = probation
        self.state.years.append(following)
        return await self.commit(
            actor,
            action,
            reason=body.reason,
            payload=body.model_dump(mode="json") | {"year": number, "amount": amount},
            notify=notices.support_decided,
        )

    def _alarm(self) -> tuple[datetime, Action]:
        """The clock's next move: report request, reminder, escalation, probation review, end."""
        assert self.state.contract is not None
        origin, year, stage = self.state.origin, self._current(), self.state.stage
        moves = [
            (add_years(self.state.contract.start_at, origin.max_support_years), Action.END_SUPPORT)
        ]
        if stage == ClusterStage.ACTIVE and year.report_requested_at is None:
            moves.append(
                (year.ends_at - timedelta(days=origin.report_lead_days), Action.REQUEST_REPORT)
            )
        if stage == ClusterStage.REPORT_REQUESTED:
            offsets = sorted(origin.report_reminder_days, reverse=True)
            if year.reminders_sent < len(offsets):
                reminder = year.ends_at - timedelta(days=offsets[year.reminders_sent])
                moves.append((reminder, Action.REMIND_REPORT))
            else:
                moves.append((year.ends_at, Action.ESCALATE_REPORT))
        if year.probation and not year.probation.reviewed and stage != ClusterStage.SUSPENDED:
            moves.append((year.probation.review_at, Action.REVIEW_PROBATION))
        return min(moves)

    async def _clock(self, action: Action) -> None:
        async with self.lock:
            if not may(self.state.stage, action):
                return
            year = self._current()
            now = workflow.now()
            if action == Action.REQUEST_REPORT:
                year.report_requested_at = now
                notify = notices.report_requested
            elif action == Action.REMIND_REPORT:
                year.reminders_sent += 1
                notify = notices.report_reminder
            elif action == Action.ESCALATE_REPORT:
                year.overdue = True
                notify = notices.report_overdue
            elif action == Action.REVIEW_PROBATION:
                assert year.probation is not None
                year.probation.reviewed = True
                notify = notices.probation_review
            else:  # END_SUPPORT
                self.state.can_reapply = True
                self.state.reason = MAX_REACHED
                year.overdue = year.overdue or self.state.stage == ClusterStage.REPORT_REQUESTED
                notify = notices.support_decided
            await self.commit(CLOCK, action, notify=notify)
