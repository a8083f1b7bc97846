"""Load a living demo into the embedded instance: `python -m rehearsal.demo [--force]`.

A call run through to its published results, an open call with received applications, and the
labelled clusters in their first support year, all made now by the real workflows on the real
clock: every date the console shows is when it happened, so none contradicts another. Run it
while `./scripts/run.sh` runs. It refuses a projection that already holds calls, unless --force.
"""

import argparse
import asyncio
import contextlib
import os
import random
import sys
from datetime import UTC, datetime, timedelta

from sqlalchemy import Engine, func
from sqlmodel import Session, select
from temporalio.client import Client

from domain.clock import due_after
from domain.models import Actor, CallSpec
from domain.stages import Role
from projection.database import make_engine, migrate
from projection.storage import Storage
from projection.tables import CallRow
from rehearsal.driver import Clock, Driver, generate
from rehearsal.report import mail_counts, table
from rehearsal.scenario import Scenario
from settings import Settings, connect_temporal, storage_options
from web.tokens import load_tokens

SEED = 2025


async def _real_now() -> datetime:
    return datetime.now(UTC)


async def _no_wait(_: timedelta) -> None:
    """The demo acts at once: it waits for no date, only (in real time) for what the workflows'
    clock sets off, such as the closure at the deadline."""


def applicants(count: int, rng: random.Random, missing: float) -> Scenario:
    return Scenario.model_validate(
        {
            "name": "démonstration",
            "call": {
                "year": 2025,
                "title": "x",
                "opens_at": "2025-01-01",
                "deadline": "2025-02-01",
            },
            "applicants": {"count": count, "missing_documents": missing, "existing_clusters": 0.2},
        }
    )


async def load_demo(
    client: Client, engine: Engine, storage: Storage, task_queue: str, evaluators: list[Actor]
) -> dict[str, str]:
    """Make the demo's cases; answer the ids of the two calls."""
    rng = random.Random(SEED)
    clock = Clock(now=_real_now, sleep=_no_wait)
    driver = Driver(client, engine, task_queue, clock, storage, evaluators=evaluators)
    now = datetime.now(UTC)
    past = CallSpec(
        year=now.year,
        title=f"Appel à projets clusters {now.year} (démonstration, résultats publiés)",
        opens_at=now,  # opens as it is published: no date before the workflows began
        deadline=now + timedelta(seconds=15),  # closes during the demo, by its own clock
        evaluators_per_application=len(evaluators),
        complement_response_days=10,
    )
    past_id = await driver.open_call(past)
    ids = await driver.register(past_id, generate(applicants(8, rng, 0.3), rng))
    await driver.close(past_id, ids)
    await driver.review(past_id, rng, answered=1.0, answer_after=0)
    await driver.evaluate(past_id, rng, mean=3.6, spread=0.6, late=0)
    winners = await driver.decide(past_id, labelled=3, reserve=1)
    # Support starts at labelling, not before: year 1 runs, its report requested near its
    # anniversary. The last laureate still awaits its contract, for the console to sign.
    start = max(driver.labelled_at(winners))
    await driver.sign_contracts(winners[:-1], start, [1_500_000, 1_400_000, 1_300_000])

    now = datetime.now(UTC)  # this call's publication, after the first one's results
    upcoming = CallSpec(
        year=now.year + 1,
        title=f"Appel à projets clusters {now.year + 1} (démonstration, ouvert)",
        opens_at=now,
        deadline=due_after(now, 30),  # 15:00 in Rabat, as the real calls close
    )
    open_id = await driver.open_call(upcoming)
    await driver.register(open_id, generate(applicants(6, rng, 0.2), rng))
    with contextlib.suppress(TimeoutError):  # a relay down: the notices leave later, by themselves
        await driver.notices_sent()
    return {"past": past_id, "open": open_id}


def calls_in(engine: Engine) -> int:
    with Session(engine) as db:
        return db.exec(select(func.count()).select_from(CallRow)).one()


async def main(arguments: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m rehearsal.demo", description=__doc__.splitlines()[0]
    )
    parser.add_argument(
        "--force", action="store_true", help="ajouter la démonstration à une base non vide"
    )
    args = parser.parse_args(arguments)
    settings = Settings()
    engine = make_engine(settings.database_url)
    migrate(engine)
    if (existing := calls_in(engine)) and not args.force:
        print(
            f"Refus : {settings.database_url} contient déjà {existing} appel(s). "
            "La démonstration s'ajoute à une base vide ; --force pour l'ajouter quand même.",
            file=sys.stderr,
        )
        return 2
    try:
        client = await connect_temporal(settings)
    except RuntimeError as error:
        print(
            f"Le moteur ne répond pas ({settings.temporal_address}) : lancez d'abord ./scripts/run.sh. {error}",
            file=sys.stderr,
        )
        return 2
    tokens = load_tokens(settings.api_tokens, settings.tokens_file)
    evaluators = [a for a in tokens.values() if a.role == Role.EVALUATOR][:3]
    made = await load_demo(
        client,
        engine,
        Storage(settings.documents_url, **storage_options(settings)),
        settings.task_queue,
        evaluators or [Actor(name="Évaluateur démo", role=Role.EVALUATOR)],
    )
    print(
        f"Démonstration chargée : appels {made['past']} (résultats publiés) et {made['open']} (ouvert)."
    )
    print(table(mail_counts(engine), "Courriers par type (data/mail/ dans l'instance intégrée)"))
    print(f"Ouvrez http://127.0.0.1:{os.environ.get('API_PORT', '8000')}/console/")
    return 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
