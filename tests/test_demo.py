"""The demo fills an empty instance with a living system, and refuses a non-empty one."""

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import Engine
from sqlmodel import Session, select, update

from activities.mail import Relay, message_id
from domain.models import DEFAULT_DOCUMENTS, Actor
from domain.stages import Role
from projection.database import make_engine, migrate
from projection.ledger import call_balances
from projection.tables import CallRow, ClusterRow, OutboxRow, UserRow
from rehearsal.demo import DEMO_FINANCE, FUNDED, calls_in, finance_office, load_demo, main
from tests.conftest import CATCHER, Service, mails_to

session_loop = pytest.mark.asyncio(loop_scope="session")
EVE = "eve@evaluation.ma"
# The finance office of the tests' tokens (tests.conftest.TOKENS): one releases, one pays.
FINANCE = [
    Actor(name="Fatima Finances", role=Role.FINANCE),
    Actor(name="Rachid Finances", role=Role.FINANCE),
]


def at(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value) if value else None


async def dates_agree(dev: Service, past_id: str, open_id: str) -> None:
    """Every date the demo's cases show follows from when things happened: registered while
    the call was open, decided after the evaluators' sheets, published after the deadline,
    labelled before (or as) the support begins, nothing due before it was asked."""
    now = datetime.now(UTC)
    for call_id in (past_id, open_id):
        call = (await dev.get(f"/calls/{call_id}")).json()
        opens, deadline = at(call["spec"]["opens_at"]), at(call["spec"]["deadline"])
        published = next(at(e["at"]) for e in call["audit"] if e["action"] == "publish")
        # Opened as it was published, not weeks before the workflows existed.
        assert abs(published - opens) < timedelta(minutes=1)
        page = (await dev.get("/applications", params={"call_id": call_id})).json()
        for item in page["items"]:
            case = (await dev.get(f"/applications/{item['id']}")).json()
            assert opens <= at(case["registered_at"]) < deadline
            if (complements := case["complements"]) is not None:
                assert at(complements["requested_at"]) >= deadline
                if complements["answered_at"] and complements["due_at"]:
                    assert at(complements["answered_at"]) <= at(complements["due_at"])
            if (decision := case["decision"]) is None:
                continue
            result = at(decision["published_at"])
            assert deadline <= at(decision["decided_at"]) <= result <= now
            evaluation = case["evaluation"]
            if evaluation is not None:
                assert not evaluation["overdue"]
                sheets = [at(a["submitted_at"]) for a in evaluation["assignments"]]
                assert all(s is not None and s <= result for s in sheets)
            # What the lists show as due (a redress window): after the results, never before.
            for due in (case["due_at"], (case["redress"] or {}).get("due_at")):
                assert due is None or at(due) > result
            if case["cluster_id"]:
                cluster = (await dev.get(f"/clusters/{case['cluster_id']}")).json()
                labelled = at(cluster["origin"]["labelled_at"])
                assert labelled == result
                for year in cluster["years"]:
                    assert labelled <= at(year["starts_at"]) <= now < at(year["ends_at"])
                    assert year["report_requested_at"] is None  # asked near its anniversary
                due = at(cluster["report_due_at"])
                assert due is None or due > now


@session_loop
async def money_adds_up(dev: Service, past_id: str, open_id: str) -> None:
    """Both calls have a budget; the first's envelope funds four files, the fifth waits for
    want of funds; the balances are the ledger's and stay within the envelope; of the three
    contracts, one first tranche is paid (by another person than who released it), one only
    released, one eligible."""
    past = (await dev.get(f"/calls/{past_id}", role="finance")).json()
    asked = [1_500_000, 1_400_000, 1_300_000]
    year = at(past["spec"]["opens_at"]).year
    assert past["budget"]["first_year"] == year
    assert past["budget"]["envelopes"] == [round(a * FUNDED, 2) for a in asked]
    opened = (await dev.get(f"/calls/{open_id}", role="finance")).json()
    assert opened["budget"]["first_year"] == year + 1
    page = (await dev.get("/applications", params={"call_id": past_id})).json()
    cases = [(await dev.get(f"/applications/{i['id']}")).json() for i in page["items"]]
    assert all(c["data"]["requested_amounts"] == asked for c in cases)
    labelled = [c for c in cases if c["stage"] == "labelled"]
    waiting = [c for c in cases if c["stage"] == "reserve"]
    assert len(labelled) == 4 and len(waiting) == 1
    assert all(c["decision"]["amounts"] == asked for c in labelled)
    assert "fonds insuffisants" in waiting[0]["decision"]["reason"]

    clusters = [(await dev.get(f"/clusters/{c['cluster_id']}")).json() for c in labelled]
    firsts = [k["years"][0]["tranches"][0] for k in clusters if k["years"]]
    assert sorted(t["status"] for t in firsts) == ["eligible", "paid", "released"]
    paid = next(t for t in firsts if t["status"] == "paid")
    assert paid["released_by"] == "Fatima Finances"
    assert paid["payments"][0]["paid_by"] == "Rachid Finances" != paid["released_by"]
    released = next(t for t in firsts if t["status"] == "released")
    assert released["released_by"] and not released["payments"]

    with Session(dev.engine) as db:
        balances = {b.year: b for b in call_balances(db, past_id)}
        upcoming = call_balances(db, open_id)
    assert sorted(balances) == [year, year + 1, year + 2]
    for amount, b in zip(asked, (balances[y] for y in sorted(balances)), strict=True):
        assert b.envelope == round(amount * FUNDED, 2)
        assert b.engaged == 4 * amount <= b.envelope  # four reserved, three of them committed
        assert b.committed == 3 * amount and b.available == b.envelope - b.engaged
        assert b.available < amount  # the reserve file does not fit
    first = balances[year]
    assert first.released == paid["amount"] + released["amount"] and first.paid == paid["amount"]
    assert paid["amount"] == 0.6 * asked[0]
    assert [b.engaged for b in upcoming] == [0, 0, 0]


@session_loop
async def test_demo_makes_decided_open_and_supported_cases(dev: Service) -> None:
    with Session(dev.engine) as db:  # as the embedded run's people have theirs
        db.exec(update(UserRow).where(UserRow.name == "Eve Évaluatrice").values(email=EVE))
        db.commit()
    evaluators = [Actor(name="Eve Évaluatrice", role=Role.EVALUATOR)]
    made = await load_demo(dev.client, dev.engine, dev.storage, dev.task_queue, evaluators, FINANCE)
    past = (await dev.get(f"/calls/{made['past']}")).json()
    assert past["stage"] == "results_published"
    assert {"labelled", "reserve"} <= set(past["counts"]), past["counts"]
    opened = (await dev.get(f"/calls/{made['open']}")).json()
    assert opened["stage"] == "open" and opened["counts"] == {"received": 6}
    with Session(dev.engine) as db:
        clusters = db.exec(select(ClusterRow)).all()
    assert len(clusters) == 4  # three under contract in their first year, one awaiting it
    assert sorted((c.year, c.stage) for c in clusters) == [
        (0, "awaiting_contract"),
        (1, "active"),
        (1, "active"),
        (1, "active"),
    ]
    await dates_agree(dev, made["past"], made["open"])
    await money_adds_up(dev, made["past"], made["open"])
    # Every notice of the demo left, each as one message at the relay, in the console too.
    with Session(dev.engine) as db:
        rows = db.exec(select(OutboxRow)).all()
    assert rows and {r.status for r in rows} == {"sent"}
    kinds = {r.kind for r in rows}
    assert {
        "registered",
        "complements_requested",
        "evaluators_assigned",
        "result_published",
    } <= kinds
    sent = {message_id(r.key, Relay(host="").sender) for r in rows}
    assert sent <= set(CATCHER.messages)
    assert len(mails_to(EVE)) == len([r for r in rows if r.address == EVE]) > 0
    # The open call's dossiers hold generated PDFs, read back as the API serves them.
    received = (await dev.get("/applications", params={"call_id": made["open"]})).json()
    files = [f for item in received["items"] for f in item["files"]]
    assert {f["kind"] for f in files} <= set(DEFAULT_DOCUMENTS) and len(files) >= 6 * 3
    pdf = await dev.get(f"/documents/{files[0]['id']}")
    assert pdf.status_code == 200 and pdf.content.startswith(b"%PDF")


def test_the_demo_adds_a_second_finance_person_when_the_tokens_have_one(engine: Engine) -> None:
    """The embedded run's tokens name one person per role: the demo adds the second of the
    finance office as a user (web.users gives them a token), once."""
    tokens = {"t": Actor(name="Service financier", role=Role.FINANCE)}
    people, added = finance_office(engine, tokens)
    assert [p.name for p in people] == ["Service financier", "Comptable payeur (démonstration)"]
    assert added == [DEMO_FINANCE[1]]
    again, added = finance_office(engine, tokens)
    assert again == people and added == []
    with Session(engine) as db:
        user = db.exec(select(UserRow).where(UserRow.name == DEMO_FINANCE[1])).one()
    assert user.role == "finance"
    both = {"a": FINANCE[0], "b": FINANCE[1]}
    assert finance_office(engine, both) == (FINANCE, [])
    none, added = finance_office(engine, {})  # API_TOKENS without a finance person
    assert [p.name for p in none] == DEMO_FINANCE and added == [DEMO_FINANCE[0]]


@session_loop
async def test_demo_refuses_a_database_that_holds_calls(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    url = f"sqlite:///{tmp_path / 'projection.db'}"
    monkeypatch.setenv("DATABASE_URL", url)
    monkeypatch.setenv("TEMPORAL_ADDRESS", "127.0.0.1:1")  # never reached: refused first
    engine = make_engine(url)
    migrate(engine)
    now = datetime.now(UTC)
    with Session(engine) as db:
        db.add(
            CallRow(
                id="x",
                year=2025,
                title="t",
                stage="open",
                opens_at=now,
                deadline=now,
                state={},
                seq=1,
                updated_at=now,
            )
        )
        db.commit()
    assert calls_in(engine) == 1
    assert await main([]) == 2
    assert "--force" in capsys.readouterr().err
