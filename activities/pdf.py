"""The programme's documents as PDF/A (WeasyPrint): a Jinja2 template of activities/pdf_templates
on the base layout (French, A4, the programme's name atop each page, « page X / Y » at its foot),
rendered with deterministic bytes, so that the same record always gives the same file and its
SHA-256 proves it. Called from activities only: a PDF takes a second of CPU, never in a request nor
in a workflow.

Determinism: the dates are the caller's (from the recorded history, never now); the file
identifier is derived from the rendered HTML; the only font is DejaVu Sans (regular and bold)
from Debian's fonts-dejavu-core, declared by @font-face from its files and embedded as a subset,
so the system's font choices do not enter (DejaVu covers French and Arabic; only a character it
lacks would go to fontconfig's fallback); nothing is fetched but those files."""

import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape
from weasyprint import CSS, HTML, Attachment
from weasyprint.text.fonts import FontConfiguration
from weasyprint.urls import FatalURLFetchingError, URLFetcher

PDF_VARIANT = "pdf/a-3b"  # archival (ISO 19005-3, level B); -3 lets a later PV attach its sources
PROGRAMME = "Programme d'appui aux clusters"
MINISTRY = "Ministère de l'Industrie et du Commerce — Royaume du Maroc"
# Debian's fonts-dejavu-core (every Debian has it with fontconfig; .ci/run installs it if missing).
FONT_DIR = Path("/usr/share/fonts/truetype/dejavu")
FONTS = {("normal", "normal"): "DejaVuSans.ttf", ("bold", "normal"): "DejaVuSans-Bold.ttf"}
FONT_FAMILY = "Document Sans"  # base.html asks for it alone: only these files answer to it

TEMPLATES = Environment(
    loader=FileSystemLoader(Path(__file__).parent / "pdf_templates"),
    autoescape=select_autoescape(["html"]),
    undefined=StrictUndefined,  # a missing value fails the build instead of printing nothing
)


@dataclass(frozen=True)
class BuiltPdf:
    content: bytes
    sha256: str  # hex, what the record keeps beside the file


class FontsMissing(RuntimeError):
    pass


class _FontsOnly(URLFetcher):
    """Fetches the font files and nothing else: no network, no other local file."""

    def fetch(self, url: str, headers: Any = None) -> Any:
        parts = urlsplit(url)
        if parts.scheme != "file" or Path(unquote(parts.path)).parent != FONT_DIR:
            raise FatalURLFetchingError(f"a document fetches nothing but its fonts: {url}")
        return super().fetch(url, headers)


def _font_css() -> str:
    faces = []
    for (weight, style), name in FONTS.items():
        path = FONT_DIR / name
        if not path.is_file():
            raise FontsMissing(f"{path} is missing: install Debian's fonts-dejavu-core")
        faces.append(
            f'@font-face {{ font-family: "{FONT_FAMILY}"; font-weight: {weight}; '
            f'font-style: {style}; src: url("{path.as_uri()}"); }}'
        )
    return "\n".join(faces)


def w3c_date(moment: datetime) -> str:
    """The form WeasyPrint writes to the PDF's and the XMP's dates; a naive datetime is refused
    (a date without its offset is not one moment)."""
    if moment.tzinfo is None:
        raise ValueError("a document's date needs its time zone")
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def render_html(
    template: str,
    context: Mapping[str, Any],
    *,
    title: str,
    created: datetime,
    modified: datetime | None = None,
) -> str:
    values = {
        "programme": PROGRAMME,
        "ministry": MINISTRY,
        "font_family": FONT_FAMILY,
        **context,
        "title": title,
        "created": w3c_date(created),
        "modified": w3c_date(modified or created),
    }
    return TEMPLATES.get_template(template).render(values)


def build_pdf(
    template: str,
    context: Mapping[str, Any],
    *,
    title: str,
    created: datetime,
    modified: datetime | None = None,
    attachments: Sequence[Attachment] = (),
) -> BuiltPdf:
    """The document `template` (a file of pdf_templates extending base.html) filled with `context`,
    as PDF/A bytes and their SHA-256. `created` and `modified` come from the recorded history."""
    html = render_html(template, context, title=title, created=created, modified=modified)
    fetcher = _FontsOnly(allowed_protocols={"file"}, fail_on_errors=True)
    fonts = FontConfiguration()
    css = CSS(string=_font_css(), font_config=fonts, url_fetcher=fetcher)
    identifier = hashlib.sha256(html.encode()).hexdigest()[:32].encode()
    content = HTML(string=html, url_fetcher=fetcher).write_pdf(
        stylesheets=[css],
        font_config=fonts,
        pdf_variant=PDF_VARIANT,
        pdf_identifier=identifier,
        attachments=list(attachments),  # PDF/A-3 files of its own (a receipt's signed JSON)
    )
    return BuiltPdf(content=content, sha256=hashlib.sha256(content).hexdigest())
