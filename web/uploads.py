"""A file sent as a multipart form, read as it streams in: its small fields kept, its one file
handed on chunk by chunk (to storage), never spooled whole. Whoever reads it stops when it
wants (a file past its limit): what the client sent beyond is never read."""

import codecs
from collections.abc import AsyncIterator, Callable

from fastapi import HTTPException, Request, status
from python_multipart.exceptions import FormParserError
from python_multipart.multipart import MultipartParser, parse_options_header

FILE = "file"  # the form's file field
MAX_FIELD_BYTES = 8192  # a field beside the file: a kind of document (200), a key (200)
MAX_FIELDS = 8
# What a form adds to its file (boundaries, part headers, its few fields): a declared length
# past the file's limit plus this is refused before one byte is read.
FORM_BYTES = MAX_FIELDS * (MAX_FIELD_BYTES + 512) + 8192
NO_FILE = "Choisissez un fichier à déposer."


class Forged(HTTPException):
    """A form no page of the console sends (malformed, a field past its bound, two files, a
    forged key): a face refuses it as such (422) rather than showing it back on its page."""

    def __init__(self, detail: str = "Formulaire multipart invalide.") -> None:
        super().__init__(status.HTTP_422_UNPROCESSABLE_CONTENT, detail)


class Missing(HTTPException):
    """A field the form lacks (`field`): the API answers it as its validation errors."""

    def __init__(self, field: str, detail: str) -> None:
        super().__init__(status.HTTP_422_UNPROCESSABLE_CONTENT, detail)
        self.field = field


class Upload:
    """One multipart request: `chunks()` yields its file's bytes while it reads the body;
    `fields` holds the other fields read so far (those before the file when its first chunk
    comes, all of them once `chunks()` is done); `on_file(fields)` runs when the file starts,
    so a field sent before it can refuse the request before the file is read."""

    def __init__(self, request: Request, on_file: Callable[[dict[str, str]], None]) -> None:
        media_type, options = parse_options_header(request.headers.get("content-type", ""))
        if media_type != b"multipart/form-data" or not options.get(b"boundary"):
            raise Missing(FILE, NO_FILE)  # a form of another kind holds no file
        self.request, self.on_file = request, on_file
        self.boundary = options[b"boundary"]
        self.charset = _charset(options.get(b"charset", b"utf-8"))
        self.fields: dict[str, str] = {}
        self.filename: str | None = None
        self.has_file = False
        self._part = "skip"  # what the current part is: the file, a field, or nothing to keep
        self._headers: dict[bytes, bytes] = {}
        self._header = [b"", b""]
        self._name = ""
        self._value = bytearray()
        self._pending: list[bytes] = []

    def declared_length(self) -> int | None:
        """The body's Content-Length, if announced (a length of 19 digits or more: as much)."""
        declared = self.request.headers.get("content-length", "")
        if not (declared.isascii() and declared.isdigit()):
            return None
        return int(declared) if len(declared) < 19 else 10**18

    async def chunks(self) -> AsyncIterator[bytes]:
        """The file's bytes as they arrive; the fields after it are read to the end."""
        parser = MultipartParser(
            self.boundary,
            {
                "on_part_begin": self._part_begin,
                "on_header_field": self._header_field,
                "on_header_value": self._header_value,
                "on_header_end": self._header_end,
                "on_headers_finished": self._headers_finished,
                "on_part_data": self._part_data,
                "on_part_end": self._part_end,
            },
        )
        try:
            async for received in self.request.stream():
                parser.write(received)
                while self._pending:
                    yield self._pending.pop(0)
            parser.finalize()
        except FormParserError:
            raise Forged() from None
        if not self.has_file:
            raise Missing(FILE, NO_FILE)

    def _part_begin(self) -> None:
        self._headers, self._value = {}, bytearray()

    def _header_field(self, data: bytes, start: int, end: int) -> None:
        self._header[0] += data[start:end]

    def _header_value(self, data: bytes, start: int, end: int) -> None:
        self._header[1] += data[start:end]

    def _header_end(self) -> None:
        name, value = self._header
        self._headers[name.lower()] = value
        self._header = [b"", b""]

    def _headers_finished(self) -> None:
        _, options = parse_options_header(self._headers.get(b"content-disposition", b""))
        if b"name" not in options:
            raise Forged()
        self._name = self._decode(options[b"name"])
        filename = options.get(b"filename")
        if self._name != FILE:
            if len(self.fields) >= MAX_FIELDS:
                raise Forged()
            self._part = "field"
        elif filename == b"":  # a form's file input left empty: no file
            self._part = "skip"
        elif self.has_file:
            raise Forged("Un seul fichier par dépôt.")
        else:
            self._part, self.has_file = "file", True
            self.filename = self._decode(filename) if filename is not None else None
            self.on_file(self.fields)

    def _part_data(self, data: bytes, start: int, end: int) -> None:
        if self._part == "file":
            self._pending.append(bytes(data[start:end]))
        elif self._part == "field":
            self._value += data[start:end]
            if len(self._value) > MAX_FIELD_BYTES:
                raise Forged(f"Champ « {self._name} » trop long.")

    def _part_end(self) -> None:
        if self._part == "field":
            self.fields[self._name] = self._decode(bytes(self._value))
        self._part = "skip"

    def _decode(self, raw: bytes) -> str:
        try:
            return raw.decode(self.charset)
        except UnicodeDecodeError:
            raise Forged() from None


def _charset(raw: bytes | str) -> str:
    name = raw.decode("latin-1") if isinstance(raw, bytes) else raw
    try:
        return codecs.lookup(name).name
    except LookupError:
        return "latin-1"
