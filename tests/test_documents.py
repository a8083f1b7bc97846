"""The dossier as files, through the API on both databases: a deposit streamed to storage and
recorded by the case with its hash, read back by those who may, refused when it should be."""

import hashlib
import io
import zipfile
from contextlib import aclosing
from datetime import timedelta

import httpx
import pytest

from domain.fields import MAX_FILE_BYTES, MAX_FILES
from domain.support import KPI_LABELS, REPORT_FILES
from tests.conftest import (
    APPLICATION,
    DEFAULT_DOCUMENTS,
    PDF_BYTES,
    Service,
    auth,
    deposit_all,
    eventually,
    report,
    utcnow,
)
from tests.conftest import deposit as deposit_to
from tests.test_api import open_call
from tests.test_authorization import console_message
from tests.test_clusters import TARGETS, labelled_cluster, stage_is

pytestmark = pytest.mark.asyncio(loop_scope="session")
PDF = PDF_BYTES + b"%" + b"0" * 100_000 + b"\n"  # about 100 KB: a PDF, then a comment
CONTENT_TYPES = (
    '<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">'
    '<Override PartName="/word/document.xml" ContentType="application/'
    'vnd.openxmlformats-officedocument.wordprocessingml.document.main+xml"/></Types>'
)


def docx(types: str = CONTENT_TYPES) -> bytes:
    """The smallest package a word processor writes: its content types, its main part."""
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as archive:
        archive.writestr("[Content_Types].xml", types)
        archive.writestr("word/document.xml", "<w:document/>")
    return out.getvalue()


async def deposit(service: Service, application_id: str, name: str, content: bytes, kind: str):
    return await deposit_to(service, f"/applications/{application_id}", kind, content, name)


async def listed(service: Service, application_id: str, role: str = "operator") -> list[dict]:
    return (await service.get(f"/applications/{application_id}/documents", role=role)).json()


async def test_a_file_is_deposited_recorded_with_its_hash_and_read_back(dev_both: Service) -> None:
    call_id = await open_call(dev_both)
    registered = await dev_both.post(f"/calls/{call_id}/applications", json=APPLICATION)
    application_id = registered.json()["id"]
    answer = await deposit(
        dev_both,
        application_id,
        "C:\\Users\\x\\..\\Statuts   2026.pdf",
        PDF,
        "statuts de l'association",
    )
    assert answer.status_code == 201, answer.text
    document = answer.json()
    assert document["sha256"] == hashlib.sha256(PDF).hexdigest()
    assert (
        document["filename"] == "Statuts 2026.pdf" and document["content_type"] == "application/pdf"
    )
    assert document["size"] == len(PDF) and document["uploaded_by"] == "Omar Opérateur"
    replaced = await deposit(
        dev_both, application_id, "statuts-v2.docx", docx(), "statuts de l'association"
    )
    assert replaced.status_code == 201, replaced.text
    versions = await listed(dev_both, application_id)
    assert [d["filename"] for d in versions] == ["Statuts 2026.pdf", "statuts-v2.docx"]  # both kept
    case = (await dev_both.get(f"/applications/{application_id}")).json()
    added = [e for e in case["audit"] if e["action"] == "add_document"]
    assert [e["payload"]["sha256"] for e in added] == [document["sha256"], versions[1]["sha256"]]

    got = await dev_both.get(f"/documents/{document['id']}", role="committee")
    assert got.status_code == 200 and got.content == PDF
    assert got.headers["content-type"] == "application/pdf"
    assert (
        "Statuts%202026.pdf" in got.headers["content-disposition"]
        or "Statuts 2026.pdf" in got.headers["content-disposition"]
    )
    part = await dev_both.http.get(
        f"/documents/{document['id']}", headers={**auth("operator"), "Range": "bytes=0-7"}
    )
    assert part.status_code == 206 and part.content == PDF[:8]

    whole = await dev_both.get(f"/applications/{application_id}/documents.zip", role="committee")
    assert whole.status_code == 200 and whole.headers["content-type"] == "application/zip"
    with zipfile.ZipFile(io.BytesIO(whole.content)) as archive:
        assert sorted(archive.namelist()) == [
            "statuts de l'association/Statuts 2026.pdf",
            "statuts de l'association/statuts-v2.docx",
        ]
        assert archive.read("statuts de l'association/Statuts 2026.pdf") == PDF
    read = (await dev_both.get(f"/applications/{application_id}", role="admin")).json()
    who = [(d["actor"], d["filename"]) for d in read["downloads"]]
    assert who.count(("Karim Comité", "Statuts 2026.pdf")) == 2  # the file, then the ZIP
    assert ("Omar Opérateur", "Statuts 2026.pdf") in who and len(who) == 4


async def test_refusals_store_nothing(dev_both: Service) -> None:
    call_id = await open_call(dev_both, max_file_bytes=2**20, max_application_bytes=2**20)
    registered = await dev_both.post(f"/calls/{call_id}/applications", json=APPLICATION)
    application_id = registered.json()["id"]
    executable = b"MZ\x90\x00" + b"\x00" * 20000
    renamed = await deposit(
        dev_both, application_id, "budget.pdf", executable, "budget prévisionnel"
    )
    assert renamed.status_code == 415
    big = PDF_BYTES + b"0" * 2**20
    assert (await deposit(dev_both, application_id, "gros.pdf", big, "autre")).status_code == 413
    unknown_kind = await deposit(dev_both, application_id, "a.pdf", PDF, "recette de cuisine")
    assert unknown_kind.status_code == 422
    no_token = await dev_both.http.post(
        f"/applications/{application_id}/documents",
        files={"file": ("a.pdf", PDF)},
        data={"kind": "autre"},
    )
    assert no_token.status_code == 401
    declared = await dev_both.http.post(
        f"/applications/{application_id}/documents",
        content=b"--x--",
        headers={
            **auth("operator"),
            "Content-Type": "multipart/form-data; boundary=x",
            "Content-Length": str(102 * 2**20),  # past the largest file a call may allow
        },
    )
    assert declared.status_code == 413
    assert await listed(dev_both, application_id) == []
    # An application's files together stay within the call's limit (here 1 MiB).
    half = PDF_BYTES + b"1" * 600_000
    assert (await deposit(dev_both, application_id, "a.pdf", half, "autre")).status_code == 201
    over = await deposit(dev_both, application_id, "b.pdf", half + b"2", "autre")
    assert over.status_code == 422 and "taille" in over.json()["detail"]
    assert [d["filename"] for d in await listed(dev_both, application_id)] == ["a.pdf"]
    folder = dev_both.http._transport.app.state.storage  # type: ignore[attr-defined]
    stored = [p for p in folder.fs.find(folder.root) if "/incoming/" not in p and "/refs/" not in p]
    assert all(
        hashlib.sha256(open(p, "rb").read()).hexdigest() == p.rsplit("/", 1)[1] for p in stored
    )


async def test_after_the_deadline_only_complements_come_in_and_evaluators_read_once_declared(
    dev_both: Service,
) -> None:
    call_id = await open_call(dev_both, deadline=(utcnow() + timedelta(seconds=1.5)).isoformat())
    registered = await dev_both.post(f"/calls/{call_id}/applications", json=APPLICATION)
    application_id = registered.json()["id"]
    first = await deposit(dev_both, application_id, "dossier.pdf", PDF, "dossier de candidature")
    assert first.status_code == 201

    async def in_review() -> bool:
        case = (await dev_both.get(f"/applications/{application_id}")).json()
        return case["stage"] == "eligibility_review"

    extended_call_id = await open_call(
        dev_both, deadline=(utcnow() + timedelta(seconds=1)).isoformat()
    )
    extended = await dev_both.post(f"/calls/{extended_call_id}/applications", json=APPLICATION)
    later = (utcnow() + timedelta(days=30)).isoformat()
    moved = await dev_both.post(
        f"/calls/{extended_call_id}/extend_deadline", role="admin", json={"deadline": later}
    )
    assert moved.status_code == 200, moved.text

    await eventually(in_review, what="the deadline")
    # Past the first deadline, before the extended one: files still come in.
    in_time = await deposit(dev_both, extended.json()["id"], "dossier.pdf", PDF, "autre")
    assert in_time.status_code == 201, in_time.text
    late = await deposit(dev_both, application_id, "tard.pdf", PDF + b"2", "autre")
    assert late.status_code == 409 and len(await listed(dev_both, application_id)) == 1
    asked = await dev_both.post(
        f"/applications/{application_id}/request_complements",
        json={"items": ["budget prévisionnel"]},
    )
    assert asked.status_code == 200, asked.text
    answer = await deposit(dev_both, application_id, "budget.pdf", PDF + b"3", "complément")
    assert answer.status_code == 201, answer.text

    # An evaluator reads the files of an assigned case once declared free of conflict.
    await dev_both.post(f"/applications/{application_id}/submit_complements", json={"note": "Reçu"})
    await dev_both.post(f"/applications/{application_id}/mark_eligible")
    assert (await dev_both.post(f"/calls/{call_id}/start_evaluation", role="admin")).is_success
    assigned = await dev_both.post(
        f"/applications/{application_id}/assign_evaluators",
        role="admin",
        json={"evaluators": ["Eve Évaluatrice"], "incomplete": True},
    )
    assert assigned.status_code == 200, assigned.text
    document_id = first.json()["id"]
    assert (await dev_both.get(f"/documents/{document_id}", role="evaluator")).status_code == 403
    assert (await dev_both.get(f"/documents/{document_id}", role="evaluator2")).status_code == 403
    declared = await dev_both.post(
        f"/applications/{application_id}/declare_interest",
        role="evaluator",
        json={"conflict": False},
    )
    assert declared.status_code == 200
    read = await dev_both.get(f"/documents/{document_id}", role="evaluator")
    assert read.status_code == 200 and read.content == PDF
    assert len(await listed(dev_both, application_id, role="evaluator")) == 2


async def test_the_case_page_shows_its_files_and_who_read_them(dev: Service) -> None:
    call_id = await open_call(dev)
    registered = await dev.post(f"/calls/{call_id}/applications", json=APPLICATION)
    application_id = registered.json()["id"]
    document = (await deposit(dev, application_id, "plan.pdf", PDF, "autre")).json()
    await dev.get(f"/documents/{document['id']}", role="committee")
    browser = await dev.signed_in("t-admin")
    async with aclosing(browser):
        page = await browser.get(f"/console/candidatures/{application_id}")
    assert page.status_code == 200
    assert "plan.pdf" in page.text and document["sha256"][:16] in page.text
    assert "Karim Comité (comité)" in page.text


async def test_an_application_holds_at_most_its_number_of_files(dev_both: Service) -> None:
    call_id = await open_call(dev_both)
    registered = await dev_both.post(f"/calls/{call_id}/applications", json=APPLICATION)
    application_id = registered.json()["id"]
    for i in range(MAX_FILES):
        answer = await deposit(dev_both, application_id, f"{i}.pdf", PDF_BYTES, "autre")
        assert answer.status_code == 201, answer.text
    one_more = await deposit(dev_both, application_id, "trop.pdf", PDF_BYTES, "autre")
    assert one_more.status_code == 422 and str(MAX_FILES) in one_more.json()["detail"]
    assert len(await listed(dev_both, application_id)) == MAX_FILES


async def test_the_checklist_counts_the_files_received_and_complements_are_files(
    dev_both: Service,
) -> None:
    """« Dossier complet » is what the files say, not what anyone typed; complements answer
    with the files deposited for them."""
    call_id = await open_call(dev_both, deadline=(utcnow() + timedelta(seconds=4)).isoformat())
    complete, partial = [
        (await dev_both.post(f"/calls/{call_id}/applications", json=APPLICATION)).json()["id"]
        for _ in range(2)
    ]
    await deposit_all(dev_both, complete)
    early = []
    for kind in DEFAULT_DOCUMENTS[:-1]:  # no budget
        answer = await deposit(dev_both, partial, f"{kind}.pdf", PDF_BYTES + kind.encode(), kind)
        early.append(answer.json()["id"])

    async def both_in_review() -> bool:
        cases = [(await dev_both.get(f"/applications/{i}")).json() for i in (complete, partial)]
        return all(c["stage"] == "eligibility_review" for c in cases)

    await eventually(both_in_review, what="the deadline")

    def checks(case: dict) -> dict[str, tuple[bool, str]]:
        return {c["code"]: (c["passed"], c["detail"]) for c in case["checklist"]}

    case = (await dev_both.get(f"/applications/{complete}")).json()
    assert checks(case)["documents_complete"] == (True, "")
    case = (await dev_both.get(f"/applications/{partial}")).json()
    assert checks(case)["documents_complete"] == (False, "Pièces manquantes : budget prévisionnel")

    asked = await dev_both.post(
        f"/applications/{partial}/request_complements", json={"items": ["budget prévisionnel"]}
    )
    assert asked.status_code == 200, asked.text
    before = await dev_both.post(
        f"/applications/{partial}/submit_complements", json={"files": early[:1]}
    )
    assert before.status_code == 422 and "avant la demande" in before.json()["detail"]
    unknown = await dev_both.post(
        f"/applications/{partial}/submit_complements", json={"files": ["f" * 32]}
    )
    assert unknown.status_code == 422 and "inconnu" in unknown.json()["detail"]
    budget = await deposit(dev_both, partial, "budget.pdf", PDF_BYTES + b"b", "budget prévisionnel")
    assert budget.status_code == 201, budget.text
    answered = await dev_both.post(
        f"/applications/{partial}/submit_complements",
        json={"files": [budget.json()["id"]], "note": "Budget reçu"},
    )
    assert answered.status_code == 200, answered.text
    case = answered.json()
    assert case["stage"] == "eligibility_review"
    assert checks(case)["documents_complete"] == (True, "")
    case = (await dev_both.get(f"/applications/{partial}")).json()
    [reply] = [e for e in case["audit"] if e["action"] == "submit_complements"]
    assert reply["payload"]["files"] == [budget.json()["id"]]


async def test_an_annual_report_is_made_of_the_clusters_files(dev_both: Service) -> None:
    cluster_id = await labelled_cluster(dev_both)
    start = (await dev_both.env.get_current_time()) - timedelta(days=340)
    terms = {"start_at": start.isoformat(), "planned_amounts": [1e6, 9e5], "kpi_targets": TARGETS}
    signed = await dev_both.post(f"/clusters/{cluster_id}/sign_contract", "admin", json=terms)
    assert signed.status_code == 200, signed.text
    await stage_is(dev_both, cluster_id, "report_requested")  # inside the 30-day notice
    case = f"/clusters/{cluster_id}"
    assert (await deposit_to(dev_both, case, "budget prévisionnel")).status_code == 422
    too_big = PDF_BYTES + b"0" * MAX_FILE_BYTES  # a cluster's files have the default bound
    assert (await deposit_to(dev_both, case, "autre", too_big)).status_code == 413
    refused = await dev_both.http.post(
        f"{case}/documents",
        files={"file": ("a.pdf", PDF_BYTES)},
        data={"kind": "autre"},
        headers=auth("committee"),
    )
    assert refused.status_code == 403
    body = await report(dev_both, cluster_id)
    files = (await dev_both.get(f"{case}/documents")).json()
    assert sorted(f["kind"] for f in files) == [
        "rapport d'activité",
        "tableau des indicateurs",
        "états financiers",
    ]
    assert (await dev_both.get(f"{case}/documents", role="evaluator")).status_code == 403
    swapped = body | {"activity_report": body["financial_statements"]}
    wrong = await dev_both.post(f"{case}/record_report", json=swapped)
    assert wrong.status_code == 422 and "états financiers" in wrong.json()["detail"]
    unknown = await dev_both.post(
        f"{case}/record_report", json=body | {"indicators_table": "e" * 32}
    )
    assert unknown.status_code == 422 and "inconnu" in unknown.json()["detail"]
    recorded = await dev_both.post(f"{case}/record_report", json=body)
    assert recorded.status_code == 200, recorded.text
    assert recorded.json()["years"][0]["report"]["activity_report"] == body["activity_report"]
    read = await dev_both.get(f"/documents/{body['activity_report']}", role="committee")
    assert read.status_code == 200 and read.content.startswith(PDF_BYTES)
    assert (
        await dev_both.get(f"/documents/{body['activity_report']}", role="evaluator")
    ).status_code == 403
    detail = (await dev_both.get(case)).json()
    assert [(d["actor"], d["filename"]) for d in detail["downloads"]] == [
        ("Karim Comité", "rapport d'activité.pdf")
    ]


def message(answer: httpx.Response) -> dict:
    """What the console's redirection leaves for the next page."""
    found = console_message(answer)
    assert found is not None, answer.headers
    return found


async def test_the_console_deposits_and_answers_complements_with_the_files(dev: Service) -> None:
    call_id = await open_call(dev, deadline=(utcnow() + timedelta(seconds=2)).isoformat())
    registered = await dev.post(f"/calls/{call_id}/applications", json=APPLICATION)
    application_id = registered.json()["id"]
    page = f"/console/candidatures/{application_id}"
    browser = await dev.signed_in("t-operator")
    async with aclosing(browser):
        shown = await browser.get(page)
        assert "Fichier : budget prévisionnel" in shown.text  # an upload field per document
        filed = await browser.post(
            f"{page}/documents",
            data={"kind": "dossier de candidature", "cle": "k-1"},
            files={"file": ("Dossier.pdf", PDF, "application/pdf")},
        )
        assert filed.status_code == 303, filed.text
        assert message(filed)["lines"] == ["« Dossier.pdf » déposé : dossier de candidature."]
        refused = await browser.post(
            f"{page}/documents",
            data={"kind": "autre"},
            files={"file": ("outil.pdf", b"MZ\x90\x00" * 100, "application/pdf")},
        )
        assert "Type de fichier refusé" in refused.text  # told beside the upload form
        empty = await browser.post(f"{page}/documents", data={"kind": "autre"})
        assert message(empty)["lines"] == ["Choisissez un fichier à déposer."]

        async def in_review() -> bool:
            return (await dev.get(f"/applications/{application_id}")).json()["stage"] == (
                "eligibility_review"
            )

        await eventually(in_review, what="the deadline")
        late = await browser.post(
            f"{page}/documents",
            data={"kind": "autre"},
            files={"file": ("tard.pdf", PDF + b"1", "application/pdf")},
        )
        assert "date limite passée" in message(late)["lines"][0]
        asked = await dev.post(
            f"/applications/{application_id}/request_complements",
            json={"items": ["budget prévisionnel"]},
        )
        assert asked.status_code == 200
        await browser.post(
            f"{page}/documents",
            data={"kind": "budget prévisionnel"},
            files={"file": ("Budget.pdf", PDF + b"2", "application/pdf")},
        )
        form = (await browser.get(page)).text
        [budget] = [f for f in await listed(dev, application_id) if f["filename"] == "Budget.pdf"]
        assert f'value="{budget["id"]}"' in form  # offered as an answer to the request
        answered = await browser.post(
            f"{page}/actions/submit_complements", data={"files": budget["id"], "cle": "k-2"}
        )
        assert message(answered)["kind"] == "succes", message(answered)
    case = (await dev.get(f"/applications/{application_id}")).json()
    assert case["stage"] == "eligibility_review"
    assert case["audit"][-1]["payload"]["files"] == [budget["id"]]
    assert [f["filename"] for f in case["files"]] == ["Dossier.pdf", "Budget.pdf"]


async def test_the_console_records_an_annual_report_from_the_clusters_files(dev: Service) -> None:
    cluster_id = await labelled_cluster(dev)
    start = (await dev.env.get_current_time()) - timedelta(days=340)
    terms = {"start_at": start.isoformat(), "planned_amounts": [1e6, 9e5], "kpi_targets": TARGETS}
    assert (await dev.post(f"/clusters/{cluster_id}/sign_contract", "admin", json=terms)).is_success
    await stage_is(dev, cluster_id, "report_requested")
    page = f"/console/clusters/{cluster_id}"
    browser = await dev.signed_in("t-operator")
    async with aclosing(browser):
        for kind in REPORT_FILES.values():
            filed = await browser.post(
                f"{page}/documents",
                data={"kind": kind},
                files={"file": (f"{kind}.pdf", PDF + kind.encode(), "application/pdf")},
            )
            assert message(filed)["kind"] == "succes", message(filed)
        form = (await browser.get(page)).text
        files = {
            f["kind"]: f["id"] for f in (await dev.get(f"/clusters/{cluster_id}/documents")).json()
        }
        for document_id in files.values():  # each offered once: in its own field only
            assert form.count(f'<option value="{document_id}">') == 1
        fields = {name: files[kind] for name, kind in REPORT_FILES.items()}
        kpis = {f"kpi_actuals.{code}": "3" for code in KPI_LABELS}
        recorded = await browser.post(
            f"{page}/actions/record_report",
            data={**fields, **kpis, "next_year_plan": "Trois projets", "cle": "k-3"},
        )
        assert message(recorded)["kind"] == "succes", message(recorded)
    case = (await dev.get(f"/clusters/{cluster_id}")).json()
    assert case["stage"] == "under_review"
    assert case["years"][0]["report"]["indicators_table"] == files["tableau des indicateurs"]
