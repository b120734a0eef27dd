"""The views supervisors and accountability reviews read; every one also as a spreadsheet (CSV or XLSX,
headed in the caller's language: api.exports, api.tables)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query

from api import tables
from api.exports import Table, exported, names_for
from api.rest.common import After, Cursor, Limit, Offset, listing, narrowed
from api.web.deps import RuntimeDep, Scope, Staff, masks_personal_data
from domain.application import Minqing
from domain.chain import plain
from domain.masking import masked
from projections import queries
from projections.paging import MAX_PAGE, every_item

router = APIRouter(prefix="/api/v1/views", tags=["views"])

Format = Annotated[str, Query(pattern="^(json|csv|xlsx)$",
                              description="json, or csv (UTF-8 with a byte-order mark) or xlsx for a "
                                          "spreadsheet, headed in the caller's language")]
Grouping = Annotated[str, Query(pattern="^(category|cell|worker|month)$")]
Month = Annotated[str | None, Query(pattern=r"^\d{4}-\d{2}$")]
MonthFrom = Annotated[str | None, Query(pattern=r"^\d{4}-\d{2}$", description="From this month (YYYY-MM), "
                                        "included")]
MonthTo = Annotated[str | None, Query(pattern=r"^\d{4}-\d{2}$", description="To this month (YYYY-MM), "
                                      "included")]


def answered(app: Minqing, rows: list[dict[str, Any]], format: str, table: Table) -> Any:
    """The rows as JSON, or as the table's spreadsheet."""
    return plain(rows) if format == "json" else exported(table, rows, format, names_for(app, table, rows))


@router.get("/response-times")
def response_times(rt: RuntimeDep, scope: Scope, actor: Staff, by: Grouping = "category",
                   category: str | None = None, cell: str | None = None, month: Month = None,
                   month_from: MonthFrom = None, month_to: MonthTo = None,
                   steps: bool = False, format: Format = "json", after: After = None) -> Any:
    """Time to first response and to resolution (hours: count, median, p90, share on time) by category,
    cell, worker or month (raised in `month`, or from `month_from` to `month_to`); with steps=true, days
    spent in each deliberation step (over all months). By cell: the cells directly under the scope (the
    caller's cells, or `cell`), and the scope's own cell for the cases raised there. Counts are exact;
    medians and 90th percentiles are exact to the minute (each time counted as its whole minutes), read from
    rollups the views keep per scope of the grid (and worker), so that the answer costs about the same at any
    size of the record. A month is cut in the
    deployment's time zone (`timezone` of `GET /api/v1/deployment`): a demand raised at 07:00 on 1 November
    Beijing time is November's.

    On-time shares, each a fraction from 0 to 1, null when nothing was counted:
    `on_time_share` = resolved with no deadline recorded missed and at or before the earliest deadline then
    open ÷ resolved; `first_response_on_time_share` = triaged at or before the first-response deadline then
    due (set on raising, and anew when a case closed before triage is reopened) ÷ triaged. Per step
    (steps=true), `on_time_share` = steps held at or before the step deadline then due (set when the step
    began: at triage, when the step before was held, or at a reopening) ÷ steps held. A step is held by a
    valid outcome — a discussion (endorsed or returned), an adopted or rejected vote, the step's notice — and
    its days run from when it began to then; a vote without a quorum holds no step and leaves its clock
    running."""
    rt.wait_for_views(after, ["cases"])
    cells = narrowed(rt.app, scope, cell)
    deployment = rt.app.deployment
    with rt.reader.connect() as conn:
        rows = (queries.step_time_summary(conn, deployment, category=category, cells=cells) if steps else
                queries.response_time_summary(conn, deployment, by=by, category=category, cells=cells,
                                              month=month, month_from=month_from, month_to=month_to))
    return answered(rt.app, rows, format, tables.step_times() if steps else tables.response_times(by))


@router.get("/satisfaction")
def satisfaction(rt: RuntimeDep, scope: Scope, actor: Staff, by: Grouping = "category",
                 category: str | None = None, cell: str | None = None, month: Month = None,
                 month_from: MonthFrom = None, month_to: MonthTo = None,
                 format: Format = "json", after: After = None) -> Any:
    """Feedback asked, answered, each rating, expired, reopens; satisfaction and response rates (exact
    counts, read from rollups the views keep per group), for feedback first asked in `month`, or from
    `month_from` to `month_to`. By cell: the cells directly under the scope, as for response times."""
    rt.wait_for_views(after, ["cases"])
    cells = narrowed(rt.app, scope, cell)
    with rt.reader.connect() as conn:
        rows = queries.satisfaction_summary(conn, rt.app.deployment, by=by, category=category, cells=cells,
                                            month=month, month_from=month_from, month_to=month_to)
    return answered(rt.app, rows, format, tables.satisfaction(by))


@router.get("/unresolved")
def unresolved(rt: RuntimeDep, scope: Scope, actor: Staff, category: str | None = None,
               cell: str | None = None, assignee: str | None = None, flagged: bool | None = None,
               sort: str = "raised_at",
               limit: Limit = 100, offset: Offset = 0, cursor: Cursor = None,
               format: Format = "json", after: After = None) -> Any:
    """Open cases past any deadline (应予解决而未解决): age, step, who holds it, deadlines missed,
    escalations and accountability flags. As a spreadsheet, the whole list (`limit`, `offset` and `cursor`
    are for JSON pages), up to 50,000 cases: more is refused, to be narrowed."""
    rt.wait_for_views(after, ["cases"])
    cells = narrowed(rt.app, scope, cell)
    hide = masks_personal_data(actor)
    now = rt.app.clock()
    with rt.reader.connect() as conn:
        if format != "json":
            items = every_item(lambda at: queries.unresolved(
                conn, now=now, cells=cells, category=category, assignee=assignee, flagged=flagged, sort=sort,
                limit=MAX_PAGE, cursor=at))
            return answered(rt.app, masked(items) if hide else items, format, tables.unresolved())
        page = queries.unresolved(conn, now=now, cells=cells, category=category, assignee=assignee,
                                  flagged=flagged, sort=sort, limit=limit, offset=offset, cursor=cursor)
    return listing(page, masked=hide)


@router.get("/visit-coverage")
def visit_coverage(rt: RuntimeDep, scope: Scope, actor: Staff,
                   by: Annotated[str, Query(pattern="^(cell|visitor|category)$")] = "cell",
                   cell: str | None = None,
                   category: Annotated[str | None, Query(description="Only households of this household "
                                                                     "category")] = None,
                   format: Format = "json", after: After = None) -> Any:
    """Households (户), those with a visiting cadence, overdue, visits conducted and missed (户次), by cell,
    last visitor or household category (a household of two categories counts in both). By cell: the cells
    directly under the scope (yours, or `cell`), and the scope's own cell for households registered there,
    as satisfaction and response times group them."""
    rt.wait_for_views(after, ["visit_coverage"])
    cells = narrowed(rt.app, scope, cell)
    with rt.reader.connect() as conn:
        rows = queries.visit_coverage_summary(conn, rt.app.deployment, now=rt.app.clock(), by=by, cells=cells,
                                              category=category)
    return answered(rt.app, rows, format, tables.visit_coverage(by))
