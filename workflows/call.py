"""CallWorkflow `call-{id}`: a call for projects, from draft through closure to its results."""

import asyncio
from collections.abc import Callable
from datetime import datetime, timedelta

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from activities.cases import Cases
    from activities.money import Money
    from activities.records import Records
    from domain import notices
    from domain.bodies import AssignmentDigest, DeadlineExtension
    from domain.ids import application_workflow_id
    from domain.models import (
        CLOCK,
        Actor,
        ApplicationRecord,
        ApplicationStart,
        ApplicationState,
        CallSpec,
        CallStart,
        CallState,
        DocumentRef,
        Fanout,
        Registration,
    )
    from domain.money import BudgetChange
    from domain.stages import Action, ApplicationStage, CallStage
    from workflows.application import (
        CLOSE_SUBMISSIONS,
        DEADLINE_EXTENDED,
        RESERVE_EXPIRED,
        RESULTS_PUBLISHED,
    )
    from workflows.refusals import invalid, not_allowed
    from workflows.transitions import (
        Case,
        audit_event,
        may,
        sleep_until,
        step,
        transition,
    )

FUNDS_FREED = "funds_freed"
FANOUT_CHUNK = 1000
FANOUT = dict(start_to_close_timeout=timedelta(minutes=10), heartbeat_timeout=timedelta(minutes=1))


@workflow.defn
class CallWorkflow(Case[CallState]):
    @workflow.init
    def __init__(self, start: CallStart) -> None:
        self.state = start.state
        self.registered = start.registered
        self.known = set(start.registered)
        self.registering = 0  # registrations accepted whose activities are still running

    @workflow.run
    async def run(self, start: CallStart) -> None:
        if not await self.created():
            return
        while self.state.stage != CallStage.ARCHIVED:
            if self._should_continue_as_new():
                await self.settled()
                workflow.continue_as_new(CallStart(state=self.state, registered=self.registered))
            stage = self.state.stage
            still = lambda: self.state.stage == stage and not self._should_continue_as_new()  # noqa: E731
            if stage == CallStage.SCHEDULED:
                if await sleep_until(lambda: self.state.spec.opens_at, still):
                    await self._open()
            elif stage == CallStage.OPEN:
                if await sleep_until(lambda: self.state.spec.deadline, still):
                    await self._close()
            elif stage == CallStage.RESULTS_PUBLISHED:
                await self._reserve_clock(still)
            else:
                await workflow.wait_condition(lambda: not still())
        await self.settled()

    # --- checks beyond the lifecycle table's rule (validator and handler alike) ------------
    def _check_create(self, actor: Actor, _: None) -> None:
        if self.state.seq:
            raise not_allowed("Cet appel existe déjà.", self.state.stage)

    def _check_publish(self, actor: Actor, _: None) -> None:
        if self.state.spec.deadline <= workflow.now():
            raise invalid("La date limite est déjà passée : prolongez-la avant de publier.")

    def _check_extension(self, actor: Actor, body: DeadlineExtension) -> None:
        if body.deadline <= self.state.spec.deadline:
            raise invalid("La nouvelle date limite doit être postérieure à l'actuelle.")
        if body.deadline <= workflow.now():
            raise invalid("La nouvelle date limite doit être dans le futur.")

    def _check_registration(self, actor: Actor, registration: Registration) -> None:
        if workflow.now() >= self.state.spec.deadline:
            raise not_allowed("La date limite de l'appel est passée.", self.state.stage)
        if registration.application_id in self.known:
            raise not_allowed("Cette candidature est déjà enregistrée.", self.state.stage)
        ids = [f.id for f in registration.files]
        if len(set(ids)) != len(ids):
            raise invalid("Le même fichier figure deux fois dans le dossier.")
        if sum(f.size for f in registration.files) > self.state.spec.max_application_bytes:
            raise invalid("Le dossier dépasse la taille permise.")

    # --- programme manager transitions ---------------------------------------------------
    @transition(Action.CREATE, _check_create)
    async def create(self, actor: Actor) -> CallState:
        return await self.commit(
            actor, Action.CREATE, payload=self.state.spec.model_dump(mode="json")
        )

    @transition(Action.PUBLISH, _check_publish)
    async def publish(self, actor: Actor) -> CallState:
        state = await self.commit(actor, Action.PUBLISH)
        if self.state.spec.opens_at <= workflow.now():  # opening time already past: open now
            state = await self.commit(CLOCK, Action.OPEN)
        return state

    @transition(Action.REVISE_CALL)
    async def revise_call(self, actor: Actor, spec: CallSpec) -> CallState:
        """A draft's whole spec again (title, dates, rules, grid, documents)."""
        self.state.spec = spec
        return await self.commit(actor, Action.REVISE_CALL, payload=spec.model_dump(mode="json"))

    @transition(Action.EXTEND_DEADLINE, _check_extension)
    async def extend_deadline(self, actor: Actor, body: DeadlineExtension) -> CallState:
        previous = self.state.spec.deadline
        self.state.spec.deadline = body.deadline
        state = await self.commit(
            actor,
            Action.EXTEND_DEADLINE,
            reason=body.reason,
            payload={"from": previous.isoformat(), "to": body.deadline.isoformat()},
        )
        await self._fan_out(self.registered, DEADLINE_EXTENDED, body.deadline)
        return state

    @transition(Action.START_EVALUATION)
    async def start_evaluation(self, actor: Actor) -> CallState:
        return await self.commit(actor, Action.START_EVALUATION)

    def _check_digest(self, actor: Actor, body: AssignmentDigest) -> None:
        strangers = {i.application_id for i in body.items} - self.known
        if strangers:
            raise invalid(f"Candidature(s) d'un autre appel : {', '.join(sorted(strangers))}.")

    @transition(Action.ANNOUNCE_ASSIGNMENTS, _check_digest)
    async def announce_assignments(self, actor: Actor, body: AssignmentDigest) -> CallState:
        """One message per evaluator listing the cases of a bulk assignment."""
        evaluators = sorted({i.evaluator for i in body.items})
        return await self.commit(
            actor,
            Action.ANNOUNCE_ASSIGNMENTS,
            payload={
                "evaluators": evaluators,
                "cases": len({i.application_id for i in body.items}),
            },
            notify=lambda state: notices.assignments_digest(state, body.items),
        )

    @transition(Action.PUBLISH_RESULTS)
    async def publish_results(self, actor: Actor) -> CallState:
        """Publish once the committee has decided every case; each applicant is told its result."""
        waiting: dict[str, int] = await step(Records.count_undecided, self.state.id)
        if waiting:
            who = " ; ".join(f"{n} attendent {party}" for party, n in waiting.items())
            raise not_allowed(
                f"{sum(waiting.values())} candidature(s) sans décision publiable : {who}.",
                self.state.stage,
            )
        state = await self.commit(actor, Action.PUBLISH_RESULTS)
        await self._fan_out(self.registered, RESULTS_PUBLISHED, None)
        return state

    @transition(Action.ARCHIVE)
    async def archive(self, actor: Actor) -> CallState:
        """Archived, the call keeps no reserve list: the files still on it are told."""
        closing = not self.state.reserve_closed
        self.state.reserve_closed = True
        state = await self.commit(actor, Action.ARCHIVE)
        if closing:
            await self._fan_out(self.registered, RESERVE_EXPIRED, None)
        return state

    # --- money -----------------------------------------------------------------------------
    def _check_budget(self, actor: Actor, body: BudgetChange) -> None:
        if self.state.budget is not None and not body.reason:
            raise invalid("Le budget est déjà fixé : indiquez le motif du changement.")
        codes = {c.code for c in self.state.spec.grid.criteria}
        if unknown := [c for c in body.tie_break if c not in codes]:
            raise invalid(f"Critère(s) inconnu(s) de la grille : {', '.join(unknown)}.")

    @transition(Action.SET_BUDGET, _check_budget)
    async def set_budget(self, actor: Actor, body: BudgetChange) -> CallState:
        """The envelopes are written first (refused below what is already reserved)."""
        budget = body.budget()
        await self.asked(Money.set_envelopes, self.state.id, budget)
        previous = self.state.budget
        self.state.budget = budget
        payload = budget.model_dump(mode="json")
        if previous is not None:
            payload["previous"] = previous.model_dump(mode="json")
        return await self.commit(actor, Action.SET_BUDGET, reason=body.reason, payload=payload)

    @workflow.signal(name=FUNDS_FREED)
    def funds_freed(self, case_id: str) -> None:
        """A laureate's funds came back (withdrawn, contract refused or unsigned): the next
        reserve file that fits is proposed. Told twice, nothing more happens."""
        if case_id not in self.state.freed:
            self.state.freed.append(case_id)

    def _freed_waiting(self) -> bool:
        return self.state.freed_handled < len(self.state.freed)

    def _reserve_until(self) -> datetime | None:
        budget = self.state.budget
        if budget is None or self.state.reserve_closed:
            return None
        return budget.reserve_until

    async def _reserve_clock(self, still: Callable[[], bool]) -> None:
        """After the results: a proposal for each laureate lost, then the list's closing."""
        if self._freed_waiting():
            await self._propose()
            return
        until = self._reserve_until()
        waiting = lambda: still() and not self._freed_waiting() and self._reserve_until() == until  # noqa: E731
        if until is None:
            await workflow.wait_condition(lambda: not waiting())
        elif await sleep_until(lambda: until, waiting):
            await self._close_reserve()

    async def _propose(self) -> None:
        async with self.lock:
            freed_by = self.state.freed[self.state.freed_handled]
            self.state.freed_handled += 1
            proposal = await step(Money.next_in_reserve, self.state.id, self.state.promotions)
            if proposal is None or not may(self.state.stage, Action.PROPOSE_PROMOTION):
                return
            self.state.promotions.append(proposal.application_id)
            await self.commit(
                CLOCK,
                Action.PROPOSE_PROMOTION,
                payload={
                    "application_id": proposal.application_id,
                    "amounts": proposal.amounts,
                    "freed_by": freed_by,
                },
            )

    async def _close_reserve(self) -> None:
        async with self.lock:
            if self.state.reserve_closed or not may(self.state.stage, Action.CLOSE_RESERVE):
                return
            self.state.reserve_closed = True
            await self.commit(CLOCK, Action.CLOSE_RESERVE)
        await self._fan_out(self.registered, RESERVE_EXPIRED, None)

    # --- registration of applications ----------------------------------------------------
    # Not under the lock: registrations run side by side (each writes its own case).
    @transition(Action.REGISTER_APPLICATION, _check_registration, exclusive=False)
    async def register_application(
        self, actor: Actor, registration: Registration
    ) -> ApplicationState:
        """Admit an application while the call is open; its own workflow takes over from here."""
        spec = self.state.spec
        now = workflow.now()
        application = ApplicationState(
            id=registration.application_id,
            call_id=self.state.id,
            call_title=spec.title,
            stage=ApplicationStage.RECEIVED,
            data=registration.data,
            deadline=spec.deadline,
            registered_at=now,
            files=[
                DocumentRef(**deposit.model_dump(), uploaded_by=actor.name, uploaded_at=now)
                for deposit in registration.files
            ],
            seq=1,
            updated_at=now,
        )
        self.registering += 1
        self.registered.append(application.id)
        self.known.add(application.id)
        try:
            event = audit_event(
                actor,
                Action.REGISTER,
                application.id,
                1,
                None,
                application.stage,
                payload={"call_id": self.state.id, "files": len(application.files)},
                workflow_id=application_workflow_id(application.id),
            )
            record = ApplicationRecord(
                state=application, event=event, notifications=notices.registered(application)
            )
            await step(Records.record_application, record)
            await step(
                Cases.start_application, ApplicationStart(state=application, rules=spec.rules())
            )
            if self.state.spec.deadline != application.deadline:  # extended meanwhile
                await self._fan_out([application.id], DEADLINE_EXTENDED, self.state.spec.deadline)
        finally:
            self.registering -= 1
        return application

    # --- clock -----------------------------------------------------------------------------
    async def _open(self) -> None:
        async with self.lock:
            if may(self.state.stage, Action.OPEN):
                await self.commit(CLOCK, Action.OPEN)

    async def _close(self) -> None:
        """Close at the deadline, then move every registered application to eligibility review."""
        async with self.lock:
            if self.state.stage != CallStage.OPEN or workflow.now() < self.state.spec.deadline:
                return  # extended while we waited for the lock
            self.state.stage = CallStage.CLOSED  # refuses registrations from now on
            await workflow.wait_condition(lambda: self.registering == 0)
            await self.commit(CLOCK, Action.CLOSE, source=CallStage.OPEN)
        await self._fan_out(self.registered, CLOSE_SUBMISSIONS, None)

    async def _fan_out(self, application_ids: list[str], signal: str, arg: datetime | None) -> None:
        ids = [application_workflow_id(i) for i in application_ids]
        await asyncio.gather(
            *(
                workflow.execute_activity_method(
                    Cases.fan_out,
                    Fanout(workflow_ids=ids[i : i + FANOUT_CHUNK], signal=signal, arg=arg),
                    **FANOUT,
                )
                for i in range(0, len(ids), FANOUT_CHUNK)
            )
        )

    def _should_continue_as_new(self) -> bool:
        return workflow.info().is_continue_as_new_suggested()
