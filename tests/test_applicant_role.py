"""The association as an actor (Role.APPLICANT, the portal's): it registers its dossier with its
files in one update through the staff's own command, the staff read who acted, and it takes no
transition but its own; no token, account or console session carries its role."""

import json
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from fastapi import Request
from sqlalchemy import Engine
from sqlmodel import Session, select

from domain.bodies import EligibleDecision
from domain.lifecycle import TRANSITIONS, allowed_actions
from domain.models import Actor, ApplicationInput, Deposit
from domain.stages import Action, ApplicationStage, ClusterStage, Role
from projection.tables import AuditRow, DocumentRow, UserRow
from tests.conftest import APPLICATION, PDF_BYTES, Service, secret
from tests.test_authorization import console_message
from web import identity
from web.applications import APPLICATIONS
from web.calls import register
from web.errors import ApiError
from web.tokens import PERSON_ROLES, load_tokens, parse_tokens

on_the_service = pytest.mark.asyncio(loop_scope="session")
SALMA = Actor(name="Salma Bennani — Association Souss Agro", role=Role.APPLICANT)
# The rows the association takes in the portal, and no other.
APPLICANT_ROWS = {
    Action.REGISTER_APPLICATION,
    Action.ADD_DOCUMENT,
    Action.SUBMIT_COMPLEMENTS,
    Action.REQUEST_REVIEW,
    Action.RECORD_REPORT,
    Action.ADD_CLUSTER_DOCUMENT,
}
APPLICANT_LABEL = "candidat, via le portail"


def request_for(service: Service) -> Request:
    """A request on the service's own app, as the portal's routes hand to web.calls.register."""
    app = service.http._transport.app  # type: ignore[attr-defined]
    return Request({"type": "http", "app": app, "method": "POST", "path": "/", "headers": []})


async def chunks(content: bytes) -> AsyncIterator[bytes]:
    yield content


async def stored(service: Service, kind: str, filename: str, content: bytes) -> Deposit:
    """The file's bytes in the service's storage first, as the portal keeps each upload."""
    kept = await service.storage.save(chunks(content), 2**20)
    return kept.deposit(uuid.uuid4().hex, kind, filename)


async def open_call(service: Service) -> str:
    call_id = await service.new_call()
    published = await service.post(f"/calls/{call_id}/publish", role="admin")
    assert published.status_code == 200, published.text
    return call_id


def test_the_applicant_takes_exactly_its_rows_and_the_desk_keeps_them() -> None:
    held = {action for action, row in TRANSITIONS.items() if Role.APPLICANT in row.roles}
    assert held == APPLICANT_ROWS
    for action in APPLICANT_ROWS:
        assert {Role.ADMIN, Role.OPERATOR} <= TRANSITIONS[action].roles, action
    assert allowed_actions(ApplicationStage.COMPLEMENTS_REQUESTED, Role.APPLICANT) == [
        Action.ADD_DOCUMENT,
        Action.SUBMIT_COMPLEMENTS,
    ]
    assert allowed_actions(ApplicationStage.REJECTED, Role.APPLICANT) == [
        Action.ADD_DOCUMENT,
        Action.REQUEST_REVIEW,
    ]
    assert allowed_actions(ApplicationStage.ELIGIBILITY_REVIEW, Role.APPLICANT) == []
    assert allowed_actions(ClusterStage.REPORT_OVERDUE, Role.APPLICANT) == [
        Action.ADD_CLUSTER_DOCUMENT,
        Action.RECORD_REPORT,
    ]


@on_the_service
async def test_a_registration_by_the_applicant_with_its_files(skipping: Service) -> None:
    """Registered with two files in one update: the staff read them on the case, the projection
    holds them, and the trail names the applicant, on the API and in the console."""
    call_id = await open_call(skipping)
    statutes = await stored(skipping, "statuts de l'association", "statuts.pdf", PDF_BYTES)
    budget = await stored(
        skipping, "budget prévisionnel", "budget.pdf", PDF_BYTES + b"% budget 2026\n"
    )
    data = ApplicationInput.model_validate({**APPLICATION, "cluster_name": "Cluster Souss Agro"})
    request = request_for(skipping)
    with Session(skipping.engine) as db:
        state = await register(request, db, call_id, data, SALMA, "depot-1", [statutes, budget])
    assert [f.id for f in state.files] == [statutes.id, budget.id]

    case = (await skipping.get(f"/applications/{state.id}")).json()
    assert case["stage"] == "received"
    files = {f["id"]: f for f in case["files"]}
    assert set(files) == {statutes.id, budget.id}
    assert files[budget.id]["sha256"] == budget.sha256
    assert files[budget.id]["kind"] == "budget prévisionnel"
    assert {f["uploaded_by"] for f in files.values()} == {SALMA.name}
    [registered] = [e for e in case["audit"] if e["action"] == "register"]
    assert (registered["actor"], registered["role"]) == (SALMA.name, "applicant")
    listed = (await skipping.get(f"/applications/{state.id}/documents")).json()
    assert {d["filename"] for d in listed} == {"statuts.pdf", "budget.pdf"}
    got = await skipping.get(f"/documents/{budget.id}")
    assert got.status_code == 200 and got.content == PDF_BYTES + b"% budget 2026\n"

    with Session(skipping.engine) as db:
        rows = db.exec(select(DocumentRow).where(DocumentRow.case_id == state.id)).all()
        audit = db.exec(select(AuditRow).where(AuditRow.case_id == state.id)).all()
    assert {(r.id, r.case_kind, r.sha256, r.uploaded_by) for r in rows} == {
        (statutes.id, "application", statutes.sha256, SALMA.name),
        (budget.id, "application", budget.sha256, SALMA.name),
    }
    assert [(a.action, a.role, a.payload["files"]) for a in audit] == [("register", "applicant", 2)]

    console = await skipping.signed_in("t-operator")
    page = await console.get(f"/console/candidatures/{state.id}")
    assert page.status_code == 200
    assert f"{SALMA.name} ({APPLICANT_LABEL})" in page.text
    assert "statuts.pdf" in page.text and "budget.pdf" in page.text

    # The same key again: the first deposit's answer, nothing registered twice.
    with Session(skipping.engine) as db:
        again = await register(request, db, call_id, data, SALMA, "depot-1", [statutes, budget])
    assert again.id == state.id


@on_the_service
async def test_the_applicant_is_refused_what_is_not_its_own(skipping: Service) -> None:
    call_id = await open_call(skipping)
    statutes = await stored(skipping, "statuts de l'association", "statuts.pdf", PDF_BYTES)
    data = ApplicationInput.model_validate(APPLICATION)
    request = request_for(skipping)
    with Session(skipping.engine) as db:
        with pytest.raises(ApiError) as twice:
            await register(request, db, call_id, data, SALMA, None, [statutes, statutes])
        assert twice.value.status_code == 422
        assert "deux fois" in str(twice.value.detail)
        state = await register(request, db, call_id, data, SALMA, None, [statutes])

        mark_eligible = APPLICATIONS.actions[Action.MARK_ELIGIBLE]
        path = f"/applications/{state.id}/mark_eligible"
        with pytest.raises(ApiError) as refused:
            await mark_eligible.send(request, state.id, SALMA, db, EligibleDecision(), None, path)
        assert refused.value.status_code == 403
        assert "applicant" in str(refused.value.detail)
    case = (await skipping.get(f"/applications/{state.id}")).json()
    assert case["stage"] == "received"
    assert [e["action"] for e in case["audit"]] == ["register"]


def test_no_token_account_or_session_carries_the_applicant_role(
    tmp_path: Path, engine: Engine
) -> None:
    assert Role.APPLICANT not in PERSON_ROLES and Role.SYSTEM not in PERSON_ROLES
    with pytest.raises(ValueError, match="entrée invalide"):
        parse_tokens(f"{secret('t-salma')}=applicant:Salma Bennani")
    tokens_file = tmp_path / "tokens.json"
    tokens_file.write_text(
        json.dumps({secret("t-salma"): {"role": "applicant", "name": "Salma Bennani"}})
    )
    with pytest.raises(ValueError, match="applicant"):
        load_tokens("", tokens_file)
    with Session(engine) as db, pytest.raises(identity.IdentityError, match="Rôle inconnu"):
        identity.add_user(db, "Salma Bennani", "applicant", "salma@souss-agro.ma")


@on_the_service
async def test_staff_accounts_are_not_given_the_applicant_role(skipping: Service) -> None:
    """The users' page offers the staff's roles alone, and refuses the applicant's if sent."""
    console = await skipping.signed_in("t-admin")
    page = await console.get("/console/utilisateurs")
    assert page.status_code == 200
    assert 'value="operator"' in page.text and 'value="applicant"' not in page.text
    assert APPLICANT_LABEL not in page.text
    added = await console.post(
        "/console/utilisateurs",
        data={"action": "ajouter", "name": "Salma Bennani", "role": "applicant"},
    )
    assert added.status_code == 303
    assert console_message(added)["kind"] == "erreur"
    with Session(skipping.engine) as db:
        assert db.exec(select(UserRow).where(UserRow.name == "Salma Bennani")).first() is None
