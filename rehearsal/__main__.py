"""Rehearse a call: `python -m rehearsal scenarios/aap-2025.yaml [--out DIR] [--set rule=value]`.

Runs the scenario on the time-skipping server with the real workflows and activities and a
throw-away SQLite projection; with `variants` in the file (or several --set), runs each on the
same applicants and prints the outcomes side by side.
"""

import argparse
import asyncio
import json
import random
import sys
import tempfile
import uuid
from datetime import timedelta
from pathlib import Path

from sqlmodel import Session
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.testing import WorkflowEnvironment

from activities.mailcatcher import Catcher, relay_to, start_catcher
from domain.models import CallSpec
from domain.stages import Role
from projection.database import make_engine, migrate
from projection.storage import Storage
from rehearsal.driver import Clock, Driver, generate
from rehearsal.report import Report, collect, render, table, write
from rehearsal.scenario import Scenario, ScenarioError, load
from settings import bundled_binary
from web.identity import add_user
from worker import build_worker

PHASES = 9


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
        ids = await driver.register(call_id, generate(scenario, rng))
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
        s = scenario.support
        await driver.support(
            winners,
            published + timedelta(days=30),
            s.years,
            s.amount,
            s.decrease,
            s.late_reports,
            rng,
        )
        await driver.snapshot(call_id, f"{s.years} année(s) de soutien")
        await driver.notices_sent()
    catcher.stop()
    return collect(engine, call_id, driver.snapshots, offset, scenario.name, variant)


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
