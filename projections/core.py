"""What every view shares: row-per-key folding of events, batched, with the view's tracking
position moved in the same transaction as its rows (exactly once).

A view says which row an event touches (`key`) and how the event changes that row (`apply`,
a pure function of the old row and the event). `apply_batch` loads the touched rows once, folds
the batch in memory and writes the changed rows back with one upsert, then moves the position
with a compare-and-set: if another processor moved it first, the whole transaction rolls back.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

from sqlalchemy import (JSON, BigInteger, Column, Connection, DateTime, MetaData, String, Table, TypeDecorator,
                        delete, insert, select, update)
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

Row = dict[str, Any]
JSON_TEXT = JSON(none_as_null=True)
Handler = Callable[[Row | None, Any], Row | None]
CHUNK = 500

tracking_metadata = MetaData()
positions = Table(
    "view_positions", tracking_metadata,
    Column("view", String(100), primary_key=True),
    Column("position", BigInteger, nullable=False),
)


class PositionMoved(Exception):
    """Another processor of the same view recorded these events first; nothing was written."""


@dataclass
class View:
    """One view: a table of rows, each folded from the events of one key."""

    name: str
    table: Table
    key: Callable[[Any], str | None]
    handlers: dict[type, Handler]

    @property
    def key_column(self) -> Column[Any]:
        return next(iter(self.table.primary_key.columns))

    def apply_batch(self, conn: Connection, events: Sequence[Any]) -> int:
        """Fold `events` into the table; returns how many rows changed."""
        relevant = [(self.key(e), e) for e in events if type(e) in self.handlers]
        relevant = [(k, e) for k, e in relevant if k is not None]
        if not relevant:
            return 0
        keys = list(dict.fromkeys(k for k, _ in relevant))
        rows: dict[str, Row | None] = dict.fromkeys(keys)
        for chunk in _chunks(keys):
            for stored in conn.execute(select(self.table).where(self.key_column.in_(chunk))).mappings():
                rows[stored[self.key_column.name]] = dict(stored)
        existed = {k for k, v in rows.items() if v is not None}
        for key, event in relevant:
            rows[key] = self.handlers[type(event)](rows[key], event)
        gone = [k for k in keys if rows[k] is None and k in existed]
        kept = [rows[k] for k in keys if rows[k] is not None]
        for chunk in _chunks(gone):
            conn.execute(delete(self.table).where(self.key_column.in_(chunk)))
        if kept:
            upsert(conn, self.table, kept)
        return len(keys)


def _chunks(items: list[Any]) -> Iterable[list[Any]]:
    for i in range(0, len(items), CHUNK):
        yield items[i:i + CHUNK]


def upsert(conn: Connection, table: Table, rows: list[Row]) -> None:
    """Insert rows, replacing any with the same primary key."""
    make = pg_insert if conn.dialect.name == "postgresql" else sqlite_insert
    stmt = make(table)
    keys = [c.name for c in table.primary_key.columns]
    stmt = stmt.on_conflict_do_update(
        index_elements=keys, set_={c.name: stmt.excluded[c.name] for c in table.columns if c.name not in keys})
    columns = [c.name for c in table.columns]
    conn.execute(stmt, [{c: row.get(c) for c in columns} for row in rows])


def position_of(conn: Connection, view: str) -> int:
    found = conn.execute(select(positions.c.position).where(positions.c.view == view)).scalar()
    return 0 if found is None else int(found)


def move_position(conn: Connection, view: str, expected: int, new: int) -> None:
    """Compare-and-set the view's position; raise PositionMoved if someone else moved it."""
    if expected == 0:
        exists = conn.execute(select(positions.c.position).where(positions.c.view == view)).scalar()
        if exists is None:
            conn.execute(insert(positions).values(view=view, position=new))
            return
    moved = conn.execute(update(positions).where(positions.c.view == view, positions.c.position == expected)
                         .values(position=new))
    if moved.rowcount != 1:
        raise PositionMoved(f"view {view} is no longer at position {expected}")


class UTCDateTime(TypeDecorator[datetime]):
    """Timezone-aware datetimes stored as UTC on both databases (SQLite keeps no zone)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        value = value.astimezone(timezone.utc)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=timezone.utc) if value.tzinfo is None else value.astimezone(timezone.utc)


def month_of(moment: datetime) -> str:
    return moment.astimezone(timezone.utc).strftime("%Y-%m")
