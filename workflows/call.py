"""CallWorkflow `call-{id}`: a call for projects, from draft through closure to its results."""

import asyncio
from datetime import datetime, timedelta

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from activities.cases import Cases
    from activities.projection import Projection
    from domain import notices
    from domain.models import (
        CASE_VERSION,
        CLOCK,
        Actor,
        ApplicationRecord,
        ApplicationStart,
        ApplicationState,
        CallRecord,
        CallStart,
        DeadlineExtension,
        Fanout,
        Registration,
    )
    from domain.stages import CALL_RULES, Action, ApplicationStage, CallStage
    from workflows.application import CLOSE_SUBMISSIONS, DEADLINE_EXTENDED, RESULTS_PUBLISHED
    from workflows.transitions import (
        Steps,
        audit_event,
        commit,
        guard,
        invalid,
        not_allowed,
        sleep_until,
    )

FANOUT_CHUNK = 1000
FANOUT = dict(
    start_to_close_timeout=timedelta(minutes=10),
    heartbeat_timeout=timedelta(minutes=1),
)


def application_workflow_id(application_id: str) -> str:
    return f"application-{application_id}"


@workflow.defn
class CallWorkflow:
    @workflow.init
    def __init__(self, start: CallStart) -> None:
        self.state = start.state
        self.registered = start.registered
        self.known = set(start.registered)
        self.registering = 0  # registrations accepted whose activities are still running
        self.lock = asyncio.Lock()
        self.steps = Steps(start.version)

    @workflow.run
    async def run(self, start: CallStart) -> None:
        if self.state.seq == 0:
            # Started without its create update (a client that died mid-request): keep nothing.
            try:
                await workflow.wait_condition(
                    lambda: self.state.seq > 0, timeout=timedelta(hours=1)
                )
            except TimeoutError:
                return
        while self.state.stage != CallStage.ARCHIVED:
            if self._should_continue_as_new():
                await self.steps.handlers_and_writes_done()
                workflow.continue_as_new(
                    CallStart(
                        state=self.state, registered=self.registered, version=self.steps.version
                    )
                )
            stage = self.state.stage
            still = lambda: self.state.stage == stage and not self._should_continue_as_new()  # noqa: E731
            if stage == CallStage.SCHEDULED:
                if await sleep_until(lambda: self.state.spec.opens_at, still):
                    await self._clock(Action.OPEN)
            elif stage == CallStage.OPEN:
                if await sleep_until(lambda: self.state.spec.deadline, still):
                    await self._close()
            else:
                await workflow.wait_condition(lambda: not still())
        await self.steps.handlers_and_writes_done()

    # --- programme manager transitions ---------------------------------------------------
    @workflow.update
    async def create(self, actor: Actor) -> list[CallRecord]:
        async with self.lock:
            self._check_create(actor)
            return await self._commit(
                actor, Action.CREATE, payload=self.state.spec.model_dump(mode="json")
            )

    @create.validator
    def _create(self, actor: Actor) -> None:
        self._check_create(actor)

    @workflow.update
    async def publish(self, actor: Actor) -> list[CallRecord]:
        async with self.lock:
            self._check_publish(actor)
            records = await self._commit(actor, Action.PUBLISH)
        if self.state.spec.opens_at <= workflow.now():  # opening time already past: open now
            records = await self._clock(Action.OPEN) or records
        return records

    @publish.validator
    def _publish(self, actor: Actor) -> None:
        self._check_publish(actor)

    @workflow.update
    async def extend_deadline(self, actor: Actor, body: DeadlineExtension) -> list[CallRecord]:
        async with self.lock:
            self._check_extension(actor, body)
            previous = self.state.spec.deadline
            self.state.spec.deadline = body.deadline
            records = await self._commit(
                actor,
                Action.EXTEND_DEADLINE,
                reason=body.reason,
                payload={"from": previous.isoformat(), "to": body.deadline.isoformat()},
            )
        await self._fan_out(self.registered, DEADLINE_EXTENDED, body.deadline)
        return records

    @extend_deadline.validator
    def _extend_deadline(self, actor: Actor, body: DeadlineExtension) -> None:
        self._check_extension(actor, body)

    @workflow.update
    async def start_evaluation(self, actor: Actor) -> list[CallRecord]:
        async with self.lock:
            guard(self.state.stage, Action.START_EVALUATION, actor)
            return await self._commit(actor, Action.START_EVALUATION)

    @start_evaluation.validator
    def _start_evaluation(self, actor: Actor) -> None:
        guard(self.state.stage, Action.START_EVALUATION, actor)

    @workflow.update
    async def publish_results(self, actor: Actor) -> list[CallRecord]:
        """Publish once the committee has decided every case; each applicant is told its result."""
        async with self.lock:
            guard(self.state.stage, Action.PUBLISH_RESULTS, actor)
            waiting = await self.steps.step(Projection.count_undecided, self.state.id)
            if waiting:
                raise not_allowed(
                    f"{waiting} candidature(s) attendent encore une décision du comité.",
                    self.state.stage,
                )
            records = await self._commit(actor, Action.PUBLISH_RESULTS)
        await self._fan_out(self.registered, RESULTS_PUBLISHED, None)
        return records

    @publish_results.validator
    def _publish_results(self, actor: Actor) -> None:
        guard(self.state.stage, Action.PUBLISH_RESULTS, actor)

    @workflow.update
    async def archive(self, actor: Actor) -> list[CallRecord]:
        async with self.lock:
            guard(self.state.stage, Action.ARCHIVE, actor)
            return await self._commit(actor, Action.ARCHIVE)

    @archive.validator
    def _archive(self, actor: Actor) -> None:
        guard(self.state.stage, Action.ARCHIVE, actor)

    # --- registration of applications ----------------------------------------------------
    @workflow.update
    async def register_application(
        self, actor: Actor, registration: Registration
    ) -> ApplicationState:
        """Admit an application while the call is open; its own workflow takes over from here."""
        self._check_registration(actor, registration)
        spec = self.state.spec
        now = workflow.now()
        application = ApplicationState(
            id=registration.application_id,
            call_id=self.state.id,
            stage=ApplicationStage.RECEIVED,
            data=registration.data,
            deadline=spec.deadline,
            registered_at=now,
            seq=1,
            updated_at=now,
        )
        workflow_id = application_workflow_id(application.id)
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
                payload={"call_id": self.state.id},
                workflow_id=workflow_id,
            )
            record = ApplicationRecord(
                state=application, event=event, notifications=notices.registered(application)
            )
            await self.steps.step(Projection.record_application, record)
            start = ApplicationStart(state=application, rules=spec.rules(), version=CASE_VERSION)
            await self.steps.step(Cases.start_application, start)
            if self.state.spec.deadline != application.deadline:  # extended meanwhile
                await self._fan_out([application.id], DEADLINE_EXTENDED, self.state.spec.deadline)
        finally:
            self.registering -= 1
        return application

    @register_application.validator
    def _register_application(self, actor: Actor, registration: Registration) -> None:
        self._check_registration(actor, registration)

    # --- checks ----------------------------------------------------------------------------
    def _check_create(self, actor: Actor) -> None:
        if actor.role not in CALL_RULES[Action.CREATE].roles:
            guard(self.state.stage, Action.CREATE, actor)  # raises the 403
        if self.state.seq:
            raise not_allowed("Cet appel existe déjà.", self.state.stage)

    def _check_publish(self, actor: Actor) -> None:
        guard(self.state.stage, Action.PUBLISH, actor)
        if self.state.spec.deadline <= workflow.now():
            raise invalid("La date limite est déjà passée : prolongez-la avant de publier.")

    def _check_extension(self, actor: Actor, body: DeadlineExtension) -> None:
        guard(self.state.stage, Action.EXTEND_DEADLINE, actor)
        if body.deadline <= self.state.spec.deadline:
            raise invalid("La nouvelle date limite doit être postérieure à l'actuelle.")
        if body.deadline <= workflow.now():
            raise invalid("La nouvelle date limite doit être dans le futur.")

    def _check_registration(self, actor: Actor, registration: Registration) -> None:
        guard(self.state.stage, Action.REGISTER_APPLICATION, actor)
        if workflow.now() >= self.state.spec.deadline:
            raise not_allowed("La date limite de l'appel est passée.", self.state.stage)
        if registration.application_id in self.known:
            raise not_allowed("Cette candidature est déjà enregistrée.", self.state.stage)

    # --- clock -----------------------------------------------------------------------------
    async def _clock(self, action: Action) -> list[CallRecord] | None:
        async with self.lock:
            if self.state.stage in CALL_RULES[action].sources:
                return await self._commit(CLOCK, action)
        return None

    async def _close(self) -> None:
        """Close at the deadline, then move every registered application to eligibility review."""
        async with self.lock:
            if self.state.stage != CallStage.OPEN or workflow.now() < self.state.spec.deadline:
                return  # extended while we waited for the lock
            self.state.stage = CallStage.CLOSED  # refuses registrations from now on
            await workflow.wait_condition(lambda: self.registering == 0)
            await self._commit(CLOCK, Action.CLOSE, source=CallStage.OPEN)
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

    async def _commit(
        self,
        actor: Actor,
        action: Action,
        reason: str | None = None,
        payload: dict | None = None,
        source: CallStage | None = None,
    ) -> list[CallRecord]:
        """Apply the action's target stage; answer the records made so far (see `commit`)."""
        source = source or (None if action == Action.CREATE else self.state.stage)
        return await commit(self.state, self.steps, actor, action, source, reason, payload)
