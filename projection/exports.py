"""Spreadsheet exports: CSV as French spreadsheets read it, safe to open."""

import csv
import io
from collections.abc import Iterable

# A cell a spreadsheet would run as a formula (OWASP, "CSV injection").
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def safe_cell(value: object) -> object:
    """Text that a spreadsheet would take for a formula is kept as text (a leading apostrophe)."""
    if isinstance(value, str) and value.startswith(FORMULA_STARTS):
        return "'" + value
    return value


def csv_text(header: list[str], rows: Iterable[list[object]]) -> str:
    """Semicolons, CRLF, UTF-8 with BOM: what French spreadsheets open as they are."""
    out = io.StringIO()
    writer = csv.writer(out, delimiter=";", lineterminator="\r\n")
    for row in [header, *rows]:
        writer.writerow([safe_cell(cell) for cell in row])
    return "\ufeff" + out.getvalue()
