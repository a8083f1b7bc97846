"""The demo fills an empty instance with a living system, and refuses a non-empty one."""

from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlmodel import Session, select, update

from activities.mail import Relay, message_id
from domain.models import DEFAULT_DOCUMENTS, Actor
from domain.stages import Role
from domain.support import REPORT_FILES
from projection.database import make_engine, migrate
from projection.tables import CallRow, ClusterRow, OutboxRow, UserRow
from rehearsal.demo import calls_in, load_demo, main
from tests.conftest import CATCHER, Service, mails_to

session_loop = pytest.mark.asyncio(loop_scope="session")
EVE = "eve@evaluation.ma"


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
    assert len(clusters) == 3
    assert {(c.year, c.stage) for c in clusters} == {(2, "under_review")}  # renewal years
    case = (await dev.get(f"/clusters/{clusters[0].id}")).json()
    assert [e["action"] for e in case["audit"]].count("request_report") == 2
    assert sorted({f["kind"] for f in case["files"]}) == sorted(REPORT_FILES.values())
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
    assert {"report_requested", "support_decided"} <= kinds
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
