"""The demo fills an empty instance with a living system, and refuses a non-empty one."""

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlmodel import Session, select, update

from activities.mail import Relay, message_id
from domain.models import DEFAULT_DOCUMENTS, Actor
from domain.stages import Role
from projection.database import make_engine, migrate
from projection.tables import CallRow, ClusterRow, OutboxRow, UserRow
from rehearsal.demo import calls_in, load_demo, main
from tests.conftest import CATCHER, Service, mails_to

session_loop = pytest.mark.asyncio(loop_scope="session")
EVE = "eve@evaluation.ma"


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
async def test_demo_makes_decided_open_and_supported_cases(dev: Service) -> None:
    with Session(dev.engine) as db:  # as the embedded run's people have theirs
        db.exec(update(UserRow).where(UserRow.name == "Eve Évaluatrice").values(email=EVE))
        db.commit()
    evaluators = [Actor(name="Eve Évaluatrice", role=Role.EVALUATOR)]
    made = await load_demo(dev.client, dev.engine, dev.storage, dev.task_queue, evaluators)
    past = (await dev.get(f"/calls/{made['past']}")).json()
    assert past["stage"] == "results_published"
    assert {"labelled", "reserve"} <= set(past["counts"])
    opened = (await dev.get(f"/calls/{made['open']}")).json()
    assert opened["stage"] == "open" and opened["counts"] == {"received": 6}
    with Session(dev.engine) as db:
        clusters = db.exec(select(ClusterRow)).all()
    assert len(clusters) == 3  # two under contract in their first year, one awaiting it
    assert sorted((c.year, c.stage) for c in clusters) == [
        (0, "awaiting_contract"),
        (1, "active"),
        (1, "active"),
    ]
    await dates_agree(dev, made["past"], made["open"])
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
