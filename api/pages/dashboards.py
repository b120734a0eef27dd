"""The dashboards (统计) for supervisors and accountability reviews, within the cells they hold those roles
over: satisfaction, response times, deliberation steps, the unresolved cases and visit coverage.

Each dashboard is a few panels: a table of figures (api.tables, the columns every export writes) read
from the query functions the API's views call, with the same filters, and a chart (Apache ECharts, drawn
by static/dashboards.js) of numbers from those same rows, embedded in the page beside the table. The
tables are on the page without JavaScript; every table is also a CSV or XLSX export of the whole result.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Query, Request, Response
from sqlalchemy import Connection
from starlette.concurrency import run_in_threadpool

from api import tables
from api.exports import COUNT, DAYS, FORMATS, HOURS, SHARE, Table, exported, names_for
from api.i18n import gettext as _
from api.names import Names
from api.pages.render import render
from api.pages.session import SignedIn
from api.rest.common import narrowed
from api.web.deps import masks_personal_data
from domain import errors
from domain.account import Account
from domain.application import Minqing, scopes_for
from domain.deployment import HOUSEHOLD_CATEGORIES
from domain.masking import masked
from projections import queries
from projections.paging import EXPORT_CAP, MAX_PAGE, every_item

router = APIRouter(include_in_schema=False)
ROWS = 50           # cases or households on one page of a list panel (its export holds them all)
Filter = Annotated[str | None, Query(max_length=100)]
Month = Annotated[str | None, Query(max_length=7)]


@dataclass(frozen=True)
class Filters:
    """What a dashboard is narrowed to: a period of months (both included), a cell (and those under it),
    a category (of demands, or of households on the visits dashboard); a list's page."""

    month_from: str | None = None
    month_to: str | None = None
    cell: str | None = None
    category: str | None = None
    cursor: str | None = None

    def query(self, **changed: str | None) -> str:
        values = {**self.__dict__, **changed}
        return urlencode({k: v for k, v in values.items() if v})


@dataclass(frozen=True)
class Chart:
    """A chart of some of a table's columns (`series`, of one kind: shares, hours, days or counts) along
    its first column: bars across (`across`) for many named groups, else upright bars or a line."""

    series: tuple[str, ...]
    kind: str = "bar"           # "bar" | "line"
    across: bool = False


@dataclass
class Panel:
    key: str                    # the export's `table`
    title: str
    table: Table
    rows: list[dict[str, Any]]
    charts: tuple[Chart, ...] = ()
    # links of a column's values: column key → (row → where it leads, and its text if not the value's)
    links: dict[str, Callable[[dict[str, Any]], tuple[str, str | None]]] = field(default_factory=dict)
    next_cursor: str | None = None
    shown: tuple[str, ...] = ()     # the columns the page shows, when not all (the export has them all)
    cards: bool = False             # a list of cases or households: a block a row on a phone

    @property
    def page_table(self) -> Table:
        if not self.shown:
            return self.table
        return replace(self.table, columns=tuple(c for c in self.table.columns if c.key in self.shown))

    def chart_data(self, chart: Chart, names: Names) -> dict[str, Any]:
        """What the chart draws: the first column's values as shown, and each series' numbers (a share
        in percent to a tenth, hours and days to a tenth) — the table's figures, rounded as shown."""
        first, columns = self.table.columns[0], {c.key: c for c in self.table.columns}
        kind = columns[chart.series[0]].kind
        scale = {SHARE: 100.0}.get(kind, 1.0)
        return {
            "kind": chart.kind, "across": chart.across,
            "format": {SHARE: "{value}%", HOURS: _("{value} h"), DAYS: _("{value} d")}.get(kind, "{value}"),
            "categories": [self.table.shown(first, row, names) for row in self.rows],
            "series": [{"name": columns[key].label,
                        "data": [None if row.get(key) is None else
                                 row[key] if kind == COUNT else round(row[key] * scale, 1)
                                 for row in self.rows]} for key in chart.series],
        }

    def chart_height(self, chart: Chart) -> int:
        """Pixels: bars across need room for each group."""
        return max(260, 80 + 22 * len(self.rows) * len(chart.series)) if chart.across else 320


@dataclass(frozen=True)
class Dashboard:
    path: str
    title: str
    about: str
    filters: tuple[str, ...]            # of "period", "cell", "category", "household_category"
    panels: Callable[[Connection, Minqing, list[str] | None, Filters, bool], list[Panel]]


def dashboard_scope(app: Minqing, account: Account) -> list[str]:
    """The cells whose figures the account may read on the dashboards: those under the cells it holds a
    supervisor's or a reviewer's role over (refused when there are none)."""
    cells = sorted({cell for root in scopes_for(account, "read_dashboards")
                    for cell in app.deployment.subtree(root)})
    if not cells:
        raise errors.NotAuthorised("the dashboards are for supervisors and reviewers")
    return cells


# ---------------------------------------------------------------- the dashboards' panels
def _satisfaction(conn: Connection, app: Minqing, cells: list[str] | None, f: Filters,
                  whole: bool) -> list[Panel]:
    def by(group: str, title: str, chart: Chart) -> Panel:
        rows = queries.satisfaction_summary(conn, app.deployment, by=group, category=f.category, cells=cells,
                                            month_from=f.month_from, month_to=f.month_to)
        return Panel(f"by-{group}", title, tables.satisfaction(group), rows, (chart,))

    rates = ("satisfaction_rate", "response_rate")
    return [by("month", _("By month"), Chart(rates, "line")),
            by("category", _("By category"), Chart(rates, across=True)),
            by("cell", _("By cell"), Chart(rates, across=True))]


def _response_times(conn: Connection, app: Minqing, cells: list[str] | None, f: Filters,
                    whole: bool) -> list[Panel]:
    hours = ("first_response_hours_median", "first_response_hours_p90", "resolution_hours_median",
             "resolution_hours_p90")

    def by(group: str, title: str, kind: str, across: bool) -> Panel:
        rows = queries.response_time_summary(conn, app.deployment, by=group, category=f.category, cells=cells,
                                             month_from=f.month_from, month_to=f.month_to)
        return Panel(f"by-{group}", title, tables.response_times(group), rows,
                     (Chart(hours, kind, across),
                      Chart(("first_response_on_time_share", "on_time_share"), kind, across)))

    return [by("month", _("By month (raised)"), "line", False),
            by("category", _("By category"), "bar", True)]


def _steps(conn: Connection, app: Minqing, cells: list[str] | None, f: Filters, whole: bool) -> list[Panel]:
    rows = queries.step_time_summary(conn, app.deployment, category=f.category, cells=cells)
    return [Panel("steps", _("Days in each deliberation step"), tables.step_times(), rows,
                  (Chart(("days_median", "days_p90"), across=True), Chart(("on_time_share",), across=True)))]


def _unresolved(conn: Connection, app: Minqing, cells: list[str] | None, f: Filters,
                whole: bool) -> list[Panel]:
    now = app.clock()

    def read(cursor: str | None, limit: int = MAX_PAGE) -> Any:
        return queries.unresolved(conn, now=now, cells=cells, category=f.category, limit=limit, cursor=cursor)

    page = None if whole else read(f.cursor, ROWS)
    rows = every_item(read) if page is None else page.items
    return [Panel("cases", _("Oldest first"), tables.unresolved(), rows, (Chart(("age_days",), across=True),),
                  links={"title": lambda row: (f"/cases/{row['id']}", None),
                         "id": lambda row: (f"/cases/{row['id']}/trace", _("Accountability trace"))},
                  next_cursor=page.next_cursor if page else None, cards=True,
                  shown=("title", "category", "step", "responsible_cell_id", "assignee", "age_days",
                         "deadlines_missed", "escalation_level", "id"))]


def _visits(conn: Connection, app: Minqing, cells: list[str] | None, f: Filters, whole: bool) -> list[Panel]:
    now = app.clock()

    def coverage(group: str, title: str) -> Panel:
        rows = queries.visit_coverage_summary(conn, app.deployment, now=now, by=group, cells=cells,
                                              category=f.category)
        return Panel(f"by-{group}", title, tables.visit_coverage(group), rows,
                     (Chart(("covered_share",), across=True), Chart(("overdue",), across=True)))

    def read(cursor: str | None, limit: int = MAX_PAGE) -> Any:
        return queries.households(conn, now=now, cells=cells, category=f.category, sort="next_due_at",
                                  limit=limit, cursor=cursor)

    page = None if whole else read(f.cursor, ROWS)
    households = every_item(read) if page is None else page.items
    return [coverage("cell", _("By cell")), coverage("category", _("By household category")),
            Panel("households", _("Households, overdue first"), tables.households(), households,
                  links={"address": lambda row: (f"/households/{row['id']}", None)},
                  next_cursor=page.next_cursor if page else None, cards=True,
                  shown=("address", "cell_id", "categories", "last_visit_at", "last_visitor", "next_due_at",
                         "overdue"))]


def dashboards() -> dict[str, Dashboard]:
    """Every dashboard by its path, in the page's language."""
    found = (
        Dashboard("satisfaction", _("Satisfaction"),
                  _("Satisfaction rate = (satisfied + basically satisfied) / answered; response rate = "
                    "answered / feedback asked. A month is the month feedback was first asked, in the "
                    "deployment's time zone."),
                  ("period", "cell", "category"), _satisfaction),
        Dashboard("response-times", _("Response times"),
                  _("Hours from raising to first response (triage) and to resolution, median and 90th "
                    "percentile; the share of resolved demands resolved on time and of demands responded "
                    "to by the first-response deadline. A month is the month raised, in the deployment's "
                    "time zone."),
                  ("period", "cell", "category"), _response_times),
        Dashboard("steps", _("Deliberation steps"),
                  _("Days each deliberation step took, from the end of the step before to a valid outcome, "
                    "over all months (a vote without a quorum is none); the share of steps held by their "
                    "step deadline."),
                  ("cell", "category"), _steps),
        Dashboard("unresolved", _("Unresolved"),
                  _("Open demands past a deadline now (应予解决而未解决), oldest first, with who holds them "
                    "and their accountability trace."),
                  ("cell", "category"), _unresolved),
        Dashboard("visits", _("Visit coverage"),
                  _("Households visited within their cadence, by cell and household category; the "
                    "households whose visit is overdue first."),
                  ("cell", "household_category"), _visits),
    )
    return {dashboard.path: dashboard for dashboard in found}


# ---------------------------------------------------------------- the pages
def _panels(app: Minqing, reader: Any, account: Account, dashboard: Dashboard, filters: Filters,
            whole: bool) -> tuple[list[Panel], list[str]]:
    scope = dashboard_scope(app, account)
    cell = filters.cell if filters.cell in scope else None
    with reader.connect() as conn:
        panels = dashboard.panels(conn, app, narrowed(app, scope, cell), filters, whole)
    if masks_personal_data(account):
        for panel in panels:
            panel.rows = masked(panel.rows)
    return panels, scope


def _filters(month_from: str | None, month_to: str | None, cell: str | None, category: str | None,
             cursor: str | None) -> Filters:
    return Filters(month_from or None, month_to or None, cell or None, category or None, cursor or None)


def _dashboard(path: str) -> Dashboard:
    found = dashboards().get(path)
    if found is None:
        raise errors.NotFound("no dashboard {name}", name=path)
    return found


@router.get("/dashboards")
def index(request: Request, account: SignedIn) -> Response:
    """The dashboards there are, each with what it shows."""
    dashboard_scope(request.app.state.runtime.app, account)
    return render(request, "dashboards.html", dashboards=list(dashboards().values()))


@router.get("/dashboards/{path}")
async def show(path: str, request: Request, account: SignedIn, month_from: Month = None,
               month_to: Month = None, cell: Filter = None, category: Filter = None,
               cursor: Filter = None) -> Response:
    """A dashboard: its filters, and each panel's chart and table with links to its exports."""
    runtime = request.app.state.runtime
    app: Minqing = runtime.app
    dashboard = _dashboard(path)
    filters = _filters(month_from, month_to, cell, category, cursor)
    panels, scope = await run_in_threadpool(_panels, app, runtime.reader, account, dashboard, filters, False)
    names = Names(app.deployment)
    for panel in panels:
        names.display_names.update(names_for(app, panel.table, panel.rows).display_names)
    category_options: list[tuple[str, str]]
    if "household_category" in dashboard.filters:
        category_options = [(key, names.term("household_category", key)) for key in HOUSEHOLD_CATEGORIES]
    else:
        category_options = [(key, names.category(key)) for key in app.deployment.categories]
    return render(request, "dashboard.html", dashboard=dashboard, panels=panels, filters=filters, names=names,
                  all_dashboards=list(dashboards().values()), cells=names.cell_options(scope),
                  category_options=category_options, formats=FORMATS, export_cap=EXPORT_CAP)


@router.get("/dashboards/{path}/export")
async def export(path: str, request: Request, account: SignedIn,
                 table: Annotated[str, Query(max_length=40)],
                 format: Annotated[str, Query(pattern="^(csv|xlsx)$")] = "csv", month_from: Month = None,
                 month_to: Month = None, cell: Filter = None, category: Filter = None) -> Response:
    """One of a dashboard's tables, whole, as CSV or XLSX headed in the page's language."""
    runtime = request.app.state.runtime
    app: Minqing = runtime.app
    filters = _filters(month_from, month_to, cell, category, None)
    panels, _scope = await run_in_threadpool(_panels, app, runtime.reader, account, _dashboard(path), filters,
                                             True)
    panel = next((p for p in panels if p.key == table), None)
    if panel is None:
        raise errors.NotFound("no table {name} on this dashboard", name=table)
    return exported(panel.table, panel.rows, format, names_for(app, panel.table, panel.rows))
