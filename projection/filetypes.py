"""The types a dossier may hold, recognised from the content, never from the name: first by
the first bytes (filetype's magic numbers, to refuse early while the file streams in), then by
the whole structure once stored: a PDF parses (pypdf: header, cross-reference table, trailer,
catalogue, pages), a DOCX or an XLSX is a ZIP whose [Content_Types].xml names its main part,
an ODT a ZIP of its own type with its content, a PNG or a JPEG an image Pillow opens and
verifies. A file with the right first bytes and anything else after them is refused."""

import logging
import warnings
import zipfile
from typing import IO
from xml.etree import ElementTree

import filetype
from PIL import Image
from pypdf import PdfReader
from pypdf.errors import DependencyError

HEAD = 8192  # bytes enough to recognise a file's type from its content
ACCEPTED = {
    "pdf": "application/pdf",
    "docx": "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    "odt": "application/vnd.oasis.opendocument.text",
    "jpg": "image/jpeg",
    "png": "image/png",
}
ACCEPTED_FR = "PDF, DOCX, XLSX, ODT, JPEG ou PNG"
# An Office file's main part and its content type, as [Content_Types].xml declares it.
OFFICE = {
    "docx": (
        "word/document.xml",
        "application/vnd.openxmlformats-officedocument.wordprocessingml.document.main+xml",
    ),
    "xlsx": (
        "xl/workbook.xml",
        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml",
    ),
}
TYPES_NS = "{http://schemas.openxmlformats.org/package/2006/content-types}"
MAX_XML_BYTES = 1024 * 1024  # a package's [Content_Types].xml: a few KB in practice
MAX_PIXELS = 200_000_000  # an image's header may claim anything: a scan at 600 dpi is ~35 M
IMAGES = {"png": "PNG", "jpg": "JPEG"}
# pypdf reports what it repairs in a damaged file as warnings: a refusal says enough.
logging.getLogger("pypdf").setLevel(logging.ERROR)


class Unaccepted(Exception):
    """Not a type a dossier may hold (an executable renamed .pdf, a truncated or forged PDF)."""

    def __init__(self, detail: str = f"Type de fichier refusé : {ACCEPTED_FR}.") -> None:
        super().__init__(detail)


def type_of(head: bytes) -> tuple[str, str]:
    """(extension, content type) of a file from its first bytes; Unaccepted if none fits."""
    kind = filetype.guess(head) if head else None
    if kind is None or kind.extension not in ACCEPTED:
        raise Unaccepted
    return kind.extension, ACCEPTED[kind.extension]


def check_structure(source: IO[bytes], extension: str) -> None:
    """Unaccepted unless the whole file (seekable) is what its first bytes say."""
    label = "ODT" if extension == "odt" else IMAGES.get(extension, extension.upper())
    try:
        CHECKS[extension](source, extension)
    except Unaccepted:
        raise
    except Exception:  # noqa: BLE001 - whatever a parser trips on, the file is not well formed
        raise Unaccepted(
            f"Fichier {label} endommagé ou incomplet : il ne s'ouvre pas. "
            f"Déposez un fichier valide ({ACCEPTED_FR})."
        ) from None


def _pdf(source: IO[bytes], _: str) -> None:
    try:
        reader = PdfReader(source, strict=False)  # the header, xref table and trailer
    except DependencyError:  # encrypted with a cipher this install cannot run: parsed that far
        return
    if reader.is_encrypted:  # its objects are ciphered (a password): the trailer is what reads
        if "/Root" not in reader.trailer:
            raise ValueError("no catalogue")
        return
    catalog = reader.trailer["/Root"].get_object()
    if catalog.get("/Type") != "/Catalog":
        raise ValueError("no catalogue")
    if len(reader.pages) < 1:
        raise ValueError("no page")


def _office(source: IO[bytes], extension: str) -> None:
    main, main_type = OFFICE[extension]
    with zipfile.ZipFile(source) as package:
        names = set(package.namelist())
        if main not in names:
            raise ValueError(f"no {main}")
        types = ElementTree.fromstring(_small(package, "[Content_Types].xml"))
        overrides = {
            node.get("PartName", "").lstrip("/"): node.get("ContentType")
            for node in types.iter(f"{TYPES_NS}Override")
        }
        defaults = {
            node.get("Extension", "").lower(): node.get("ContentType")
            for node in types.iter(f"{TYPES_NS}Default")
        }
        declared = overrides.get(main) or defaults.get(main.rsplit(".", 1)[1])
        if declared != main_type:
            raise ValueError(f"{main} declared {declared}")


def _odt(source: IO[bytes], _: str) -> None:
    with zipfile.ZipFile(source) as package:
        if package.read("mimetype").strip() != ACCEPTED["odt"].encode():
            raise ValueError("not an ODT package")
        ElementTree.fromstring(_small(package, "META-INF/manifest.xml"))
        package.getinfo("content.xml")


def _small(package: zipfile.ZipFile, name: str) -> bytes:
    """A package's small XML part, read only if it is small, and with no DTD (no entities)."""
    if package.getinfo(name).file_size > MAX_XML_BYTES:
        raise ValueError(f"{name} too large")
    data = package.read(name)
    if b"<!DOCTYPE" in data or b"<!ENTITY" in data:
        raise ValueError(f"{name} declares a DTD")
    return data


def _image(source: IO[bytes], extension: str) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        with Image.open(source, formats=[IMAGES[extension]]) as image:
            width, height = image.size
            if not 0 < width * height <= MAX_PIXELS:
                raise ValueError("implausible dimensions")
            image.verify()  # PNG: every chunk's checksum; JPEG: its markers


CHECKS = {"pdf": _pdf, "docx": _office, "xlsx": _office, "odt": _odt, "jpg": _image, "png": _image}
assert CHECKS.keys() == ACCEPTED.keys(), "every accepted type is checked whole"
