"""A case's files against what a client may send: each defect once seen, replayed through the
API or the console. A refusal never takes another case's bytes nor leaves any of its own; a
stranger's role and an oversized body are refused before the body is read; a Range header of
any length answers; downloads are never sniffed nor run; a file is typed by its whole
structure, not by its first bytes."""

import asyncio
import io
import zipfile
from collections.abc import AsyncIterator, Iterator
from contextlib import aclosing

import httpx
import pytest
from openpyxl import Workbook
from PIL import Image
from temporalio.client import WorkflowHandle, WorkflowUpdateRPCTimeoutOrCancelledError
from temporalio.service import RPCError, RPCStatusCode

from projection.filetypes import Unaccepted, check_structure
from tests.conftest import APPLICATION, PDF_BYTES, Service, auth, deposit
from tests.test_api import open_call
from tests.test_documents import CONTENT_TYPES, docx, message
from web.actions import ActionSpec

pytestmark = pytest.mark.asyncio(loop_scope="session")
MiB = 2**20
BOUNDARY = "limite-du-formulaire"


def stored_files(service: Service) -> list[str]:
    """Everything the storage holds: bytes, references, incoming copies."""
    storage = service.storage
    storage.fs.invalidate_cache()
    return sorted(storage.fs.find(storage.root))


async def new_case(service: Service, **call: object) -> str:
    call_id = await open_call(service, **call)
    registered = await service.post(f"/calls/{call_id}/applications", json=APPLICATION)
    assert registered.status_code == 201, registered.text
    return f"/applications/{registered.json()['id']}"


def multipart(parts: list[tuple[str, str | None, bytes]]) -> dict:
    """A multipart body in the order given (httpx puts fields before files): (name, file name
    or None for a field, content)."""
    body = b""
    for name, filename, content in parts:
        disposition = f'form-data; name="{name}"' + (f'; filename="{filename}"' if filename else "")
        body += f"--{BOUNDARY}\r\nContent-Disposition: {disposition}\r\n\r\n".encode()
        body += content + b"\r\n"
    body += f"--{BOUNDARY}--\r\n".encode()
    return {
        "content": body,
        "headers": {"Content-Type": f"multipart/form-data; boundary={BOUNDARY}"},
    }


# --- 1. a refusal never removes another dossier's bytes ------------------------------------


async def test_a_refused_deposit_leaves_the_same_bytes_of_another_dossier_whole(
    dev_both: Service, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Dossier A's deposit stores its bytes, then waits for its case; meanwhile dossier B
    deposits the same bytes, recorded at once; then A's case refuses (its Idempotency-Key
    already named another file). B's file must still download whole, alone and in its ZIP."""
    first, second = await new_case(dev_both), await new_case(dev_both)
    key = {**auth("operator"), "Idempotency-Key": "cle-statuts"}
    taken = await dev_both.http.post(
        f"{first}/documents",
        files={"file": ("autre.pdf", PDF_BYTES + b"premier")},
        data={"kind": "autre"},
        headers=key,
    )
    assert taken.status_code == 201, taken.text

    stored, go_on = asyncio.Event(), asyncio.Event()
    send = ActionSpec.send

    async def held(self: ActionSpec, request: object, case_id: str, *args, **kwargs):
        if first.endswith(f"/{case_id}"):  # A's case: answers once B's deposit is recorded
            stored.set()
            await go_on.wait()
        return await send(self, request, case_id, *args, **kwargs)

    monkeypatch.setattr(ActionSpec, "send", held)
    content = PDF_BYTES + b"statuts communs"
    refused = asyncio.create_task(
        dev_both.http.post(
            f"{first}/documents",
            files={"file": ("statuts.pdf", content)},
            data={"kind": "autre"},
            headers=key,
        )
    )
    await asyncio.wait_for(stored.wait(), 10)
    recorded = await deposit(dev_both, second, "autre", content, "statuts.pdf")
    assert recorded.status_code == 201, recorded.text
    go_on.set()
    answer = await refused
    assert answer.status_code == 422 and answer.json()["code"] == "KeyReused", answer.text

    document = recorded.json()
    whole = await dev_both.get(f"/documents/{document['id']}", role="committee")
    assert whole.status_code == 200 and whole.content == content
    archive = await dev_both.get(f"{second}/documents.zip", role="committee")
    with zipfile.ZipFile(io.BytesIO(archive.content)) as opened:
        assert opened.read("autre/statuts.pdf") == content
    assert not [p for p in stored_files(dev_both) if "/incoming/" in p]


# --- 2. a Range header of any length ---------------------------------------------------------


async def test_a_range_of_thousands_of_digits_is_answered_not_a_crash(dev: Service) -> None:
    case = await new_case(dev)
    content = PDF_BYTES + b"x" * 1000
    document = (await deposit(dev, case, "autre", content, "plan.pdf")).json()
    huge = "9" * 5000
    browser = await dev.signed_in("t-operator")
    async with aclosing(browser):
        for path, http, headers in (
            (f"/documents/{document['id']}", dev.http, auth("operator")),
            (f"/console/documents/{document['id']}", browser, {}),
        ):

            async def read(asked: str) -> httpx.Response:
                return await http.get(path, headers={**headers, "Range": asked})  # noqa: B023

            beyond = await read(f"bytes={huge}-")  # starts past the end: unsatisfiable
            if http is dev.http:
                assert beyond.status_code == 416
                assert beyond.headers["content-range"] == f"bytes */{len(content)}"
            else:  # the console tells a refusal on its home page
                assert message(beyond)["lines"] == ["Plage d'octets hors du fichier."]
            to_the_end = await read(f"bytes=1-{huge}")  # a last byte past the end: the end
            assert to_the_end.status_code == 206 and to_the_end.content == content[1:]
            last = await read(f"bytes=-{huge}")  # more than the whole: the whole
            assert last.status_code == 206 and last.content == content
            zeros = await read(f"bytes={'0' * 5000}5-{'0' * 5000}9")  # leading zeros
            assert zeros.status_code == 206 and zeros.content == content[5:10]


# --- 3. nothing left in storage after any failure ------------------------------------------


async def test_no_failed_deposit_leaves_anything_in_storage(
    dev_both: Service, monkeypatch: pytest.MonkeyPatch
) -> None:
    case = await new_case(dev_both, max_file_bytes=MiB, max_application_bytes=MiB)
    half = PDF_BYTES + b"1" * 600_000
    assert (await deposit(dev_both, case, "autre", half, "a.pdf")).status_code == 201
    before = stored_files(dev_both)

    async def refused(expected: int, **request: object) -> None:
        answer = await dev_both.http.post(**request)  # type: ignore[arg-type]
        assert answer.status_code == expected, answer.text
        assert stored_files(dev_both) == before, request["url"]

    def form(content: bytes, kind: str = "autre") -> dict:
        return {"files": {"file": ("b.pdf", content)}, "data": {"kind": kind}}

    url = f"{case}/documents"
    # the workflow's own check: the application's files together past the call's limit
    await refused(422, url=url, headers=auth("operator"), **form(half + b"2"))
    # the engine refusing the update
    engine = WorkflowHandle.execute_update

    async def refusing(*args: object, **kwargs: object) -> object:
        raise RPCError("update refused", RPCStatusCode.INVALID_ARGUMENT, b"")

    monkeypatch.setattr(WorkflowHandle, "execute_update", refusing)
    await refused(503, url=url, headers=auth("operator"), **form(PDF_BYTES + b"3"))
    monkeypatch.setattr(WorkflowHandle, "execute_update", engine)
    # an over-long Idempotency-Key (the header's bound), an unknown kind, an unknown case
    long_key = {**auth("operator"), "Idempotency-Key": "k" * 201}
    await refused(422, url=url, headers=long_key, **form(PDF_BYTES + b"4"))
    await refused(422, url=url, headers=auth("operator"), **form(PDF_BYTES, "recette"))
    unknown = "/applications/0000deadbeef/documents"
    await refused(404, url=unknown, headers=auth("operator"), **form(PDF_BYTES + b"5"))
    # the same through the console: a forged key, an unknown case
    browser = await dev_both.signed_in("t-operator")
    async with aclosing(browser):
        page = f"/console/candidatures/{case.rsplit('/', 1)[1]}"
        key = ("cle", None, b"k" * 300)  # past the form's rule (200 printable characters)
        file = ("file", "b.pdf", PDF_BYTES + b"6")
        for parts in ([("kind", None, b"autre"), key, file], [("kind", None, b"autre"), file, key]):
            forged = await browser.post(f"{page}/documents", **multipart(parts))
            assert forged.status_code == 422 and "champ caché « cle »" in forged.text
            assert stored_files(dev_both) == before
        too_long = [("kind", None, b"autre"), ("cle", None, b"k" * 9000), file]
        forged = await browser.post(f"{page}/documents", **multipart(too_long))
        assert forged.status_code == 422 and "trop long" in forged.text
        assert stored_files(dev_both) == before
        await browser.post("/console/candidatures/0000deadbeef/documents", **form(PDF_BYTES))
        assert stored_files(dev_both) == before


async def test_a_deposit_its_case_refuses_at_its_new_stage_leaves_nothing(
    dev_both: Service, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The case was open when the deposit began, and withdrawn while its bytes were stored:
    the workflow refuses (409) after the bytes are in, and they go."""
    case = await new_case(dev_both)
    before = stored_files(dev_both)
    stored, go_on = asyncio.Event(), asyncio.Event()
    send = ActionSpec.send

    async def held(self: ActionSpec, *args, **kwargs):
        if self.action == "add_document":
            stored.set()
            await go_on.wait()
        return await send(self, *args, **kwargs)

    monkeypatch.setattr(ActionSpec, "send", held)
    late = asyncio.create_task(deposit(dev_both, case, "autre", PDF_BYTES + b"tard", "tard.pdf"))
    await asyncio.wait_for(stored.wait(), 10)
    assert len(stored_files(dev_both)) > len(before)  # the bytes and their reference
    withdrawn = await dev_both.post(f"{case}/withdraw", json={"reason": "Abandon"})
    assert withdrawn.status_code == 200, withdrawn.text
    go_on.set()
    answer = await late
    assert answer.status_code == 409 and answer.json()["stage"] == "withdrawn", answer.text
    assert stored_files(dev_both) == before


# --- 4. refused before the body is read, or as soon as it passes the limit -------------------


class Body:
    """A multipart body of a kind and a `size`-byte file, sent 64 KiB at a time; `read` counts
    the bytes the service took from it."""

    CHUNK = 64 * 1024

    def __init__(self, size: int, kind: str = "autre") -> None:
        self.head = (
            f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="kind"\r\n\r\n{kind}\r\n'
            f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="file"; filename="gros.pdf"'
            "\r\nContent-Type: application/pdf\r\n\r\n"
        ).encode()
        self.tail = f"\r\n--{BOUNDARY}--\r\n".encode()
        self.size, self.read = size, 0

    @property
    def length(self) -> int:
        return len(self.head) + self.size + len(self.tail)

    def headers(self, role: str, length: int | None = None) -> dict[str, str]:
        return {
            **auth(role),
            "Content-Type": f"multipart/form-data; boundary={BOUNDARY}",
            "Content-Length": str(self.length if length is None else length),
        }

    def pieces(self) -> Iterator[bytes]:
        yield self.head + PDF_BYTES
        left = self.size - len(PDF_BYTES)
        while left > 0:
            yield b"\0" * min(self.CHUNK, left)
            left -= self.CHUNK
        yield self.tail

    async def stream(self) -> AsyncIterator[bytes]:
        for piece in self.pieces():
            self.read += len(piece)
            yield piece


async def test_a_role_that_may_not_deposit_is_refused_before_its_body(dev_both: Service) -> None:
    case = await new_case(dev_both)
    before = stored_files(dev_both)
    for role in ("evaluator", "committee"):
        body = Body(60 * MiB)
        answer = await dev_both.http.post(
            f"{case}/documents", content=body.stream(), headers=body.headers(role)
        )
        assert answer.status_code == 403, answer.text
        assert body.read <= Body.CHUNK, body.read  # at most the first piece, of 60 MiB
    assert stored_files(dev_both) == before


async def test_an_upload_past_the_limit_is_refused_before_or_as_it_passes_it(
    dev_both: Service,
) -> None:
    case = await new_case(dev_both, max_file_bytes=MiB)
    before = stored_files(dev_both)
    announced = Body(60 * MiB)  # Content-Length tells: refused before one byte is read
    answer = await dev_both.http.post(
        f"{case}/documents", content=announced.stream(), headers=announced.headers("operator")
    )
    assert answer.status_code == 413 and "1 Mio" in answer.json()["detail"], answer.text
    assert announced.read <= Body.CHUNK, announced.read
    # A length that fits, and a body that does not: refused once the file passes 1 MiB.
    understated = Body(60 * MiB)
    answer = await dev_both.http.post(
        f"{case}/documents",
        content=understated.stream(),
        headers=understated.headers("operator", length=MiB),
    )
    assert answer.status_code == 413, answer.text
    assert understated.read <= MiB + 2 * Body.CHUNK, understated.read
    # Within the form's allowance, but one byte past the file's limit: refused at that byte.
    just = Body(MiB + 1)
    answer = await dev_both.http.post(
        f"{case}/documents", content=just.stream(), headers=just.headers("operator")
    )
    assert answer.status_code == 413, answer.text
    assert stored_files(dev_both) == before
    exact = Body(MiB)
    answer = await dev_both.http.post(
        f"{case}/documents", content=exact.stream(), headers=exact.headers("operator")
    )
    assert answer.status_code == 201, answer.text


async def test_the_console_refuses_a_role_and_a_size_before_the_body(dev: Service) -> None:
    case = await new_case(dev, max_file_bytes=MiB)
    page = f"/console/candidatures/{case.rsplit('/', 1)[1]}"
    before = stored_files(dev)
    for token, expected in (("t-committee", "ne permet pas"), ("t-operator", "1 Mio au plus")):
        browser = await dev.signed_in(token)
        async with aclosing(browser):
            body = Body(60 * MiB)
            headers = body.headers("operator")
            del headers["Authorization"]
            answer = await browser.post(f"{page}/documents", content=body.stream(), headers=headers)
        # A role refused goes back with its message; a size, told beside the upload form.
        told = message(answer)["lines"][0] if answer.status_code == 303 else answer.text
        assert expected in told
        assert body.read <= Body.CHUNK, (token, body.read)
    assert stored_files(dev) == before


# --- 5. a download is never sniffed nor run --------------------------------------------------


async def test_downloads_are_neither_sniffed_nor_run(dev: Service) -> None:
    case = await new_case(dev)
    document = (await deposit(dev, case, "autre", PDF_BYTES, "plan.pdf")).json()
    for path in (f"/documents/{document['id']}", f"{case}/documents.zip"):
        answer = await dev.get(path, role="committee")
        assert answer.status_code == 200
        assert answer.headers["x-content-type-options"] == "nosniff"
        assert answer.headers["content-security-policy"] == "default-src 'none'; sandbox"
    part = await dev.http.get(
        f"/documents/{document['id']}", headers={**auth("operator"), "Range": "bytes=0-3"}
    )
    assert part.status_code == 206 and part.headers["x-content-type-options"] == "nosniff"
    browser = await dev.signed_in("t-operator")
    async with aclosing(browser):  # the console's: its own policy, for its preview frame
        shown = await browser.get(f"/console/documents/{document['id']}")
        zipped = await browser.get(f"/console/candidatures/{case.rsplit('/', 1)[1]}/documents.zip")
    for answer in (shown, zipped):
        assert answer.status_code == 200
        assert answer.headers["x-content-type-options"] == "nosniff"
        assert "default-src 'none'" in answer.headers["content-security-policy"]


# --- 6. typed by the whole structure -----------------------------------------------------------


def xlsx() -> bytes:
    out = io.BytesIO()
    book = Workbook()
    book.active.append(["indicateur", 3])  # type: ignore[union-attr]
    book.save(out)
    return out.getvalue()


def odt() -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as package:
        package.writestr("mimetype", "application/vnd.oasis.opendocument.text")
        package.writestr("content.xml", "<office:document-content/>")
        package.writestr(
            "META-INF/manifest.xml",
            '<manifest:manifest xmlns:manifest="urn:oasis:names:tc:opendocument:xmlns:manifest:1.0"/>',
        )
    return out.getvalue()


def image(kind: str) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (40, 30), "teal").save(out, kind)
    return out.getvalue()


def broken_png() -> bytes:
    data = bytearray(image("PNG"))
    data[40] ^= 0xFF  # inside the header chunk: its checksum no longer matches
    return bytes(data)


WELL_FORMED = {
    "pdf": PDF_BYTES,
    "docx": docx(),
    "xlsx": xlsx(),
    "odt": odt(),
    "jpg": image("JPEG"),
    "png": image("PNG"),
}
MALFORMED = {
    "a PDF's first bytes, then garbage": ("pdf", b"%PDF-1.7\n" + bytes(range(256)) * 64),
    "a PDF cut in half": ("pdf", PDF_BYTES[: len(PDF_BYTES) // 2]),
    "a PDF whose catalogue is none": ("pdf", PDF_BYTES.replace(b"/Catalog", b"/Catalox")),
    "a DOCX without its content types": ("docx", docx(types="<Types/>")),
    "a DOCX whose main part is a spreadsheet's": (
        "docx",
        docx(CONTENT_TYPES.replace("wordprocessingml.document", "spreadsheetml.sheet")),
    ),
    "an XLSX without its workbook": (
        "xlsx",
        xlsx().replace(b"xl/workbook.xml", b"xl/workbook.xmx"),
    ),
    "an ODT without its content": ("odt", odt().replace(b"content.xml", b"content.xmx")),
    "a PNG whose header is damaged": ("png", broken_png()),
    "a JPEG cut after its first bytes": ("jpg", image("JPEG")[:12]),
}


@pytest.mark.parametrize("extension", WELL_FORMED)
async def test_a_well_formed_file_passes_its_structure_check(extension: str) -> None:
    check_structure(io.BytesIO(WELL_FORMED[extension]), extension)


@pytest.mark.parametrize("what", MALFORMED)
async def test_a_malformed_file_is_refused_by_its_structure(what: str) -> None:
    extension, content = MALFORMED[what]
    with pytest.raises(Unaccepted, match="endommagé ou incomplet"):
        check_structure(io.BytesIO(content), extension)


async def test_a_file_is_typed_by_its_whole_structure_through_the_api(dev_both: Service) -> None:
    case = await new_case(dev_both)
    for extension, content in WELL_FORMED.items():
        answer = await deposit(dev_both, case, "autre", content, f"piece.{extension}")
        assert answer.status_code == 201, (extension, answer.text)
    before = stored_files(dev_both)
    for what, (extension, content) in MALFORMED.items():
        answer = await deposit(dev_both, case, "autre", content, f"piece.{extension}")
        assert answer.status_code == 415, (what, answer.text)
    assert stored_files(dev_both) == before
    garbage = await deposit(
        dev_both, case, "autre", MALFORMED["a PDF's first bytes, then garbage"][1]
    )
    assert garbage.json()["detail"].startswith("Fichier PDF endommagé ou incomplet")


async def test_an_update_perhaps_taken_keeps_its_bytes_for_the_repeat(
    dev: Service, monkeypatch: pytest.MonkeyPatch
) -> None:
    """No answer in time (503, « réessayez avec la même Idempotency-Key »): the update may yet
    land, so its bytes stay; the repeat with the same key records them, nothing twice."""
    case = await new_case(dev)
    before = len(stored_files(dev))
    engine = WorkflowHandle.execute_update

    async def silent(*args: object, **kwargs: object) -> object:
        raise WorkflowUpdateRPCTimeoutOrCancelledError

    monkeypatch.setattr(WorkflowHandle, "execute_update", silent)
    key = {**auth("operator"), "Idempotency-Key": "cle-sans-reponse"}
    sent = {"files": {"file": ("plan.pdf", PDF_BYTES + b"plan")}, "data": {"kind": "autre"}}
    unanswered = await dev.http.post(f"{case}/documents", headers=key, **sent)
    assert unanswered.status_code == 503 and unanswered.json()["code"] == "Timeout"
    assert len(stored_files(dev)) == before + 2  # the bytes and their reference
    monkeypatch.setattr(WorkflowHandle, "execute_update", engine)
    repeated = await dev.http.post(f"{case}/documents", headers=key, **sent)
    assert repeated.status_code == 201, repeated.text
    whole = await dev.get(f"/documents/{repeated.json()['id']}", role="committee")
    assert whole.content == PDF_BYTES + b"plan"
