"""Load a living demo into the embedded instance: `python -m rehearsal.demo [--force]`.

A call run through to its published results, an open call with received applications, and the
labelled clusters in their first support year, all made now by the real workflows on the real
clock: every date the console shows is when it happened, so none contradicts another. Both calls
have a budget: the first's envelope funds four laureates, the next file waits on the reserve
list for want of funds; of the three contracts signed, one has its first tranche released and
paid (by two people of the finance office), one released only, one eligible. Run it while
`./scripts/run.sh` runs. It refuses a projection that already holds calls, unless --force.
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
from projection.tables import CallRow, UserRow
from rehearsal.driver import Clock, Driver, generate
from rehearsal.report import mail_counts, money, table
from rehearsal.scenario import Scenario
from settings import Settings, connect_temporal, storage_options
from web.identity import add_user
from web.tokens import load_tokens

SEED = 2025
# What each file asks per contract year, as its contract plans it (dégressif).
SUPPORT = {"years": 3, "amount": 1_500_000, "decrease": 100_000}
FUNDED = 4.5  # the first call's envelope, in files' requests: four funded, the fifth waits
# The finance office's people the demo adds when the tokens give fewer than two: one releases
# a tranche, another pays it.
DEMO_FINANCE = ["Ordonnateur (démonstration)", "Comptable payeur (démonstration)"]


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
            "support": SUPPORT,
        }
    )


async def load_demo(
    client: Client,
    engine: Engine,
    storage: Storage,
    task_queue: str,
    evaluators: list[Actor],
    finance: list[Actor],
) -> dict[str, str]:
    """Make the demo's cases; answer the ids of the two calls. `finance`: two people of the
    finance office, the first releases the tranches, the second pays them."""
    releaser, payer = finance
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
    drawn = applicants(8, rng, 0.3)
    filed, amounts = generate(drawn, rng), drawn.support.requested()
    # Contract year 1 is this year: support starts at labelling, now.
    await driver.set_budget(past_id, now.year, [round(a * FUNDED, 2) for a in amounts])
    ids = await driver.register(past_id, filed)
    await driver.close(past_id, ids)
    await driver.review(past_id, rng, answered=1.0, answer_after=0)
    await driver.evaluate(past_id, rng, mean=4.0, spread=0.5, late=0)
    # The funds decide how many are labelled: the first file that does not fit waits.
    winners = await driver.decide(past_id, labelled=len(ids), reserve=1)
    # Support starts at labelling, not before: year 1 runs, its report requested near its
    # anniversary. The last laureate still awaits its contract, for the console to sign.
    start = max(driver.labelled_at(winners))
    signed = winners[:-1]
    await driver.sign_contracts(signed, start, amounts)
    # The first tranches, eligible once the contract is signed: one released and paid (by
    # two people), one released only, one left for the console.
    for cluster_id, paid in zip(signed[:2], (True, False), strict=False):
        await driver.release(cluster_id, "1-1", releaser)
        if paid:
            await driver.pay(cluster_id, "1-1", payer)

    now = datetime.now(UTC)  # this call's publication, after the first one's results
    upcoming = CallSpec(
        year=now.year + 1,
        title=f"Appel à projets clusters {now.year + 1} (démonstration, ouvert)",
        opens_at=now,
        deadline=due_after(now, 30),  # 15:00 in Rabat, as the real calls close
    )
    open_id = await driver.open_call(upcoming)
    # Its contracts would start next year: an envelope for four files from then on.
    await driver.set_budget(open_id, now.year + 1, [a * 4 for a in amounts])
    await driver.register(open_id, generate(applicants(6, rng, 0.2), rng))
    with contextlib.suppress(TimeoutError):  # a relay down: the notices leave later, by themselves
        await driver.notices_sent()
    return {"past": past_id, "open": open_id}


def finance_office(engine: Engine, tokens: dict[str, Actor]) -> tuple[list[Actor], list[str]]:
    """Two people of the finance office: those the tokens name first, then the demo's own,
    added as users when missing (web.users gives them a token). Answers them, and the names
    the demo added."""
    people = [a for a in tokens.values() if a.role == Role.FINANCE][:2]
    added = []
    with Session(engine) as db:
        for name in DEMO_FINANCE[len(people) :]:  # the payer, or both
            if db.exec(select(UserRow).where(UserRow.name == name)).first() is None:
                add_user(db, name, Role.FINANCE, f"{name.split()[0].lower()}@clusters.localhost")
                added.append(name)
            people.append(Actor(name=name, role=Role.FINANCE))
    return people, added


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
    finance, added = finance_office(engine, tokens)
    made = await load_demo(
        client,
        engine,
        Storage(settings.documents_url, **storage_options(settings)),
        settings.task_queue,
        evaluators or [Actor(name="Évaluateur démo", role=Role.EVALUATOR)],
        finance,
    )
    print(
        f"Démonstration chargée : appels {made['past']} (résultats publiés) et {made['open']} (ouvert)."
    )
    for name in added:
        print(
            f"Service financier : « {name} » ajouté(e) ; son jeton : python -m web.users token '{name}'"
        )
    with Session(engine) as db:
        print(table(money(db, made["past"]), f"Budget de l'appel {made['past']} (MAD)"))
    print(table(mail_counts(engine), "Courriers par type (data/mail/ dans l'instance intégrée)"))
    print(f"Ouvrez http://127.0.0.1:{os.environ.get('API_PORT', '8000')}/console/")
    return 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
