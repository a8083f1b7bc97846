"""Rehearse a call: `python -m rehearsal scenarios/aap-2025.yaml [--out DIR] [--set rule=value]`.

Runs the scenario on the time-skipping server with the real workflows and activities and a
throw-away SQLite projection; with `variants` in the file (or several --set), runs each on the
same applicants and prints the outcomes side by side.
"""

import argparse
import asyncio
import contextlib
import json
import random
import sys
import tempfile
import uuid
from datetime import timedelta
from pathlib import Path

from sqlalchemy import Engine
from sqlmodel import Session, select
from temporalio.api.enums.v1 import PendingActivityState
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.service import RPCError
from temporalio.testing import WorkflowEnvironment

from activities.mailcatcher import Catcher, relay_to, start_catcher
from domain.forecast import Scenario as Shares
from domain.ids import application_workflow_id, call_workflow_id, cluster_workflow_id
from domain.models import CallSpec
from domain.stages import Role
from projection.database import make_engine, migrate
from projection.storage import Storage
from projection.tables import ApplicationRow, CallRow, ClusterRow
from rehearsal.driver import Clock, Driver, generate
from rehearsal.report import Outlook, Report, collect, render, table, write
from rehearsal.scenario import Scenario, ScenarioError, load
from settings import bundled_binary
from web.identity import add_user
from worker import build_worker

PHASES = 9
STARTED = PendingActivityState.PENDING_ACTIVITY_STATE_STARTED
FORECAST_YEARS = 3  # at least: the years after the contracts show their needs falling


class Progress:
    def __init__(self, total: int) -> None:
        self.done, self.total = 0, total

    def __call__(self, label: str) -> None:
        self.done += 1
        filled = int(30 * min(self.done, self.total) / self.total)
        sys.stderr.write(f"\r[{'#' * filled}{'.' * (30 - filled)}] {label[:50]:<50}")
        sys.stderr.flush()


async def rehearse(
    env: WorkflowEnvironment, scenario: Scenario, variant: str, progress: Progress
) -> Report:
    scratch = tempfile.mkdtemp()
    engine = make_engine(f"sqlite:///{scratch}/projection.db")
    migrate(engine)
    with Session(engine) as db:  # the panel's accounts: their notices go to these addresses
        for i in range(1, 10):
            add_user(db, f"Évaluateur {i}", Role.EVALUATOR, f"evaluateur{i}@repetition.ma")
    queue = f"rehearsal-{uuid.uuid4().hex}"
    catcher = start_catcher(Catcher())  # the notices, sent as in production
    relay = relay_to(catcher)
    storage = Storage(f"{scratch}/documents")  # the driver's deposits, the worker's documents
    async with build_worker(env.client, engine, queue, relay=relay, storage=storage):
        clock = Clock(now=env.get_current_time, sleep=env.sleep)
        driver = Driver(env.client, engine, queue, clock, storage, progress)
        now = await env.get_current_time()
        offset = now + timedelta(minutes=5) - scenario.call.opens_at  # replayed from today
        part = scenario.call
        spec = CallSpec(
            year=part.year,
            title=part.title,
            opens_at=part.opens_at + offset,
            deadline=part.deadline + offset,
            **part.rules,
        )
        rng = random.Random(scenario.seed)
        call_id = await driver.open_call(spec)
        applicants = generate(scenario, rng)
        s = scenario.support
        asked = [a.data.requested_amounts for a in applicants]
        first_year = s.first_year or part.year
        if envelopes := s.envelopes(asked, scenario.committee.labelled):
            await driver.set_budget(call_id, first_year, envelopes)
        ids = await driver.register(call_id, applicants)
        await driver.close(call_id, ids)
        await driver.review(
            call_id,
            rng,
            scenario.operators.complements_answered,
            scenario.operators.answer_after_days,
        )
        ev = scenario.evaluators
        await driver.evaluate(call_id, rng, ev.mean, ev.spread, ev.late)
        winners = await driver.decide(
            call_id, scenario.committee.labelled, scenario.committee.reserve
        )
        published = await clock.now()
        await clock.sleep(timedelta(days=spec.redress_days + 1))
        await driver.snapshot(call_id, "fin des délais de recours")
        await driver.support(
            winners,
            published + timedelta(days=30),
            s.years,
            s.requested() or [s.amount],
            s.late_reports,
            rng,
            s.stopped,
            s.probation,
            s.probation_cut,
        )
        await driver.snapshot(call_id, f"{s.years} année(s) de soutien")
        await driver.notices_sent()
        await end_cases(env, engine)
    catcher.stop()
    # The year the rehearsal ends in: its last contract year begun (the first, with none).
    outlook = Outlook(
        from_year=first_year + max(s.years, 1) - 1,
        years=max(len(s.requested()) - max(s.years, 1) + 1, FORECAST_YEARS),
        scenario=Shares(s.stopped, s.probation, s.probation_cut),
    )
    return collect(engine, call_id, driver.snapshots, offset, scenario.name, variant, outlook)


async def end_cases(env: WorkflowEnvironment, engine: Engine) -> None:
    """The run's cases end with it, once no activity of theirs runs: left running without a
    worker, a timer of theirs (a support's end, years later) would fire during the next run on
    the same server, with nobody to take its task, and stop the skipping of time."""
    with Session(engine) as db:
        ids = [call_workflow_id(i) for i in db.exec(select(CallRow.id))]
        ids += [application_workflow_id(i) for i in db.exec(select(ApplicationRow.id))]
        ids += [cluster_workflow_id(i) for i in db.exec(select(ClusterRow.id))]
    for workflow_id in ids:
        handle = env.client.get_workflow_handle(workflow_id)
        with contextlib.suppress(RPCError):  # already ended
            for _ in range(1200):  # a minute at most, in real time
                pending = (await handle.describe()).raw_description.pending_activities
                if not any(a.state == STARTED for a in pending):
                    break
                await asyncio.sleep(0.05)
            await handle.terminate("fin de la répétition")


async def main(arguments: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m rehearsal", description=__doc__.splitlines()[0]
    )
    parser.add_argument("scenario", type=Path)
    parser.add_argument(
        "--out", type=Path, default=Path("rehearsal-out"), help="dossier des CSV/JSON"
    )
    parser.add_argument(
        "--set", action="append", default=[], metavar="RÈGLE=VALEUR", help="variante de règle"
    )
    args = parser.parse_args(arguments)
    try:
        scenario = load(args.scenario)
        variants = [(v.name, scenario.with_rules(v.rules)) for v in scenario.variants]
        for assignment in args.set:
            name, _, value = assignment.partition("=")
            variants.append((assignment, scenario.with_rules({name: json.loads(value)})))
    except (ScenarioError, ValueError) as error:
        print(f"Erreur : {error}", file=sys.stderr)
        return 2
    runs = variants or [("règles du scénario", scenario)]
    env = await WorkflowEnvironment.start_time_skipping(
        data_converter=pydantic_data_converter,
        test_server_existing_path=bundled_binary("temporal-test-server"),
    )
    reports = []
    async with env:
        for name, variant in runs:
            report = await rehearse(env, variant, name, Progress(PHASES + variant.support.years))
            sys.stderr.write("\n")
            print(render(report))
            write(report, args.out / _slug(name))
            reports.append(report)
    if len(reports) > 1:
        comparison = [{"variante": r.variant} | r.final_counts() for r in reports]
        print(table(comparison, "Comparaison des variantes (étape finale des candidatures)"))
    print(f"Fichiers CSV et JSON : {args.out}/")
    return 0


def _slug(name: str) -> str:
    return "".join(c if c.isalnum() else "-" for c in name.lower()).strip("-") or "run"


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
