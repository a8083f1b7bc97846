"""Spreadsheet exports: one table written as CSV or XLSX, as French spreadsheets read them, safe
to open. The API and the console answer every export through `table_response`."""

import csv
import io
import re
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Annotated, Literal, cast

from fastapi import Depends, Request
from openpyxl import Workbook
from openpyxl.cell import WriteOnlyCell
from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE
from openpyxl.styles import Font
from openpyxl.utils import get_column_letter
from openpyxl.worksheet._write_only import WriteOnlyWorksheet
from starlette.exceptions import HTTPException
from starlette.responses import Response

from domain.clock import local

Format = Literal["csv", "xlsx"]
Cell = str | int | float | datetime | date | None  # a bool is written « oui » / « non »
MEDIA_TYPES: dict[str, str] = {
    "csv": "text/csv",
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
}
# For a route's OpenAPI: what its 200 carries.
FILE_RESPONSES = {
    fmt: {200: {"description": "Le fichier", "content": {media: {}}}}
    for fmt, media in MEDIA_TYPES.items()
}
MAX_ROWS = 50_000  # an export is a whole list, not a page: past this, narrow the filters
# A cell a spreadsheet would run as a formula (OWASP, "CSV injection").
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
XLSX_MAX_TEXT = 32_767  # Excel's limit for one cell: longer, it calls the file corrupt
DATE_TIME, DAY, AMOUNT = "dd/mm/yyyy hh:mm", "dd/mm/yyyy", "#,##0.00"


@dataclass(frozen=True)
class Table:
    """What an export holds: its title (the sheet's name, and the file's), a header, rows."""

    title: str
    header: list[str]
    rows: list[Sequence[Cell]]

    def __post_init__(self) -> None:
        bounded(self.rows)


class TooManyRows(HTTPException):
    """An export past MAX_ROWS, refused rather than silently cut (a 422 in the API and the
    console alike, as an HTTP error both already show in French)."""

    def __init__(self) -> None:
        limit = f"{MAX_ROWS:,}".replace(",", "\u202f")
        super().__init__(422, f"Plus de {limit} lignes à exporter : affinez les filtres.")


def bounded(rows: Sequence[object]) -> None:
    """`rows`, fetched with a limit of MAX_ROWS + 1, fit in one export."""
    if len(rows) > MAX_ROWS:
        raise TooManyRows


def yes_no(value: bool) -> str:
    return "oui" if value else "non"


def safe_cell(value: object) -> object:
    """Text that a spreadsheet would take for a formula is kept as text (a leading apostrophe)."""
    if isinstance(value, str) and value.startswith(FORMULA_STARTS):
        return "'" + value
    return value


def _shown(value: datetime) -> datetime:
    """An aware time as Rabat's wall clock (a naive one is taken as such already)."""
    return local(value) if value.tzinfo else value


def csv_cell(value: Cell) -> object:
    """A value as French spreadsheets read it: decimal commas, day first, Rabat time."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return yes_no(value)
    if isinstance(value, float):
        return f"{value:.2f}".replace(".", ",")
    if isinstance(value, datetime):
        return _shown(value).strftime("%d/%m/%Y %H:%M")
    if isinstance(value, date):
        return value.strftime("%d/%m/%Y")
    return safe_cell(value)


def csv_bytes(table: Table) -> bytes:
    """Semicolons, CRLF, UTF-8 with BOM: what French spreadsheets open as they are."""
    out = io.StringIO()
    writer = csv.writer(out, delimiter=";", lineterminator="\r\n")
    writer.writerow([safe_cell(name) for name in table.header])
    writer.writerows([csv_cell(cell) for cell in row] for row in table.rows)
    return ("\ufeff" + out.getvalue()).encode()


def _xlsx_cell(sheet: WriteOnlyWorksheet, value: Cell) -> WriteOnlyCell:
    """Numbers as numbers, times as Excel dates in Rabat time, text always as text."""
    if isinstance(value, bool):
        value = yes_no(value)
    if isinstance(value, datetime):  # openpyxl stores no time zone: Rabat's wall clock
        cell = WriteOnlyCell(sheet, _shown(value).replace(tzinfo=None))
        cell.number_format = DATE_TIME
    elif isinstance(value, date):
        cell = WriteOnlyCell(sheet, value)
        cell.number_format = DAY
    elif isinstance(value, str):
        cell = WriteOnlyCell(sheet, ILLEGAL_CHARACTERS_RE.sub("", value)[:XLSX_MAX_TEXT])
        cell.data_type = "s"  # openpyxl takes a leading "=" for a formula: never from our data
    else:
        cell = WriteOnlyCell(sheet, value)
        if isinstance(value, float):
            cell.number_format = AMOUNT
    return cell


def _width(name: str, values: list[Cell]) -> float:
    """Wide enough for the header and the first rows' values as shown, within reason."""
    shown = [len(str(csv_cell(v))) for v in values]
    return min(max([len(name), *shown]) + 2, 60)


def _sheet_title(title: str) -> str:
    return re.sub(r"[\[\]:*?/\\]", " ", title)[:31] or "Export"


def xlsx_bytes(table: Table) -> bytes:
    """One sheet: a bold header row that stays in view, columns sized to their content."""
    book = Workbook(write_only=True)
    sheet = book.create_sheet(_sheet_title(table.title))
    sheet.freeze_panes = "A2"
    sample = table.rows[:200]
    for index, name in enumerate(table.header):
        values = [row[index] for row in sample if index < len(row)]
        sheet.column_dimensions[get_column_letter(index + 1)].width = _width(name, values)
    header = [WriteOnlyCell(sheet, name) for name in table.header]
    for cell in header:
        cell.font = Font(bold=True)
    sheet.append(header)
    for row in table.rows:
        sheet.append([_xlsx_cell(sheet, value) for value in row])
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def file_name(title: str, fmt: Format) -> str:
    """ASCII, dated in Rabat: « Soutien par année » → soutien-par-annee-2025-06-01.xlsx."""
    ascii_title = unicodedata.normalize("NFKD", title).encode("ascii", "ignore").decode()
    stem = re.sub(r"[^a-z0-9]+", "-", ascii_title.lower()).strip("-") or "export"
    return f"{stem}-{local(datetime.now(UTC)).date().isoformat()}.{fmt}"


WRITERS = {"csv": csv_bytes, "xlsx": xlsx_bytes}


def table_response(table: Table, fmt: Format) -> Response:
    """The table as a file to download, in `fmt`."""
    return Response(
        WRITERS[fmt](table),
        media_type=MEDIA_TYPES[fmt],  # Starlette adds the charset to text/csv
        headers={"Content-Disposition": f'attachment; filename="{file_name(table.title, fmt)}"'},
    )


def requested_format(request: Request) -> Format:
    """The format of a route registered twice, as « ….csv » and as « ….xlsx »: its path's
    suffix. (Not a path parameter: every one of those is a case id to the tests that probe
    each route.)"""
    return cast(Format, request.scope["route"].path.rsplit(".", 1)[1])


FileFormat = Annotated[Format, Depends(requested_format)]
