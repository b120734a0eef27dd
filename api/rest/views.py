"""The views supervisors and accountability reviews read; every one also as CSV."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query

from api.rest.common import After, Cursor, Limit, Offset, csv_response, listing, narrowed
from api.web.deps import RuntimeDep, Scope, Staff, masks_personal_data
from domain.chain import plain
from domain.masking import masked
from projections import queries

router = APIRouter(prefix="/api/v1/views", tags=["views"])

Format = Annotated[str, Query(pattern="^(json|csv)$", description="json, or csv for a spreadsheet")]
Grouping = Annotated[str, Query(pattern="^(category|cell|worker|month)$")]
Month = Annotated[str | None, Query(pattern=r"^\d{4}-\d{2}$")]

# The columns of each export after its grouping column, so that an export with no rows still has its
# header row (the rows themselves come from projections.queries; tests/e2e/test_csv.py keeps them equal).
RESPONSE_TIME_COLUMNS = ("count", "responded", "resolved", "first_response_hours_median",
                         "first_response_hours_p90", "resolution_hours_median", "resolution_hours_p90",
                         "on_time_share")
STEP_TIME_COLUMNS = ("step", "count", "days_median", "days_p90")
SATISFACTION_COLUMNS = (*queries.RATING_COUNTS, "satisfaction_rate", "response_rate")
UNRESOLVED_COLUMNS = ("id", "title", "category", "step", "cell_id", "responsible_cell_id", "assignee",
                      "raised_at", "age_days", "due_at", "deadlines_missed", "escalation_level",
                      "escalations", "accountability_flags")
VISIT_COVERAGE_COLUMNS = ("households", "with_cadence", "overdue", "covered_share", "visits_conducted",
                          "visits_missed")


def _out(rows: list[dict[str, Any]], format: str, name: str,
         columns: tuple[str, ...]) -> Any:
    return csv_response(rows, name, columns) if format == "csv" else plain(rows)


@router.get("/response-times")
def response_times(rt: RuntimeDep, scope: Scope, actor: Staff, by: Grouping = "category",
                   category: str | None = None, cell: str | None = None, month: Month = None,
                   steps: bool = False, format: Format = "json", after: After = None) -> Any:
    """Time to first response and to resolution (hours: count, median, p90, share on time) by category,
    cell, worker or month; with steps=true, days spent in each deliberation step. Counts are exact; medians
    and 90th percentiles are exact to the minute (each time counted as its whole minutes), read from
    rollups the views keep per group, so the answer costs the same at any size of the record."""
    rt.wait_for_views(after, ["cases"])
    cells = narrowed(rt.app, scope, cell)
    with rt.reader.connect() as conn:
        rows = (queries.step_time_summary(conn, category=category, cells=cells) if steps else
                queries.response_time_summary(conn, by=by, category=category, cells=cells, month=month))
    return _out(rows, format, "response-times", STEP_TIME_COLUMNS if steps else (by, *RESPONSE_TIME_COLUMNS))


@router.get("/satisfaction")
def satisfaction(rt: RuntimeDep, scope: Scope, actor: Staff, by: Grouping = "category",
                 category: str | None = None, cell: str | None = None, month: Month = None,
                 format: Format = "json", after: After = None) -> Any:
    """Feedback asked, answered, each rating, expired, reopens; satisfaction and response rates (exact
    counts, read from rollups the views keep per group)."""
    rt.wait_for_views(after, ["cases"])
    cells = narrowed(rt.app, scope, cell)
    with rt.reader.connect() as conn:
        rows = queries.satisfaction_summary(conn, by=by, category=category, cells=cells, month=month)
    return _out(rows, format, "satisfaction", (by, *SATISFACTION_COLUMNS))


@router.get("/unresolved")
def unresolved(rt: RuntimeDep, scope: Scope, actor: Staff, category: str | None = None,
               cell: str | None = None, assignee: str | None = None, flagged: bool | None = None,
               sort: str = "raised_at",
               limit: Limit = 100, offset: Offset = 0, cursor: Cursor = None,
               format: Format = "json", after: After = None) -> Any:
    """Open cases past any deadline (应予解决而未解决): age, step, who holds it, deadlines missed,
    escalations and accountability flags."""
    rt.wait_for_views(after, ["cases"])
    cells = narrowed(rt.app, scope, cell)
    with rt.reader.connect() as conn:
        page = queries.unresolved(conn, now=rt.app.clock(), cells=cells, category=category, assignee=assignee,
                                  flagged=flagged, sort=sort, limit=limit, offset=offset, cursor=cursor)
    hide = masks_personal_data(actor)
    if format == "csv":
        return csv_response(masked(page.items) if hide else page.items, "unresolved", UNRESOLVED_COLUMNS)
    return listing(page, masked=hide)


@router.get("/visit-coverage")
def visit_coverage(rt: RuntimeDep, scope: Scope, actor: Staff,
                   by: Annotated[str, Query(pattern="^(cell|visitor)$")] = "cell", cell: str | None = None,
                   format: Format = "json", after: After = None) -> Any:
    """Households (户), those with a visiting cadence, overdue, visits conducted and missed (户次)."""
    rt.wait_for_views(after, ["visit_coverage"])
    cells = narrowed(rt.app, scope, cell)
    with rt.reader.connect() as conn:
        rows = queries.visit_coverage_summary(conn, now=rt.app.clock(), by=by, cells=cells)
    return _out(rows, format, "visit-coverage", (by, *VISIT_COVERAGE_COLUMNS))
