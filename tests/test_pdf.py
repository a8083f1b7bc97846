"""The programme's PDF/A documents: the same record gives the same bytes (in this process and in
another), the file says it is PDF/A-3B, its only fonts are the embedded DejaVu, and a reader finds
the French text, the programme's name atop each page and « page X / Y » at its foot."""

import hashlib
import io
import subprocess
import sys
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pypdf
import pytest
from jinja2 import UndefinedError

from activities.pdf import FONT_DIR, PROGRAMME, build_pdf

CREATED = datetime(2026, 3, 2, 18, 0, tzinfo=timezone(timedelta(hours=1)))  # Rabat, in Ramadan
TITLE = "Procès-verbal de la séance du 2 mars 2026"
PARAGRAPH = (
    "Le comité de pilotage s'est réuni « en séance plénière » ; le quorum étant atteint, "
    "la séance est ouverte à 10 h 00 — ordre du jour n° 3 : l'œuvre commune."
)
CONTEXT = {
    "paragraphs": [PARAGRAPH] * 40,  # enough for three pages
    "rows": [("Cluster de l'agro-industrie du Souss", "15,75"), ("Cluster <b>textile</b>", "12")],
}


def _build(context=CONTEXT, **changes):
    return build_pdf("sample.html", context, **{"title": TITLE, "created": CREATED, **changes})


@pytest.fixture(scope="module")
def built():
    return _build()


@pytest.fixture(scope="module")
def reader(built):
    return pypdf.PdfReader(io.BytesIO(built.content))


def test_the_same_record_gives_the_same_bytes(built):
    again = _build()
    assert again.content == built.content
    assert again.sha256 == built.sha256 == hashlib.sha256(built.content).hexdigest()


def test_another_process_gives_the_same_bytes(built):
    # Another interpreter, another hash seed: nothing of the process leaks into the file.
    script = "from tests.test_pdf import _build; print(_build().sha256)"
    out = subprocess.run(
        [sys.executable, "-c", script],
        capture_output=True,
        text=True,
        check=True,
        env={"PYTHONHASHSEED": "12345", "PATH": "/usr/bin:/bin"},
        cwd=Path(__file__).parent.parent,
    )
    assert out.stdout.strip() == built.sha256


def test_the_dates_are_the_callers_not_now(built, reader):
    assert reader.metadata["/CreationDate"] == "D:20260302170000Z"  # 18:00 in Rabat, in UTC
    assert reader.metadata["/ModDate"] == "D:20260302170000Z"
    later = _build(modified=CREATED + timedelta(days=1))
    assert later.content != built.content
    assert pypdf.PdfReader(io.BytesIO(later.content)).metadata["/ModDate"] == "D:20260303170000Z"
    with pytest.raises(ValueError, match="time zone"):
        _build(created=datetime(2026, 3, 2, 18, 0))


def test_the_file_declares_pdf_a_3b(built, reader):
    assert built.content.startswith(b"%PDF-1.7")
    xmp = reader.trailer["/Root"]["/Metadata"].get_object().get_data()
    assert b'pdfaid:part="3"' in xmp and b'pdfaid:conformance="B"' in xmp
    assert "Procès-verbal de la séance du 2 mars 2026".encode() in xmp
    (intent,) = reader.trailer["/Root"]["/OutputIntents"]
    assert intent.get_object()["/S"] == "/GTS_PDFA1"
    assert len(reader.trailer["/ID"]) == 2
    assert reader.trailer["/Root"]["/Lang"] == "fr"


def test_only_the_embedded_dejavu_fonts(reader):
    fonts = {}
    for page in reader.pages:
        for font in page["/Resources"]["/Font"].values():
            font = font.get_object()
            descriptor = font["/DescendantFonts"][0].get_object()["/FontDescriptor"]
            fonts[font["/BaseFont"].split("+")[1]] = "/FontFile2" in descriptor
    assert fonts == {"Document-Sans": True, "Document-Sans-Bold": True}


def test_a_reader_finds_the_text_the_header_and_the_page_numbers(reader):
    pages = [page.extract_text() for page in reader.pages]
    assert len(pages) == 3
    for number, text in enumerate(pages, start=1):
        assert f"page {number} / 3" in text
        assert PROGRAMME in text
        assert "Ministère de l'Industrie et du Commerce — Royaume du Maroc" in text
    assert TITLE in pages[0]
    assert PARAGRAPH in pages[0].replace("\n", " ")
    # The caller's values are text, never markup.
    assert "Cluster <b>textile</b>" in pages[-1]
    assert "Cluster de l'agro-industrie du Souss 15,75" in pages[-1]


def test_a_missing_value_fails_the_build():
    with pytest.raises(UndefinedError):
        _build(context={"rows": []})


def test_a_document_fetches_nothing_but_its_fonts():
    from weasyprint.urls import FatalURLFetchingError

    from activities.pdf import _FontsOnly

    fetcher = _FontsOnly(allowed_protocols={"file"}, fail_on_errors=True)
    for url in ("file:///etc/hostname", "https://example.org/logo.png"):
        with pytest.raises(FatalURLFetchingError):
            fetcher.fetch(url)
    font = fetcher.fetch((FONT_DIR / "DejaVuSans.ttf").as_uri())
    assert font.read(4) == b"\x00\x01\x00\x00"  # a TrueType file
    font.close()


def test_utc_dates_are_accepted_as_given():
    assert _build(created=datetime(2026, 3, 2, 17, 0, tzinfo=UTC)).content == _build().content
