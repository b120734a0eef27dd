"""The one catch-up loop shared by every view: read a page of the application log, fold it into
each view in its own transaction together with the view's new position, repeat.

Used by the projection worker (live), by `projections rebuild` (into a shadow table that replaces
the live one only once it has caught up) and by tests.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from eventsourcing.persistence import Notification
from sqlalchemy import Connection, Engine, MetaData, Table, exc, select, text

from projections import all_views
from projections.core import PositionMoved, View, move_position, position_of, positions, tracking_metadata

BATCH = 500
SHADOW = "__rebuild"


def create_tables(engine: Engine) -> None:
    """Create the views' tables and the positions table (part of `minqing db init`)."""
    with engine.begin() as conn:
        tracking_metadata.create_all(conn)
        for view in all_views().values():
            view.table.metadata.create_all(conn, tables=[view.table])


@dataclass
class Lag:
    view: str
    position: int
    head: int
    seconds: float

    @property
    def events(self) -> int:
        return self.head - self.position


class Processor:
    """Keeps views current from the application's notification log."""

    def __init__(self, app: Any, engine: Engine, views: Sequence[View] | None = None,
                 batch_size: int = BATCH) -> None:
        self.recorder, self.mapper = app.recorder, app.mapper
        self.engine = engine
        self.views = list(views if views is not None else all_views().values())
        self.batch_size = batch_size

    def positions(self) -> dict[str, int]:
        with self.engine.connect() as conn:
            return {v.name: position_of(conn, v.name) for v in self.views}

    def head(self) -> int:
        return int(self.recorder.max_notification_id() or 0)

    def run_once(self) -> int:
        """Process one page of events for every view that is behind; returns events applied."""
        known = self.positions()
        start = min(known.values()) + 1
        page = self.recorder.select_notifications(start, self.batch_size)
        if not page:
            return 0
        events = self._decode(page)
        applied = 0
        for view in self.views:
            mine = [(n.id, e) for n, e in zip(page, events, strict=True) if n.id > known[view.name]]
            if mine:
                applied += self.apply(view, known[view.name], mine)
        return applied

    def _decode(self, page: Iterable[Notification]) -> list[Any]:
        return [self.mapper.to_domain_event(n) for n in page]

    def apply(self, view: View, expected: int, numbered: list[tuple[int, Any]]) -> int:
        """Apply events and move the position in one transaction; 0 if another processor won."""
        try:
            with self.engine.begin() as conn:
                _lock_position(conn, view.name)
                if position_of(conn, view.name) != expected:
                    raise PositionMoved(view.name)
                view.apply_batch(conn, [e for _, e in numbered])
                move_position(conn, view.name, expected, numbered[-1][0])
        except (PositionMoved, exc.IntegrityError):
            return 0
        return len(numbered)

    def catch_up(self, progress: Callable[[int], None] | None = None) -> int:
        """Process until every view has reached the head of the log as it was at the start."""
        target, done = self.head(), 0
        while min(self.positions().values()) < target:
            applied = self.run_once()
            done += applied
            if progress is not None:
                progress(applied)
        return done

    def lag(self) -> list[Lag]:
        head, now = self.head(), time.time()
        lags = []
        for name, position in self.positions().items():
            seconds = 0.0
            if position < head:
                oldest = self.recorder.select_notifications(position + 1, 1)
                if oldest:
                    seconds = max(0.0, now - self.mapper.to_domain_event(oldest[0]).timestamp.timestamp())
            lags.append(Lag(name, position, head, seconds))
        return lags


def shadow_of(view: View) -> View:
    """A copy of the view writing to its own table and position, for rebuilding beside the live one."""
    columns = [c._copy() for c in view.table.columns]  # noqa: SLF001 — a plain column copy
    for column in columns:
        column.index = False  # the live table's indexes are created under their own names at the swap
    return View(view.name + SHADOW, Table(view.table.name + SHADOW, MetaData(), *columns), view.key,
                view.handlers)


def rebuild(app: Any, engine: Engine, view: View, progress: Callable[[int], None] | None = None,
            batch_size: int = 2000) -> int:
    """Rebuild `view` from the whole log into a shadow table, then swap it in; returns events read.

    The live view keeps answering queries (and being updated) until the swap, which happens in one
    transaction holding the live position: the shadow catches up the last events there and then
    takes the live table's name and position.
    """
    shadow = shadow_of(view)
    with engine.begin() as conn:
        shadow.table.drop(conn, checkfirst=True)
        shadow.table.create(conn)
        conn.execute(positions.delete().where(positions.c.view == shadow.name))
    processor = Processor(app, engine, [shadow], batch_size)
    processed = processor.catch_up(progress)
    with engine.begin() as conn:
        _lock_position(conn, view.name)
        while True:
            position = position_of(conn, shadow.name)
            page = app.recorder.select_notifications(position + 1, batch_size)
            if not page:
                break
            shadow.apply_batch(conn, [app.mapper.to_domain_event(n) for n in page])
            move_position(conn, shadow.name, position, page[-1].id)
            processed += len(page)
        final = position_of(conn, shadow.name)
        view.table.drop(conn)
        conn.execute(text(f"ALTER TABLE {shadow.table.name} RENAME TO {view.table.name}"))
        for index in view.table.indexes:
            index.create(conn)
        conn.execute(positions.delete().where(positions.c.view.in_([shadow.name, view.name])))
        conn.execute(positions.insert().values(view=view.name, position=final))
    return processed


def _lock_position(conn: Connection, name: str) -> None:
    """Hold the live view's position row so its processor waits for the swap (SQLite: BEGIN IMMEDIATE)."""
    if conn.dialect.name == "postgresql":
        conn.execute(select(positions.c.position).where(positions.c.view == name).with_for_update())
