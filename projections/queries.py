"""Query functions over the views, for the HTTP API and the CLI. None of them reads the event store.

Lists take filters, a sort key (prefix "-" for descending) and limit/offset, and return a `Page`.
Summaries group per-case rows by one dimension and compute their figures in Python with the
definitions in `projections.stats`, the same on SQLite and PostgreSQL.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID

from sqlalchemy import ColumnElement, Connection, Select, Table, Text, and_, case, cast, func, or_, select

from domain import errors
from domain.application import PERMISSIONS
from domain.demand import CLOSED
from domain.deployment import HOUSEHOLD_CATEGORIES, Deployment
from projections.cases import cases
from projections.core import month_of
from projections.notice_board import notice_board
from projections.response_times import response_times
from projections.satisfaction import satisfaction
from projections.staff import staff
from projections.stats import median, p90, share
from projections.visit_coverage import visit_coverage
from projections.visits import visits

GROUPINGS = ("category", "cell", "worker", "month")
MAX_PAGE = 500  # items in one page of a list, at most


class BadQuery(errors.DomainError):
    """The query is not one this view answers.

    A filter, sort key or grouping the view does not have; raised and translated as a domain error is."""

    code = "bad-query"


@dataclass(frozen=True)
class Page:
    items: list[dict[str, Any]]
    total: int
    limit: int
    offset: int


def _page(conn: Connection, table: Table, query: Select[Any], sort: str, limit: int, offset: int,
          tiebreak: str = "id", empty_last: bool = False) -> Page:
    """One page of `query` in `sort` order; `empty_last` puts rows without a value last (as
    PostgreSQL does going up, SQLite going down), on both stores."""
    name = sort.lstrip("-")
    if name not in table.c:
        raise BadQuery("cannot sort by {name}; sort by one of {choices}", name=name,
                       choices=", ".join(sorted(table.c.keys())))
    _check_page(limit, offset)
    column = table.c[name]
    order = column.desc() if sort.startswith("-") else column.asc()
    if empty_last:
        order = order.nulls_last()
    return _ordered_page(conn, query, [order, table.c[tiebreak]], limit, offset)


def _ordered_page(conn: Connection, query: Select[Any], order: Sequence[ColumnElement[Any]], limit: int,
                  offset: int) -> Page:
    total = conn.execute(select(func.count()).select_from(query.subquery())).scalar_one()
    rows = conn.execute(query.order_by(*order).limit(limit).offset(offset)).mappings()
    return Page([dict(r) for r in rows], total, limit, offset)


def _check_page(limit: int, offset: int) -> None:
    if not 1 <= limit <= MAX_PAGE or offset < 0:
        raise BadQuery("limit is 1 to {most} and offset at least 0", most=MAX_PAGE)


def _in_cells(columns: Sequence[ColumnElement[Any]],
              cells: Sequence[str] | None) -> list[ColumnElement[bool]]:
    if cells is None:
        return []
    return [or_(*(c.in_(list(cells)) for c in columns))]


# ---------------------------------------------------------------- cases
URGENCY = "urgency"  # the sort of a queue: past due first, then by due time, then the oldest


def past_due(now: datetime) -> ColumnElement[bool]:
    """A case with a deadline recorded missed, or whose earliest open deadline has passed (each item
    of a search as of `now` says so as `late`)."""
    return or_(cases.c.overdue.is_(True), cases.c.due_at <= now)


def _not_past_due(now: datetime) -> ColumnElement[bool]:
    return and_(cases.c.overdue.is_(False), or_(cases.c.due_at.is_(None), cases.c.due_at > now))


def search_cases(conn: Connection, *, text: str | None = None, status: str | None = None,
                 track: str | None = None, step: str | None = None, category: str | None = None,
                 cells: Sequence[str] | None = None, assignee: str | None = None, channel: str | None = None,
                 overdue: bool | None = None, raised_from: datetime | None = None,
                 raised_to: datetime | None = None, receipt: str | None = None, phone: str | None = None,
                 visit_ids: Sequence[UUID] | None = None, open_only: bool = False,
                 now: datetime | None = None, late: bool | None = None,
                 due_within: timedelta | None = None, sort: str = "-raised_at", limit: int = 50,
                 offset: int = 0) -> Page:
    """Search the case list; `cells` is a grid subtree (a case matches by its cell or its responsible
    cell). `text` is found in the title, the description or the receipt code; `phone` in the
    resident's phone (only for those who see personal data: the caller decides). `visit_ids`: only the
    cases raised from those visits. `open_only`: not closed. Given `now`: `late` (past due, see
    `past_due`, or not), `due_within` (not past due and an open deadline within that time), the sort
    `URGENCY`, and each item's `late`."""
    c = cases.c
    where: list[ColumnElement[bool]] = _in_cells([c.cell_id, c.responsible_cell_id], cells)
    if visit_ids is not None:
        where.append(c.visit_id.in_([str(visit) for visit in visit_ids]))
    for column, value in ((c.status, status), (c.track, track), (c.current_step, step),
                          (c.category, category), (c.assignee, assignee), (c.channel, channel),
                          (c.overdue, overdue), (c.receipt, receipt)):
        if value is not None:
            where.append(column == value)
    if text:
        words = text.lower()
        where.append(or_(func.lower(c.title).contains(words, autoescape=True),
                         func.lower(c.description).contains(words, autoescape=True),
                         func.lower(c.receipt) == words))
    if phone:
        where.append(c.resident_phone.contains(phone, autoescape=True))
    if open_only:
        where.append(c.status != CLOSED)
    if raised_from is not None:
        where.append(c.raised_at >= raised_from)
    if raised_to is not None:
        where.append(c.raised_at < raised_to)
    if (late is not None or due_within is not None or sort == URGENCY) and now is None:
        raise BadQuery("being late, being due soon and the urgency sort are as of a time: give `now`")
    if now is not None and late is not None:
        where.append(past_due(now) if late else _not_past_due(now))
    if now is not None and due_within is not None:
        where += [_not_past_due(now), c.due_at <= now + due_within]
    query = select(cases).where(and_(True, *where))
    if sort == URGENCY:
        assert now is not None
        _check_page(limit, offset)
        order = [case((past_due(now), 0), else_=1), c.due_at.is_(None), c.due_at, c.raised_at, c.id]
        page = _ordered_page(conn, query, order, limit, offset)
    else:
        page = _page(conn, cases, query, sort, limit, offset)
    if now is not None:
        for item in page.items:
            item["late"] = item["overdue"] or (item["due_at"] is not None and item["due_at"] <= now)
    return page


def unresolved(conn: Connection, *, now: datetime, cells: Sequence[str] | None = None,
               category: str | None = None, assignee: str | None = None, flagged: bool | None = None,
               sort: str = "raised_at", limit: int = 50, offset: int = 0) -> Page:
    """Open cases past any deadline (应予解决而未解决), with what an accountability review needs."""
    c = cases.c
    where = [c.status != CLOSED, past_due(now),
             *_in_cells([c.cell_id, c.responsible_cell_id], cells)]
    if category is not None:
        where.append(c.category == category)
    if assignee is not None:
        where.append(c.assignee == assignee)
    if flagged is not None:
        where.append(c.flags > 0 if flagged else c.flags == 0)
    page = _page(conn, cases, select(cases).where(and_(*where)), sort, limit, offset)
    items = [{
        "id": r["id"], "title": r["title"], "category": r["category"], "step": r["current_step"],
        "cell_id": r["cell_id"], "responsible_cell_id": r["responsible_cell_id"], "assignee": r["assignee"],
        "raised_at": r["raised_at"], "age_days": round((now - r["raised_at"]).total_seconds() / 86400, 1),
        "due_at": r["due_at"], "deadlines_missed": r["missed"], "escalation_level": r["escalation_level"],
        "escalations": r["escalations"], "accountability_flags": r["flag_details"],
    } for r in page.items]
    return Page(items, page.total, page.limit, page.offset)


# ---------------------------------------------------------------- summaries
def _case_scope(category: str | None, cells: Sequence[str] | None) -> list[ColumnElement[bool]]:
    where = _in_cells([cases.c.cell_id], cells)
    if category is not None:
        where.append(cases.c.category == category)
    return where


def _month_span(month: str) -> tuple[datetime, datetime]:
    """The first instant of `month` ("YYYY-MM", UTC) and of the month after it."""
    try:
        start = datetime(int(month[:4]), int(month[5:7]), 1, tzinfo=UTC)
    except ValueError:
        raise BadQuery("a month is YYYY-MM, not {month}", month=month) from None
    return start, (start + timedelta(days=32)).replace(day=1)


def _grouped(rows: Iterable[Mapping[Any, Any]], by: str) -> list[tuple[Any, list[Mapping[Any, Any]]]]:
    """Per-case rows (with category, cell_id, worker and month) by one of GROUPINGS, in order."""
    if by not in GROUPINGS:
        raise BadQuery("group by one of {choices}, not {by}", choices=", ".join(GROUPINGS), by=by)
    key = "cell_id" if by == "cell" else by
    groups: dict[Any, list[Mapping[Any, Any]]] = defaultdict(list)
    for r in rows:
        groups[r[key]].append(r)
    return sorted(groups.items(), key=lambda kv: str(kv[0]))


def _hours(start: datetime, end: datetime) -> float:
    return (end - start).total_seconds() / 3600


def response_time_summary(conn: Connection, *, by: str = "category", category: str | None = None,
                          cells: Sequence[str] | None = None,
                          month: str | None = None) -> list[dict[str, Any]]:
    """Per group (month: the month raised): cases, median and 90th percentile of hours to first
    response (triage) and to resolution, and the share resolved on time (of those resolved); the
    worker is the assignee, else whoever first resolved the case. All of it from the cases view."""
    c = cases.c
    where = _case_scope(category, cells)
    if month is not None:
        start, end = _month_span(month)
        where += [c.raised_at >= start, c.raised_at < end]
    worker = func.coalesce(c.assignee, c.resolved_by).label("worker")
    query = select(c.category, c.cell_id, worker, c.raised_at, c.triaged_at, c.closed_at, c.outcome,
                   c.on_time).where(and_(True, *where))
    rows = ({**r, "month": month_of(r["raised_at"])} for r in conn.execute(query).mappings())
    summary = []
    for group, members in _grouped(rows, by):
        first = [_hours(r["raised_at"], r["triaged_at"]) for r in members if r["triaged_at"] is not None]
        resolved = [r for r in members if r["outcome"] == "resolved"]
        hours = [_hours(r["raised_at"], r["closed_at"]) for r in resolved]
        summary.append({
            by: group, "count": len(members), "responded": len(first), "resolved": len(resolved),
            "first_response_hours_median": median(first), "first_response_hours_p90": p90(first),
            "resolution_hours_median": median(hours), "resolution_hours_p90": p90(hours),
            "on_time_share": share(sum(1 for r in resolved if r["on_time"]), len(resolved)),
        })
    return summary


def step_time_summary(conn: Connection, *, category: str | None = None,
                      cells: Sequence[str] | None = None) -> list[dict[str, Any]]:
    """Per deliberation step: how many times it was held and the median and p90 days spent in it."""
    per_step: dict[str, list[float]] = defaultdict(list)
    query = select(response_times.c.steps).join(cases, cases.c.id == response_times.c.id)
    for steps in conn.execute(query.where(and_(True, *_case_scope(category, cells)))).scalars():
        for held in steps:
            per_step[held["step"]].append(held["seconds"] / 86400)
    return [{"step": step, "count": len(days), "days_median": median(days), "days_p90": p90(days)}
            for step, days in sorted(per_step.items())]


RATING_COUNTS = ("asked", "answered", "satisfied", "basically_satisfied", "dissatisfied", "expired",
                 "reopens")


def satisfaction_summary(conn: Connection, *, by: str = "category", category: str | None = None,
                         cells: Sequence[str] | None = None,
                         month: str | None = None) -> list[dict[str, Any]]:
    """Per group (month: the month feedback was first asked): feedback asked, answered, each rating,
    expired, reopens; satisfaction rate = (satisfied + basically satisfied) / answered; response
    rate = answered / asked. The worker is the assignee, else whoever first asked for feedback."""
    c, s = cases.c, satisfaction.c
    where = _case_scope(category, cells)
    if month is not None:
        where.append(s.month == month)
    worker = func.coalesce(c.assignee, s.asked_by).label("worker")
    query = (select(satisfaction, c.category, c.cell_id, worker)
             .join(cases, c.id == s.id).where(and_(True, *where)))
    summary = []
    for group, members in _grouped(conn.execute(query).mappings(), by):
        totals = {name: sum(r[name] for r in members) for name in RATING_COUNTS}
        if totals["asked"] == 0 and totals["reopens"] == 0:
            continue
        summary.append({
            by: group, **totals,
            "satisfaction_rate": share(totals["satisfied"] + totals["basically_satisfied"],
                                       totals["answered"]),
            "response_rate": share(totals["answered"], totals["asked"]),
        })
    return summary


# ---------------------------------------------------------------- visits
def households(conn: Connection, *, now: datetime, cells: Sequence[str] | None = None,
               visitor: str | None = None, category: str | None = None, overdue: bool | None = None,
               ids: Sequence[UUID] | None = None, sort: str = "next_due_at", limit: int = 50,
               offset: int = 0) -> Page:
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
        if category not in HOUSEHOLD_CATEGORIES:
            raise BadQuery("household category is one of {choices}, not {category}",
                           choices=", ".join(HOUSEHOLD_CATEGORIES), category=category)
        # The categories are a JSON list of keys, the same text on both stores: '["hardship", ...]'.
        where.append(cast(v.categories, Text).contains(f'"{category}"'))
    if overdue is True:
        where.append(v.next_due_at <= now)
    elif overdue is False:
        where.append(or_(v.next_due_at.is_(None), v.next_due_at > now))
    page = _page(conn, visit_coverage, select(visit_coverage).where(and_(*where)), sort, limit, offset,
                 empty_last=True)
    items = [{**r, "overdue": r["next_due_at"] is not None and r["next_due_at"] <= now} for r in page.items]
    return Page(items, page.total, page.limit, page.offset)


def household_visits(conn: Connection, *, cells: Sequence[str] | None = None, visitor: str | None = None,
                     household: UUID | None = None, status: str | None = None,
                     due_before: datetime | None = None, sort: str = "due_at", limit: int = 50,
                     offset: int = 0) -> Page:
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
    return _page(conn, visits, select(visits).where(and_(True, *where)), sort, limit, offset)


def household_visit(conn: Connection, visit: UUID) -> dict[str, Any] | None:
    """One visit from the visits view, None if it is not (yet) there."""
    found = conn.execute(select(visits).where(visits.c.id == str(visit))).mappings().first()
    return None if found is None else dict(found)


def household_row(conn: Connection, household: UUID) -> dict[str, Any] | None:
    """One household's row of the visit coverage view (last visit, next due), None if not there yet."""
    query = select(visit_coverage).where(visit_coverage.c.id == str(household))
    found = conn.execute(query).mappings().first()
    return None if found is None else dict(found)


def visit_coverage_summary(conn: Connection, *, now: datetime, by: str = "cell",
                           cells: Sequence[str] | None = None) -> list[dict[str, Any]]:
    """Per cell or per last visitor: households (户), those with a cadence, overdue, visits (户次)."""
    if by not in ("cell", "visitor"):
        raise BadQuery("visit coverage is grouped by cell or visitor")
    column = visit_coverage.c.cell_id if by == "cell" else visit_coverage.c.last_visitor
    grouped: dict[Any, list[Any]] = defaultdict(list)
    where = [visit_coverage.c.registered_at.is_not(None), *_in_cells([visit_coverage.c.cell_id], cells)]
    for r in conn.execute(select(visit_coverage).where(and_(*where))).mappings():
        grouped[r[column.name]].append(r)
    summary = []
    for group, rows in sorted(grouped.items(), key=lambda kv: str(kv[0])):
        due = [r for r in rows if r["next_due_at"] is not None]
        late = sum(1 for r in due if r["next_due_at"] <= now)
        summary.append({by: group, "households": len(rows), "with_cadence": len(due), "overdue": late,
                        "covered_share": share(len(due) - late, len(due)),
                        "visits_conducted": sum(r["conducted"] for r in rows),
                        "visits_missed": sum(r["missed"] for r in rows)})
    return summary


# ---------------------------------------------------------------- notices
def active_notices(conn: Connection, *, now: datetime, cells: Sequence[str] | None = None,
                   limit: int = 50, offset: int = 0) -> Page:
    """Public notices still up, newest first: no names or phone numbers, only what was posted."""
    where = [notice_board.c.active.is_(True), *_in_cells([cases.c.cell_id], cells)]
    query = (select(notice_board, cases.c.category, cases.c.cell_id)
             .join(cases, cases.c.id == notice_board.c.id))
    notices = []
    for r in conn.execute(query.where(and_(*where))).mappings():
        for n in r["notices"]:
            if not n["ended"]:
                notices.append({"case_id": r["id"], "category": r["category"], "cell_id": r["cell_id"], **n,
                                "period_over": datetime.fromisoformat(n["ends_at"]) <= now})
    notices.sort(key=lambda n: (n["posted_at"], n["notice_id"]), reverse=True)
    _check_page(limit, offset)
    return Page(notices[offset:offset + limit], len(notices), limit, offset)


def notices_to_take_down(conn: Connection, *, now: datetime) -> list[tuple[str, str]]:
    """(case id, notice id) of notices whose period is over but which are still up."""
    found = []
    for r in conn.execute(select(notice_board).where(notice_board.c.active.is_(True))).mappings():
        found += [(r["id"], n["notice_id"]) for n in r["notices"]
                  if not n["ended"] and datetime.fromisoformat(n["ends_at"]) <= now]
    return found


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
