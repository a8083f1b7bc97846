"""The S3 configuration of the storage, against a local S3-compatible server (moto's, from PyPI):
a dossier deposited, read back whole and by range, zipped, refused without a trace, exactly as
in the folder configuration the other tests use."""

import hashlib
import io
import zipfile
from collections.abc import AsyncIterator, Iterator

import fsspec
import pytest
import pytest_asyncio
from moto.server import ThreadedMotoServer
from sqlalchemy import Engine
from temporalio.testing import WorkflowEnvironment

from tests.conftest import APPLICATION, PDF_BYTES, Service, auth, deposit, running_service
from tests.test_api import open_call

pytestmark = pytest.mark.asyncio(loop_scope="session")
BUCKET = "dossiers"
KEYS = {"s3_access_key_id": "programme", "s3_secret_access_key": "secret", "s3_region": "eu-west-3"}


@pytest.fixture(scope="module")
def s3_endpoint() -> Iterator[str]:
    """An S3-compatible server on loopback, with the service's bucket."""
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    endpoint = f"http://{host}:{port}"
    fs = fsspec.filesystem(
        "s3",
        key=KEYS["s3_access_key_id"],
        secret=KEYS["s3_secret_access_key"],
        client_kwargs={"endpoint_url": endpoint, "region_name": KEYS["s3_region"]},
        skip_instance_cache=True,
    )
    fs.mkdir(BUCKET)
    yield endpoint
    server.stop()


@pytest_asyncio.fixture(loop_scope="session")
async def on_s3(
    s3_endpoint: str, dev_env: WorkflowEnvironment, engine: Engine
) -> AsyncIterator[Service]:
    async with running_service(
        dev_env,
        engine,
        documents_url=f"s3://{BUCKET}/documents",
        s3_endpoint_url=s3_endpoint,
        **KEYS,
    ) as service:
        yield service


def everything(service: Service) -> list[str]:
    storage = service.storage
    storage.fs.invalidate_cache()
    return sorted(storage.fs.find(storage.root))


def objects(service: Service) -> list[str]:
    """The files' bytes (not their references, nor what is still coming in)."""
    return [p for p in everything(service) if "/incoming/" not in p and "/refs/" not in p]


async def test_a_dossier_on_an_s3_compatible_store(on_s3: Service) -> None:
    call_id = await open_call(on_s3)
    registered = await on_s3.post(f"/calls/{call_id}/applications", json=APPLICATION)
    case = f"/applications/{registered.json()['id']}"
    content = PDF_BYTES + b"x" * 3_000_000  # several chunks
    stored = await deposit(on_s3, case, "budget prévisionnel", content, "Budget 2026.pdf")
    assert stored.status_code == 201, stored.text
    document = stored.json()
    assert document["sha256"] == hashlib.sha256(content).hexdigest()
    assert objects(on_s3) == [on_s3.storage.path(document["sha256"])]  # content-addressed

    again = await deposit(on_s3, case, "autre", content, "copie.pdf")  # the same bytes: one object
    assert again.status_code == 201 and len(objects(on_s3)) == 1
    before = everything(on_s3)  # the bytes once, referred to twice
    assert len(before) == 3
    refused = await deposit(on_s3, case, "autre", b"MZ\x90\x00" * 1000, "outil.pdf")
    assert refused.status_code == 415 and everything(on_s3) == before
    # Refused by the case after being stored (another deposit's key): the same bytes as the
    # dossier's stay, another's go, with their references.
    key = {**auth("operator"), "Idempotency-Key": "cle-s3"}
    for name, body in (
        ("a.pdf", PDF_BYTES + b"a"),
        ("b.pdf", PDF_BYTES + b"b"),
        ("c.pdf", content),
    ):
        answer = await on_s3.http.post(
            f"{case}/documents", files={"file": (name, body)}, data={"kind": "autre"}, headers=key
        )
        assert answer.status_code == (201 if name == "a.pdf" else 422), answer.text
    assert len(everything(on_s3)) == len(before) + 2  # a.pdf, its reference

    whole = await on_s3.get(f"/documents/{document['id']}", role="committee")
    assert whole.status_code == 200 and whole.content == content
    assert whole.headers["content-type"] == "application/pdf"
    assert "Budget%202026.pdf" in whole.headers["content-disposition"]
    part = await on_s3.http.get(
        f"/documents/{document['id']}",
        headers={**auth("operator"), "Range": "bytes=-5"},
    )
    assert part.status_code == 206 and part.content == content[-5:]
    assert (
        part.headers["content-range"]
        == f"bytes {len(content) - 5}-{len(content) - 1}/{len(content)}"
    )

    archive = await on_s3.get(f"{case}/documents.zip", role="committee")
    with zipfile.ZipFile(io.BytesIO(archive.content)) as opened:
        assert sorted(opened.namelist()) == [
            "autre/a.pdf",
            "autre/copie.pdf",
            "budget prévisionnel/Budget 2026.pdf",
        ]
        assert opened.read("autre/copie.pdf") == content
