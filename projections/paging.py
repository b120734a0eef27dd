"""Pages of a list: an ordered query read a page at a time, counted only up to a cap.

A list is never counted whole: its matches are counted up to `TOTAL_CAP` (more is "1,000+"), so the
count costs at most that many rows whatever the store holds. Deep pages are read by keyset: each page
gives a `next_cursor`, the sort keys of its last row, and the page after it starts past that row
through the sort's index instead of reading and dropping every row before it (as an offset does).

Every order ends with the row's id, so it is total; a key that may be empty puts empty values last on
both stores (SQLite puts them first going up, PostgreSQL going down). A key that is never empty is
left to the database's own order, so that an index on it serves both directions.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import orjson
from sqlalchemy import ColumnElement, Connection, Select, and_, false, func, or_, select

from domain import errors
from projections.core import UTCDateTime

MAX_PAGE = 500      # items in one page of a list, at most
TOTAL_CAP = 1_000   # matches counted, at most: a list with more says "1,000+"
EXPORT_CAP = 50_000  # rows of a list one export holds, at most: more is refused, to be narrowed by filters


class BadQuery(errors.DomainError):
    """The query is not one this view answers.

    A filter, sort key or grouping the view does not have; raised and translated as a domain error is."""

    code = "bad-query"


@dataclass(frozen=True)
class Page:
    items: list[dict[str, Any]]
    total: int                      # the matches, counted up to TOTAL_CAP
    limit: int
    offset: int
    total_capped: bool = False      # more than TOTAL_CAP match
    next_cursor: str | None = None  # where the page after this one starts; None on the last page


@dataclass(frozen=True)
class SortKey:
    """One key of a list's order."""

    value: ColumnElement[Any]
    descending: bool = False

    @property
    def may_be_empty(self) -> bool:
        return bool(getattr(self.value, "nullable", False))

    def ordering(self) -> ColumnElement[Any]:
        ordered = self.value.desc() if self.descending else self.value.asc()
        return ordered.nulls_last() if self.may_be_empty else ordered

    def past(self, at: Any) -> ColumnElement[bool]:
        """The rows after a row whose key is `at`, on this key alone."""
        if at is None:  # empty values come last: only other empty ones follow, on the later keys
            return false()
        beyond = self.value < at if self.descending else self.value > at
        return or_(beyond, self.value.is_(None)) if self.may_be_empty else beyond

    def level(self, at: Any) -> ColumnElement[bool]:
        return self.value.is_(None) if at is None else self.value == at

    def encoded(self, value: Any) -> Any:
        return value.isoformat() if isinstance(value, datetime) else value

    def decoded(self, value: Any) -> Any:
        if value is not None and isinstance(self.value.type, UTCDateTime):
            return datetime.fromisoformat(value)
        return value


def check_page(limit: int, offset: int) -> None:
    if not 1 <= limit <= MAX_PAGE or offset < 0:
        raise BadQuery("limit is 1 to {most} and offset at least 0", most=MAX_PAGE)


def read_page(conn: Connection, query: Select[Any], keys: Sequence[SortKey], tiebreak: ColumnElement[Any], *,
              limit: int, offset: int = 0, cursor: str | None = None, matches: Select[Any] | None = None,
              count_in_order: bool = True) -> Page:
    """One page of `query` in the order of `keys` then `tiebreak` (a unique column, ascending): the page
    at `offset`, or the page after `cursor` (a page's `next_cursor`); its matches counted up to TOTAL_CAP
    (from `matches`, when given: the same rows, in a statement the store counts faster; on PostgreSQL in
    the list's order unless `count_in_order` is false)."""
    check_page(limit, offset)
    keys = [*keys, SortKey(tiebreak)]
    orderings = [key.ordering() for key in keys]
    # the rows' order key alone: a row's other columns are not read to be counted
    capped = (query if matches is None else matches).with_only_columns(tiebreak, maintain_column_froms=True)
    capped = capped.limit(TOTAL_CAP + 1)
    if conn.dialect.name == "postgresql" and count_in_order:
        # Counted in the list's order, so the planner may read the rows as it reads the page's (a common
        # word: the first 1,001 rows in order hold it) rather than gather every match first. SQLite's
        # planner takes an order as a reason to walk the order's index, through the whole store when fewer
        # than 1,001 rows match. Not where the matches are gathered from indexes at no more cost than the
        # first 1,001 of them (the overdue cases: see `queries.search_cases`).
        capped = capped.order_by(*orderings)
    counted = conn.execute(select(func.count()).select_from(capped.subquery())).scalar_one()
    labels = [f"sort_key_{i}" for i in range(len(keys))]
    ordered = query.add_columns(*(key.value.label(label) for key, label in zip(keys, labels, strict=True)))
    if cursor is not None:
        if offset:
            raise BadQuery("a page is asked for by its cursor or by its offset, not both")
        ordered = ordered.where(_after(keys, _decoded(keys, cursor)))
    rows = [dict(row) for row in conn.execute(ordered.order_by(*orderings).limit(limit + 1).offset(offset))
            .mappings()]
    at = [[row.pop(label) for label in labels] for row in rows]
    next_cursor = _encoded(keys, at[limit - 1]) if len(rows) > limit else None
    return Page(rows[:limit], min(counted, TOTAL_CAP), limit, offset, counted > TOTAL_CAP, next_cursor)


def _after(keys: Sequence[SortKey], at: Sequence[Any]) -> ColumnElement[bool]:
    """Rows after the row whose keys are `at`: past it on the first key, or level with it and after it
    on the rest. The first key's bound is also stated on its own, so an index on it is used."""
    condition: ColumnElement[bool] = keys[-1].past(at[-1])
    for key, value in zip(reversed(keys[:-1]), reversed(at[:-1]), strict=True):
        condition = or_(key.past(value), and_(key.level(value), condition))
    first, value = keys[0], at[0]
    if value is not None and not first.may_be_empty:
        condition = and_(first.value <= value if first.descending else first.value >= value, condition)
    return condition


def _encoded(keys: Sequence[SortKey], values: Sequence[Any]) -> str:
    plain = [key.encoded(value) for key, value in zip(keys, values, strict=True)]
    return base64.urlsafe_b64encode(orjson.dumps(plain)).decode().rstrip("=")


def _decoded(keys: Sequence[SortKey], cursor: str) -> list[Any]:
    try:
        values = orjson.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
        if not isinstance(values, list) or len(values) != len(keys):
            raise ValueError(cursor)
        return [key.decoded(value) for key, value in zip(keys, values, strict=True)]
    except (ValueError, TypeError, binascii.Error, orjson.JSONDecodeError):
        raise BadQuery("this cursor does not belong to this list: ask for the first page again") from None


def every_item(read: Callable[[str | None], Page], *, cap: int = EXPORT_CAP) -> list[dict[str, Any]]:
    """Every item of a list, its pages read one after another by keyset: `read(cursor)` answers the page
    after `cursor` (the first page for None). More than `cap` items are refused rather than cut short."""
    items: list[dict[str, Any]] = []
    cursor = None
    while True:
        page = read(cursor)
        items += page.items
        if len(items) > cap:
            raise BadQuery("more than {cap} rows to export: narrow the filters", cap=cap)
        if page.next_cursor is None:
            return items
        cursor = page.next_cursor
