"""Query functions over the views, for the HTTP API and the CLI. None of them reads the event store.

Lists take filters, a sort key (prefix "-" for descending) and limit with an offset or a cursor, and
return a `Page` (see `projections.paging`: counted up to a cap, deep pages read by keyset).
Summaries read the rollups the cases view keeps (`projections.rollups`): counts summed per group, medians
and 90th percentiles from per-minute counts with the definitions in `projections.stats`, the same on
SQLite and PostgreSQL.
"""

from __future__ import annotations

import itertools
from collections.abc import Collection, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any, TypedDict
from uuid import UUID

from sqlalchemy import (
    ColumnClause,
    ColumnElement,
    Connection,
    FromClause,
    Integer,
    Select,
    String,
    Table,
    Text,
    and_,
    bindparam,
    case,
    cast,
    column,
    func,
    or_,
    select,
    values,
)
from sqlalchemy.dialects import postgresql
from sqlalchemy.sql import operators
from sqlalchemy.sql.expression import UnaryExpression

from domain.application import PERMISSIONS
from domain.demand import OPEN_STATUSES
from domain.deployment import HOUSEHOLD_CATEGORIES, Deployment
from domain.masking import mask_number
from projections import rollups, text_search
from projections.cases import OPEN, cases
from projections.core import NONE
from projections.notice_board import notice_board
from projections.objections import objections
from projections.paging import BadQuery, Page, SortKey, read_page
from projections.staff import staff
from projections.stats import (
    Histogram,
    median_from,
    median_ranks,
    p90_rank,
    share,
)
from projections.visit_coverage import visit_coverage
from projections.visits import visits

GROUPINGS = ("category", "cell", "worker", "month")


def _sorted_by(table: Table, sort: str) -> list[SortKey]:
    """The order a list's `sort` names: one of the table's columns, prefix "-" for descending."""
    name = sort.lstrip("-")
    if name not in table.c:
        raise BadQuery("cannot sort by {name}; sort by one of {choices}", name=name,
                       choices=", ".join(sorted(table.c.keys())))
    return [SortKey(table.c[name], descending=sort.startswith("-"))]


# A scope of more cells than this is a broad one (a street office, a township): see `_in_cells`.
BROAD_SCOPE = 32


def _in_cells(columns: Sequence[ColumnElement[Any]], cells: Sequence[str] | None,
              dialect: str = "") -> list[ColumnElement[bool]]:
    """Within the grid subtree `cells`, by any of `columns`. For a list on SQLite (`dialect`), a broad
    scope keeps the cell indexes out of the plan: SQLite's planner cannot weigh "read in the list's order
    and stop at the page" against "gather the scope's cases through the cell indexes and sort them all"
    and gathers, which for a street office is tens of thousands of cases (bench/scale.py, 300,000
    demands: the queue 727 → 20 ms). A narrow scope is cheaper gathered. The unary "+" is SQLite's
    documented way to keep a term from an index; PostgreSQL's planner weighs both and is left to."""
    if cells is None:
        return []
    if dialect == "sqlite" and len(cells) > BROAD_SCOPE:
        columns = [UnaryExpression(c, operator=operators.custom_op("+")) for c in columns]
    return [or_(*(c.in_(list(cells)) for c in columns))]


# ---------------------------------------------------------------- cases
URGENCY = "urgency"  # a queue's order: overdue first (longest overdue first), then by due time, oldest


def _open(dialect: str) -> ColumnElement[bool]:
    """Not closed. On PostgreSQL the term of the open cases' partial indexes (`cases.OPEN`). SQLite keeps
    the statuses bound: given them as constants its planner gathers every open case of the store (through
    `overdue_from`) rather than read a broad scope in the list's order (bench/scale.py, 35,032 demands,
    the district: its queue 10 → 25 ms, overdue 8 → 46, growing with the store)."""
    return OPEN if dialect == "postgresql" else cases.c.status.in_(OPEN_STATUSES)


def overdue_at(now: datetime, dialect: str) -> ColumnElement[bool]:
    """Open and past due as of `now` (逾期): a deadline recorded missed, or the earliest open deadline
    passed (see the view's `overdue_from`). A closed case is never overdue (it has no `overdue_from`); the
    open term is stated too, for the open cases' indexes (`cases.OPEN`). Each item of a search as of `now`
    says so as `overdue`."""
    return and_(_open(dialect), cases.c.overdue_from <= now)


def _scoped_lists(cells: Sequence[str] | None, where: Sequence[ColumnElement[bool]], dialect: str
                  ) -> tuple[Select[Any], Select[Any]]:
    """The cases within `cells` matching `where`: the statement to read a page of (a broad scope on SQLite
    kept from the cell indexes, `_in_cells`), and the one to count (open to them: a count reads in no
    order, and a sparse filter's matches in a street office are fewer gathered through its cells than
    found walking the whole store)."""
    scope = [cases.c.cell_id, cases.c.responsible_cell_id]
    return (select(cases).where(and_(True, *_in_cells(scope, cells, dialect), *where)),
            select(cases).where(and_(True, *_in_cells(scope, cells), *where)))


def _not_overdue_at(now: datetime) -> ColumnElement[bool]:
    return or_(cases.c.overdue_from.is_(None), cases.c.overdue_from > now)


def search_cases(conn: Connection, *, text: str | None = None, status: str | None = None,
                 track: str | None = None, step: str | None = None, category: str | None = None,
                 cells: Sequence[str] | None = None, assignee: str | None = None, channel: str | None = None,
                 raised_from: datetime | None = None, raised_to: datetime | None = None,
                 receipt: str | None = None, phone: str | None = None, rating: str | None = None,
                 visit_ids: Sequence[UUID] | None = None, open_only: bool = False,
                 now: datetime | None = None, overdue: bool | None = None,
                 due_within: timedelta | None = None, sort: str = "-raised_at", limit: int = 50,
                 offset: int = 0, cursor: str | None = None) -> Page:
    """Search the case list; `cells` is a grid subtree (a case matches by its cell or its responsible
    cell). `text` is found in the title, the description or the receipt code; `phone` in the
    resident's phone (only for those who see personal data: the caller decides). `rating`: the rating
    of the feedback given since the case last closed (reopening clears it). `visit_ids`: only the
    cases raised from those visits. `open_only`: not closed. Given `now`: `overdue` (open and past due,
    see `overdue_at`, or not), `due_within` (open, not overdue and an open deadline within that time), the
    sort `URGENCY`, and each item's `overdue`."""
    c = cases.c
    where: list[ColumnElement[bool]] = []
    if visit_ids is not None:
        where.append(c.visit_id.in_([str(visit) for visit in visit_ids]))
    for field, value in ((c.status, status), (c.track, track), (c.current_step, step),
                         (c.category, category), (c.assignee, assignee), (c.channel, channel),
                         (c.receipt, receipt), (c.rating, rating)):
        if value is not None:
            where.append(field == value)
    if text:
        where.append(text_search.found(conn, cases, text))
    if phone:  # in clear, or masked as the view keeps it when the events are encrypted (the default)
        masked = mask_number(phone) if len(phone) > 4 else phone  # four or fewer: all would be masked
        where.append(or_(c.resident_phone.contains(phone, autoescape=True),
                         c.resident_phone.contains(masked, autoescape=True)))
    if open_only:
        where.append(_open(conn.dialect.name))
    if raised_from is not None:
        where.append(c.raised_at >= raised_from)
    if raised_to is not None:
        where.append(c.raised_at < raised_to)
    if (overdue is not None or due_within is not None or sort == URGENCY) and now is None:
        raise BadQuery("being overdue, being due soon and the urgency sort are as of a time: give `now`")
    if now is not None and overdue is not None:
        where.append(overdue_at(now, conn.dialect.name) if overdue else _not_overdue_at(now))
    if now is not None and due_within is not None:
        where += [c.overdue_from > now, c.overdue_from <= now + due_within]  # open, none missed: the due time
    if sort == URGENCY:
        assert now is not None
        keys = [SortKey(c.overdue_from), SortKey(c.raised_at)]
    else:
        keys = _sorted_by(cases, sort)
    query, matches = _scoped_lists(cells, where, conn.dialect.name)
    # Counted in the list's order only for a word, whose common matches are found soonest in that order; the
    # rest are counted in no order: a district's overdue cases counted in order were all gathered and sorted
    # (PostgreSQL, 423,893 demands: 37,294 rows, 180 ms; in no order 36 ms), the planner having taken
    # "open" and "past due" for independent (docs/performance.md, issue 12 sixth round).
    page = read_page(conn, query, keys, c.id, limit=limit, offset=offset, cursor=cursor, matches=matches,
                     count_in_order=bool(text))
    if now is not None:
        for item in page.items:
            item["overdue"] = item["overdue_from"] is not None and item["overdue_from"] <= now
    return page


def unresolved(conn: Connection, *, now: datetime, cells: Sequence[str] | None = None,
               category: str | None = None, assignee: str | None = None, flagged: bool | None = None,
               sort: str = "raised_at", limit: int = 50, offset: int = 0, cursor: str | None = None) -> Page:
    """Overdue cases (应予解决而未解决: open and past due), with what an accountability review needs."""
    c = cases.c
    dialect = conn.dialect.name
    where = [overdue_at(now, dialect)]
    if category is not None:
        where.append(c.category == category)
    if assignee is not None:
        where.append(c.assignee == assignee)
    if flagged is not None:
        where.append(c.flags > 0 if flagged else c.flags == 0)
    query, matches = _scoped_lists(cells, where, dialect)
    page = read_page(conn, query, _sorted_by(cases, sort), c.id, limit=limit, offset=offset, cursor=cursor,
                     matches=matches, count_in_order=False)  # as `search_cases` counts its overdue cases
    items = [{
        "id": r["id"], "title": r["title"], "category": r["category"], "step": r["current_step"],
        "cell_id": r["cell_id"], "responsible_cell_id": r["responsible_cell_id"], "assignee": r["assignee"],
        "raised_at": r["raised_at"], "age_days": round((now - r["raised_at"]).total_seconds() / 86400, 1),
        "due_at": r["due_at"], "deadlines_missed": r["missed"], "escalation_level": r["escalation_level"],
        "escalations": r["escalations"], "accountability_flags": r["flag_details"],
    } for r in page.items]
    return replace(page, items=items)


# ---------------------------------------------------------------- summaries
# Read from the rollups the cases view keeps (projections.rollups): counts exact, times exact to the minute;
# by category, worker and month from the rows of the summary's scope, by cell from the scopes under it.
def _checked_month(month: str) -> str:
    if not (len(month) == 7 and month[4] == "-" and month.replace("-", "").isdigit()):
        raise BadQuery("a month is YYYY-MM, not {month}", month=month)
    return month


@dataclass(frozen=True)
class Period:
    """The months of a summary: one `month`, or `month_from` to `month_to` (both included; YYYY-MM text
    compares in calendar order), or every month."""

    month: str | None = None
    month_from: str | None = None
    month_to: str | None = None

    def within(self, column: ColumnElement[str]) -> list[ColumnElement[bool]]:
        where = []
        if self.month is not None:
            where.append(column == _checked_month(self.month))
        if self.month_from is not None:
            where.append(column >= _checked_month(self.month_from))
        if self.month_to is not None:
            where.append(column <= _checked_month(self.month_to))
        return where

    @property
    def every_month(self) -> bool:
        return self.month is None and self.month_from is None and self.month_to is None


EVERY_MONTH = Period()


@dataclass(frozen=True)
class Scopes:
    """The rollup scopes a summary within `cells` reads (`rollups.paths`): `whole`, those it sums for
    the whole; `parts`, those it reads by cell — the cells directly under the whole and each top cell alone
    — each with the cell it is reported as."""

    whole: list[str]
    parts: dict[str, str]


def scopes(deployment: Deployment, cells: Sequence[str] | None) -> Scopes:
    """The scopes of a summary within `cells` (a union of subtrees of the grid, as a caller's scope is;
    None: the whole grid)."""
    grid = deployment.grid
    inside = set(grid if cells is None else cells)
    tops = sorted(cell for cell in inside if grid.get(cell) not in inside)
    parts = {cell: cell for cell, parent in grid.items() if parent in tops}
    under = set(grid.values())
    parts.update({rollups.ALONE + top if top in under else top: top for top in tops})
    return Scopes(tops, parts)


def _checked_grouping(by: str) -> str:
    if by not in GROUPINGS:
        raise BadQuery("group by one of {choices}, not {by}", choices=", ".join(GROUPINGS), by=by)
    return by


def _summed(conn: Connection, table: Table, counts: Sequence[str], by: str, within: Scopes,
            category: str | None, period: Period) -> dict[str | None, dict[str, int]]:
    """A scoped rollup's counts (per scope, worker, category and month) summed per category, cell, worker or
    month, in order."""
    t = table.c
    group = t.scope if by == "cell" else t[by]
    where = [t.scope.in_(list(within.parts) if by == "cell" else within.whole),
             t.worker != rollups.EVERY if by == "worker" else t.worker == rollups.EVERY,
             *period.within(t.month)]
    if category is not None:
        where.append(t.category == category)
    query = select(group.label("group"), *(func.sum(t[name]).label(name) for name in counts)) \
        .where(*where).group_by(group)
    found = {(within.parts[r["group"]] if by == "cell" else r["group"] or None):
             {name: int(r[name]) for name in counts} for r in conn.execute(query).mappings()}
    return dict(sorted(found.items(), key=lambda kv: str(kv[0])))


class Ranked(TypedDict):
    """A group's times as a summary reports them: how many, their median and 90th percentile (by nearest
    rank: the smallest time with at least 90 % at or below it), in minutes."""

    count: int
    median: float | None
    p90: float | None


NOTHING: Ranked = {"count": 0, "median": None, "p90": None}


@dataclass(frozen=True)
class Level:
    """The rows a summary reads of a lower level of a time's histogram (`rollups.Times`): its `table`, whose
    `child` values are counted within a `parent` value of the level above, each group's rows by `group`
    within `where`."""

    table: Table
    parent: ColumnElement[int]
    child: ColumnElement[int]
    group: ColumnElement[str]
    where: Sequence[ColumnElement[bool]]


Place = tuple[str, int, int]  # a group, a value of one level of its histogram, a rank within that value


def _ranked(conn: Connection, buckets: Select[Any], fine: Level, minutes: Level) -> dict[str | None, Ranked]:
    """Each group's count, median and 90th percentile from its times counted per bucket (`buckets`: rows
    of group, bucket and how many, in that order), per fine bucket within a bucket and per minute within a
    fine bucket: the ranks are located in the buckets, then in the fine buckets of the bucket holding each
    (for every group in one statement), then in the minutes of the fine bucket holding each, where it is
    wider than a minute (one statement more)."""
    totals: dict[str, int] = {}
    located: dict[tuple[str, int], Place] = {}  # (group, rank): (group, bucket, rank within it)
    for name, rows in itertools.groupby(conn.execute(buckets).all(), key=lambda row: row[0]):
        counted: Histogram = [(b, int(n)) for _, b, n in rows]
        total = sum(n for _, n in counted)
        if total:  # else every time of the group was taken back (a reopened case's resolution): rows of 0
            totals[name] = total
            for rank in (*median_ranks(total), p90_rank(total)):
                located[(name, rank)] = (name, *_in_bucket(counted, rank))
    in_fine = _within(conn, fine, set(located.values()))
    in_minutes = _within(conn, minutes, {(place[0], *at) for place, at in in_fine.items()
                                         if not rollups.exact(at[0])})

    def time_at(name: str, rank: int) -> int:
        place = located[(name, rank)]
        finer, within = in_fine[place]
        return finer if rollups.exact(finer) else in_minutes[(name, finer, within)][0]

    found: dict[str | None, Ranked] = {}
    for name, total in totals.items():
        lower, upper = median_ranks(total)
        found[name] = {"count": total, "median": median_from(time_at(name, lower), time_at(name, upper)),
                       "p90": time_at(name, p90_rank(total))}
    return found


def _within(conn: Connection, level: Level, wanted: Collection[Place]) -> dict[Place, tuple[int, int]]:
    """For each wanted (group, parent value, rank within it), the child value of `level` holding that rank
    and the rank within the child, found by the database in one statement: the children of each wanted
    parent counted, and the one whose running count reaches the rank. A row per place comes back, not the
    children."""
    if not wanted:
        return {}
    targets, given = _places(conn, wanted)
    target = (targets.c.of_group, targets.c.of_parent, targets.c.at_rank)
    per_child = (select(*target, level.child.label("child"), func.sum(level.table.c.n).label("n"))
                 .join_from(targets, level.table,
                            and_(level.group == targets.c.of_group, level.parent == targets.c.of_parent))
                 .where(*level.where).group_by(*target, level.child).subquery())
    of_target = (per_child.c.of_group, per_child.c.of_parent, per_child.c.at_rank)
    running = select(*of_target, per_child.c.child, per_child.c.n, func.sum(per_child.c.n).over(
        partition_by=of_target, order_by=per_child.c.child).label("seen")).subquery()
    before = running.c.seen - running.c.n
    holding = (select(running.c.of_group, running.c.of_parent, running.c.at_rank, running.c.child,
                      running.c.at_rank - before)
               .where(running.c.seen >= running.c.at_rank, before < running.c.at_rank))
    return {(name, parent, rank): (int(child), int(within))
            for name, parent, rank, child, within in conn.execute(holding, given)}


def _places(conn: Connection, wanted: Collection[Place]) -> tuple[FromClause, dict[str, list[Any]]]:
    """The wanted places as the rows of a statement (columns of_group, of_parent, at_rank), with the
    parameters that give them. On PostgreSQL, three arrays unnested: the statement's text is the same at
    every call, compiled once (VALUES of a few hundred rows cost 29 ms of compiling at each call of a
    district's response times by month; bench in the issue-12 note); on SQLite, VALUES."""
    rows = sorted(wanted)
    typed: list[ColumnClause[Any]] = [column("of_group", String), column("of_parent", Integer),
                                      column("at_rank", Integer)]
    if conn.dialect.name == "postgresql":
        arrays = (bindparam(c.name, type_=postgresql.ARRAY(c.type)) for c in typed)
        given = {c.name: [row[i] for row in rows] for i, c in enumerate(typed)}
        return func.unnest(*arrays).table_valued(*typed, name="places").render_derived(), given
    return values(*typed, name="places").data(rows).cte("places"), {}


def _in_bucket(buckets: Histogram, rank: int) -> tuple[int, int]:
    """The bucket holding the `rank`-th smallest time, and its rank within that bucket."""
    seen = 0
    for b, n in buckets:
        if seen + n >= rank:
            return b, rank - seen
        seen += n
    raise ValueError(f"rank {rank} beyond the {seen} times counted")


def _ranked_times(conn: Connection, times: rollups.Times, by: str, within: Scopes, category: str | None,
                  period: Period, counted: Collection[str | None]) -> dict[str | None, Ranked]:
    """A time's count, median and 90th percentile per category, cell, worker or month within the scopes, a
    category and months, of the groups `counted` there (per worker or category: read by name, each a seek
    in the rollup's key, not a walk through every worker's or category's rows of the scope)."""
    named = [NONE if group is None else group for group in counted]

    def rows_of(table: Table) -> tuple[ColumnElement[str], list[ColumnElement[bool]]]:
        """The group and the rows a summary reads of a table of times (`buckets`, `fine` or `minutes`)."""
        t = table.c
        where = [t.scope.in_(list(within.parts) if by == "cell" else within.whole),
                 t.worker.in_(named) if by == "worker" else t.worker == rollups.EVERY,
                 t.category.in_(named) if by == "category" else t.category == (category or rollups.EVERY)]
        # Over every month and not by month, the rows of every month; else those of each month.
        if period.every_month and by != "month":
            where.append(t.month == rollups.EVERY)
        else:
            where += [t.month != rollups.EVERY, *period.within(t.month)]
        return (t.scope if by == "cell" else t[by]), where

    b, f, m = times.buckets.c, times.fine.c, times.minutes.c
    group, where = rows_of(times.buckets)
    buckets = select(group, b.bucket, func.sum(b.n)).where(*where).group_by(group, b.bucket) \
        .order_by(group, b.bucket)
    found = _ranked(conn, buckets, Level(times.fine, f.bucket, f.fine, *rows_of(times.fine)),
                    Level(times.minutes, m.fine, m.minutes, *rows_of(times.minutes)))
    if by == "cell":
        return {within.parts[scope]: ranked for scope, ranked in found.items() if scope is not None}
    return {group or None: ranked for group, ranked in found.items()}


def _in_units(value: float | None, minutes: int) -> float | None:
    return None if value is None else value / minutes


def response_time_summary(conn: Connection, deployment: Deployment, *, by: str = "category",
                          category: str | None = None, cells: Sequence[str] | None = None,
                          month: str | None = None, month_from: str | None = None,
                          month_to: str | None = None) -> list[dict[str, Any]]:
    """Per group (month: the month raised, in the deployment's time zone; cell: the cells directly under the
    scope `cells`, and the cell at its top for the cases raised there): cases, median and 90th percentile of
    hours to first response (triage) and to resolution, exact to the minute; the share resolved on time (of
    those resolved: no deadline recorded missed and resolved by the earliest deadline open); the share
    responded to on time (of those responded to: triaged at or before the first-response deadline then
    due). The worker is the assignee, else whoever first resolved the case. `month`, or `month_from` to
    `month_to` (both included): only the cases raised then."""
    period, within = Period(month, month_from, month_to), scopes(deployment, cells)
    by = _checked_grouping(by)
    counted = _summed(conn, rollups.scoped_cases, rollups.TIMES, by, within, category, period)
    first = _ranked_times(conn, rollups.first_response_times, by, within, category, period, counted)
    resolution = _ranked_times(conn, rollups.resolution_times, by, within, category, period, counted)
    summary = []
    for group, counts in counted.items():
        if not counts["cases"]:
            continue
        summary.append({
            by: group, "count": counts["cases"], "responded": counts["responded"],
            "resolved": counts["resolved"],
            "first_response_hours_median": _in_units(first.get(group, NOTHING)["median"], 60),
            "first_response_hours_p90": _in_units(first.get(group, NOTHING)["p90"], 60),
            "resolution_hours_median": _in_units(resolution.get(group, NOTHING)["median"], 60),
            "resolution_hours_p90": _in_units(resolution.get(group, NOTHING)["p90"], 60),
            "on_time_share": share(counts["on_time"], counts["resolved"]),
            "first_response_on_time_share": share(counts["responded_on_time"], counts["responded"]),
        })
    return summary


def step_time_summary(conn: Connection, deployment: Deployment, *, category: str | None = None,
                      cells: Sequence[str] | None = None) -> list[dict[str, Any]]:
    """Per deliberation step: how many times it was held (a vote without a quorum holds no step), the
    median and p90 days spent in it, exact to the minute (from when the step was first awaited — after the
    step before, or the triage, or a reopening — to when it was held), and the share held on time (at or
    before the step deadline then due)."""
    within = scopes(deployment, cells)
    s, f, m = rollups.step_buckets.c, rollups.step_fine.c, rollups.step_minutes.c

    def rows_of(table: Table) -> tuple[ColumnElement[str], list[ColumnElement[bool]]]:
        """The group (the step) and the rows a summary reads of a table of step times."""
        t = table.c
        where: list[ColumnElement[bool]] = [t.scope.in_(within.whole)]
        if category is not None:
            where.append(t.category == category)
        return t.step, where

    of_category = rows_of(rollups.step_buckets)[1]
    on_time = {step: (int(n), int(held)) for step, n, held in conn.execute(
        select(s.step, func.sum(s.n), func.sum(s.on_time)).where(*of_category).group_by(s.step))}
    buckets = (select(s.step, s.bucket, func.sum(s.n)).where(*of_category)
               .group_by(s.step, s.bucket).order_by(s.step, s.bucket))
    ranked = _ranked(conn, buckets, Level(rollups.step_fine, f.bucket, f.fine, *rows_of(rollups.step_fine)),
                     Level(rollups.step_minutes, m.fine, m.minutes, *rows_of(rollups.step_minutes)))
    return [{"step": step, "count": held["count"], "days_median": _in_units(held["median"], 1440),
             "days_p90": _in_units(held["p90"], 1440),
             "on_time_share": share(on_time[step][1], on_time[step][0])}
            for step, held in sorted(ranked.items(), key=lambda kv: str(kv[0]))]


RATING_COUNTS = ("asked", "answered", "satisfied", "basically_satisfied", "dissatisfied", "expired",
                 "reopens")


def satisfaction_summary(conn: Connection, deployment: Deployment, *, by: str = "category",
                         category: str | None = None, cells: Sequence[str] | None = None,
                         month: str | None = None, month_from: str | None = None,
                         month_to: str | None = None) -> list[dict[str, Any]]:
    """Per group (month: the month feedback was first asked; cell: as in `response_time_summary`): feedback
    asked, answered, each rating, expired, reopens; satisfaction rate = (satisfied + basically satisfied) /
    answered; response rate = answered / asked. The worker is the assignee, else whoever first asked for
    feedback. `month`, or `month_from` to `month_to` (both included): only the feedback first asked then."""
    counted = _summed(conn, rollups.scoped_feedback, rollups.FEEDBACK, _checked_grouping(by),
                      scopes(deployment, cells), category, Period(month, month_from, month_to))
    summary = []
    for group, totals in counted.items():
        if totals["asked"] == 0 and totals["reopens"] == 0:
            continue
        summary.append({
            by: group, **{name: totals[name] for name in RATING_COUNTS},
            "satisfaction_rate": share(totals["satisfied"] + totals["basically_satisfied"],
                                       totals["answered"]),
            "response_rate": share(totals["answered"], totals["asked"]),
        })
    return summary


# ---------------------------------------------------------------- visits
def households(conn: Connection, *, now: datetime, cells: Sequence[str] | None = None,
               visitor: str | None = None, category: str | None = None, overdue: bool | None = None,
               ids: Sequence[UUID] | None = None, sort: str = "next_due_at", limit: int = 50,
               offset: int = 0, cursor: str | None = None) -> Page:
    """Households with their last visit, next visit due and whether they are overdue (逾期未访: their
    cadence passed since the last visit, or since registration before any); `category`: only those of
    that household category; `ids`: only those households. Those without a next visit due come last."""
    v = visit_coverage.c
    where = [v.registered_at.is_not(None), *_in_cells([v.cell_id], cells)]
    if ids is not None:
        where.append(v.id.in_([str(household) for household in ids]))
    if visitor is not None:
        where.append(v.last_visitor == visitor)
    if category is not None:
        where.append(_of_household_category(category))
    if overdue is True:
        where.append(v.next_due_at <= now)
    elif overdue is False:
        where.append(or_(v.next_due_at.is_(None), v.next_due_at > now))
    page = read_page(conn, select(visit_coverage).where(and_(*where)), _sorted_by(visit_coverage, sort), v.id,
                     limit=limit, offset=offset, cursor=cursor)
    items = [{**r, "overdue": r["next_due_at"] is not None and r["next_due_at"] <= now} for r in page.items]
    return replace(page, items=items)


def household_visits(conn: Connection, *, cells: Sequence[str] | None = None, visitor: str | None = None,
                     household: UUID | None = None, status: str | None = None,
                     due_before: datetime | None = None, sort: str = "due_at", limit: int = 50,
                     offset: int = 0, cursor: str | None = None) -> Page:
    """Visits (走访) from the visits view: a visitor's, a household's; `status`: scheduled, conducted or
    missed; `due_before`: only those due before that time."""
    w = visits.c
    where = _in_cells([w.cell_id], cells)
    for field, value in ((w.visitor, visitor), (w.household_id, household and str(household)),
                         (w.status, status)):
        if value is not None:
            where.append(field == value)
    if due_before is not None:
        where.append(w.due_at < due_before)
    return read_page(conn, select(visits).where(and_(True, *where)), _sorted_by(visits, sort), w.id,
                     limit=limit, offset=offset, cursor=cursor)


def household_visit(conn: Connection, visit: UUID) -> dict[str, Any] | None:
    """One visit from the visits view, None if it is not (yet) there."""
    found = conn.execute(select(visits).where(visits.c.id == str(visit))).mappings().first()
    return None if found is None else dict(found)


def household_row(conn: Connection, household: UUID) -> dict[str, Any] | None:
    """One household's row of the visit coverage view (last visit, next due), None if not there yet."""
    query = select(visit_coverage).where(visit_coverage.c.id == str(household))
    found = conn.execute(query).mappings().first()
    return None if found is None else dict(found)


def _of_household_category(category: str) -> ColumnElement[bool]:
    if category not in HOUSEHOLD_CATEGORIES:
        raise BadQuery("household category is one of {choices}, not {category}",
                       choices=", ".join(HOUSEHOLD_CATEGORIES), category=category)
    # The categories are a JSON list of keys, the same text on both stores: '["hardship", ...]'.
    return cast(visit_coverage.c.categories, Text).contains(f'"{category}"')


VISIT_GROUPINGS = ("cell", "visitor", "category")


def _part_of(grid: rollups.Grid, tops: Collection[str], cell: str) -> str:
    """The cell a figure of `cell` is reported under by cell within the subtrees of `tops` (as the case
    summaries report it, see `Scopes`): the cell directly under a top that holds it, or a top itself."""
    parent = grid.get(cell)
    while cell not in tops and parent is not None and parent not in tops:
        cell, parent = parent, grid.get(parent)
    return cell


def visit_coverage_summary(conn: Connection, deployment: Deployment, *, now: datetime, by: str = "cell",
                           cells: Sequence[str] | None = None,
                           category: str | None = None) -> list[dict[str, Any]]:
    """Per cell (the cells directly under the scope `cells`, and the cell at its top for the households
    registered there, as the case summaries group them), per last visitor or per household category:
    households (户), those with a cadence, overdue, visits (户次); counted by the database per household's
    cell, then added up per cell reported. `category`: only households of that category. By category, a
    household of two categories counts in both (one count read per category)."""
    if by not in VISIT_GROUPINGS:
        raise BadQuery("visit coverage is grouped by one of {choices}, not {by}",
                       choices=", ".join(VISIT_GROUPINGS), by=by)
    v = visit_coverage.c
    where = [v.registered_at.is_not(None), *_in_cells([v.cell_id], cells)]
    if category is not None:
        where.append(_of_household_category(category))
    figures = (func.count().label("households"), func.count(v.next_due_at).label("with_cadence"),
               func.sum(case((v.next_due_at <= now, 1), else_=0)).label("overdue"),
               func.sum(v.conducted).label("conducted"), func.sum(v.missed).label("missed"))
    rows: list[dict[str, Any]]
    if by == "category":
        found = [{"group": key, **conn.execute(select(*figures).where(*where, _of_household_category(key)))
                  .mappings().one()} for key in HOUSEHOLD_CATEGORIES if category in (None, key)]
        rows = [r for r in found if r["households"]]
    else:
        group = v.cell_id if by == "cell" else v.last_visitor
        query = select(group.label("group"), *figures).where(*where).group_by(group)
        found = [dict(r) for r in conn.execute(query).mappings()]
        if by == "cell":
            found = _added_up_per_part(found, deployment.grid, scopes(deployment, cells).whole)
        rows = sorted(found, key=lambda r: str(r["group"]))
    summary = []
    for r in rows:
        summary.append({by: r["group"], "households": r["households"], "with_cadence": r["with_cadence"],
                        "overdue": int(r["overdue"]),
                        "covered_share": share(r["with_cadence"] - int(r["overdue"]), r["with_cadence"]),
                        "visits_conducted": int(r["conducted"]), "visits_missed": int(r["missed"])})
    return summary


def _added_up_per_part(rows: list[dict[str, Any]], grid: rollups.Grid, tops: Collection[str]
                       ) -> list[dict[str, Any]]:
    """Figures per cell (`group`) added up per cell reported (`_part_of`)."""
    parts: dict[str, dict[str, Any]] = {}
    for row in rows:
        part = _part_of(grid, tops, row["group"])
        if part in parts:
            summed = parts[part]
            for name, value in row.items():
                if name != "group":
                    summed[name] = int(summed[name]) + int(value)
        else:
            parts[part] = {**row, "group": part}
    return list(parts.values())


# ---------------------------------------------------------------- notices
def _notice_rows() -> Any:
    """The notice board's rows with the category and cell of the case behind each."""
    n = notice_board.c
    return (select(n.case_id, n.notice_id, n.kind, n.step, n.text, n.channels, n.posted_at, n.ends_at,
                   n.ended, n.objections, n.version, cases.c.category, cases.c.cell_id)
            .join(cases, cases.c.id == n.case_id))


def active_notices(conn: Connection, *, now: datetime, cells: Sequence[str] | None = None,
                   limit: int = 50, offset: int = 0, cursor: str | None = None) -> Page:
    """Public notices still up, newest first: no names or phone numbers, only what was posted."""
    n = notice_board.c
    query = _notice_rows().where(n.ended.is_(False), *_in_cells([cases.c.cell_id], cells))
    page = read_page(conn, query, [SortKey(n.posted_at, descending=True)], n.key, limit=limit, offset=offset,
                     cursor=cursor)
    return replace(page, items=[{**item, "period_over": item["ends_at"] <= now} for item in page.items])


def ended_notices(conn: Connection, *, cells: Sequence[str] | None = None, limit: int = 50, offset: int = 0,
                  cursor: str | None = None) -> Page:
    """Public notices taken down once their period was over, the latest to end first."""
    n = notice_board.c
    query = _notice_rows().where(n.ended.is_(True), *_in_cells([cases.c.cell_id], cells))
    page = read_page(conn, query, [SortKey(n.ends_at, descending=True)], n.key, limit=limit, offset=offset,
                     cursor=cursor)
    return replace(page, items=[{**item, "period_over": True} for item in page.items])


def notice(conn: Connection, case_id: UUID, notice_id: str, *, now: datetime) -> dict[str, Any] | None:
    """One notice of the board (up or ended), or None."""
    n = notice_board.c
    found = conn.execute(_notice_rows().where(n.key == f"{case_id}/{notice_id}")).mappings().first()
    return None if found is None else {**found, "period_over": found["ends_at"] <= now}


def objection_by_receipt(conn: Connection, receipt: str) -> dict[str, Any] | None:
    """An objection found by its receipt code, with the notice it was lodged to and that notice's cell; no
    phone and no name."""
    o, n = objections.c, notice_board.c
    query = (select(o.receipt, o.text, o.lodged_at, o.answer, o.answered_at, n.kind.label("notice_kind"),
                    n.text.label("notice_text"), n.ends_at.label("notice_ends_at"), cases.c.cell_id)
             .join(notice_board, n.key == o.notice_key).join(cases, cases.c.id == o.case_id)
             .where(o.receipt == receipt))
    found = conn.execute(query).mappings().first()
    return None if found is None else {**found, "answered": found["answer"] is not None}


def notices_to_take_down(conn: Connection, *, now: datetime) -> list[tuple[str, str]]:
    """(case id, notice id) of notices whose period is over but which are still up."""
    n = notice_board.c
    query = select(n.case_id, n.notice_id).where(n.ended.is_(False), n.ends_at <= now).order_by(n.ends_at)
    return [(case_id, notice_id) for case_id, notice_id in conn.execute(query)]


# ---------------------------------------------------------------- audit
def aggregates_within(conn: Connection, cells: Sequence[str]) -> list[UUID]:
    """The cases (raised or now held there) and households that lie within `cells`: what a scoped
    verify checks, besides the visits there."""
    c, v = cases.c, visit_coverage.c
    found = list(conn.execute(select(c.id).where(*_in_cells([c.cell_id, c.responsible_cell_id], cells)))
                 .scalars())
    found += conn.execute(select(v.id).where(*_in_cells([v.cell_id], cells))).scalars()
    return [UUID(found_id) for found_id in found]


# ---------------------------------------------------------------- staff
def staff_directory(conn: Connection, *, cells: Collection[str] | None = None) -> list[dict[str, Any]]:
    """Staff accounts by user name: display name, the roles held over cells ([role, cell id] pairs) and
    whether the account is active (holds a role: one whose roles were all revoked can do nothing).
    With `cells`, only the accounts holding a role over one of those cells."""
    rows = conn.execute(select(staff).order_by(staff.c.username)).mappings()
    found = [{"username": r["username"], "display_name": r["display_name"], "grants": r["grants"],
              "active": bool(r["grants"])} for r in rows]
    if cells is None:
        return found
    inside = set(cells)
    return [member for member in found if any(cell in inside for _, cell in member["grants"])]


def staff_covering(conn: Connection, deployment: Deployment, cells: Sequence[str],
                   roles: Collection[str] = PERMISSIONS["progress"]) -> list[dict[str, Any]]:
    """The staff holding one of `roles` over one of `cells` or a cell above it — by default those who may
    work on a case there, so whom a case lying in `cells` (where it was raised, where it is held now) may
    be assigned to, as `Minqing.assign` checks it."""
    return [member for member in staff_directory(conn)
            if any(role in roles and deployment.within(cell, scope)
                   for role, scope in member["grants"] for cell in cells)]
