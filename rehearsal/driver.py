"""Drives a call's calendar through the real workflows, as operators, evaluators and committee would.

The rehearsal runs it on the time-skipping server (months in seconds); the demo runs it on the
embedded instance, where dates in the past make the clock catch up at once.
"""

import asyncio
import random
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, NoReturn

from sqlalchemy import Engine
from sqlmodel import Session, select
from temporalio.client import Client, WorkflowHandle

from domain.allocation import INSUFFICIENT_FUNDS
from domain.bodies import (
    CommitteeDecision,
    ComplementsAsk,
    ComplementsReply,
    EligibleDecision,
    EvaluatorAssignment,
    IneligibleDecision,
    InterestDeclaration,
)
from domain.ids import application_workflow_id, call_workflow_id, cluster_workflow_id
from domain.models import (
    Actor,
    ApplicationInput,
    CallSpec,
    CallStart,
    CallState,
    Grid,
    Registration,
    ScoreSheet,
)
from domain.money import BudgetChange, PaymentRecord, Release, TrancheStatus, fits
from domain.rules import missing_documents
from domain.stages import ApplicationStage, CallStage, ClusterStage, Role
from domain.support import (
    REPORT_FILES,
    AnnualReport,
    ContractTerms,
    KPIs,
    ProbationRenewal,
    Reason,
    Renewal,
    ReportedKPIs,
    add_years,
)
from projection import queries
from projection.ledger import call_balances
from projection.ranking import call_ranking
from projection.storage import Storage
from projection.tables import ApplicationRow, CallRow, ClusterRow, OutboxRow
from rehearsal.papers import pdf
from rehearsal.scenario import Scenario
from web.commands import send
from workflows.application import ApplicationWorkflow as App
from workflows.call import CallWorkflow
from workflows.cluster import ClusterWorkflow as Cluster

ADMIN = Actor(name="Gestionnaire du programme", role=Role.ADMIN)
OPERATOR = Actor(name="Opérateur", role=Role.OPERATOR)
COMMITTEE = Actor(name="Comité de pilotage", role=Role.COMMITTEE)
# The finance office: one person releases a tranche, another records its payment.
RELEASER = Actor(name="Ordonnateur du programme", role=Role.FINANCE)
PAYER = Actor(name="Comptable payeur", role=Role.FINANCE)
STOPPED = "Objectifs du contrat-programme non atteints : soutien arrêté à la revue annuelle."
ON_PROBATION = "Indicateurs en retard sur les objectifs : plan de redressement à présenter."
A = ApplicationStage


@dataclass
class Clock:
    """How time passes: skipped on the test server, real (or already past) on the embedded one."""

    now: Callable[[], Awaitable[datetime]]
    sleep: Callable[[timedelta], Awaitable[None]]

    async def until(self, moment: datetime) -> None:
        left = moment - await self.now()
        if left > timedelta(0):
            await self.sleep(left)


@dataclass
class Snapshot:
    label: str
    at: datetime
    counts: dict[str, int]


def _missing(workflow_id: str) -> NoReturn:
    raise LookupError(f"no running workflow {workflow_id}")


@dataclass
class Applicant:
    data: ApplicationInput
    documents: list[str]  # the required documents of which they deposit a file


async def _once(data: bytes) -> AsyncIterator[bytes]:
    yield data


@dataclass
class Driver:
    client: Client
    engine: Engine
    task_queue: str
    clock: Clock
    storage: Storage  # where the dossiers' generated PDFs go, as the API stores a deposit
    progress: Callable[[str], None] = lambda _: None
    evaluators: list[Actor] = field(default_factory=list)
    snapshots: list[Snapshot] = field(default_factory=list)

    # --- reading what the service shows --------------------------------------------------------
    def applications(self, call_id: str) -> list[ApplicationRow]:
        with Session(self.engine) as db:
            return list(db.exec(select(ApplicationRow).where(ApplicationRow.call_id == call_id)))

    async def update(self, handle: WorkflowHandle, update: Any, *args: Any) -> Any:
        """A transition as the API sends it (its workflow writes its record to SQL); the case's
        new state."""
        return await send(
            lambda id_: handle.execute_update(update, args=list(args), id=id_),
            args[0],
            update.__name__,
            None,
            handle.id,
            lambda: _missing(handle.id),
        )

    def call_row(self, call_id: str) -> CallRow:
        with Session(self.engine) as db:
            row = db.get(CallRow, call_id)
            assert row is not None
            return row

    async def settle(self, done: Callable[[], bool], what: str, seconds: float = 60) -> None:
        """Wait (real time) for what the clock set off to land in the projection."""
        for _ in range(int(seconds * 20)):
            if done():
                return
            await asyncio.sleep(0.05)
        raise TimeoutError(f"trop long : {what}")

    async def notices_sent(self) -> None:
        """Wait (real time) for every notice to have left: sent, or refused."""

        def none_pending() -> bool:
            with Session(self.engine) as db:
                pending = select(OutboxRow.id).where(OutboxRow.status == "pending")
                return db.exec(pending).first() is None

        await self.settle(none_pending, "l'envoi des courriers")

    async def snapshot(self, call_id: str, label: str) -> None:
        with Session(self.engine) as db:
            counts = queries.counts_by_stage(db, call_id)
        self.snapshots.append(Snapshot(label, await self.clock.now(), counts))
        self.progress(label)

    def app(self, application_id: str) -> WorkflowHandle:
        return self.client.get_workflow_handle(application_workflow_id(application_id))

    async def deposit(self, handle: WorkflowHandle, update: Any, kind: str, *lines: str) -> str:
        """A generated PDF, stored as the API stores a file, then recorded by its case."""
        data = pdf(kind, *lines)
        stored = await self.storage.save(_once(data), len(data))
        body = stored.deposit(uuid.uuid4().hex, kind, f"{kind}.pdf")
        await self.update(handle, update, OPERATOR, body)
        return body.id

    # --- the calendar ---------------------------------------------------------------------------
    async def open_call(self, spec: CallSpec) -> str:
        call_id = f"{spec.year}-{uuid.uuid4().hex[:12]}"
        state = CallState(
            id=call_id, stage=CallStage.DRAFT, spec=spec, updated_at=await self.clock.now()
        )
        handle = await self.client.start_workflow(
            CallWorkflow.run,
            CallStart(state=state),
            id=call_workflow_id(call_id),
            task_queue=self.task_queue,
        )
        await self.update(handle, CallWorkflow.create, ADMIN)
        await self.update(handle, CallWorkflow.publish, ADMIN)
        return call_id

    async def set_budget(self, call_id: str, first_year: int, envelopes: list[float]) -> None:
        """The call's envelope per budget year, set by the admin as the API's set_budget does."""
        call = self.client.get_workflow_handle(call_workflow_id(call_id))
        budget = BudgetChange(first_year=first_year, envelopes=envelopes)
        await self.update(call, CallWorkflow.set_budget, ADMIN, budget)

    def fits(self, call_id: str, amounts: list[float]) -> bool:
        """Whether `amounts` (per contract year) fit what is left of the call's envelopes, as
        the ledger tells it; a call without a budget does not count its money."""
        budget = queries.call_state(self.call_row(call_id)).budget
        if budget is None:
            return True
        with Session(self.engine) as db:
            left = {b.year: b.available for b in call_balances(db, call_id)}
        return fits(amounts, {y: a for y, a in left.items() if a is not None}, budget.first_year)

    async def register(self, call_id: str, applicants: list[Applicant]) -> list[str]:
        """Each application registered, then its files deposited."""
        await self.clock.until(self.call_row(call_id).opens_at + timedelta(minutes=1))
        call = self.client.get_workflow_handle(call_workflow_id(call_id))
        ids = []
        for applicant in applicants:
            registration = Registration(application_id=uuid.uuid4().hex[:12], data=applicant.data)
            await call.execute_update(
                CallWorkflow.register_application, args=[OPERATOR, registration]
            )
            handle = self.app(registration.application_id)
            for kind in applicant.documents:
                await self.deposit(handle, App.add_document, kind, applicant.data.cluster_name)
            ids.append(registration.application_id)
        await self.snapshot(call_id, f"{len(ids)} candidatures enregistrées")
        return ids

    async def close(self, call_id: str, ids: list[str]) -> None:
        await self.clock.until(self.call_row(call_id).deadline + timedelta(minutes=1))
        reviewed = {A.ELIGIBILITY_REVIEW, A.WITHDRAWN}
        await self.settle(
            lambda: all(r.stage in reviewed for r in self.applications(call_id)), "la clôture"
        )
        await self.snapshot(call_id, "clôture : examen de recevabilité")

    async def review(
        self, call_id: str, rng: random.Random, answered: float, answer_after: int
    ) -> None:
        """Operators: eligible when every check passes, complements when only papers lack."""
        rules = queries.call_state(self.call_row(call_id)).spec
        answering: dict[str, list[str]] = {}  # application: the documents it will send
        for row in self.applications(call_id):
            state = queries.application_state(row)
            failed = [c for c in state.checklist if not c.passed]
            handle = self.app(row.id)
            if not failed:
                await self.update(handle, App.mark_eligible, OPERATOR, EligibleDecision())
            elif [c.code for c in failed] == ["documents_complete"]:
                missing = missing_documents([f.kind for f in state.files], rules)
                ask = ComplementsAsk(items=missing)
                await self.update(handle, App.request_complements, OPERATOR, ask)
                if rng.random() < answered:
                    answering[row.id] = missing
            else:
                reason = "; ".join(f"{c.label} ({c.detail})" for c in failed)
                await self.update(
                    handle, App.mark_ineligible, OPERATOR, IneligibleDecision(reason=reason)
                )
        await self.snapshot(call_id, "décisions de recevabilité")
        await self.clock.sleep(timedelta(days=answer_after))
        still_waiting = {
            r.id: r for r in self.applications(call_id) if r.stage == A.COMPLEMENTS_REQUESTED
        }
        for application_id, missing in answering.items():
            if application_id not in still_waiting:
                continue  # the answer comes after the due date: the clock already closed the file
            handle = self.app(application_id)
            name = still_waiting[application_id].cluster_name
            files = [await self.deposit(handle, App.add_document, kind, name) for kind in missing]
            reply = ComplementsReply(files=files, note="Dossier complété")
            await self.update(handle, App.submit_complements, OPERATOR, reply)
            await self.update(handle, App.mark_eligible, OPERATOR, EligibleDecision())
        await self.clock.sleep(timedelta(days=rules.complement_response_days + 1))
        await self.settle(
            lambda: not any(r.stage == A.COMPLEMENTS_REQUESTED for r in self.applications(call_id)),
            "l'échéance des compléments",
        )
        await self.snapshot(call_id, "échéance des compléments")

    async def evaluate(
        self, call_id: str, rng: random.Random, mean: float, spread: float, late: float
    ) -> None:
        spec = queries.call_state(self.call_row(call_id)).spec
        call = self.client.get_workflow_handle(call_workflow_id(call_id))
        await self.update(call, CallWorkflow.start_evaluation, ADMIN)
        panel = self.evaluators or [
            Actor(name=f"Évaluateur {i}", role=Role.EVALUATOR)
            for i in range(1, spec.evaluators_per_application + 1)
        ]
        late_ones = []
        for row in self.applications(call_id):
            if row.stage != A.ELIGIBLE:
                continue
            handle = self.app(row.id)
            names = [e.name for e in panel[: spec.evaluators_per_application]]
            await self.update(
                handle, App.assign_evaluators, ADMIN, EvaluatorAssignment(evaluators=names)
            )
            quality = rng.gauss(mean, spread)
            for evaluator in panel[: spec.evaluators_per_application]:
                await self.update(
                    handle, App.declare_interest, evaluator, InterestDeclaration(conflict=False)
                )
                sheet = self._sheet(rng, quality, spread, spec.grid)
                if rng.random() < late:
                    late_ones.append((handle, evaluator, sheet))
                else:
                    await self.update(handle, App.submit_scores, evaluator, sheet)
        await self.snapshot(call_id, "évaluations remises à temps")
        if late_ones:
            await self.clock.sleep(timedelta(days=spec.evaluation_days + 1))
            for handle, evaluator, sheet in late_ones:
                await self.update(handle, App.submit_scores, evaluator, sheet)
        await self.snapshot(call_id, "évaluations complètes")

    @staticmethod
    def _sheet(rng: random.Random, quality: float, spread: float, grid: Grid) -> ScoreSheet:
        marks = [
            min(5.0, max(0.0, round(rng.gauss(quality, spread / 2) * 2) / 2)) for _ in grid.criteria
        ]
        return ScoreSheet(
            scores=[
                {"criterion": c.code, "score": m, "comment": f"Appréciation : {c.label.lower()}"}
                for c, m in zip(grid.criteria, marks, strict=True)
            ]
        )

    async def decide(self, call_id: str, labelled: int, reserve: int) -> list[str]:
        """The committee follows the ranking within the funds: the first `labelled` whose
        requested amounts fit what is left of the envelopes are labelled with them (the first
        that does not fit ends the funding, as the strict rule does), the next `reserve` go on
        the reserve list (« fonds insuffisants » once the funding ended), the others are
        rejected."""
        with Session(self.engine) as db:
            ranking = call_ranking(db, self.call_row(call_id))
        winners: list[str] = []
        waiting, funded = 0, True
        for entry in ranking.ranked + ranking.below_threshold:
            handle = self.app(entry.application_id)
            asked = self._asked(entry.application_id)
            if entry.rank and funded:
                funded = self.fits(call_id, asked)
            if entry.rank and funded and len(winners) < labelled:
                update, reason = App.label, f"Rang {entry.rank} du classement"
                winners.append(entry.application_id)
            elif entry.rank and waiting < reserve:
                update, reason = App.put_on_reserve, f"Rang {entry.rank} : liste d'attente"
                reason += "" if funded else " (fonds insuffisants)"
                waiting += 1
            elif entry.rank and not funded:
                update, reason = App.reject, f"Rang {entry.rank} : {INSUFFICIENT_FUNDS.lower()}"
            else:
                update, reason = (
                    App.reject,
                    "Sous les seuils" if not entry.rank else f"Rang {entry.rank}",
                )
            amounts = asked if update in (App.label, App.put_on_reserve) else []
            decision = CommitteeDecision(reason=reason, amounts=amounts)
            await self.update(handle, update, COMMITTEE, decision)
        call = self.client.get_workflow_handle(call_workflow_id(call_id))
        await self.update(call, CallWorkflow.publish_results, COMMITTEE)
        await self.settle(
            lambda: len(self._clusters(winners)) == len(winners),
            "le démarrage des dossiers de soutien",
        )
        await self.snapshot(call_id, "résultats publiés")
        return winners

    def _asked(self, application_id: str) -> list[float]:
        with Session(self.engine) as db:
            row = db.get(ApplicationRow, application_id)
            assert row is not None
            return list(queries.application_state(row).data.requested_amounts)

    def _clusters(self, ids: list[str]) -> list[ClusterRow]:
        with Session(self.engine) as db:
            return [row for i in ids if (row := db.get(ClusterRow, i)) is not None]

    def labelled_at(self, cluster_ids: list[str]) -> list[datetime]:
        """When each cluster was labelled, as its support case records it."""
        return [
            queries.cluster_state(row).origin.labelled_at for row in self._clusters(cluster_ids)
        ]

    async def sign_contracts(
        self, cluster_ids: list[str], start: datetime, amounts: list[float]
    ) -> None:
        targets = KPIs(rd_projects=4, patents=1, startups=2, rd_jobs=10, trainings=6)
        for cluster_id in cluster_ids:
            handle = self.client.get_workflow_handle(cluster_workflow_id(cluster_id))
            terms = ContractTerms(start_at=start, planned_amounts=amounts, kpi_targets=targets)
            await self.update(handle, Cluster.sign_contract, ADMIN, terms)

    # --- the tranches (finance) -------------------------------------------------------------
    async def release(self, cluster_id: str, tranche: str, by: Actor = RELEASER) -> None:
        handle = self.client.get_workflow_handle(cluster_workflow_id(cluster_id))
        year = (await self.clock.now()).year
        body = Release(
            tranche=tranche,
            budget_line="Chap. 2.1.3 — appui aux clusters",
            commitment_number=f"ENG-{year}-{cluster_id[:6]}-{tranche}",
        )
        await self.update(handle, Cluster.release_tranche, by, body)

    async def pay(self, cluster_id: str, tranche: str, by: Actor = PAYER) -> None:
        handle = self.client.get_workflow_handle(cluster_workflow_id(cluster_id))
        year = (await self.clock.now()).year
        body = PaymentRecord(
            tranche=tranche,
            payment_order=f"OP-{year}-{cluster_id[:6]}-{tranche}",
            bank_reference=f"VIR-{uuid.uuid4().hex[:8].upper()}",
        )
        await self.update(handle, Cluster.pay_tranche, by, body)

    def eligible(self, cluster_id: str) -> list[str]:
        """The tranches of a cluster that may be released now."""
        state = queries.cluster_state(self._clusters([cluster_id])[0])
        return [t.id for y in state.years for t in y.tranches if t.status == TrancheStatus.ELIGIBLE]

    async def pay_due(self, cluster_ids: list[str]) -> None:
        """The finance office at work: each eligible tranche released, then paid by another."""
        for cluster_id in cluster_ids:
            for tranche in self.eligible(cluster_id):
                await self.release(cluster_id, tranche)
                await self.pay(cluster_id, tranche)

    # --- the years of support -----------------------------------------------------------------
    async def support(
        self,
        cluster_ids: list[str],
        start: datetime,
        years: int,
        amounts: list[float],
        late: float,
        rng: random.Random,
        stopped: float = 0.0,
        probation: float = 0.0,
        cut: float = 0.0,
    ) -> None:
        """Contracts signed, then each year a report (some late) and its review, by the calendar:
        a share of the clusters stopped, a share renewed on probation (its year's support cut),
        the others renewed; the finance office pays each tranche as it falls due."""
        await self.sign_contracts(cluster_ids, start, amounts)
        running = list(cluster_ids)
        await self.pay_due(running)
        for year in range(1, years + 1):
            anniversary = add_years(start, year)
            await self.clock.until(anniversary - timedelta(days=20))
            late_ones = [c for c in running if rng.random() < late]
            on_time = [c for c in running if c not in late_ones]
            # The last year's reports stay under review: the rehearsal ends there.
            review = year < years
            for batch in (on_time, late_ones):
                if batch and batch is late_ones:
                    await self.clock.until(anniversary + timedelta(days=10))
                for cluster_id in batch:
                    await self._report(cluster_id, year, rng)
                    planned = amounts[year] if year < len(amounts) else amounts[-1]
                    if review and await self._review(
                        cluster_id, planned, rng, stopped, probation, cut
                    ):
                        running.remove(cluster_id)
                await self.pay_due([c for c in batch if c in running] if review else [])

    async def _review(
        self,
        cluster_id: str,
        planned: float,
        rng: random.Random,
        stopped: float,
        probation: float,
        cut: float,
    ) -> bool:
        """The year's report reviewed; True when the cluster's support is stopped."""
        handle = self.client.get_workflow_handle(cluster_workflow_id(cluster_id))
        draw = rng.random() if stopped or probation else 1.0  # no knob, no draw: same runs
        if draw < stopped:
            await self.update(handle, Cluster.terminate, ADMIN, Reason(reason=STOPPED))
            return True
        if draw < stopped + probation:
            renewal = ProbationRenewal(
                amount=round(planned * (1 - cut), 2),
                conditions=ON_PROBATION,
                review_at=await self.clock.now() + timedelta(days=120),
            )
            await self.update(handle, Cluster.renew_on_probation, ADMIN, renewal)
            return False
        await self.update(handle, Cluster.renew, ADMIN, Renewal())
        return False

    async def _report(self, cluster_id: str, year: int, rng: random.Random) -> None:
        handle = self.client.get_workflow_handle(cluster_workflow_id(cluster_id))
        await self.settle(
            lambda: (
                self._clusters([cluster_id])[0].stage
                in (ClusterStage.REPORT_REQUESTED, ClusterStage.REPORT_OVERDUE)
            ),
            "la demande de rapport",
        )
        actuals = ReportedKPIs(
            rd_projects=rng.randint(2, 6),
            patents=rng.randint(0, 2),
            startups=rng.randint(0, 3),
            rd_jobs=rng.randint(5, 15),
            trainings=rng.randint(3, 9),
        )
        files = {
            name: await self.deposit(
                handle, Cluster.add_cluster_document, kind, f"Année de soutien {year}"
            )
            for name, kind in REPORT_FILES.items()
        }
        report = AnnualReport(
            **files,
            kpi_actuals=actuals,
            next_year_plan="Poursuite des projets collaboratifs.",
        )
        await self.update(handle, Cluster.record_report, OPERATOR, report)


def generate(scenario: Scenario, rng: random.Random) -> list[Applicant]:
    """The scenario's applicants: listed ones first (with every document), then drawn from its
    shares and weights."""
    part = scenario.applicants
    required = CallSpec.model_fields["required_documents"].default_factory()
    sectors, weights = list(part.sectors), list(part.sectors.values())
    asked = scenario.support.requested()
    drawn = []
    for i in range(1, part.count + 1):
        sector = rng.choices(sectors, weights)[0]
        existing = rng.random() < part.existing_clusters
        documents = list(required)
        if rng.random() < part.missing_documents:
            documents.remove(rng.choice(documents))
        knowledge = "research" if rng.random() < 0.6 else "training"
        members = [{"name": f"Entreprise {i}-A", "type": "company"}]
        members.append(
            {"name": f"Entreprise {i}-B", "type": "startup"}
            if rng.random() < part.companies_only
            else {"name": f"Établissement {i}", "type": knowledge}
        )
        data = ApplicationInput(
            requested_amounts=asked,
            cluster_name=f"Cluster {sector} n° {i}",
            sector=sector,
            members=members,
            existing_cluster=existing,
            support_years=rng.randint(*part.existing_years) if existing else 0,
            contact={"name": f"Direction {i}", "email": f"contact{i}@cluster.ma"},
        )
        drawn.append(Applicant(data, documents))
    listed = [  # a written application that asks no amount asks the scenario's
        d if d.requested_amounts else d.model_copy(update={"requested_amounts": asked})
        for d in part.listed
    ]
    return [Applicant(data, list(required)) for data in listed] + drawn
