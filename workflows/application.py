"""ApplicationWorkflow `application-{id}`: one application from registration to the committee's decision."""

from datetime import datetime

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from domain import notices
    from domain.bodies import (
        CommitteeDecision,
        ComplementsAsk,
        ComplementsReply,
        EligibleDecision,
        EvaluatorAssignment,
        EvaluatorRelease,
        IneligibleDecision,
        InterestDeclaration,
        ReviewAnswer,
        ReviewRequest,
        SessionDecision,
        Withdrawal,
    )
    from domain.clock import due_after
    from domain.lifecycle import APPLICATION
    from domain.models import (
        CLOCK,
        Actor,
        Amendment,
        ApplicationStart,
        ApplicationState,
        Assignment,
        ComplementRequest,
        Decision,
        Deposit,
        Evaluation,
        Notification,
        ScoreSheet,
    )
    from domain.money import CENT, Movement, Promotion
    from domain.scoring import evaluate, sheet_errors
    from domain.stages import Action, ApplicationStage
    from workflows.application_clock import ApplicationClock
    from workflows.files import check_room, held, reference
    from workflows.money import move, per_year
    from workflows.refusals import forbidden, invalid, not_allowed
    from workflows.transitions import sleep_until, transition

CLOSE_SUBMISSIONS = "close_submissions"
DEADLINE_EXTENDED = "deadline_extended"
RESULTS_PUBLISHED = "results_published"
ON_AGENDA = "on_agenda"
RESERVE_EXPIRED = "reserve_expired"
NO_REDRESS = "Aucune demande de réexamen dans le délai : rejet définitif"


@workflow.defn
class ApplicationWorkflow(ApplicationClock):
    @workflow.init
    def __init__(self, start: ApplicationStart) -> None:
        self.state = start.state
        self.rules = start.rules
        self.notice_days = start.rules.notice_days
        self.closing = False
        self.published = False
        self.reserve_expired = False

    @workflow.run
    async def run(self, start: ApplicationStart) -> ApplicationStage:
        if self.state.seq == 1:  # its registration, recorded by the call with its notice
            self.deliver(1, len(notices.registered(self.state)))
        while not self._finished():
            stage = self.state.stage
            if stage == ApplicationStage.RECEIVED:
                await workflow.wait_condition(lambda: self.closing or self.state.stage != stage)
                await self._clock(Action.CLOSE_SUBMISSIONS, self._close_submissions)
            elif stage == ApplicationStage.COMPLEMENTS_REQUESTED:
                assert self.state.complements is not None
                if not await self._counted(self.state.complements):
                    await workflow.wait_condition(lambda: self.state.stage != stage)
                elif await sleep_until(self._complements_due, lambda: self.state.stage == stage):
                    await self._clock(Action.EXPIRE_COMPLEMENTS, self._expire_complements)
            elif stage == ApplicationStage.EVALUATION:
                await self._evaluation_clock()
            elif self._result_to_announce():
                await self._clock(Action.NOTIFY_RESULT, self._announce_result)
            elif stage == ApplicationStage.RESERVE and self.reserve_expired:
                await self._clock(Action.EXPIRE_RESERVE, self._expire_reserve)
            elif stage == ApplicationStage.REVIEW_REQUESTED and self._dossier_missing():
                await self._clock(Action.COMPILE_REDRESS_DOSSIER, self._compile_dossier)
            elif stage == ApplicationStage.REJECTED and self.state.redress:
                if not await self._counted(self.state.redress):
                    await workflow.wait_condition(lambda: self.state.stage != stage)
                elif await sleep_until(self._redress_due, lambda: self.state.stage == stage):
                    await self._clock(Action.FINALIZE_REJECTION, reason=NO_REDRESS)
            else:
                await workflow.wait_condition(
                    lambda: (
                        self.state.stage != stage
                        or self._result_to_announce()
                        or self.reserve_expired
                    )
                )
        await self.settled()
        return self.state.stage

    # --- signals from the call ---------------------------------------------------------
    @workflow.signal(name=CLOSE_SUBMISSIONS)
    def close_submissions(self, _: datetime | None = None) -> None:
        self.closing = True

    @workflow.signal(name=RESULTS_PUBLISHED)
    def results_published(self, _: datetime | None = None) -> None:
        self.published = True

    @workflow.signal(name=ON_AGENDA)
    def on_agenda(self, session_id: str | None) -> None:
        """A committee session put this file on its agenda (None: took it off): from then on
        the committee decides it in that session only."""
        self.state.session_id = session_id

    @workflow.signal(name=RESERVE_EXPIRED)
    def reserve_expired_(self, _: datetime | None = None) -> None:
        """The call's reserve list is closed: a file still on it is not retained."""
        self.reserve_expired = True

    @workflow.signal(name=DEADLINE_EXTENDED)
    def deadline_extended(self, deadline: datetime | None) -> None:
        if deadline and deadline > self.state.deadline:
            self.state.deadline = deadline

    # --- checks beyond the lifecycle table's rule (validator and handler alike) ------------
    def _before_deadline(self, actor: Actor, _: object) -> None:
        if workflow.now() >= self.state.deadline:
            raise not_allowed("La date limite de l'appel est passée.", self.state.stage)

    def _check_deposit(self, actor: Actor, body: Deposit) -> None:
        """Before the deadline, in answer to an open complements request, or for a redress while
        its window is open; within bounds."""
        if self.state.stage == ApplicationStage.RECEIVED:
            self._before_deadline(actor, body)
        if self.state.stage == ApplicationStage.REJECTED:
            self._redress_open()
        check_room(self.state.files, body, self.rules.max_application_bytes)

    def _check_complements_ask(self, actor: Actor, body: ComplementsAsk) -> None:
        if body.due_at is not None and body.due_at <= workflow.now():
            raise invalid("La date limite de réponse doit être dans le futur.")

    def _check_complements_reply(self, actor: Actor, body: ComplementsReply) -> None:
        """The files named are this dossier's, deposited since the request."""
        assert self.state.complements is not None
        for document_id in body.files:
            ref = held(self.state.files, document_id, "Compléments")
            if ref.uploaded_at < self.state.complements.requested_at:
                raise invalid(f"« {ref.filename} » a été déposé avant la demande de compléments.")

    def _check_assignment(self, actor: Actor, body: EvaluatorAssignment) -> None:
        evaluation = self.state.evaluation or Evaluation()
        for name in body.evaluators:
            if any(a.evaluator == name for a in evaluation.assignments):
                raise invalid(f"« {name} » est déjà affecté(e) ou a déclaré un conflit d'intérêts.")
        required = self.rules.evaluators_per_application
        after = len(evaluation.active()) + len(body.evaluators)
        if after < required and not body.incomplete:
            raise invalid(
                f"L'appel requiert {required} évaluateur(s) par dossier ; cette affectation en "
                f"laisse {after}. Confirmez l'affectation incomplète, ou ajoutez-en."
            )

    def _check_release(self, actor: Actor, body: EvaluatorRelease) -> None:
        evaluation = self.state.evaluation
        assignment = evaluation.of(body.evaluator) if evaluation else None
        if assignment is None:
            raise invalid(f"« {body.evaluator} » n'est pas affecté(e) à ce dossier.")
        if assignment.submitted_at:
            raise invalid(f"« {body.evaluator} » a déjà transmis sa grille.")

    def _check_revisable(self, actor: Actor, body: CommitteeDecision | SessionDecision) -> None:
        """A decision may be revised until the results are published, never after; a file on a
        session's agenda is decided in that session."""
        decision = self.state.decision  # none after a re-evaluation: decided anew, announced
        if decision is not None and (self.published or decision.published_at is not None):
            raise not_allowed(
                "Les résultats sont publiés : la décision ne peut plus être révisée.",
                self.state.stage,
            )
        session = body.session_id if isinstance(body, SessionDecision) else None
        if self.state.session_id is not None and session != self.state.session_id:
            raise not_allowed(
                "Ce dossier est à l'ordre du jour d'une séance du comité : il y est décidé.",
                self.state.stage,
            )

    def _check_grant(self, actor: Actor, body: CommitteeDecision | SessionDecision) -> None:
        """A label's amounts: within the years of support, and above what was asked only
        with a reason."""
        self._check_revisable(actor, body)
        self._check_amounts(body.amounts, body.amounts_reason)

    def _check_amounts(self, amounts: list[float], reason: str | None) -> None:
        if len(amounts) > self.rules.max_support_years:
            raise invalid(
                f"Au plus {self.rules.max_support_years} montants annuels : "
                "durée maximale de soutien."
            )
        asked = self.state.data.requested_amounts
        over = [
            str(year)
            for year, amount in enumerate(amounts, start=1)
            if asked and amount > (asked[year - 1] if year <= len(asked) else 0) + CENT
        ]
        if over and not reason:
            raise invalid(
                f"Montant accordé supérieur à la demande (année {', '.join(over)}) : "
                "indiquez le motif."
            )

    def _check_promotion(self, actor: Actor, body: Promotion) -> None:
        decision = self.state.decision
        if not self.published and (decision is None or decision.published_at is None):
            raise not_allowed(
                "La liste d'attente sert une fois les résultats publiés : "
                "d'ici là, le comité décide du dossier.",
                self.state.stage,
            )
        self._check_amounts(body.amounts, body.reason)

    def _check_declaration(self, actor: Actor, _: InterestDeclaration) -> None:
        if self._assignment(actor).declared_at:
            raise not_allowed("Déclaration d'intérêts déjà faite.", self.state.stage)

    def _check_sheet(self, actor: Actor, sheet: ScoreSheet) -> None:
        assignment = self._assignment(actor)
        if not assignment.declared_at:
            raise not_allowed("Déclarez d'abord l'absence de conflit d'intérêts.", self.state.stage)
        if assignment.submitted_at:
            raise not_allowed("Vos notes ont déjà été transmises.", self.state.stage)
        if errors := sheet_errors(self.rules.grid, sheet):
            raise invalid("Grille incomplète ou erronée : " + " ; ".join(errors) + ".")

    def _check_review_request(self, actor: Actor, _: ReviewRequest) -> None:
        self._redress_open()

    def _redress_open(self) -> None:
        """The results published and the redress window not over."""
        redress = self.state.redress
        if redress is None or self.state.decision is None or not self.state.decision.published_at:
            raise not_allowed("Les résultats ne sont pas encore publiés.", self.state.stage)
        if redress.due_at is not None and workflow.now() >= redress.due_at:
            raise not_allowed("Le délai de recours est expiré.", self.state.stage)

    def _assignment(self, actor: Actor) -> Assignment:
        own = self.state.evaluation.of(actor.name) if self.state.evaluation else None
        if own is None:
            raise forbidden("Cette candidature ne vous est pas affectée.")
        return own

    # --- operator transitions ------------------------------------------------------------
    @transition(Action.AMEND, _before_deadline)
    async def amend(self, actor: Actor, changes: Amendment) -> ApplicationState:
        self.state.data = changes.applied_to(self.state.data)
        return await self.commit(
            actor, Action.AMEND, payload=changes.model_dump(mode="json", exclude_none=True)
        )

    @transition(Action.ADD_DOCUMENT, _check_deposit)
    async def add_document(self, actor: Actor, body: Deposit) -> ApplicationState:
        """A file's reference (its bytes are in storage): the audit trail keeps it with its hash."""
        ref = reference(actor, body)
        self.state.files.append(ref)
        return await self.commit(actor, Action.ADD_DOCUMENT, payload=ref.model_dump(mode="json"))

    @transition(Action.WITHDRAW, _before_deadline)
    async def withdraw(self, actor: Actor, body: Withdrawal) -> ApplicationState:
        self.state.reason = body.reason
        return await self.commit(actor, Action.WITHDRAW, reason=body.reason)

    @transition(Action.MARK_ELIGIBLE)
    async def mark_eligible(self, actor: Actor, body: EligibleDecision) -> ApplicationState:
        self.state.reason = None
        return await self.commit(
            actor, Action.MARK_ELIGIBLE, reason=body.note, notify=notices.eligibility_decided
        )

    @transition(Action.MARK_INELIGIBLE)
    async def mark_ineligible(self, actor: Actor, body: IneligibleDecision) -> ApplicationState:
        self.state.reason = body.reason
        return await self.commit(
            actor, Action.MARK_INELIGIBLE, reason=body.reason, notify=notices.eligibility_decided
        )

    @transition(Action.REQUEST_COMPLEMENTS, _check_complements_ask)
    async def request_complements(self, actor: Actor, body: ComplementsAsk) -> ApplicationState:
        now = workflow.now()
        self.state.complements = ComplementRequest(
            items=body.items,
            note=body.note,
            requested_at=now,
            due_at=body.due_at,  # else counted from the notice's sending
            days=None if body.due_at else self.rules.complement_response_days,
            notice=self.notice_key(self.state.seq + 1),
        )
        return await self.commit(
            actor,
            Action.REQUEST_COMPLEMENTS,
            reason=body.note,
            payload=self.state.complements.model_dump(mode="json"),
            notify=notices.complements_requested,
        )

    @transition(Action.SUBMIT_COMPLEMENTS, _check_complements_reply)
    async def submit_complements(self, actor: Actor, body: ComplementsReply) -> ApplicationState:
        """The answer names the files deposited for it; the checklist is computed again from
        every file the dossier now holds."""
        assert self.state.complements is not None
        self.state.complements.answered_at = workflow.now()
        self.state.checklist = await self._prechecks()
        return await self.commit(
            actor, Action.SUBMIT_COMPLEMENTS, reason=body.note, payload=body.model_dump(mode="json")
        )

    # --- evaluation ------------------------------------------------------------------------
    @transition(Action.ASSIGN_EVALUATORS, _check_assignment)
    async def assign_evaluators(self, actor: Actor, body: EvaluatorAssignment) -> ApplicationState:
        now = workflow.now()
        evaluation = self.state.evaluation or Evaluation()
        evaluation.due_at = evaluation.due_at or due_after(now, self.rules.evaluation_days)
        evaluation.assignments += [
            Assignment(evaluator=name, assigned_at=now) for name in body.evaluators
        ]
        self.state.evaluation = evaluation
        return await self.commit(
            actor,
            Action.ASSIGN_EVALUATORS,
            payload=body.model_dump(mode="json"),
            notify=None  # the batch's digest tells them (CallWorkflow.announce_assignments)
            if body.digest
            else lambda state: notices.evaluators_assigned(state, body.evaluators),
        )

    @transition(Action.RELEASE_EVALUATOR, _check_release)
    async def release_evaluator(self, actor: Actor, body: EvaluatorRelease) -> ApplicationState:
        assert self.state.evaluation is not None
        assignment = self.state.evaluation.of(body.evaluator)
        assert assignment is not None
        assignment.released_at = workflow.now()
        return await self.commit(
            actor,
            Action.RELEASE_EVALUATOR,
            reason=body.reason,
            payload={"evaluator": body.evaluator},
            notify=self._short,
        )

    @transition(Action.DECLARE_INTEREST, _check_declaration)
    async def declare_interest(self, actor: Actor, body: InterestDeclaration) -> ApplicationState:
        assignment = self._assignment(actor)
        assignment.declared_at = workflow.now()
        assignment.conflict = body.conflict
        return await self.commit(
            actor,
            Action.DECLARE_INTEREST,
            reason=body.note,
            payload={"conflict": body.conflict},
            notify=self._short if body.conflict else None,
        )

    def _short(self, state: ApplicationState) -> list[Notification]:
        """The managers are told at once of a case left short of evaluators."""
        assert state.evaluation is not None
        missing = state.evaluation.missing(self.rules.evaluators_per_application)
        return notices.evaluators_short(state, missing) if missing else []

    @transition(Action.SUBMIT_SCORES, _check_sheet)
    async def submit_scores(self, actor: Actor, sheet: ScoreSheet) -> ApplicationState:
        assignment = self._assignment(actor)
        assignment.sheet = sheet
        assignment.submitted_at = workflow.now()
        state = await self.commit(
            actor, Action.SUBMIT_SCORES, payload=sheet.model_dump(mode="json")
        )
        evaluation = self.state.evaluation
        assert evaluation is not None
        if (
            len(evaluation.active()) >= self.rules.evaluators_per_application
            and not evaluation.waiting()
        ):
            sheets = {a.evaluator: a.sheet for a in evaluation.active() if a.sheet}
            evaluation.result = evaluate(self.rules.grid, sheets, self.rules.consensus_spread)
            state = await self.commit(
                CLOCK, Action.COMPLETE_EVALUATION, payload=evaluation.result.model_dump()
            )
        return state

    # --- committee -----------------------------------------------------------------------
    @transition(Action.LABEL, _check_grant)
    async def label(
        self, actor: Actor, body: CommitteeDecision | SessionDecision
    ) -> ApplicationState:
        return await self._decide(Action.LABEL, actor, body)

    @transition(Action.PUT_ON_RESERVE, _check_revisable)
    async def put_on_reserve(
        self, actor: Actor, body: CommitteeDecision | SessionDecision
    ) -> ApplicationState:
        return await self._decide(Action.PUT_ON_RESERVE, actor, body)

    @transition(Action.REJECT, _check_revisable)
    async def reject(
        self, actor: Actor, body: CommitteeDecision | SessionDecision
    ) -> ApplicationState:
        return await self._decide(Action.REJECT, actor, body)

    @transition(Action.PROMOTE, _check_promotion)
    async def promote(self, actor: Actor, body: Promotion) -> ApplicationState:
        """A reserve file retained on funds that came back: its result is announced anew (the
        letter, the support case), as a decision's is at publication."""
        await move(
            self,
            actor,
            self.state.call_id,
            "liste d'attente",
            (Movement.RESERVED, per_year(body.amounts)),
        )
        self.state.decision = Decision(
            outcome=ApplicationStage.LABELLED,
            reason=body.reason,
            decided_by=actor.name,
            decided_at=workflow.now(),
            amounts=body.amounts,
        )
        return await self.commit(
            actor, Action.PROMOTE, reason=body.reason, payload={"amounts": body.amounts}
        )

    @transition(Action.REQUEST_REVIEW, _check_review_request)
    async def request_review(self, actor: Actor, body: ReviewRequest) -> ApplicationState:
        assert self.state.redress is not None
        self.state.redress.requested_at = workflow.now()
        self.state.redress.reason = body.reason
        return await self.commit(actor, Action.REQUEST_REVIEW, reason=body.reason)

    @transition(Action.UPHOLD_REJECTION)
    async def uphold_rejection(self, actor: Actor, body: ReviewAnswer) -> ApplicationState:
        assert self.state.redress is not None
        self.state.redress.answer = body.answer
        return await self.commit(
            actor, Action.UPHOLD_REJECTION, reason=body.answer, notify=notices.review_answered
        )

    @transition(Action.ORDER_RE_EVALUATION)
    async def order_re_evaluation(self, actor: Actor, body: ReviewAnswer) -> ApplicationState:
        assert self.state.redress is not None
        self.state.redress.answer = body.answer
        self.state.evaluation = Evaluation()  # new evaluators, new scores
        self.state.decision = None
        return await self.commit(
            actor, Action.ORDER_RE_EVALUATION, reason=body.answer, notify=notices.review_answered
        )

    # --- helpers -------------------------------------------------------------------------
    async def _decide(
        self, action: Action, actor: Actor, body: CommitteeDecision | SessionDecision
    ) -> ApplicationState:
        target = APPLICATION[action].target
        assert isinstance(target, ApplicationStage)
        previous = self.state.decision
        # A reserve file keeps the amounts it would get; only a label reserves them.
        amounts = (
            body.amounts if target in (ApplicationStage.LABELLED, ApplicationStage.RESERVE) else []
        )
        labelled = previous is not None and previous.outcome == ApplicationStage.LABELLED
        # The funds follow the decision: a revised label gives its reservation back first.
        moves = [(Movement.CANCELLED, None)] if labelled and previous.amounts else []
        if amounts and target == ApplicationStage.LABELLED:
            moves.append((Movement.RESERVED, per_year(amounts)))
        if moves:
            await move(self, actor, self.state.call_id, f"décision : {target.value}", *moves)
        self.state.decision = Decision(
            outcome=target,
            reason=body.reason,
            internal_note=body.internal_note,
            decided_by=actor.name,
            decided_at=workflow.now(),
            amounts=amounts,
        )
        # A revision says in the audit trail what it revised; the internal note stays in it.
        payload: dict = {"internal_note": body.internal_note} if body.internal_note else {}
        if amounts:
            payload |= {"amounts": amounts, "amounts_reason": body.amounts_reason}
        if isinstance(body, SessionDecision):
            self.state.decision.session_id = body.session_id
            payload |= {"session_id": body.session_id}
        if previous is not None:
            payload["revises"] = previous.outcome
        return await self.commit(actor, action, reason=body.reason, payload=payload)
