"""ClusterWorkflow `cluster-{id}`: a labelled cluster's support, one run per support year.

The id is the labelled application's. Each renewal moves the case to its next year and the run
continues as new, so a cluster followed for decades keeps a short history.
"""

from datetime import datetime, timedelta

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from activities.cases import Cases
    from domain import notices
    from domain.fields import MAX_CASE_BYTES
    from domain.ids import call_workflow_id
    from domain.models import CLOCK, Actor, ClusterStart, Deposit, Told
    from domain.money import (
        CENT,
        ConditionApproval,
        Movement,
        Payment,
        PaymentFailure,
        PaymentRecord,
        Release,
        Tranche,
        TrancheStatus,
        mad,
        split,
    )
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
    from domain.tranches import TAKES, conditions_for, refresh, suspend_for_report
    from workflows.files import check_room, held, reference
    from workflows.money import move, per_year
    from workflows.refusals import forbidden, invalid, not_allowed
    from workflows.transitions import Case, may, sleep_until, step, transition

FUNDS_FREED = "funds_freed"  # workflows.call.FUNDS_FREED (not imported: no cycle of workflows)
UNSIGNED = "Convention non signée dans le délai"
SEPARATION = (
    "Séparation des tâches : la personne qui a ordonnancé une tranche ne peut pas "
    "en enregistrer le paiement."
)

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
            due = self.state.origin.contract_due
            if stage == ClusterStage.AWAITING_CONTRACT:
                if due is None:
                    await workflow.wait_condition(lambda: self.state.stage != stage)
                elif await sleep_until(lambda: due, lambda: self.state.stage == stage):
                    await self._clock(Action.LAPSE_CONTRACT)
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
        granted = self.state.origin.granted
        for year, amount in enumerate(terms.planned_amounts, start=1):
            if granted and amount > (granted[year - 1] if year <= len(granted) else 0) + CENT:
                raise invalid(
                    f"Année {year} : {mad(amount)} prévus, au-delà du soutien accordé par le comité."
                )
            try:
                split(terms.schedule, amount)
            except ValueError as error:
                raise invalid(f"Année {year} : {error}.") from None

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

    def _tranche(self, ref: str) -> Tranche:
        for year in self.state.years:
            for tranche in year.tranches:
                if tranche.id == ref:
                    return tranche
        raise invalid(f"Tranche « {ref} » inconnue de ce dossier.")

    def _check_condition(self, actor: Actor, body: ConditionApproval) -> None:
        tranche = self._tranche(body.tranche)
        if not TAKES[Action.APPROVE_CONDITION](tranche):
            raise invalid(f"La tranche {tranche.id} n'attend aucune approbation du gestionnaire.")

    def _check_release(self, actor: Actor, body: Release) -> None:
        tranche = self._tranche(body.tranche)
        if not TAKES[Action.RELEASE_TRANCHE](tranche):
            missing = [c.describe() for c in tranche.conditions if c.met_at is None]
            why = f" ; conditions à remplir : {', '.join(missing)}" if missing else ""
            raise not_allowed(
                f"La tranche {tranche.id} n'est pas exigible ({tranche.status.value}){why}.",
                self.state.stage,
            )

    def _check_payment(self, actor: Actor, body: PaymentRecord) -> None:
        tranche = self._tranche(body.tranche)
        if not TAKES[Action.PAY_TRANCHE](tranche):
            raise not_allowed(
                f"La tranche {tranche.id} n'est pas ordonnancée ({tranche.status.value}).",
                self.state.stage,
            )
        if tranche.released_by == actor.name:
            raise forbidden(SEPARATION)

    def _check_failure(self, actor: Actor, body: PaymentFailure) -> None:
        tranche = self._tranche(body.tranche)
        if not TAKES[Action.REJECT_PAYMENT](tranche):
            raise not_allowed(
                f"La tranche {tranche.id} n'a pas d'ordre de paiement en cours.", self.state.stage
            )

    def _check_probation(self, actor: Actor, body: ProbationRenewal) -> None:
        self._check_renewal(actor, body)
        if body.review_at <= workflow.now():
            raise invalid("La date de revue de la probation doit être dans le futur.")

    # --- programme manager and operator -------------------------------------------------------
    @transition(Action.SIGN_CONTRACT, _check_contract)
    async def sign_contract(self, actor: Actor, terms: ContractTerms) -> ClusterState:
        # The contract commits its years; what the committee granted beyond them is given back.
        await move(
            self,
            actor,
            self.state.origin.call_id,
            "convention signée",
            (Movement.COMMITTED, per_year(terms.planned_amounts)),
            (Movement.CANCELLED, None),
        )
        self.state.contract = terms
        self.state.years = [self._new_year(1, terms.planned_amounts[0])]
        self.year = 1
        refresh(self.state, actor.name, workflow.now())
        return await self.commit(actor, Action.SIGN_CONTRACT, payload=terms.model_dump(mode="json"))

    @transition(Action.ADD_CLUSTER_DOCUMENT, _check_deposit)
    async def add_cluster_document(self, actor: Actor, body: Deposit) -> ClusterState:
        """A file's reference (its bytes are in storage): the audit trail keeps it with its hash."""
        ref = reference(actor, body)
        self.state.files.append(ref)
        refresh(self.state, actor.name, workflow.now())
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
        """Before its contract, the laureate is refused it; after, its support stops: either
        way its money not yet released goes back to the envelope."""
        self.state.reason = body.reason
        await self._give_back(actor, "résiliation")
        return await self.commit(
            actor, Action.TERMINATE, reason=body.reason, notify=notices.support_decided
        )

    @transition(Action.RENOUNCE)
    async def renounce(self, actor: Actor, body: Reason) -> ClusterState:
        self.state.reason = body.reason
        await self._give_back(actor, "désistement")
        return await self.commit(
            actor, Action.RENOUNCE, reason=body.reason, notify=notices.support_decided
        )

    @transition(Action.REFUSE_REPORT)
    async def refuse_report(self, actor: Actor, body: Reason) -> ClusterState:
        """A new report is awaited; the tranches that wait on this one are suspended."""
        year = self._current()
        year.report_refused = body.reason
        year.report = None
        year.report_received_at = None
        suspend_for_report(self.state, year.year, body.reason)
        return await self.commit(
            actor, Action.REFUSE_REPORT, reason=body.reason, notify=notices.support_decided
        )

    # --- tranches (finance) ------------------------------------------------------------------
    @transition(Action.APPROVE_CONDITION, _check_condition)
    async def approve_condition(self, actor: Actor, body: ConditionApproval) -> ClusterState:
        tranche = self._tranche(body.tranche)
        for condition in tranche.conditions:
            if condition.kind == "manual" and condition.met_at is None:
                condition.met_at, condition.met_by = workflow.now(), actor.name
        refresh(self.state, actor.name, workflow.now())
        return await self.commit(
            actor, Action.APPROVE_CONDITION, reason=body.note, payload={"tranche": tranche.id}
        )

    @transition(Action.RELEASE_TRANCHE, _check_release)
    async def release_tranche(self, actor: Actor, body: Release) -> ClusterState:
        tranche = self._tranche(body.tranche)
        await move(
            self,
            actor,
            self.state.origin.call_id,
            f"tranche {tranche.id}",
            (Movement.RELEASED, {tranche.year: tranche.amount}),
        )
        tranche.status = TrancheStatus.RELEASED
        tranche.budget_line, tranche.commitment_number = body.budget_line, body.commitment_number
        tranche.released_at, tranche.released_by = workflow.now(), actor.name
        return await self.commit(
            actor, Action.RELEASE_TRANCHE, payload=body.model_dump() | {"amount": tranche.amount}
        )

    @transition(Action.PAY_TRANCHE, _check_payment)
    async def pay_tranche(self, actor: Actor, body: PaymentRecord) -> ClusterState:
        """Paid by another person than the one who released it; a payment issued again after
        a rejection names the order it replaces."""
        tranche = self._tranche(body.tranche)
        await move(
            self,
            actor,
            self.state.origin.call_id,
            f"tranche {tranche.id}",
            (Movement.PAID, {tranche.year: tranche.amount}),
        )
        replaces = tranche.payments[-1].payment_order if tranche.payments else None
        tranche.payments.append(
            Payment(
                payment_order=body.payment_order,
                bank_reference=body.bank_reference,
                paid_at=workflow.now(),
                paid_by=actor.name,
                replaces=replaces,
            )
        )
        tranche.status = TrancheStatus.PAID
        payload = body.model_dump() | {"amount": tranche.amount, "replaces": replaces}
        return await self.commit(actor, Action.PAY_TRANCHE, payload=payload)

    @transition(Action.REJECT_PAYMENT, _check_failure)
    async def reject_payment(self, actor: Actor, body: PaymentFailure) -> ClusterState:
        tranche = self._tranche(body.tranche)
        tranche.payments.append(Payment(payment_order=body.payment_order, failed=body.reason))
        tranche.status = TrancheStatus.FAILED
        return await self.commit(
            actor, Action.REJECT_PAYMENT, reason=body.reason, payload=body.model_dump()
        )

    async def _give_back(self, actor: Actor, basis: str) -> None:
        """Money not released goes back to the envelope: a reservation before the contract
        (and the call proposes the next reserve file), the rest of the commitment after."""
        if self.state.contract is None:
            await move(self, actor, self.state.origin.call_id, basis, (Movement.CANCELLED, None))
            await step(
                Cases.tell,
                Told(
                    workflow_id=call_workflow_id(self.state.origin.call_id),
                    signal=FUNDS_FREED,
                    arg=self.state.id,
                ),
            )
            return
        await move(self, actor, self.state.origin.call_id, basis, (Movement.RETURNED, None))
        for year in self.state.years:
            for tranche in year.tranches:
                if tranche.status not in (TrancheStatus.RELEASED, TrancheStatus.PAID):
                    tranche.status = TrancheStatus.CANCELLED

    # --- years and the clock --------------------------------------------------------------------
    def _year(self) -> int:
        return self.state.current.year if self.state.current else 0

    def _current(self) -> SupportYear:
        assert self.state.current is not None
        return self.state.current

    def _new_year(self, number: int, amount: float) -> SupportYear:
        assert self.state.contract is not None
        contract = self.state.contract
        amounts = split(contract.schedule, amount)
        return SupportYear(
            year=number,
            starts_at=add_years(contract.start_at, number - 1),
            ends_at=add_years(contract.start_at, number),
            amount=amount,
            kpi_targets=contract.kpi_targets,
            tranches=[
                Tranche(
                    id=f"{number}-{position}",
                    year=number,
                    number=position,
                    label=spec.label,
                    amount=share,
                    conditions=conditions_for(spec, number),
                    status=TrancheStatus.COMMITTED,
                )
                for position, (spec, share) in enumerate(
                    zip(contract.schedule, amounts, strict=True), start=1
                )
            ],
        )

    async def _renew(
        self, action: Action, actor: Actor, body: Renewal, probation: Probation | None
    ) -> ClusterState:
        assert self.state.contract is not None
        planned = self.state.contract.planned_amounts
        number = self._year() + 1
        amount = body.amount if body.amount is not None else planned[min(number, len(planned)) - 1]
        # The year's money follows the renewal: a cut returns to the envelope, more than the
        # contract committed is reserved (within what the envelope has left) and committed.
        committed = planned[number - 1] if number <= len(planned) else 0.0
        if amount < committed:
            moves = [(Movement.RETURNED, {number: committed - amount})]
        elif amount > committed:
            moves = [(Movement.RESERVED, {number: amount - committed})]
            moves.append((Movement.COMMITTED, {number: amount - committed}))
        else:
            moves = []
        if moves:
            await move(
                self, actor, self.state.origin.call_id, f"renouvellement, année {number}", *moves
            )
        self._current().decision = action
        self._current().report_refused = None
        following = self._new_year(number, amount)
        following.probation = probation
        self.state.years.append(following)
        refresh(self.state, actor.name, workflow.now())
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
            now = workflow.now()
            if action == Action.LAPSE_CONTRACT:
                self.state.reason = UNSIGNED
                await self._give_back(CLOCK, UNSIGNED)
                await self.commit(CLOCK, action, reason=UNSIGNED, notify=notices.support_decided)
                return
            year = self._current()
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
                await self._give_back(CLOCK, MAX_REACHED)
                notify = notices.support_decided
            await self.commit(CLOCK, action, notify=notify)
