"""Tables as people read them, on a page and in a spreadsheet: one definition of a table's columns (their
headings in the reader's language, how each value reads), shown by the pages and written by every export,
the API's and the pages' alike.

An export is the whole result: CSV in UTF-8 with a byte-order mark (a spreadsheet in a Chinese locale
then opens it as UTF-8, not as GBK), or XLSX (openpyxl). One value per cell: names rather than ids,
times in the deployment's time zone as the glossary writes them, several values joined with "；", and
numbers left numbers (shares as fractions, shown as percentages in XLSX).
"""

from __future__ import annotations

import csv
import io
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from fastapi.responses import Response
from openpyxl import Workbook
from openpyxl.cell import WriteOnlyCell
from openpyxl.styles import Font

from api import i18n
from api.names import Names, display_names
from domain.application import Minqing
from domain.vocabulary import STAGES, STATUSES

FORMATS = ("csv", "xlsx")
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
BOM = "\ufeff"
JOINED = "；"  # several values in one cell, as the office writes a list
# A cell a spreadsheet would run as a formula starts with one of these (OWASP, "CSV injection").
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")

# How a column's values read. A value of a kind in NAMED is a key, read as its name; numbers stay
# numbers in a spreadsheet, and a page shows them the locale's way.
TEXT, COUNT, SHARE, HOURS, DAYS, TIME = "text", "count", "share", "hours", "days", "time"


def step_name(names: Names, key: str) -> str:
    """A case's step: a step of its template, a stage after the steps, or its status (raised, closed…)."""
    if key in STATUSES:
        return names.term("status", key)
    if key in STAGES:
        return names.term("stage", key)
    return names.step_anywhere(key)


def missed_deadline(names: Names, missed: str) -> str:
    """A deadline recorded missed, as the cases view keeps it ("resolution@2026-03-02T09:00:00+00:00")."""
    key, _, due = missed.partition("@")
    name = names.term("deadline", key)
    return f"{name}（{i18n.when(datetime.fromisoformat(due), names.deployment.timezone)}）" if due else name


def escalation(names: Names, escalated: dict[str, Any]) -> str:
    """An escalation as the cases view keeps it: from which cell to which, and whether on a missed
    deadline."""
    moved = f"{names.cell(escalated['from'])} → {names.cell(escalated['to'])}"
    if not escalated.get("automatic"):
        return moved
    return i18n.gettext("{moved} (automatic)").format(moved=moved)


def accountability_flag(names: Names, flag: dict[str, Any]) -> str:
    return f"{flag['responsible']}：{flag['finding']}"


NAMED: dict[str, Callable[[Names, Any], str]] = {
    "cell": Names.cell,
    "category": Names.category,
    "staff": Names.staff,
    "step": step_name,
    "household_category": lambda names, key: names.term("household_category", key),
    "status": lambda names, key: names.term("status", key),
    "channel": lambda names, key: names.term("channel", key),
    "missed_deadline": missed_deadline,
    "escalation": escalation,
    "accountability_flag": accountability_flag,
    # a time held, from the trace's hours: days and hours, or hours and minutes under a day
    "duration": lambda names, hours: i18n.duration(timedelta(hours=hours)),
}


@dataclass(frozen=True)
class Column:
    key: str        # the row's key
    label: str      # the heading, in the reader's language (build tables per request)
    kind: str = TEXT


@dataclass(frozen=True)
class Table:
    name: str                       # the file's name, without its suffix
    columns: tuple[Column, ...]

    def value(self, column: Column, row: dict[str, Any], names: Names) -> str | int | float | None:
        """One value as a spreadsheet cell holds it."""
        return cell_value(column.kind, row.get(column.key), names)

    def shown(self, column: Column, row: dict[str, Any], names: Names) -> str:
        """One value as a page shows it: counts and figures the locale's way, a share as a percentage."""
        value = self.value(column, row, names)
        if value is None or value == "":
            return "—" if column.kind in (COUNT, SHARE, HOURS, DAYS) else ""
        if column.kind == SHARE:
            return i18n.percent(float(value))
        if column.kind in (HOURS, DAYS):
            return i18n.figure(float(value))
        if column.kind == COUNT:
            return i18n.number(int(value))
        return str(value)

    def cells(self, rows: Iterable[dict[str, Any]], names: Names) -> Iterable[list[str | int | float | None]]:
        for row in rows:
            yield [self.value(column, row, names) for column in self.columns]


def cell_value(kind: str, value: Any, names: Names) -> str | int | float | None:
    if value is None:
        return None
    if isinstance(value, list | tuple):
        return JOINED.join(str(cell_value(kind, item, names) or "") for item in value)
    if kind in NAMED:
        return NAMED[kind](names, value)
    if isinstance(value, datetime):
        return i18n.when(value, names.deployment.timezone)
    if isinstance(value, bool):
        return i18n.gettext("yes") if value else i18n.gettext("no")
    if isinstance(value, int | float):
        return value
    return str(value)


def spreadsheet_cell(value: Any) -> Any:
    """Text that a spreadsheet would run as a formula (a title `=HYPERLINK(…)` typed into the public
    form) kept as text by a leading apostrophe. Numbers stay numbers, negative ones included."""
    if isinstance(value, str) and value.startswith(FORMULA_STARTS):
        return "'" + value
    return value


def exported(table: Table, rows: Sequence[dict[str, Any]], format: str, names: Names) -> Response:
    """The rows as a CSV or XLSX file named after the table, headed in the reader's language."""
    if format == "xlsx":
        return Response(_xlsx(table, rows, names), media_type=XLSX,
                        headers={"Content-Disposition": f'attachment; filename="{table.name}.xlsx"'})
    out = io.StringIO()
    out.write(BOM)
    writer = csv.writer(out)
    writer.writerow([column.label for column in table.columns])
    for values in table.cells(rows, names):
        writer.writerow(["" if value is None else spreadsheet_cell(value) for value in values])
    return Response(out.getvalue(), media_type="text/csv; charset=utf-8",
                    headers={"Content-Disposition": f'attachment; filename="{table.name}.csv"'})


def _xlsx(table: Table, rows: Sequence[dict[str, Any]], names: Names) -> bytes:
    book = Workbook(write_only=True)
    sheet = book.create_sheet(table.name[:31])   # a sheet's name is at most 31 characters
    bold = Font(bold=True)

    def heading(label: str) -> Any:
        cell = WriteOnlyCell(sheet, value=label)
        cell.font = bold
        return cell

    sheet.append([heading(column.label) for column in table.columns])
    for values in table.cells(rows, names):
        line = []
        for column, value in zip(table.columns, values, strict=True):
            cell = WriteOnlyCell(sheet, value=value)
            if isinstance(value, str):
                cell.data_type = "s"   # text stays text: openpyxl would store "=…" as a formula
            elif column.kind == SHARE:
                cell.number_format = "0.0%"
            line.append(cell)
        sheet.append(line)
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def names_for(app: Minqing, table: Table, rows: Sequence[dict[str, Any]]) -> Names:
    """The names a table's rows need: the deployment's, and the display names of the staff they name."""
    staff = {row[column.key] for row in rows for column in table.columns
             if column.kind == "staff" and row.get(column.key)}
    return Names(app.deployment, display_names(app, staff))
