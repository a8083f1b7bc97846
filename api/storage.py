"""Where the dossiers' files live: a folder (DOCUMENTS_URL, `data/documents` by default), through
fsspec, content-addressed by SHA-256. A file is streamed in while its hash is computed, never
held whole in memory; the same bytes deposited twice are stored once."""

import asyncio
import hashlib
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass

import filetype
import fsspec

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


class Storage:
    def __init__(self, url: str) -> None:
        self.fs, self.root = fsspec.core.url_to_fs(url)
        self.fs.makedirs(f"{self.root}/incoming", exist_ok=True)

    def path(self, sha256: str) -> str:
        return f"{self.root}/{sha256[:2]}/{sha256}"

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
            new = not self.fs.exists(target)
            if new:
                self.fs.makedirs(target.rsplit("/", 1)[0], exist_ok=True)
                self.fs.mv(incoming, target)
            return Stored(sha256, size, content_type, new)
        finally:
            if self.fs.exists(incoming):
                self.fs.rm(incoming)

    def remove(self, stored: Stored) -> None:
        """Take back a file this deposit stored (a case that refused it)."""
        if stored.new and self.fs.exists(self.path(stored.sha256)):
            self.fs.rm(self.path(stored.sha256))

    def local_path(self, sha256: str) -> str:
        """The file on this host's disk (the folder configuration), for a streamed download."""
        return self.fs._strip_protocol(self.path(sha256))


def _type_of(head: bytes) -> str:
    kind = filetype.guess(head) if head else None
    if kind is None or kind.extension not in ACCEPTED:
        raise Unaccepted
    return ACCEPTED[kind.extension]
