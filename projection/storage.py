"""Where the cases' files live, through fsspec: a folder (DOCUMENTS_URL, `data/documents` by
default) or an S3-compatible object store (`s3://bucket/prefix`, through s3fs), content-addressed
by SHA-256. A file is streamed in while its hash is computed, never held whole in memory; the
same bytes deposited twice are stored once. Both configurations take the same path: reads go
through `open`, so a download, its Range and the ZIP never depend on a local disk."""

import asyncio
import hashlib
import re
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

import filetype
import fsspec
from fastapi import HTTPException, Request
from fastapi.responses import StreamingResponse
from zipstream import ZipStream

from domain.models import Deposit

CHUNK = 1024 * 1024
HEAD = 8192  # bytes enough to recognise a file's type from its content
# The types a dossier may hold, recognised from the content, never from the name.
ACCEPTED = {
    "pdf": "application/pdf",
    "docx": "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    "odt": "application/vnd.oasis.opendocument.text",
    "jpg": "image/jpeg",
    "png": "image/png",
}
RANGE = re.compile(r"^bytes=(\d*)-(\d*)$")


class TooLarge(Exception):
    pass


class Unaccepted(Exception):
    """Not a type a dossier may hold (an executable renamed .pdf, say)."""


@dataclass(frozen=True)
class Stored:
    sha256: str
    size: int
    content_type: str
    new: bool  # stored by this deposit (to take back if the case refuses it)

    def deposit(self, document_id: str, kind: str, filename: str) -> Deposit:
        """What the case's workflow records of these bytes."""
        return Deposit(
            id=document_id,
            kind=kind,
            filename=filename,
            content_type=self.content_type,
            size=self.size,
            sha256=self.sha256,
        )


class Storage:
    def __init__(self, url: str, **options: Any) -> None:
        self.fs, self.root = fsspec.core.url_to_fs(url, **options)
        self.fs.makedirs(f"{self.root}/incoming", exist_ok=True)

    def path(self, sha256: str) -> str:
        return f"{self.root}/{sha256[:2]}/{sha256}"

    def exists(self, sha256: str) -> bool:
        return self.fs.exists(self.path(sha256))

    async def save(self, chunks: AsyncIterator[bytes], limit: int) -> Stored:
        """Store what `chunks` yields, at most `limit` bytes of an accepted type."""
        incoming = f"{self.root}/incoming/{uuid.uuid4().hex}"
        digest, size, head = hashlib.sha256(), 0, b""
        try:
            with self.fs.open(incoming, "wb") as out:
                async for chunk in chunks:
                    size += len(chunk)
                    if size > limit:
                        raise TooLarge
                    if len(head) < HEAD:
                        head += chunk[: HEAD - len(head)]
                        if len(head) == HEAD:
                            _type_of(head)  # refuse early: the rest is not read
                    digest.update(chunk)
                    await asyncio.to_thread(out.write, chunk)
            content_type = _type_of(head)
            sha256 = digest.hexdigest()
            target = self.path(sha256)
            new = not await asyncio.to_thread(self.fs.exists, target)
            if new:
                await asyncio.to_thread(self._move, incoming, target)
            return Stored(sha256, size, content_type, new)
        finally:
            await asyncio.to_thread(self._discard, incoming)

    def _move(self, source: str, target: str) -> None:
        self.fs.makedirs(target.rsplit("/", 1)[0], exist_ok=True)
        self.fs.mv(source, target)

    def _discard(self, path: str) -> None:
        if self.fs.exists(path):
            self.fs.rm(path)

    def remove(self, stored: Stored) -> None:
        """Take back a file this deposit stored (a case that refused it)."""
        if stored.new:
            self._discard(self.path(stored.sha256))

    def read(self, sha256: str, start: int = 0, length: int | None = None) -> Iterator[bytes]:
        """The file's bytes from `start`, `length` of them (all by default), chunk by chunk."""
        with self.fs.open(self.path(sha256), "rb") as source:
            source.seek(start)
            left = length
            while left is None or left > 0:
                chunk = source.read(CHUNK if left is None else min(CHUNK, left))
                if not chunk:
                    return
                if left is not None:
                    left -= len(chunk)
                yield chunk

    def response(
        self, sha256: str, size: int, content_type: str, filename: str, request: Request
    ) -> StreamingResponse:
        """The file as a download under its original name; one byte range when asked
        (`Range: bytes=a-b`, as a PDF viewer reads a large file), else the whole."""
        disposition = (
            "inline"
            if content_type in ("application/pdf", "image/png", "image/jpeg")
            else "attachment"
        )
        headers = {
            "Accept-Ranges": "bytes",
            "Content-Disposition": f"{disposition}; filename*=UTF-8''{quote(filename)}",
        }
        start, end = 0, size - 1
        asked = _range(request.headers.get("range"), size)
        if asked is not None:
            start, end = asked
            headers["Content-Range"] = f"bytes {start}-{end}/{size}"
        headers["Content-Length"] = str(end - start + 1)
        return StreamingResponse(
            self.read(sha256, start, end - start + 1),
            status_code=206 if asked is not None else 200,
            media_type=content_type,
            headers=headers,
        )

    def zip(self, entries: list[tuple[str, int, str]]) -> ZipStream:
        """A ZIP of (sha256, size, name in the archive), its length known before it is made."""
        archive = ZipStream(sized=True)
        for sha256, size, name in entries:
            archive.add(self.read(sha256), name, size=size)
        return archive


def _range(header: str | None, size: int) -> tuple[int, int] | None:
    """The one range asked, as (first, last) byte; None for the whole file (no Range, or
    several ranges, which a server may answer whole); 416 for a range outside the file."""
    found = RANGE.match(header.strip()) if header else None
    if found is None:
        return None
    first, last = found.groups()
    if not first and not last:
        return None
    if not first:  # the last N bytes
        start, end = max(size - int(last), 0), size - 1
    else:
        start, end = int(first), min(int(last), size - 1) if last else size - 1
    if start > end or start >= size:
        raise HTTPException(
            416, "Plage d'octets hors du fichier.", headers={"Content-Range": f"bytes */{size}"}
        )
    return start, end


def _type_of(head: bytes) -> str:
    kind = filetype.guess(head) if head else None
    if kind is None or kind.extension not in ACCEPTED:
        raise Unaccepted
    return ACCEPTED[kind.extension]
