"""Record workflow histories for the replay tests (tests/histories/*.json).

`.venv/bin/python scripts/record_histories.py baseline` records every path once: a call with an
extension, each application outcome (complements expired, eligible, withdrawn, labelled,
re-evaluation, final rejection), a support case's first and last year. See README, "Replay
tests": re-recording an unchanged path gives identical bytes; a new path is a new file; after
the first deployment a change goes patched → deprecate_patch → removal, with a recorded history
for each step.

`--only NAME` records one scenario (eligibility, evaluation, support); `--out DIR` writes
elsewhere. About 15 s for all three on 2 cores.

What makes a recording repeatable, byte for byte:
- every id is fixed (calls, applications, clusters, documents and their SHA-256, update ids as
  Idempotency-Keys, request fingerprints), and so are the task queue and the identity of the
  client and of the worker;
- each scenario runs on a time-skipping server of its own whose clock starts at START, so a
  path added or changed leaves the other scenarios' files as they were;
- before each action the script waits until no case has a workflow task or an activity in
  flight, then moves the clock to the next whole minute; the worker takes a case's activities
  one at a time, in the order they were scheduled (InTurn): the order of events is the
  script's, never a race between two notices, or a notice and the next update;
- the server's clock still runs in real time while it works (milliseconds per action), so the
  saved history is normalised: every time is cut to its minute (event times, the workflow's own
  values in payloads, local activities' markers), a timer's duration follows from its start and
  fire times so cut, run ids are named after their workflow, the worker's build checksum is
  fixed, each workflow task's history size is recounted, keys are sorted. Replay reads
  workflow.now() from the event times, so the workflow sees the same minutes as the values in
  its payloads; tests/test_replay.py replays each file.

The check: `record_histories.py --check` records everything twice into two temporary folders and
compares each file byte for byte (`--out /tmp/a`, then `--out /tmp/b` and `cmp` does the same by
hand); tests/test_histories_stable.py does it for one scenario on every run of the suite.
"""

import argparse
import asyncio
import hashlib
import json
import re
import sys
import tempfile
import uuid
from collections import Counter
from collections.abc import Awaitable, Callable, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from google.protobuf import json_format  # noqa: E402
from google.protobuf.descriptor import FieldDescriptor  # noqa: E402
from google.protobuf.message import Message  # noqa: E402
from sqlmodel import Session  # noqa: E402
from temporalio import activity  # noqa: E402
from temporalio.api.enums.v1 import EventType  # noqa: E402
from temporalio.api.history.v1 import History, HistoryEvent  # noqa: E402
from temporalio.client import Client, WorkflowHandle, WorkflowHistory  # noqa: E402
from temporalio.client import Interceptor as ClientInterceptor  # noqa: E402
from temporalio.contrib.pydantic import pydantic_data_converter  # noqa: E402
from temporalio.service import RPCError, RPCStatusCode  # noqa: E402
from temporalio.testing import WorkflowEnvironment  # noqa: E402
from temporalio.worker import (  # noqa: E402
    ActivityInboundInterceptor,
    ExecuteActivityInput,
    Interceptor,
)

from activities.mailcatcher import Catcher, relay_to, start_catcher  # noqa: E402
from domain import bodies, models, session  # noqa: E402
from domain.ids import (  # noqa: E402
    application_workflow_id,
    call_workflow_id,
    cluster_workflow_id,
    session_workflow_id,
)
from domain.money import BudgetChange, PaymentRecord, Promotion, Release  # noqa: E402
from domain.stages import CallStage, Role, SessionStage  # noqa: E402
from domain.support import (  # noqa: E402
    REPORT_FILES,
    AnnualReport,
    ContractTerms,
    KPIs,
    ProbationRenewal,
    Reason,
    Renewal,
    ReportedKPIs,
)
from projection.database import make_engine, migrate  # noqa: E402
from projection.storage import Storage  # noqa: E402
from settings import bundled_binary  # noqa: E402
from web.identity import add_user  # noqa: E402
from worker import build_worker  # noqa: E402
from workflows.application import ApplicationWorkflow as App  # noqa: E402
from workflows.call import CallWorkflow  # noqa: E402
from workflows.cluster import ClusterWorkflow as Cluster  # noqa: E402
from workflows.session import SessionWorkflow as Sitting  # noqa: E402

OUT = Path(__file__).resolve().parent.parent / "tests" / "histories"
# The recordings' clock starts here (a Monday, 09:00 in Rabat); moving it changes every file.
START = datetime(2035, 1, 8, 8, 0, tzinfo=UTC)
MINUTE = timedelta(minutes=1)
QUEUE = IDENTITY = "record-histories"  # the task queue; the client's and the worker's identity
ADMIN = models.Actor(name="Amina", role=Role.ADMIN)
OPERATOR = models.Actor(name="Omar", role=Role.OPERATOR)
COMMITTEE = models.Actor(name="Karim", role=Role.COMMITTEE)
EVALUATORS = [models.Actor(name=n, role=Role.EVALUATOR) for n in ("Eve", "Driss", "Nadia")]
APPLICATION = models.ApplicationInput(
    cluster_name="Cluster enregistré",
    sector="TIC",
    members=[{"name": "Entreprise", "type": "company"}, {"name": "École", "type": "training"}],
    contact={"name": "Contact", "email": "contact@cluster.ma"},
)


def fixed_id(name: str) -> str:
    """A case's or a document's id, named (as the API derives one from an Idempotency-Key)."""
    return uuid.uuid5(uuid.NAMESPACE_URL, f"history:{name}").hex


def minute(moment: datetime) -> datetime:
    return moment.replace(second=0, microsecond=0)


def sheet(mark: float) -> models.ScoreSheet:
    return models.ScoreSheet(
        scores=[
            {"criterion": c.code, "score": mark, "comment": "ok"}
            for c in models.DEFAULT_GRID.criteria
        ]
    )


class Scenario:
    """Runs the cases one action at a time: each on an idle engine, at a minute of its own."""

    def __init__(self, env: WorkflowEnvironment, client: Client) -> None:
        self.env, self.client = env, client
        self.cases: list[str] = []  # every workflow the scenario may have set off
        self.updates: Counter[str] = Counter()

    async def now(self) -> datetime:
        return minute(await self.env.get_current_time())

    async def settle(self) -> None:
        """Wait (in real time) until no case has a workflow task or an activity in flight."""
        idle = 0
        while idle < 2:  # twice in a row: nothing was about to start either
            busy = False
            for workflow_id in self.cases:
                try:
                    history = await self.client.get_workflow_handle(workflow_id).fetch_history()
                except RPCError as error:
                    if error.status != RPCStatusCode.NOT_FOUND:
                        raise
                    continue  # not started (a cluster only its label starts)
                if in_flight(history.events):
                    busy = True
                    break
            idle = 0 if busy else idle + 1
            await asyncio.sleep(0.01)

    async def next_minute(self) -> None:
        """The next action happens at the next whole minute, on an idle engine."""
        await self.settle()
        now = await self.env.get_current_time()
        await self.env.sleep(minute(now) + MINUTE - now)
        await self.settle()

    async def sleep(self, delta: timedelta) -> None:
        await self.settle()
        await self.env.sleep(delta)
        await self.settle()

    async def update(
        self, handle: WorkflowHandle, update: Callable, actor: models.Actor, body: object = None
    ) -> Any:
        """`update` as the API sends it: a named update id (its Idempotency-Key) and the
        fingerprint of the request in the actor."""
        await self.next_minute()
        action = update.__name__
        self.updates[handle.id] += 1
        key = f"{handle.id}-{self.updates[handle.id]}"
        payload = body.model_dump_json() if body is not None else ""  # type: ignore[attr-defined]
        parts = ["POST", f"/{handle.id}/{action}", actor.name, actor.role, payload]
        digest = hashlib.sha256(json.dumps(parts).encode()).hexdigest()[:32]
        actor = actor.model_copy(update={"request": digest})
        args = [actor] if body is None else [actor, body]
        result = await handle.execute_update(update, args=args, id=f"{action}:{key}")
        await self.settle()
        return result

    async def deposit(self, handle: WorkflowHandle, update: Callable, kind: str) -> str:
        """A file's reference, as the API sends it once the bytes are stored (here, none are)."""
        number = self.updates[handle.id] + 1
        body = models.Deposit(
            id=fixed_id(f"{handle.id}:{kind}:{number}"),
            kind=kind,
            filename=f"{kind}.pdf",
            content_type="application/pdf",
            size=1024,
            sha256=hashlib.sha256(f"{kind} {number}".encode()).hexdigest(),
        )
        await self.update(handle, update, OPERATOR, body)
        return body.id

    async def open_call(self, name: str, **rules: object) -> WorkflowHandle:
        await self.next_minute()
        now = await self.now()
        spec = models.CallSpec(
            year=now.year,
            title="Historique",
            opens_at=now + timedelta(days=1),
            deadline=now + timedelta(days=20),
            **rules,
        )
        state = models.CallState(
            id=fixed_id(f"call:{name}")[:12], stage=CallStage.DRAFT, spec=spec, updated_at=now
        )
        self.cases.append(call_workflow_id(state.id))
        call = await self.client.start_workflow(
            CallWorkflow.run,
            models.CallStart(state=state),
            id=call_workflow_id(state.id),
            task_queue=QUEUE,
        )
        await self.update(call, CallWorkflow.create, ADMIN)
        await self.update(call, CallWorkflow.publish, ADMIN)
        await self.sleep(timedelta(days=2))
        return call

    async def register(
        self, call: WorkflowHandle, count: int, files: tuple[str, ...] = ()
    ) -> list[WorkflowHandle]:
        """`count` applications, each with a file of each kind in `files`."""
        handles = []
        for number in range(1, count + 1):
            application_id = fixed_id(f"{call.id}:application:{number}")[:12]
            registration = models.Registration(application_id=application_id, data=APPLICATION)
            workflow_id = application_workflow_id(application_id)
            self.cases += [workflow_id, cluster_workflow_id(application_id)]
            await self.update(call, CallWorkflow.register_application, OPERATOR, registration)
            handle = self.client.get_workflow_handle_for(App.run, workflow_id)
            for kind in files:
                await self.deposit(handle, App.add_document, kind)
            handles.append(handle)
        return handles


def in_flight(events: Sequence[HistoryEvent], activity_id: str | None = None) -> bool:
    """Whether a workflow task or an activity is scheduled and not yet closed; with
    `activity_id`, other than that activity and those scheduled after it."""
    opened: set[int] = set()
    later = False  # past the scheduling of `activity_id`
    for event in events:
        if event.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED:
            later = (
                later or event.activity_task_scheduled_event_attributes.activity_id == activity_id
            )
            if not later:
                opened.add(event.event_id)
        elif event.event_type == EventType.EVENT_TYPE_WORKFLOW_TASK_SCHEDULED:
            opened.add(event.event_id)
        elif event.event_type in CLOSED:
            attributes = getattr(event, event.WhichOneof("attributes"))
            opened.discard(attributes.scheduled_event_id)
    return bool(opened)


CLOSED = {
    EventType.EVENT_TYPE_WORKFLOW_TASK_COMPLETED,
    EventType.EVENT_TYPE_WORKFLOW_TASK_FAILED,
    EventType.EVENT_TYPE_WORKFLOW_TASK_TIMED_OUT,
    EventType.EVENT_TYPE_ACTIVITY_TASK_COMPLETED,
    EventType.EVENT_TYPE_ACTIVITY_TASK_FAILED,
    EventType.EVENT_TYPE_ACTIVITY_TASK_TIMED_OUT,
    EventType.EVENT_TYPE_ACTIVITY_TASK_CANCELED,
}


class InTurn(ClientInterceptor, Interceptor):
    """The worker's activities, each in its turn: when its workflow has no workflow task in
    flight and every activity it scheduled earlier has ended. Two notices a transition sends
    at once then complete in the order they were scheduled, each seen by its own workflow
    task, instead of in whichever order the relay answered. (A client's interceptor that is
    also a worker's applies to the workers of that client: worker.build_worker's, as is.)"""

    client: Client

    def intercept_activity(self, next: ActivityInboundInterceptor) -> ActivityInboundInterceptor:
        return _InTurn(next, self)


class _InTurn(ActivityInboundInterceptor):
    def __init__(self, next: ActivityInboundInterceptor, turns: InTurn) -> None:
        super().__init__(next)
        self.turns = turns

    async def execute_activity(self, input: ExecuteActivityInput) -> Any:
        info = activity.info()
        if not info.is_local:  # a local one runs inside its workflow task
            client = self.turns.client
            handle = client.get_workflow_handle(info.workflow_id, run_id=info.workflow_run_id)
            while in_flight((await handle.fetch_history()).events, info.activity_id):
                await asyncio.sleep(0.005)
        return await super().execute_activity(input)


Recorded = dict[str, WorkflowHandle]
Run = Callable[[Scenario], Awaitable[Recorded]]


async def eligibility(s: Scenario) -> Recorded:
    call = await s.open_call("eligibility")
    apps = await s.register(call, 3, files=tuple(models.DEFAULT_DOCUMENTS[:2]))
    extension = bodies.DeadlineExtension(deadline=await s.now() + timedelta(days=23))
    await s.update(call, CallWorkflow.extend_deadline, ADMIN, extension)
    await s.update(apps[0], App.amend, OPERATOR, models.Amendment(legal_form="GIE"))
    await s.update(apps[2], App.withdraw, OPERATOR, bodies.Withdrawal(reason="Projet reporté"))
    await s.sleep(timedelta(days=24))  # past the deadline: the closure and the pre-checks
    for app in apps[:2]:
        await s.update(
            app, App.request_complements, OPERATOR, bodies.ComplementsAsk(items=["budget"])
        )
    answer = [await s.deposit(apps[1], App.add_document, k) for k in models.DEFAULT_DOCUMENTS[2:]]
    reply = bodies.ComplementsReply(files=answer)
    await s.update(apps[1], App.submit_complements, OPERATOR, reply)
    await s.update(apps[1], App.mark_eligible, OPERATOR, bodies.EligibleDecision())
    await s.sleep(timedelta(days=15))  # the first one's complements expire
    await apps[0].result()
    return {"call": call, "expired": apps[0], "eligible": apps[1], "withdrawn": apps[2]}


async def evaluation(s: Scenario) -> Recorded:
    call = await s.open_call("evaluation", evaluators_per_application=2)
    labelled, reviewed, final = apps = await s.register(
        call, 3, files=tuple(models.DEFAULT_DOCUMENTS)
    )
    await s.sleep(timedelta(days=19))
    for app in apps:
        await s.update(app, App.mark_eligible, OPERATOR, bodies.EligibleDecision())
    await s.update(call, CallWorkflow.start_evaluation, ADMIN)
    eve, driss, nadia = EVALUATORS
    for app in apps:
        assignment = bodies.EvaluatorAssignment(evaluators=[eve.name, driss.name])
        await s.update(app, App.assign_evaluators, ADMIN, assignment)
    await s.update(labelled, App.declare_interest, driss, bodies.InterestDeclaration(conflict=True))
    assignment = bodies.EvaluatorAssignment(evaluators=[nadia.name])
    await s.update(labelled, App.assign_evaluators, ADMIN, assignment)
    marks = {labelled: (eve, nadia, 4.5), reviewed: (eve, driss, 3.5), final: (eve, driss, 2)}
    for app, (first, second, mark) in marks.items():
        for evaluator in (first, second):
            declaration = bodies.InterestDeclaration(conflict=False)
            await s.update(app, App.declare_interest, evaluator, declaration)
            if app is not final or evaluator is first:
                await s.update(app, App.submit_scores, evaluator, sheet(mark))
    await s.sleep(timedelta(days=22))  # reminders, then the late evaluation is flagged
    await s.update(final, App.submit_scores, driss, sheet(2))
    await s.update(labelled, App.label, COMMITTEE, bodies.CommitteeDecision(reason="Premier"))
    for app in (reviewed, final):
        decision = bodies.CommitteeDecision(reason="Non retenu")
        await s.update(app, App.reject, COMMITTEE, decision)
    await s.update(call, CallWorkflow.publish_results, COMMITTEE)
    await s.update(reviewed, App.request_review, OPERATOR, bodies.ReviewRequest(reason="Erreur"))
    answer = bodies.ReviewAnswer(answer="Accordé")
    await s.update(reviewed, App.order_re_evaluation, COMMITTEE, answer)
    await s.sleep(timedelta(days=50))  # the redress window: 30 working days
    await final.result()
    await labelled.result()
    return {
        "results-call": call,
        "labelled": labelled,
        "re-evaluation": reviewed,
        "rejection-final": final,
    }


async def support(s: Scenario) -> Recorded:
    await s.next_minute()
    now = await s.now()
    start = models.ClusterStart(
        cluster_id=fixed_id("cluster:support")[:12],
        application_id="history",
        call_id="history",
        cluster_name="Cluster historique",
        sector="TIC",
        labelled_at=now,
        max_support_years=3,
        contact_email="direction@cluster-historique.ma",
    )
    s.cases.append(cluster_workflow_id(start.cluster_id))
    first = await s.client.start_workflow(
        Cluster.run,
        args=[start, None],
        id=cluster_workflow_id(start.cluster_id),
        task_queue=QUEUE,
    )
    terms = ContractTerms(
        start_at=now, planned_amounts=[1e6, 9e5, 8e5], kpi_targets=KPIs(patents=1)
    )
    await s.update(first, Cluster.sign_contract, ADMIN, terms)
    latest = s.client.get_workflow_handle(first.id)

    async def report() -> AnnualReport:
        files = {
            name: await s.deposit(latest, Cluster.add_cluster_document, kind)
            for name, kind in REPORT_FILES.items()
        }
        return AnnualReport(
            **files, kpi_actuals=ReportedKPIs(**KPIs().model_dump()), next_year_plan="Plan"
        )

    await s.sleep(timedelta(days=370))  # year 1's report is late: reminders, escalation
    await s.update(latest, Cluster.record_report, OPERATOR, await report())
    probation = ProbationRenewal(conditions="Gouvernance", review_at=now + timedelta(days=500))
    await s.update(latest, Cluster.renew_on_probation, ADMIN, probation)
    await s.sleep(timedelta(days=340))
    await s.update(latest, Cluster.record_report, OPERATOR, await report())
    await s.update(latest, Cluster.renew, ADMIN, Renewal())
    await s.sleep(timedelta(days=400))  # the last year ends support by itself
    await latest.result()
    first_year = s.client.get_workflow_handle(first.id, run_id=first.first_execution_run_id)
    return {"support-first-year": first_year, "support-last-year": latest}


SECRETARY = models.Actor(name="Salma", role=Role.COMMITTEE)
MEMBERS = [COMMITTEE, SECRETARY, models.Actor(name="Hassan", role=Role.COMMITTEE)]


async def committee(s: Scenario) -> Recorded:
    """A session decides a call's three files: convened (its pack built), the quorum reached,
    a member withdrawing, three outcomes, the PV built, a signed scan deposited."""
    call = await s.open_call("committee", evaluators_per_application=1)
    apps = await s.register(call, 3, files=tuple(models.DEFAULT_DOCUMENTS))
    await s.sleep(timedelta(days=19))
    eve = EVALUATORS[0]
    for app, mark in zip(apps, (4.5, 3.5, 2), strict=True):
        await s.update(app, App.mark_eligible, OPERATOR, bodies.EligibleDecision())
        await s.update(
            app, App.assign_evaluators, ADMIN, bodies.EvaluatorAssignment(evaluators=[eve.name])
        )
        await s.update(app, App.declare_interest, eve, bodies.InterestDeclaration(conflict=False))
        await s.update(app, App.submit_scores, eve, sheet(mark))
    await s.update(call, CallWorkflow.start_evaluation, ADMIN)
    now = await s.now()
    spec = session.SessionSpec(
        title="Séance",
        call_ids=[call.id.removeprefix("call-")],
        meets_at=now + timedelta(days=7),
        members=[
            session.SessionMember(name=m.name, function=f)
            for m, f in zip(MEMBERS, session.Function, strict=True)
        ],
    )
    state = session.SessionState(
        id=fixed_id("session:committee")[:12], stage=SessionStage.DRAFT, spec=spec, updated_at=now
    )
    sitting = await s.client.start_workflow(
        Sitting.run,
        session.SessionStart(state=state),
        id=session_workflow_id(state.id),
        task_queue=QUEUE,
    )
    s.cases.append(sitting.id)
    await s.update(sitting, Sitting.create_session, ADMIN)
    await s.update(sitting, Sitting.convene, ADMIN)
    present = session.Attendance(present=[m.name for m in MEMBERS])
    await s.update(sitting, Sitting.record_attendance, SECRETARY, present)
    await s.update(sitting, Sitting.open_session, SECRETARY)
    for app, outcome in zip(apps, session.OUTCOMES, strict=True):
        application_id = app.id.removeprefix("application-")
        withdrawn = ["Hassan"] if outcome == models.ApplicationStage.RESERVE else []
        opening = session.ItemOpening(application_id=application_id, withdrawn=withdrawn)
        await s.update(sitting, Sitting.open_item, SECRETARY, opening)
        decision = session.ItemDecision(
            application_id=application_id,
            outcome=outcome,
            votes_for=3 - len(withdrawn),
            reason_codes=["seuils_atteints"],
        )
        await s.update(sitting, Sitting.decide_item, SECRETARY, decision)
    await s.update(sitting, Sitting.close_session, COMMITTEE)
    scan = session.ScanDeposit(sha256=hashlib.sha256(b"PV signe").hexdigest())
    await s.update(sitting, Sitting.deposit_signed_pv, ADMIN, scan)
    await s.update(call, CallWorkflow.publish_results, ADMIN)
    await s.sleep(timedelta(days=1))
    return {"committee-call": call, "session": sitting, "session-labelled": apps[0]}


FINANCE = [models.Actor(name=n, role=Role.FINANCE) for n in ("Fatima", "Rachid")]


async def money(s: Scenario) -> Recorded:
    """A call's budget funds one of two files: the laureate withdraws, the call proposes the
    reserve file, the admin retains it; its contract signed, its first tranche released by
    one person and paid by another."""
    call = await s.open_call("money", evaluators_per_application=1)
    laureate, reserve = apps = await s.register(call, 2, files=tuple(models.DEFAULT_DOCUMENTS))
    budget = BudgetChange(first_year=START.year + 1, envelopes=[1e6, 1e6])
    await s.update(call, CallWorkflow.set_budget, ADMIN, budget)
    await s.sleep(timedelta(days=19))
    eve = EVALUATORS[0]
    for app, mark in zip(apps, (4.5, 4), strict=True):
        await s.update(app, App.mark_eligible, OPERATOR, bodies.EligibleDecision())
        await s.update(
            app, App.assign_evaluators, ADMIN, bodies.EvaluatorAssignment(evaluators=[eve.name])
        )
        await s.update(app, App.declare_interest, eve, bodies.InterestDeclaration(conflict=False))
        await s.update(app, App.submit_scores, eve, sheet(mark))
    await s.update(call, CallWorkflow.start_evaluation, ADMIN)
    granted = bodies.CommitteeDecision(reason="Retenu", amounts=[1e6, 8e5])
    await s.update(laureate, App.label, COMMITTEE, granted)
    waiting = bodies.CommitteeDecision(reason="En attente", amounts=[9e5, 9e5])
    await s.update(reserve, App.put_on_reserve, COMMITTEE, waiting)
    await s.update(call, CallWorkflow.publish_results, ADMIN)
    lost = s.client.get_workflow_handle(cluster_workflow_id(laureate.id.split("-", 1)[1]))
    await s.update(lost, Cluster.renounce, ADMIN, Reason(reason="Le bureau renonce"))
    await s.update(reserve, App.promote, ADMIN, Promotion(amounts=[9e5, 9e5], reason="Retenu"))
    cluster = s.client.get_workflow_handle(cluster_workflow_id(reserve.id.split("-", 1)[1]))
    now = await s.now()
    terms = ContractTerms(start_at=now, planned_amounts=[9e5, 9e5], kpi_targets=KPIs())
    await s.update(cluster, Cluster.sign_contract, ADMIN, terms)
    release = Release(tranche="1-1", budget_line="2.1.3", commitment_number="ENG-1")
    await s.update(cluster, Cluster.release_tranche, FINANCE[0], release)
    paid = PaymentRecord(tranche="1-1", payment_order="OP-1", bank_reference="VIR-1")
    await s.update(cluster, Cluster.pay_tranche, FINANCE[1], paid)
    return {"money-call": call, "money-promoted": reserve, "money-tranches": cluster}


SCENARIOS: list[Run] = [eligibility, evaluation, support, committee, money]


# --- normalisation of the saved history ---------------------------------------------------
# A time inside a payload (pydantic's ISO format) and a local activity's marker times.
ISO_TIME = re.compile(rb'"(\d{4}-\d\d-\d\dT\d\d:\d\d)(?::\d\d(?:\.\d+)?)?(Z|[+-]\d\d:\d\d)"')
MARKER_TIME = re.compile(
    rb'"(complete_time|original_schedule_time)":\{"seconds":(\d+),"nanos":\d+\}'
)


class Normaliser:
    """Cuts a recorded history's times to the minute and names its run ids; one for all the
    histories of a recording, so that a run id is named alike in each file that holds it."""

    def __init__(self) -> None:
        self.run_ids: dict[str, str] = {}
        self.runs: Counter[str] = Counter()

    def history(self, workflow_id: str, history: WorkflowHistory) -> str:
        events = list(history.events)
        for event in events:
            if event.HasField("timer_started_event_attributes"):
                timer = event.timer_started_event_attributes
                start = event.event_time.ToDatetime(UTC)
                fire = start + timer.start_to_fire_timeout.ToTimedelta()
                timer.start_to_fire_timeout.FromTimedelta(minute(fire) - minute(start))
            if event.HasField("workflow_task_completed_event_attributes"):
                completed = event.workflow_task_completed_event_attributes
                if completed.binary_checksum:
                    completed.binary_checksum = IDENTITY  # else a hash of the worker's code
                flags = completed.sdk_metadata
                for used in (flags.core_used_flags, flags.lang_used_flags):
                    used[:] = sorted(used)  # a set, in no fixed order
            self._message(event, workflow_id)
        size = 0  # each workflow task's history size, as recounted from the normalised events
        for event in events:
            if event.HasField("workflow_task_started_event_attributes"):
                event.workflow_task_started_event_attributes.history_size_bytes = size
            size += event.ByteSize()
        # As WorkflowHistory.to_json, with the keys sorted: a map (a marker's details) is
        # written in no fixed order otherwise.
        return json_format.MessageToJson(History(events=events), sort_keys=True) + "\n"

    def _message(self, message: Message, workflow_id: str) -> None:
        for field, value in message.ListFields():
            if field.type == FieldDescriptor.TYPE_STRING and field.name.endswith("run_id"):
                setattr(message, field.name, self._run_id(workflow_id, value))
            if field.type != FieldDescriptor.TYPE_MESSAGE:
                continue
            if field.message_type.GetOptions().map_entry:
                entry = field.message_type.fields_by_name["value"]
                items = list(value.values()) if entry.type == FieldDescriptor.TYPE_MESSAGE else []
            else:
                items = list(value) if field.is_repeated else [value]
            for item in items:
                name = item.DESCRIPTOR.full_name
                if name == "google.protobuf.Timestamp":
                    item.FromDatetime(minute(item.ToDatetime(UTC)))
                elif name == "temporal.api.common.v1.Payload":
                    if item.metadata.get("encoding") == b"json/plain":
                        item.data = self._payload(item.data)
                else:
                    self._message(item, workflow_id)

    def _run_id(self, workflow_id: str, run_id: str) -> str:
        if run_id not in self.run_ids:
            self.runs[workflow_id] += 1
            name = f"history:{workflow_id}:run {self.runs[workflow_id]}"
            self.run_ids[run_id] = str(uuid.uuid5(uuid.NAMESPACE_URL, name))
        return self.run_ids[run_id]

    @staticmethod
    def _payload(data: bytes) -> bytes:
        data = ISO_TIME.sub(rb'"\1:00\2"', data)
        # A local activity's marker: when it completed (the engine's clock, cut to the minute)
        # and when it was first scheduled (the worker's own clock): both the completion's minute.
        completed = re.search(rb'"complete_time":\{"seconds":(\d+)', data)
        if completed:
            seconds = int(completed.group(1)) // 60 * 60
            data = MARKER_TIME.sub(
                lambda m: b'"%s":{"seconds":%d,"nanos":0}' % (m.group(1), seconds), data
            )
        return data


async def record(out: Path, tag: str, scenarios: Sequence[Run] = SCENARIOS) -> list[Path]:
    """Record `scenarios` into `out` as `{tag}-{name}.json`; the files written. Each runs on a
    server of its own from START: a path added or changed leaves the others' files as they were."""
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for run in scenarios:
        written += await record_one(run, out, tag)
    return written


async def record_one(run: Run, out: Path, tag: str) -> list[Path]:
    turns = InTurn()
    env = await WorkflowEnvironment.start_time_skipping(
        data_converter=pydantic_data_converter,
        test_server_existing_path=bundled_binary("temporal-test-server"),
        identity=IDENTITY,
        interceptors=[turns],
    )
    turns.client = env.client
    folder = tempfile.TemporaryDirectory()
    engine = make_engine(f"sqlite:///{folder.name}/projection.db")
    migrate(engine)
    with Session(engine) as db:  # the evaluators' notices go to their accounts' addresses
        for person in EVALUATORS + MEMBERS:
            add_user(db, person.name, person.role, f"{person.name.lower()}@programme.ma")
    catcher = start_catcher(Catcher())  # the notices are delivered, as in production
    written = []
    try:
        storage = Storage(f"{folder.name}/documents")  # the letters and the session's PDFs
        async with (
            env,
            build_worker(env.client, engine, QUEUE, relay=relay_to(catcher), storage=storage),
        ):
            now = await env.get_current_time()
            if now >= START:
                raise SystemExit(f"START ({START}) has passed: move it on (every file changes)")
            await env.sleep(START - now)
            normaliser = Normaliser()
            for name, handle in (await run(Scenario(env, env.client))).items():
                history = await handle.fetch_history()
                path = out / f"{tag}-{name}.json"
                path.write_text(normaliser.history(handle.id, history))
                written.append(path)
                print("recorded", path.name, len(history.events), "events")
    finally:
        catcher.stop()
        engine.dispose()
        folder.cleanup()
    return written


async def check(scenarios: Sequence[Run]) -> bool:
    """Record `scenarios` twice; whether each file came out the same, byte for byte."""
    with tempfile.TemporaryDirectory() as first, tempfile.TemporaryDirectory() as second:
        once = await record(Path(first), "check", scenarios)
        twice = await record(Path(second), "check", scenarios)
        same = [a.read_bytes() == b.read_bytes() for a, b in zip(once, twice, strict=True)]
        for path, equal in zip(once, same, strict=True):
            print("identical" if equal else "DIFFERENT", path.name)
        return len(once) == len(twice) and all(same)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("tag", nargs="?", default="baseline", help="the files' prefix")
    parser.add_argument("--out", type=Path, default=OUT, help="the folder (tests/histories)")
    parser.add_argument("--check", action="store_true", help="record twice and compare")
    parser.add_argument(
        "--only", action="append", choices=[run.__name__ for run in SCENARIOS], help="a scenario"
    )
    options = parser.parse_args()
    scenarios = [run for run in SCENARIOS if run.__name__ in (options.only or [run.__name__])]
    if options.check:
        sys.exit(0 if asyncio.run(check(scenarios)) else 1)
    asyncio.run(record(options.out, options.tag, scenarios))


if __name__ == "__main__":
    main()
