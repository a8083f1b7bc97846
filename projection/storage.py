"""Where the cases' files live, through fsspec: a folder (DOCUMENTS_URL, `data/documents` by
default) or an S3-compatible object store (`s3://bucket/prefix`, through s3fs), content-addressed
by SHA-256. A file is streamed in while its hash is computed, never held whole in memory, then
typed by its structure (filetypes.py); the same bytes deposited twice are stored once, and
counted: each deposit adds a reference (`refs/{sha256}/{token}`), a refused one takes its own
back, and the bytes go only with the last reference. Both configurations take the same path:
reads go through `open`, so a download, its Range and the ZIP never depend on a local disk.
Apart from the files, under `drafts/`, each person's drafts (a grid being written), one per case,
overwritten at each save."""

import asyncio
import hashlib
import re
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

import fsspec
from fastapi import HTTPException, Request
from fastapi.responses import StreamingResponse
from zipstream import ZipStream

from domain.models import Deposit
from projection.filetypes import HEAD, Unaccepted, check_structure, type_of

CHUNK = 1024 * 1024
RANGE = re.compile(r"^bytes=(\d*)-(\d*)$")
BEYOND = 10**18  # past any file: a position written with more digits than this means as much
DRAFT_BYTES = 256 * 1024  # a whole grid's comments at their longest fit several times over
CASE_ID = re.compile(r"[0-9A-Za-z_-]{1,64}")

__all__ = ["CHUNK", "Storage", "Stored", "TooLarge", "Unaccepted"]


class TooLarge(Exception):
    pass


@dataclass(frozen=True)
class Stored:
    sha256: str
    size: int
    content_type: str
    ref: str  # this deposit's reference to the bytes (to take back if the case refuses it)

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

    def refs(self, sha256: str) -> str:
        return f"{self.root}/refs/{sha256}"

    def exists(self, sha256: str) -> bool:
        return self.fs.exists(self.path(sha256))

    async def save(self, chunks: AsyncIterator[bytes], limit: int) -> Stored:
        """Store what `chunks` yields, at most `limit` bytes of an accepted type (TooLarge as
        soon as one byte more comes, and no more is read), referenced once."""
        incoming = self._incoming()
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
                            type_of(head)  # refuse early: the rest is not read
                    digest.update(chunk)
                    await asyncio.to_thread(out.write, chunk)
            extension, content_type = type_of(head)
            await asyncio.to_thread(self._check, incoming, extension)
            stored = Stored(digest.hexdigest(), size, content_type, uuid.uuid4().hex)
            await asyncio.to_thread(self._keep, incoming, stored)
            return stored
        finally:
            await asyncio.to_thread(self._discard, incoming)

    def keep_document(self, content: bytes) -> str:
        """A document the service built (a PV, a letter), kept by its SHA-256 under a reference
        of its own that nothing takes back; the same bytes kept twice are kept once."""
        sha256 = hashlib.sha256(content).hexdigest()
        self.fs.makedirs(self.refs(sha256), exist_ok=True)
        self.fs.pipe_file(f"{self.refs(sha256)}/built", b"")
        target = self.path(sha256)
        self.fs.invalidate_cache(target)
        if not self.fs.exists(target):
            incoming = self._incoming()
            self.fs.pipe_file(incoming, content)
            self._move(incoming, target)
        return sha256

    def content(self, sha256: str) -> bytes:
        """A kept document's bytes, whole (documents the service builds are small)."""
        return b"".join(self.read(sha256))

    def _incoming(self) -> str:
        return f"{self.root}/incoming/{uuid.uuid4().hex}"

    def _check(self, path: str, extension: str) -> None:
        with self.fs.open(path, "rb") as source:
            check_structure(source, extension)

    def _keep(self, incoming: str, stored: Stored) -> None:
        """The reference first, then the bytes if absent: a refusal that takes the last other
        reference back meanwhile sees this one (see `remove`)."""
        self.fs.makedirs(self.refs(stored.sha256), exist_ok=True)
        self.fs.pipe_file(f"{self.refs(stored.sha256)}/{stored.ref}", b"")
        target = self.path(stored.sha256)
        self.fs.invalidate_cache(target)
        if not self.fs.exists(target):
            self._move(incoming, target)

    def _move(self, source: str, target: str) -> None:
        self.fs.makedirs(target.rsplit("/", 1)[0], exist_ok=True)
        self.fs.mv(source, target)

    def _discard(self, path: str) -> None:
        if self.fs.exists(path):
            self.fs.rm(path)

    def _referenced(self, sha256: str) -> bool:
        self.fs.invalidate_cache(self.refs(sha256))
        try:
            return bool(self.fs.ls(self.refs(sha256), detail=False))
        except FileNotFoundError:
            return False

    def remove(self, stored: Stored) -> None:
        """Take back this deposit's reference (a case refused it), and the bytes if no other
        deposit refers to them. They are set aside before they go: a deposit of the same bytes
        that referred to them meanwhile, having seen them in place, gets them back."""
        self._discard(f"{self.refs(stored.sha256)}/{stored.ref}")
        if self._referenced(stored.sha256):
            return
        aside = self._incoming()
        try:
            self.fs.mv(self.path(stored.sha256), aside)
        except FileNotFoundError:  # another refusal took them first
            return
        if self._referenced(stored.sha256):
            self._move(aside, self.path(stored.sha256))
        else:
            self._discard(aside)

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
        self,
        sha256: str,
        size: int,
        content_type: str,
        filename: str,
        request: Request,
        headers: dict[str, str] | None = None,
    ) -> StreamingResponse:
        """The file as a download under its original name; one byte range when asked
        (`Range: bytes=a-b`, as a PDF viewer reads a large file), else the whole."""
        disposition = (
            "inline"
            if content_type in ("application/pdf", "image/png", "image/jpeg")
            else "attachment"
        )
        headers = {
            **(headers or {}),
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

    def draft_path(self, owner: str, case_id: str) -> str:
        """Where `owner`'s draft for a case lives: their name hashed (a name is no path)."""
        if not CASE_ID.fullmatch(case_id):
            raise ValueError(f"not a case id: {case_id!r}")
        person = hashlib.sha256(owner.encode()).hexdigest()
        return f"{self.root}/drafts/{person}/{case_id}.json"

    def keep_draft(self, owner: str, case_id: str, content: bytes) -> None:
        """Replace the draft whole (written aside, then moved: never read half written)."""
        if len(content) > DRAFT_BYTES:
            raise TooLarge
        incoming = self._incoming()
        self.fs.pipe_file(incoming, content)
        target = self.draft_path(owner, case_id)
        self._move(incoming, target)  # replaces the previous draft in one step
        self.fs.invalidate_cache(target)

    def draft(self, owner: str, case_id: str) -> bytes | None:
        path = self.draft_path(owner, case_id)
        try:
            with self.fs.open(path, "rb") as source:
                return source.read(DRAFT_BYTES + 1)[:DRAFT_BYTES]
        except FileNotFoundError:
            return None

    def drop_draft(self, owner: str, case_id: str) -> None:
        self._discard(self.draft_path(owner, case_id))

    def zip(self, entries: list[tuple[str, int, str]]) -> ZipStream:
        """A ZIP of (sha256, size, name in the archive), its length known before it is made."""
        archive = ZipStream(sized=True)
        for sha256, size, name in entries:
            archive.add(self.read(sha256), name, size=size)
        return archive


def _position(digits: str) -> int:
    """A byte position as written in a Range header, however many digits it has."""
    digits = digits.lstrip("0") or "0"
    return int(digits) if len(digits) < 19 else BEYOND


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
        start, end = max(size - _position(last), 0), size - 1
    else:
        start = _position(first)
        end = min(_position(last), size - 1) if last else size - 1
    if start > end or start >= size:
        raise HTTPException(
            416, "Plage d'octets hors du fichier.", headers={"Content-Range": f"bytes */{size}"}
        )
    return start, end
