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
from dataclasses import replace
from datetime import datetime, timedelta
from typing import Any, TypedDict
from uuid import UUID

from sqlalchemy import ColumnElement, Connection, Table, Text, and_, case, cast, func, or_, select
from sqlalchemy.sql import operators
from sqlalchemy.sql.expression import UnaryExpression

from domain.application import PERMISSIONS
from domain.demand import OPEN_STATUSES
from domain.deployment import HOUSEHOLD_CATEGORIES, Deployment
from domain.masking import mask_number
from projections import rollups, text_search
from projections.cases import cases
from projections.core import Rollup
from projections.notice_board import notice_board
from projections.objections import objections
from projections.paging import BadQuery, Page, SortKey, read_page
from projections.staff import staff
from projections.stats import Histogram, median_of, p90_of, share
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


def overdue_at(now: datetime) -> ColumnElement[bool]:
    """Open and past due as of `now` (逾期): a deadline recorded missed, or the earliest open deadline
    passed (see the view's `overdue_from`). A closed case is never overdue; each item of a search as of
    `now` says so as `overdue`."""
    return cases.c.overdue_from <= now


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
    where = _in_cells([c.cell_id, c.responsible_cell_id], cells, conn.dialect.name)
    if visit_ids is not None:
        where.append(c.visit_id.in_([str(visit) for visit in visit_ids]))
    for column, value in ((c.status, status), (c.track, track), (c.current_step, step),
                          (c.category, category), (c.assignee, assignee), (c.channel, channel),
                          (c.receipt, receipt), (c.rating, rating)):
        if value is not None:
            where.append(column == value)
    if text:
        where.append(text_search.found(conn.dialect.name, c.id, c.title, c.description, c.receipt, text))
    if phone:  # in clear, or masked as the view keeps it when the events are encrypted (the default)
        masked = mask_number(phone) if len(phone) > 4 else phone  # four or fewer: all would be masked
        where.append(or_(c.resident_phone.contains(phone, autoescape=True),
                         c.resident_phone.contains(masked, autoescape=True)))
    if open_only:
        where.append(c.status.in_(OPEN_STATUSES))
    if raised_from is not None:
        where.append(c.raised_at >= raised_from)
    if raised_to is not None:
        where.append(c.raised_at < raised_to)
    if (overdue is not None or due_within is not None or sort == URGENCY) and now is None:
        raise BadQuery("being overdue, being due soon and the urgency sort are as of a time: give `now`")
    if now is not None and overdue is not None:
        where.append(overdue_at(now) if overdue else _not_overdue_at(now))
    if now is not None and due_within is not None:
        where += [c.overdue_from > now, c.overdue_from <= now + due_within]  # open, none missed: the due time
    query = select(cases).where(and_(True, *where))
    if sort == URGENCY:
        assert now is not None
        keys = [SortKey(c.overdue_from), SortKey(c.raised_at)]
    else:
        keys = _sorted_by(cases, sort)
    page = read_page(conn, query, keys, c.id, limit=limit, offset=offset, cursor=cursor)
    if now is not None:
        for item in page.items:
            item["overdue"] = item["overdue_from"] is not None and item["overdue_from"] <= now
    return page


def unresolved(conn: Connection, *, now: datetime, cells: Sequence[str] | None = None,
               category: str | None = None, assignee: str | None = None, flagged: bool | None = None,
               sort: str = "raised_at", limit: int = 50, offset: int = 0, cursor: str | None = None) -> Page:
    """Overdue cases (应予解决而未解决: open and past due), with what an accountability review needs."""
    c = cases.c
    where = [overdue_at(now), *_in_cells([c.cell_id, c.responsible_cell_id], cells, conn.dialect.name)]
    if category is not None:
        where.append(c.category == category)
    if assignee is not None:
        where.append(c.assignee == assignee)
    if flagged is not None:
        where.append(c.flags > 0 if flagged else c.flags == 0)
    page = read_page(conn, select(cases).where(and_(*where)), _sorted_by(cases, sort), c.id, limit=limit,
                     offset=offset, cursor=cursor)
    items = [{
        "id": r["id"], "title": r["title"], "category": r["category"], "step": r["current_step"],
        "cell_id": r["cell_id"], "responsible_cell_id": r["responsible_cell_id"], "assignee": r["assignee"],
        "raised_at": r["raised_at"], "age_days": round((now - r["raised_at"]).total_seconds() / 86400, 1),
        "due_at": r["due_at"], "deadlines_missed": r["missed"], "escalation_level": r["escalation_level"],
        "escalations": r["escalations"], "accountability_flags": r["flag_details"],
    } for r in page.items]
    return replace(page, items=items)


# ---------------------------------------------------------------- summaries
# Read from the rollups the cases view keeps (projections.rollups): counts exact, times exact to the minute.
def _checked_month(month: str) -> str:
    if not (len(month) == 7 and month[4] == "-" and month.replace("-", "").isdigit()):
        raise BadQuery("a month is YYYY-MM, not {month}", month=month)
    return month


def _rollup_scope(table: Table, *, category: str | None, cells: Sequence[str] | None,
                  month: str | None = None, month_from: str | None = None,
                  month_to: str | None = None) -> list[ColumnElement[bool]]:
    """The rows of a rollup within a category, cells and a month or a range of months (both ends
    included; YYYY-MM text compares in calendar order)."""
    where = _in_cells([table.c.cell_id], cells)
    if category is not None:
        where.append(table.c.category == category)
    if month is not None:
        where.append(table.c.month == _checked_month(month))
    if month_from is not None:
        where.append(table.c.month >= _checked_month(month_from))
    if month_to is not None:
        where.append(table.c.month <= _checked_month(month_to))
    return where


def _grouping(by: str) -> str:
    """The rollups' column for one of GROUPINGS."""
    if by not in GROUPINGS:
        raise BadQuery("group by one of {choices}, not {by}", choices=", ".join(GROUPINGS), by=by)
    return "cell_id" if by == "cell" else by


Scope = dict[str, Any]  # the filters of a summary: category, cells, month or month_from and month_to


def _summed(conn: Connection, rollup: Rollup, column: str, scope: Scope) -> dict[str | None, dict[str, int]]:
    """The rollup's counts within `scope` summed per group of `column` (None for a group with no value),
    in order."""
    t = rollup.table.c
    query = (select(t[column].label("group"), *(func.sum(t[name]).label(name) for name in rollup.counts))
             .where(*_rollup_scope(rollup.table, **scope)).group_by(t[column]))
    found = {r["group"] or None: {name: int(r[name]) for name in rollup.counts}
             for r in conn.execute(query).mappings()}
    return dict(sorted(found.items(), key=lambda kv: str(kv[0])))


class Ranked(TypedDict):
    """A group's times as a summary reports them: how many, their median and 90th percentile (by nearest
    rank: the smallest time with at least 90 % at or below it), in minutes."""

    count: int
    median: float | None
    p90: float | None


def _ranked(conn: Connection, rollup: Rollup, column: str, scope: Scope) -> dict[str | None, Ranked]:
    """The rollup's per-minute counts within `scope` added up per group of `column`, and each group's
    median and 90th percentile read from them. The rows are streamed in group order and only one group's
    minutes are held at a time: a district's minutes all at once took 230 MB at 1M demands. (The same
    ranks taken in SQL by window functions were 40-60 % slower on SQLite at 300k.)"""
    t = rollup.table.c
    query = (select(t[column], t.minutes, func.sum(t.n)).where(*_rollup_scope(rollup.table, **scope))
             .group_by(t[column], t.minutes).order_by(t[column], t.minutes))
    found: dict[str | None, Ranked] = {}
    rows = conn.execution_options(yield_per=10_000).execute(query)  # a server-side cursor on PostgreSQL
    for group, minutes in itertools.groupby(rows, key=lambda row: row[0]):
        histogram: Histogram = [(m, int(n)) for _, m, n in minutes]
        found[group or None] = {"count": sum(n for _, n in histogram), "median": median_of(histogram),
                                "p90": p90_of(histogram)}
    return found


NOTHING: Ranked = {"count": 0, "median": None, "p90": None}


def _in_units(value: float | None, minutes: int) -> float | None:
    return None if value is None else value / minutes


def response_time_summary(conn: Connection, *, by: str = "category", category: str | None = None,
                          cells: Sequence[str] | None = None, month: str | None = None,
                          month_from: str | None = None, month_to: str | None = None) -> list[dict[str, Any]]:
    """Per group (month: the month raised, in the deployment's time zone): cases, median and 90th
    percentile of hours to first response (triage) and to resolution, exact to the minute; the share
    resolved on time (of those resolved: no deadline recorded missed and resolved by the earliest deadline
    open); the share responded to on time (of those responded to: triaged at or before the first-response
    deadline then due). The worker is the assignee, else whoever first resolved the case. `month`, or
    `month_from` to `month_to` (both included): only the cases raised then."""
    column = _grouping(by)
    scope = {"category": category, "cells": cells, "month": month, "month_from": month_from,
             "month_to": month_to}
    first = _ranked(conn, rollups.first_response, column, scope)
    resolution = _ranked(conn, rollups.resolution, column, scope)
    summary = []
    for group, counts in _summed(conn, rollups.case_times, column, scope).items():
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


def step_time_summary(conn: Connection, *, category: str | None = None,
                      cells: Sequence[str] | None = None) -> list[dict[str, Any]]:
    """Per deliberation step: how many times it was held (a vote without a quorum holds no step), the
    median and p90 days spent in it, exact to the minute (from when the step was first awaited — after the
    step before, or the triage, or a reopening — to when it was held), and the share held on time (at or
    before the step deadline then due)."""
    scope = {"category": category, "cells": cells}
    on_time = _summed(conn, rollups.step_times, "step", scope)
    return [{"step": step, "count": held["count"], "days_median": _in_units(held["median"], 1440),
             "days_p90": _in_units(held["p90"], 1440),
             "on_time_share": share(on_time[step]["on_time"], on_time[step]["n"])}
            for step, held in sorted(_ranked(conn, rollups.step_times, "step", scope).items(),
                                     key=lambda kv: str(kv[0]))]


RATING_COUNTS = ("asked", "answered", "satisfied", "basically_satisfied", "dissatisfied", "expired",
                 "reopens")


def satisfaction_summary(conn: Connection, *, by: str = "category", category: str | None = None,
                         cells: Sequence[str] | None = None, month: str | None = None,
                         month_from: str | None = None, month_to: str | None = None) -> list[dict[str, Any]]:
    """Per group (month: the month feedback was first asked): feedback asked, answered, each rating,
    expired, reopens; satisfaction rate = (satisfied + basically satisfied) / answered; response
    rate = answered / asked. The worker is the assignee, else whoever first asked for feedback.
    `month`, or `month_from` to `month_to` (both included): only the feedback first asked then."""
    scope = {"category": category, "cells": cells, "month": month, "month_from": month_from,
             "month_to": month_to}
    summary = []
    for group, totals in _summed(conn, rollups.feedback, _grouping(by), scope).items():
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
    for column, value in ((w.visitor, visitor), (w.household_id, household and str(household)),
                          (w.status, status)):
        if value is not None:
            where.append(column == value)
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


def visit_coverage_summary(conn: Connection, *, now: datetime, by: str = "cell",
                           cells: Sequence[str] | None = None,
                           category: str | None = None) -> list[dict[str, Any]]:
    """Per cell, per last visitor or per household category: households (户), those with a cadence,
    overdue, visits (户次); counted by the database. `category`: only households of that category. By
    category, a household of two categories counts in both (one count read per category)."""
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
        rows = sorted((dict(r) for r in conn.execute(query).mappings()), key=lambda r: str(r["group"]))
    summary = []
    for r in rows:
        summary.append({by: r["group"], "households": r["households"], "with_cadence": r["with_cadence"],
                        "overdue": int(r["overdue"]),
                        "covered_share": share(r["with_cadence"] - int(r["overdue"]), r["with_cadence"]),
                        "visits_conducted": int(r["conducted"]), "visits_missed": int(r["missed"])})
    return summary


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
