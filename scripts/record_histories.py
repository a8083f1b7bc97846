"""Record workflow histories for the replay tests (tests/histories/*.json).

`.venv/bin/python scripts/record_histories.py baseline` records every path once: a call with an
extension, each application outcome (complements expired, eligible, withdrawn, labelled,
re-evaluation, final rejection), a support case's first and last year. After a workflow change
made behind a patch, record the next set under a new tag and commit it beside the earlier ones,
so CI proves the new code still replays the cases already running. See README, "Replay tests".
"""

import asyncio
import hashlib
import sys
import tempfile
import uuid
from datetime import timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from sqlmodel import Session  # noqa: E402
from temporalio.client import Client, WorkflowHandle  # noqa: E402
from temporalio.contrib.pydantic import pydantic_data_converter  # noqa: E402
from temporalio.testing import WorkflowEnvironment  # noqa: E402

from activities.mailcatcher import Catcher, relay_to, start_catcher  # noqa: E402
from domain import models  # noqa: E402
from domain.ids import application_workflow_id, call_workflow_id, cluster_workflow_id  # noqa: E402
from domain.stages import CallStage, Role  # noqa: E402
from domain.support import (  # noqa: E402
    REPORT_FILES,
    AnnualReport,
    ContractTerms,
    KPIs,
    ProbationRenewal,
    Renewal,
)
from projection.database import make_engine, migrate  # noqa: E402
from settings import bundled_binary  # noqa: E402
from web.identity import add_user  # noqa: E402
from worker import build_worker  # noqa: E402
from workflows.application import ApplicationWorkflow as App  # noqa: E402
from workflows.call import CallWorkflow  # noqa: E402
from workflows.cluster import ClusterWorkflow as Cluster  # noqa: E402

OUT = Path(__file__).resolve().parent.parent / "tests" / "histories"
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


async def deposit(handle: WorkflowHandle, update: object, kind: str) -> str:
    """A file's reference, as the API sends it once the bytes are stored (here, none are)."""
    body = models.Deposit(
        id=uuid.uuid4().hex,
        kind=kind,
        filename=f"{kind}.pdf",
        content_type="application/pdf",
        size=1024,
        sha256=hashlib.sha256(kind.encode()).hexdigest(),
    )
    await handle.execute_update(update, args=[OPERATOR, body])
    return body.id


def sheet(mark: float) -> models.ScoreSheet:
    return models.ScoreSheet(
        scores=[
            {"criterion": c.code, "score": mark, "comment": "ok"}
            for c in models.DEFAULT_GRID.criteria
        ]
    )


class Scenario:
    def __init__(self, env: WorkflowEnvironment, client: Client, queue: str) -> None:
        self.env, self.client, self.queue = env, client, queue

    async def open_call(self, **rules: object) -> WorkflowHandle:
        now = await self.env.get_current_time()
        spec = models.CallSpec(
            year=now.year,
            title="Historique",
            opens_at=now + timedelta(days=1),
            deadline=now + timedelta(days=20),
            **rules,
        )
        state = models.CallState(
            id=uuid.uuid4().hex[:12], stage=CallStage.DRAFT, spec=spec, updated_at=now
        )
        call = await self.client.start_workflow(
            CallWorkflow.run,
            models.CallStart(state=state),
            id=call_workflow_id(state.id),
            task_queue=self.queue,
        )
        await call.execute_update(CallWorkflow.create, ADMIN)
        await call.execute_update(CallWorkflow.publish, ADMIN)
        await self.env.sleep(timedelta(days=2))
        return call

    async def register(
        self, call: WorkflowHandle, count: int, files: tuple[str, ...] = ()
    ) -> list[WorkflowHandle]:
        """`count` applications, each with a file of each kind in `files`."""
        handles = []
        for _ in range(count):
            registration = models.Registration(
                application_id=uuid.uuid4().hex[:12], data=APPLICATION
            )
            await call.execute_update(
                CallWorkflow.register_application, args=[OPERATOR, registration]
            )
            handle = self.client.get_workflow_handle_for(
                App.run, application_workflow_id(registration.application_id)
            )
            for kind in files:
                await deposit(handle, App.add_document, kind)
            handles.append(handle)
        return handles

    async def past_deadline(self, days: int) -> None:
        await self.env.sleep(timedelta(days=days))
        await asyncio.sleep(1)  # let the closure fan-out and pre-checks land


async def eligibility(s: Scenario) -> dict[str, WorkflowHandle]:
    call = await s.open_call()
    apps = await s.register(call, 3, files=tuple(models.DEFAULT_DOCUMENTS[:2]))
    now = await s.env.get_current_time()
    await call.execute_update(
        CallWorkflow.extend_deadline,
        args=[ADMIN, models.DeadlineExtension(deadline=now + timedelta(days=23))],
    )
    await apps[0].execute_update(App.amend, args=[OPERATOR, models.Amendment(legal_form="GIE")])
    await apps[2].execute_update(
        App.withdraw, args=[OPERATOR, models.Withdrawal(reason="Projet reporté")]
    )
    await s.past_deadline(24)
    for app in apps[:2]:
        await app.execute_update(
            App.request_complements, args=[OPERATOR, models.ComplementsAsk(items=["budget"])]
        )
    answer = [await deposit(apps[1], App.add_document, k) for k in models.DEFAULT_DOCUMENTS[2:]]
    reply = models.ComplementsReply(files=answer)
    await apps[1].execute_update(App.submit_complements, args=[OPERATOR, reply])
    await apps[1].execute_update(App.mark_eligible, args=[OPERATOR, models.EligibleDecision()])
    await s.env.sleep(timedelta(days=15))  # the first one's complements expire
    await apps[0].result()
    return {"call": call, "expired": apps[0], "eligible": apps[1], "withdrawn": apps[2]}


async def evaluation(s: Scenario) -> dict[str, WorkflowHandle]:
    call = await s.open_call(evaluators_per_application=2)
    labelled, reviewed, final = apps = await s.register(
        call, 3, files=tuple(models.DEFAULT_DOCUMENTS)
    )
    await s.past_deadline(19)
    for app in apps:
        await app.execute_update(App.mark_eligible, args=[OPERATOR, models.EligibleDecision()])
    await call.execute_update(CallWorkflow.start_evaluation, ADMIN)
    eve, driss, nadia = EVALUATORS
    for app in apps:
        await app.execute_update(
            App.assign_evaluators,
            args=[ADMIN, models.EvaluatorAssignment(evaluators=[eve.name, driss.name])],
        )
    await labelled.execute_update(
        App.declare_interest, args=[driss, models.InterestDeclaration(conflict=True)]
    )
    await labelled.execute_update(
        App.assign_evaluators, args=[ADMIN, models.EvaluatorAssignment(evaluators=[nadia.name])]
    )
    marks = {labelled: (eve, nadia, 4.5), reviewed: (eve, driss, 3.5), final: (eve, driss, 2)}
    for app, (first, second, mark) in marks.items():
        for evaluator in (first, second):
            await app.execute_update(
                App.declare_interest, args=[evaluator, models.InterestDeclaration(conflict=False)]
            )
            if app is not final or evaluator is first:
                await app.execute_update(App.submit_scores, args=[evaluator, sheet(mark)])
    await s.env.sleep(timedelta(days=22))  # reminders, then the late evaluation is flagged
    await asyncio.sleep(1)
    await final.execute_update(App.submit_scores, args=[driss, sheet(2)])
    await labelled.execute_update(
        App.label, args=[COMMITTEE, models.CommitteeDecision(reason="Premier")]
    )
    for app in (reviewed, final):
        await app.execute_update(
            App.reject, args=[COMMITTEE, models.CommitteeDecision(reason="Non retenu")]
        )
    await call.execute_update(CallWorkflow.publish_results, COMMITTEE)
    await asyncio.sleep(1)
    await reviewed.execute_update(
        App.request_review, args=[OPERATOR, models.ReviewRequest(reason="Erreur")]
    )
    await reviewed.execute_update(
        App.order_re_evaluation, args=[COMMITTEE, models.ReviewAnswer(answer="Accordé")]
    )
    await s.env.sleep(timedelta(days=31))
    await final.result()
    await labelled.result()
    return {
        "results-call": call,
        "labelled": labelled,
        "re-evaluation": reviewed,
        "rejection-final": final,
    }


async def support(s: Scenario) -> dict[str, WorkflowHandle]:
    now = await s.env.get_current_time()
    start = models.ClusterStart(
        cluster_id=uuid.uuid4().hex[:12],
        application_id="history",
        call_id="history",
        cluster_name="Cluster historique",
        sector="TIC",
        labelled_at=now,
        max_support_years=3,
        contact_email="direction@cluster-historique.ma",
    )
    first = await s.client.start_workflow(
        Cluster.run,
        args=[start, None],
        id=cluster_workflow_id(start.cluster_id),
        task_queue=s.queue,
    )
    terms = ContractTerms(
        start_at=now, planned_amounts=[1e6, 9e5, 8e5], kpi_targets=KPIs(patents=1)
    )
    await first.execute_update(Cluster.sign_contract, args=[ADMIN, terms])

    async def report() -> AnnualReport:
        files = {
            name: await deposit(latest, Cluster.add_cluster_document, kind)
            for name, kind in REPORT_FILES.items()
        }
        return AnnualReport(**files, kpi_actuals=KPIs(), next_year_plan="Plan")

    await s.env.sleep(timedelta(days=370))  # year 1's report is late: reminders, escalation
    latest = s.client.get_workflow_handle(first.id)
    await latest.execute_update(Cluster.record_report, args=[OPERATOR, await report()])
    probation = ProbationRenewal(conditions="Gouvernance", review_at=now + timedelta(days=500))
    await latest.execute_update(Cluster.renew_on_probation, args=[ADMIN, probation])
    await s.env.sleep(timedelta(days=340))
    await latest.execute_update(Cluster.record_report, args=[OPERATOR, await report()])
    await latest.execute_update(Cluster.renew, args=[ADMIN, Renewal()])
    await s.env.sleep(timedelta(days=400))  # the last year ends support by itself
    await latest.result()
    first_year = s.client.get_workflow_handle(first.id, run_id=first.first_execution_run_id)
    return {"support-first-year": first_year, "support-last-year": latest}


async def main(tag: str) -> None:
    env = await WorkflowEnvironment.start_time_skipping(
        data_converter=pydantic_data_converter,
        test_server_existing_path=bundled_binary("temporal-test-server"),
    )
    engine = make_engine(f"sqlite:///{tempfile.mkdtemp()}/projection.db")
    migrate(engine)
    with Session(engine) as db:  # the evaluators' notices go to their accounts' addresses
        for evaluator in EVALUATORS:
            add_user(db, evaluator.name, evaluator.role, f"{evaluator.name.lower()}@evaluation.ma")
    queue = f"record-{uuid.uuid4().hex}"
    OUT.mkdir(exist_ok=True)
    catcher = start_catcher(Catcher())  # the notices are delivered, as in production
    relay = relay_to(catcher)
    async with env, build_worker(env.client, engine, queue, relay=relay):
        scenario = Scenario(env, env.client, queue)
        for record in (eligibility, evaluation, support):
            for name, handle in (await record(scenario)).items():
                history = await handle.fetch_history()
                (OUT / f"{tag}-{name}.json").write_text(history.to_json())
                print("recorded", tag, name, len(history.events), "events")
    catcher.stop()


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1] if len(sys.argv) > 1 else "baseline"))
