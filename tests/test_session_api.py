"""The committee's sessions through the JSON API: prepared and revised (members and calls
checked first), read by the committee and the programme's managers only, sat from convening to
the PV deposited and corrected, on the time-skipping server (SQLite and PostgreSQL); the meeting
pack and each PV served as stored; a decision's motivation and internal note read back from the
session's audit trail, the note for staff alone."""

import hashlib
import io

import pytest
from PIL import Image
from sqlmodel import Session

from domain.ids import session_workflow_id
from domain.models import Actor
from domain.stages import Role
from projection import queries, sessions, visibility
from projection.tables import CommitteeSessionRow
from tests.conftest import PDF_BYTES, Service, auth
from tests.test_api import open_call
from tests.test_session_workflow import MEMBERS, PRESIDENT, SECRETARY, scored_files, start_session

pytestmark = pytest.mark.asyncio(loop_scope="session")
# The tests' committee accounts (conftest.TOKENS): Karim presides, Salma is secretary.
KARIM, SALMA, HASSAN, LEILA, YOUSSEF = (
    "committee",
    "committee2",
    "committee3",
    "committee4",
    "committee5",
)
CLUSTER_MEMBER = "Aero Parts SA"  # one of every test application's members (conftest)


def spec(call_ids: list[str], **changes: object) -> dict:
    return {
        "title": "Comité de pilotage — séance de printemps",
        "call_ids": call_ids,
        "meets_at": "2027-04-15T10:00",
        "place": "Rabat",
        "members": [
            {"name": PRESIDENT, "function": "président"},
            {"name": SECRETARY, "function": "secrétaire"},
            {"name": MEMBERS[0]},
        ],
        **changes,
    }


async def pdf(service: Service, path: str, role: str = "committee") -> bytes:
    answer = await service.http.get(path, headers=auth(role))
    assert answer.status_code == 200, answer.text
    assert answer.headers["content-type"] == "application/pdf"
    return answer.content


def sha(content: bytes) -> str:
    return hashlib.sha256(content).hexdigest()


async def test_a_session_sat_through_the_api(skipping: Service) -> None:
    service = skipping
    call_id, files = await scored_files(service, {"Cluster Alpha": 5, "Cluster Beta": 3})
    alpha, beta = files.values()
    # Hassan belongs to a member organisation of every file: a likely conflict on each. Youssef
    # is a committee account outside the session.
    members = [
        {"name": PRESIDENT, "function": "président"},
        {"name": SECRETARY, "function": "secrétaire"},
        {"name": MEMBERS[0], "organisation": CLUSTER_MEMBER},
        {"name": MEMBERS[1]},
    ]
    handle = await start_session(service, call_id, members=members)
    session_id = handle.id.removeprefix("session-")
    base = f"/sessions/{session_id}"

    # Read by the committee and the managers; an operator or an evaluator is refused.
    for role in ("operator", "evaluator"):
        for path in ("/sessions", base, f"{base}/pack.pdf", f"{base}/pv.pdf"):
            refused = await service.get(path, role=role)
            assert refused.status_code == 403, (role, path, refused.text)
    listed = (await service.get("/sessions", role="admin")).json()
    assert [(s["id"], s["stage"], s["call_ids"]) for s in listed["items"]] == [
        (session_id, "session_draft", [call_id])
    ]
    assert (listed["items"][0]["decided"], listed["items"][0]["pending"]) == (0, 0)
    draft = (await service.get(base, role="admin")).json()
    assert draft["allowed_actions"] == ["revise_session", "convene"]
    assert (await service.get(base, role=KARIM)).json()["allowed_actions"] == []
    early = await service.get(f"{base}/pack.pdf", role="admin")
    assert early.status_code == 404 and "établi à la convocation" in early.json()["detail"]

    # Convened: the agenda frozen best first, each file's likely conflict named; the pack served.
    convened = await service.post(f"{base}/convene", role="admin")
    assert convened.status_code == 200, convened.text
    agenda = convened.json()["agenda"]
    assert [(i["application_id"], i["rank"]) for i in agenda] == [(alpha, 1), (beta, 2)]
    assert agenda[0]["score"] > agenda[1]["score"] and agenda[0]["pending"]
    assert [c["member"] for c in agenda[0]["likely"]] == [MEMBERS[0]]
    assert CLUSTER_MEMBER in agenda[0]["likely"][0]["why"]
    pack = convened.json()["pack"]
    assert pack["url"] == f"{base}/pack.pdf"
    assert sha(await pdf(service, pack["url"])) == pack["sha256"]

    # A member sits; a committee account outside the session may act in nothing.
    seen = {role: (await service.get(base, role=role)).json() for role in (HASSAN, YOUSSEF)}
    assert seen[HASSAN]["allowed_actions"] == [
        "record_attendance",
        "open_session",
        "add_item",
        "remove_item",
    ]
    assert seen[YOUSSEF]["allowed_actions"] == []
    assert seen[YOUSSEF]["quorum"] == {"voting_present": 0, "needed": 3, "reached": False}

    # The wrong stage: 409 naming where the session stands and what it allows.
    wrong = await service.post(f"{base}/close_session", role=KARIM)
    assert wrong.status_code == 409, wrong.text
    assert wrong.json()["stage"] == "convened"
    assert "record_attendance" in wrong.json()["allowed_actions"]
    # Bad input: a clear French 422.
    bad = await service.post(
        f"{base}/record_attendance", role=SALMA, json={"present": [PRESIDENT, PRESIDENT]}
    )
    assert bad.status_code == 422, bad.text
    stranger = await service.post(
        f"{base}/record_attendance", role=SALMA, json={"present": ["Youssef Comité"]}
    )
    assert stranger.status_code == 422 and "Non membre(s) de la séance" in stranger.text

    # Quorum: four voting members, more than half is three.
    present = [PRESIDENT, SECRETARY, MEMBERS[0], MEMBERS[1]]
    attended = await service.post(
        f"{base}/record_attendance", role=SALMA, json={"present": present}
    )
    assert attended.status_code == 200, attended.text
    assert attended.json()["present"] == present
    assert attended.json()["quorum"] == {"voting_present": 4, "needed": 3, "reached": True}
    assert (await service.post(f"{base}/open_session", role=KARIM)).status_code == 200

    # Alpha: the flagged member must withdraw or clear the flag; he withdraws, three vote.
    unclear = await service.post(f"{base}/open_item", role=SALMA, json={"application_id": alpha})
    assert unclear.status_code == 422 and "Conflit probable" in unclear.json()["detail"]
    opened = await service.post(
        f"{base}/open_item",
        role=SALMA,
        json={"application_id": alpha, "withdrawn": [MEMBERS[0]]},
    )
    assert opened.status_code == 200, opened.text
    item = opened.json()["agenda"][0]
    assert item["withdrawn"] == [MEMBERS[0]]
    assert item["quorum"] == {"voting_present": 3, "needed": 3, "reached": True}
    assert opened.json()["current"] == alpha
    unknown_code = {"application_id": alpha, "outcome": "labelled", "votes_for": 3}
    unknown_code["reason_codes"] = ["inconnu"]
    refused_code = await service.post(f"{base}/decide_item", role=SALMA, json=unknown_code)
    assert refused_code.status_code == 422 and "motif(s) inconnu(s)" in refused_code.text
    first = {
        "application_id": alpha,
        "outcome": "reserve",
        "votes_for": 3,
        "reason_codes": ["enveloppe"],
        "internal_note": "Première délibération.",
    }
    assert (await service.post(f"{base}/decide_item", role=SALMA, json=first)).status_code == 200
    # Decided again before the session closes: the latest decision's texts are the ones read.
    again = {
        "application_id": alpha,
        "outcome": "labelled",
        "amounts": [1_200_000, 900_000],
        "votes_for": 2,
        "abstentions": 1,
        "reason_codes": ["seuils_atteints"],
        "reason": "Programme de R&D solide.",
        "internal_note": "Le rapporteur a convaincu.",
    }
    decided = await service.post(f"{base}/decide_item", role=SALMA, json=again)
    assert decided.status_code == 200, decided.text
    decision = decided.json()["agenda"][0]["decision"]
    assert decision["outcome"] == "labelled" and decision["amounts"] == [1_200_000, 900_000]
    assert (decision["votes_for"], decision["abstentions"]) == (2, 1)
    assert MEMBERS[0] not in decision["voters"]

    # Beta: the flag cleared by the member's declaration, rejected.
    cleared = {"application_id": beta, "flags_cleared": True}
    assert (await service.post(f"{base}/open_item", role=SALMA, json=cleared)).status_code == 200
    reject = {
        "application_id": beta,
        "outcome": "rejected",
        "votes_for": 3,
        "votes_against": 1,
        "reason_codes": ["note_globale"],
    }
    assert (await service.post(f"{base}/decide_item", role=SALMA, json=reject)).status_code == 200

    # The page: each decision with its motivation and the internal note, for the committee
    # and the managers alike.
    for role in (HASSAN, "admin"):
        page = (await service.get(base, role=role)).json()
        texts = {i["application_id"]: (i["motivation"], i["internal_note"]) for i in page["agenda"]}
        assert texts[alpha] == (
            "Le dossier atteint les seuils de la grille d'évaluation. Programme de R&D solide.",
            "Le rapporteur a convaincu.",
        )
        assert texts[beta] == ("La note globale n'atteint pas le seuil fixé par l'appel.", None)
    actions = [e["action"] for e in page["audit"]]
    assert actions == [
        "create_session",
        "convene",
        "record_attendance",
        "open_session",
        "open_item",
        "decide_item",
        "decide_item",
        "open_item",
        "decide_item",
    ]
    assert page["audit"][5]["payload"]["internal_note"] == "Première délibération."
    # Whoever is not staff never reads the note, neither on the item nor in the timeline.
    with Session(service.engine) as db:
        state = sessions.session_state(db.get(CommitteeSessionRow, session_id))
        events = queries.audit_trail(db, session_workflow_id(session_id))
    outsider = Actor(name="Omar Opérateur", role=Role.OPERATOR)
    hidden = visibility.session_detail(state, sessions.decision_texts(events), events, outsider)
    assert [i.internal_note for i in hidden.agenda] == [None, None]
    assert hidden.item(alpha).motivation == texts[alpha][0]
    assert not any("internal_note" in e.payload for e in hidden.audit)
    listed = (await service.get("/sessions", role=HASSAN)).json()["items"][0]
    assert (listed["decided"], listed["pending"]) == (2, 0)

    # Closed: the PV built and served; only its signatories may sign it.
    closed = await service.post(f"{base}/close_session", role=KARIM)
    assert closed.status_code == 200, closed.text
    pv = closed.json()["pvs"][0]
    assert (pv["number"], pv["signed"], pv["url"]) == (1, False, f"{base}/pv.pdf?number=1")
    assert sha(await pdf(service, f"{base}/pv.pdf")) == pv["sha256"]
    assert "sign_pv" in (await service.get(base, role=KARIM)).json()["allowed_actions"]
    assert "sign_pv" not in (await service.get(base, role=HASSAN)).json()["allowed_actions"]
    missing = await service.get(f"{base}/pv.pdf", role=KARIM, params={"number": 2})
    assert missing.status_code == 404 and "Procès-verbal inconnu" in missing.json()["detail"]

    # Its signed scan: the managers' alone, a PDF only; deposited, the PV served is the scan.
    scan = PDF_BYTES + b"% signe a Rabat\n"
    upload = {"file": ("pv-signe.pdf", scan, "application/pdf")}
    deposit = f"{base}/deposit_signed_pv"
    by_member = await service.http.post(deposit, files=upload, headers=auth(KARIM))
    assert by_member.status_code == 403
    image = io.BytesIO()
    Image.new("RGB", (4, 4)).save(image, "PNG")
    png = {"file": ("pv.png", image.getvalue(), "image/png")}
    not_pdf = await service.http.post(deposit, files=png, headers=auth("admin"))
    assert not_pdf.status_code == 415 and "PDF" in not_pdf.json()["detail"]
    assert not service.storage.exists(sha(image.getvalue()))  # a refusal keeps nothing
    no_file = await service.http.post(deposit, data={"x": "1"}, headers=auth("admin"))
    assert no_file.status_code == 422, no_file.text
    signed = await service.http.post(deposit, files=upload, headers=auth("admin"))
    assert signed.status_code == 200, signed.text
    assert signed.json()["stage"] == "pv_signed"
    first_pv = signed.json()["pvs"][0]
    assert first_pv["signed"] and first_pv["signed_sha256"] == sha(scan)
    assert [s["scan"] for s in first_pv["signatures"]] == [True, True]
    assert await pdf(service, f"{base}/pv.pdf") == scan
    twice = await service.http.post(deposit, files=upload, headers=auth("admin"))
    assert twice.status_code == 409 and twice.json()["stage"] == "pv_signed"

    # A correction is a new PV naming the first; the first stays served as signed.
    corrected = await service.post(
        f"{base}/correct_pv", role="admin", json={"reason": "Un montant mal reporté."}
    )
    assert corrected.status_code == 200, corrected.text
    second = corrected.json()["pvs"][1]
    assert (second["number"], second["corrects"], second["signed"]) == (2, 1, False)
    assert sha(await pdf(service, f"{base}/pv.pdf")) == second["sha256"]
    assert await pdf(service, f"{base}/pv.pdf?number=1") == scan

    # An unknown session: 404 to a read, an action and a deposit alike.
    other = "/sessions/0000deadbeef"
    for answer in (
        await service.get(other, role="admin"),
        await service.post(f"{other}/convene", role="admin"),
        await service.http.post(f"{other}/deposit_signed_pv", files=upload, headers=auth("admin")),
    ):
        assert answer.status_code == 404 and answer.json()["detail"] == "Séance du comité inconnue."
    assert (await service.get("/sessions/NOT-AN-ID", role="admin")).status_code == 422


async def test_a_session_is_made_of_staff_and_known_calls(dev: Service) -> None:
    """Update-with-start (the dev server): the members and the calls checked before anything
    is made, a 422 naming each problem; a repeat with its key makes nothing twice; a draft
    revised whole."""
    call_id = await open_call(dev)
    wrong = spec(
        [call_id, "2026-0000deadbeef"],
        members=[
            {"name": PRESIDENT, "function": "président"},
            {"name": "Eve Évaluatrice", "function": "secrétaire"},
            {"name": "Personne Inconnue"},
        ],
    )
    refused = await dev.post("/sessions", role="admin", json=wrong)
    assert refused.status_code == 422, refused.text
    detail = refused.json()["detail"]
    assert "compte inconnu ou désactivé : Personne Inconnue" in detail
    assert "ni du comité ni de l'administration : Eve Évaluatrice" in detail
    assert "appel(s) inconnu(s) : 2026-0000deadbeef" in detail
    assert (await dev.get("/sessions", role="admin")).json()["total"] == 0
    assert (await dev.post("/sessions", role=KARIM, json=spec([call_id]))).status_code == 403
    no_secretary = spec([call_id], members=[{"name": PRESIDENT, "function": "président"}] * 2)
    invalid = await dev.post("/sessions", role="admin", json=no_secretary)
    assert invalid.status_code == 422, invalid.text

    key = {"Idempotency-Key": "seance-printemps-2027"}
    made = await dev.post("/sessions", role="admin", json=spec([call_id]), headers=key)
    assert made.status_code == 201, made.text
    session = made.json()
    assert session["stage"] == "session_draft" and session["spec"]["call_ids"] == [call_id]
    repeat = await dev.post("/sessions", role="admin", json=spec([call_id]), headers=key)
    assert repeat.status_code == 201 and repeat.json()["id"] == session["id"]
    assert (await dev.get("/sessions", role=KARIM)).json()["total"] == 1

    path = f"/sessions/{session['id']}"
    revised = await dev.http.put(
        path, json=spec([call_id], title="Séance extraordinaire"), headers=auth("admin")
    )
    assert revised.status_code == 200, revised.text
    assert revised.json()["spec"]["title"] == "Séance extraordinaire"
    page = (await dev.get(path, role="admin")).json()
    assert [e["action"] for e in page["audit"]] == ["create_session", "revise_session"]
    stranger = spec([call_id], members=[*spec([call_id])["members"], {"name": "Omar Opérateur"}])
    refused = await dev.http.put(path, json=stranger, headers=auth("admin"))
    assert refused.status_code == 422 and "Omar Opérateur" in refused.json()["detail"]
    unknown = await dev.http.put(
        "/sessions/0000deadbeef", json=spec(["2026-0000deadbeef"]), headers=auth("admin")
    )
    assert unknown.status_code == 404, unknown.text
