"""A committee session on the time-skipping server, on SQLite and PostgreSQL, through its
workflow's updates (the API's own tests go through HTTP): convened with its agenda frozen and
its members called, the quorum missing then reached, a member withdrawing from a file, three
outcomes recorded by the files' own workflows, the session closed with its PV."""

import asyncio
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import pytest_asyncio
from sqlalchemy import Engine
from sqlmodel import Session, select
from temporalio.client import WorkflowHandle, WorkflowUpdateFailedError
from temporalio.exceptions import ApplicationError
from temporalio.testing import WorkflowEnvironment

from activities.minutes import key_filename
from activities.signing import verify
from domain.ids import session_workflow_id
from domain.models import NOT_ALLOWED, Actor
from domain.session import (
    Attendance,
    ItemDecision,
    ItemOpening,
    PvCorrection,
    ScanDeposit,
    SessionSpec,
    SessionStart,
    SessionState,
)
from domain.stages import Role, SessionStage
from projection.tables import OutboxRow, SessionItemRow
from tests.conftest import Service, end_cases, eventually, running_service
from tests.test_evaluation import DRISS, EVE, NADIA, NAMES, eligible_applications, ok, score
from tests.test_signing import Authority
from workflows.session import SessionWorkflow

pytestmark = pytest.mark.asyncio(loop_scope="session")
PANEL = [NAMES[EVE], NAMES[DRISS], NAMES[NADIA]]
PRESIDENT, SECRETARY = "Karim Comité", "Salma Comité"
MEMBERS = ["Hassan Comité", "Leila Comité", "Youssef Comité"]
ADMIN = Actor(name="Amina Admin", role=Role.ADMIN)


def member(name: str) -> Actor:
    return Actor(name=name, role=Role.COMMITTEE)


async def scored_files(service: Service, marks: dict[str, int]) -> tuple[str, dict[str, str]]:
    """A call whose files are evaluated (each marked `marks[name]` on every criterion)."""
    call_id, ids = await eligible_applications(service, list(marks))
    for case, mark in zip(ids, marks.values(), strict=True):
        await ok(
            await service.post(
                f"/applications/{case}/assign_evaluators", role="admin", json={"evaluators": PANEL}
            )
        )
        await score(service, case, {r: (mark,) * 5 for r in (EVE, DRISS, NADIA)})
    return call_id, dict(zip(marks, ids, strict=True))


async def start_session(service: Service, call_id: str, **changes: object) -> WorkflowHandle:
    spec = SessionSpec.model_validate(
        {
            "title": "Comité de pilotage — séance 1",
            "call_ids": [call_id],
            "meets_at": datetime.now(UTC) + timedelta(days=7),
            "place": "Rabat, salle du conseil",
            "members": [
                {"name": PRESIDENT, "function": "président"},
                {"name": SECRETARY, "function": "secrétaire"},
                *(
                    {"name": n, "organisation": "Université Alpha" if n == MEMBERS[0] else None}
                    for n in MEMBERS
                ),
            ],
        }
        | changes
    )
    session_id = uuid.uuid4().hex[:12]
    state = SessionState(
        id=session_id, stage=SessionStage.DRAFT, spec=spec, updated_at=datetime.now(UTC)
    )
    handle = await service.client.start_workflow(
        SessionWorkflow.run,
        SessionStart(state=state),
        id=session_workflow_id(session_id),
        task_queue=service.task_queue,
    )
    await handle.execute_update(SessionWorkflow.create_session, ADMIN)
    return handle


def acting(handle: WorkflowHandle) -> Callable[..., Awaitable[SessionState]]:
    """The session's update `name` by `actor` (with its body), answering its new state."""

    async def act(name: str, actor: Actor, body: object = None) -> SessionState:
        update = getattr(SessionWorkflow, name)
        args = [actor] if body is None else [actor, body]
        return (await handle.execute_update(update, args=args)).state

    return act


async def refused(update, *args: object, **kw: object) -> str:  # noqa: ANN001
    with pytest.raises(WorkflowUpdateFailedError) as error:
        await update(*args, **kw)
    return str(error.value.cause)


async def test_a_session_decides_three_files_with_quorum_and_a_withdrawal(
    skipping: Service,
) -> None:
    service = skipping
    call_id, files = await scored_files(
        service, {"Cluster Alpha": 5, "Cluster Beta": 4, "Cluster Gamma": 2}
    )
    alpha, beta, gamma = files.values()
    # A member of the session belongs to one of Beta's member organisations: flagged.
    handle = await start_session(service, call_id)
    act = acting(handle)

    convened = await act("convene", ADMIN)
    assert convened.stage == SessionStage.CONVENED
    assert [i.application_id for i in convened.agenda] == [alpha, beta, gamma]  # best first
    assert convened.pack is not None
    with Session(service.engine) as db:
        called = db.exec(select(OutboxRow).where(OutboxRow.kind == "session_convened")).all()
        items = db.exec(select(SessionItemRow).order_by(SessionItemRow.rank)).all()
    assert sorted(r.recipient.split(":", 1)[1] for r in called) == sorted(
        [PRESIDENT, SECRETARY, *MEMBERS]
    )
    assert "Cluster Alpha" in called[0].body and "séance" in called[0].subject.lower()
    assert [(i.application_id, i.status) for i in items if i.session_id == convened.id] == [
        (alpha, "pending"),
        (beta, "pending"),
        (gamma, "pending"),
    ]

    # On the agenda: the case page's decision is refused (the session decides).
    direct = await service.post(
        f"/applications/{alpha}/label", role="committee", json={"reason": "Oui."}
    )
    assert direct.status_code == 409 and "séance" in direct.json()["detail"]

    # Quorum: five voting members, more than half is three.
    await act("record_attendance", member(SECRETARY), _attendance([PRESIDENT, SECRETARY]))
    message = await refused(handle.execute_update, SessionWorkflow.open_session, member(SECRETARY))
    assert "Quorum non atteint : 2 membre(s) votant(s) présent(s), il en faut 3" in message
    present = [PRESIDENT, SECRETARY, *MEMBERS[:2]]
    await act("record_attendance", member(SECRETARY), _attendance(present))
    opened = await act("open_session", member(SECRETARY))
    assert opened.stage == SessionStage.OPEN

    # Alpha: decided before opening is refused; opened, then labelled with amounts.
    decision = _decision(alpha, "labelled", 4, amounts=[1_200_000, 1_000_000])
    message = await refused(
        handle.execute_update, SessionWorkflow.decide_item, args=[member(SECRETARY), decision]
    )
    assert "Ouvrez d'abord le dossier" in message
    await act("open_item", member(SECRETARY), _opening(alpha))
    wrong = _decision(alpha, "labelled", 3)
    message = await refused(
        handle.execute_update, SessionWorkflow.decide_item, args=[member(SECRETARY), wrong]
    )
    assert "3 voix exprimées" in message and "4 votant(s)" in message
    await act("decide_item", member(SECRETARY), decision)

    # Beta: two withdraw, the quorum is lost on this file; one comes back in.
    await act("open_item", member(SECRETARY), _opening(beta, [MEMBERS[0], MEMBERS[1]]))
    message = await refused(
        handle.execute_update,
        SessionWorkflow.decide_item,
        args=[member(SECRETARY), _decision(beta, "reserve", 2)],
    )
    assert "Quorum non atteint sur ce dossier" in message
    await act("record_attendance", member(SECRETARY), _attendance([*present, MEMBERS[2]]))
    await act("decide_item", member(SECRETARY), _decision(beta, "reserve", 3))

    # Gamma: rejected, one against.
    await act("open_item", member(SECRETARY), _opening(gamma))
    await act(
        "decide_item",
        member(SECRETARY),
        _decision(gamma, "rejected", 5, against=1, codes=["note_globale"]),
    )

    closed = await act("close_session", member(PRESIDENT))
    assert closed.stage == SessionStage.CLOSED and closed.pv is not None
    assert [i.decision.outcome for i in closed.agenda if i.decision] == [
        "labelled",
        "reserve",
        "rejected",
    ]
    beta_item = closed.item(beta)
    assert beta_item is not None and beta_item.withdrawn == [MEMBERS[0], MEMBERS[1]]
    assert beta_item.decision is not None and MEMBERS[0] not in beta_item.decision.voters

    # Each file's own workflow recorded the session's decision.
    for case, stage in ((alpha, "labelled"), (beta, "reserve"), (gamma, "rejected")):
        seen = (await service.get(f"/applications/{case}", role="committee")).json()
        assert seen["stage"] == stage
        assert seen["decision"]["decided_by"] == SECRETARY
    alpha_seen = (await service.get(f"/applications/{alpha}", role="committee")).json()
    assert alpha_seen["decision"]["reason"].startswith("Le dossier atteint les seuils")


def _attendance(names: list[str]) -> Attendance:
    return Attendance(present=names)


def _opening(application_id: str, withdrawn: list[str] | None = None) -> ItemOpening:
    return ItemOpening(application_id=application_id, withdrawn=withdrawn or [])


def _decision(
    application_id: str,
    outcome: str,
    voters: int,
    against: int = 0,
    amounts: list[float] | None = None,
    codes: list[str] | None = None,
) -> ItemDecision:
    return ItemDecision(
        application_id=application_id,
        outcome=outcome,
        amounts=amounts or [],
        votes_for=voters - against,
        votes_against=against,
        reason_codes=codes or ["seuils_atteints"],
        reason="Le comité motive sa décision.",
        internal_note="Discussion animée.",
    )


async def test_results_wait_for_the_pv_signed_and_a_signed_pv_is_corrected_by_a_new_one(
    skipping: Service,
) -> None:
    service = skipping
    call_id, files = await scored_files(service, {"Cluster Delta": 4, "Cluster Epsilon": 1})
    delta, epsilon = files.values()
    handle = await start_session(service, call_id)
    act = acting(handle)

    await act("convene", ADMIN)
    await act("record_attendance", member(SECRETARY), _attendance([PRESIDENT, SECRETARY, *MEMBERS]))
    await act("open_session", member(PRESIDENT))
    await act("open_item", member(SECRETARY), _opening(delta))
    await act("decide_item", member(SECRETARY), _decision(delta, "labelled", 5))
    await act("open_item", member(SECRETARY), _opening(epsilon))
    await act(
        "decide_item", member(SECRETARY), _decision(epsilon, "rejected", 5, codes=["criteres"])
    )
    closed = await act("close_session", member(PRESIDENT))
    assert closed.pv is not None and closed.pv.number == 1

    publish = f"/calls/{call_id}/publish_results"
    early = await service.post(publish, role="admin", json={"confirme": True})
    assert early.status_code == 409
    assert "2 attendent la signature du procès-verbal de leur séance" in early.json()["detail"]

    # A member who is not a signatory cannot sign; a scan deposited signs it.
    message = await refused(handle.execute_update, SessionWorkflow.sign_pv, member(MEMBERS[0]))
    assert "Seuls le président et le secrétaire" in message
    # Without a signing key, the signature is refused in French, the scan's way shown.
    with pytest.raises(WorkflowUpdateFailedError) as no_key:
        await handle.execute_update(SessionWorkflow.sign_pv, member(PRESIDENT))
    assert isinstance(no_key.value.cause, ApplicationError)
    assert no_key.value.cause.type == NOT_ALLOWED
    assert no_key.value.cause.message.startswith(
        f"Aucune clé de signature pour {PRESIDENT} : déposez le PV signé scanné"
    )
    scan = service.storage.keep_document(b"%PDF-1.7 scan du PV signe")
    signed = await act("deposit_signed_pv", ADMIN, ScanDeposit(sha256=scan))
    assert signed.stage == SessionStage.SIGNED
    assert [(s.function, s.scan) for s in signed.pvs[0].signatures] == [
        ("président", True),
        ("secrétaire", True),
    ]

    # A correction is a new PV naming the one it corrects; the first stays as it was.
    corrected = await act("correct_pv", ADMIN, PvCorrection(reason="Coquille dans un nom."))
    assert corrected.stage == SessionStage.CLOSED
    assert [(p.number, p.corrects) for p in corrected.pvs] == [(1, None), (2, 1)]
    assert corrected.pvs[0].signed_sha256 == scan
    again = await service.post(publish, role="admin", json={"confirme": True})
    assert again.status_code == 409
    await act("deposit_signed_pv", ADMIN, ScanDeposit(sha256=scan))
    await ok(await service.post(publish, role="admin", json={"confirme": True}))

    # The rejected file asks for a review: its dossier is compiled by the clock.
    async def announced() -> bool:
        case = (await service.get(f"/applications/{epsilon}")).json()
        return bool(case["redress"] and case["redress"]["due_at"])

    await service.env.sleep(timedelta(minutes=1))
    await eventually(announced, what="the rejection announced")
    await ok(
        await service.post(
            f"/applications/{epsilon}/request_review", json={"reason": "Notes contestées."}
        ),
        "review_requested",
    )

    async def compiled() -> bool:
        audit = (await service.get(f"/applications/{epsilon}")).json()["audit"]
        return audit[-1]["action"] == "compile_redress_dossier"

    await eventually(compiled, what="the redress dossier")


@pytest_asyncio.fixture(loop_scope="session")
async def signing(
    skipping_env: WorkflowEnvironment, any_engine: Engine, tmp_path: Path
) -> AsyncIterator[tuple[Service, Authority]]:
    """A service whose president and secretary have their signing keys, from a throw-away
    certificate authority."""
    authority = Authority("Autorité de certification du programme (essai)")
    folder = tmp_path / "signing"
    folder.mkdir()
    for name in (PRESIDENT, SECRETARY):
        (folder / key_filename(name)).write_bytes(authority.pkcs12(name, b"essai"))
    async with running_service(
        skipping_env, any_engine, signing_keys_dir=folder, signing_passphrase="essai"
    ) as service:
        yield service, authority
        await end_cases(service)


async def test_the_pv_is_signed_by_the_president_and_the_secretary_before_any_result_goes(
    signing: tuple[Service, Authority],
) -> None:
    service, authority = signing
    call_id, files = await scored_files(service, {"Cluster Zeta": 4})
    (zeta,) = files.values()
    handle = await start_session(service, call_id)
    act = acting(handle)

    await act("convene", ADMIN)
    await act("record_attendance", member(SECRETARY), _attendance([PRESIDENT, SECRETARY, *MEMBERS]))
    await act("open_session", member(PRESIDENT))
    await act("open_item", member(SECRETARY), _opening(zeta))
    await act("decide_item", member(SECRETARY), _decision(zeta, "labelled", 5, amounts=[9e5]))
    await act("close_session", member(PRESIDENT))

    once = await act("sign_pv", member(PRESIDENT))
    assert once.stage == SessionStage.CLOSED  # the secretary's signature still missing
    message = await refused(handle.execute_update, SessionWorkflow.sign_pv, member(PRESIDENT))
    assert "a déjà signé" in message
    publish = f"/calls/{call_id}/publish_results"
    assert (await service.post(publish, role="admin", json={"confirme": True})).status_code == 409

    signed = await act("sign_pv", member(SECRETARY))
    assert signed.stage == SessionStage.SIGNED
    pv = signed.pvs[0]
    assert pv.signed_sha256 and pv.signed_sha256 != pv.sha256
    content = service.storage.content(pv.signed_sha256)
    found = await asyncio.to_thread(verify, content, [authority.root])  # it runs a loop of its own
    assert [(s.function, s.signer) for s in found] == [
        ("président", PRESIDENT),
        ("secrétaire", SECRETARY),
    ]
    assert content.startswith(service.storage.content(pv.sha256))  # the PV as built, unchanged
    await ok(await service.post(publish, role="admin", json={"confirme": True}))
    await service.env.sleep(timedelta(minutes=1))

    async def announced() -> bool:  # its cluster's case started: nothing left half-done
        case = (await service.get(f"/applications/{zeta}")).json()
        return case["decision"]["published_at"] is not None

    await eventually(announced, what="the result announced")
