"""The one catch-up loop shared by every view: read a page of the application log, fold it into
each view in its own transaction together with the view's new position, repeat.

Keeping up (`run_once`, the worker) writes every page. Catching up (`catch_up`: rebuilds, a worker
far behind, tests) folds many pages in memory and writes each changed row once with the position,
so a row changed by many events is not written again and again. Either way a processor keeps the
rows it wrote (`RowCache`) and reads only the rows it has not seen.

Used by the projection worker (live), by `projections rebuild` (into a shadow table that replaces
the live one only once it has caught up) and by tests.
"""

from __future__ import annotations

import bisect
import gc
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from eventsourcing.persistence import Notification
from sqlalchemy import Connection, Engine, MetaData, Table, TypeDecorator, exc, inspect, select, text

from projections import all_views
from projections.core import (Folding, PositionMoved, RowCache, StaleRows, View, fold, move_position,
                              position_of, positions, tracking_metadata)

BATCH = 500                # events per transaction when keeping up (the worker)
CATCH_UP_PAGE = 5_000      # events read and decoded at a time when catching up
FLUSH_ROWS = 50_000        # changed rows (over the views) kept in memory before they are written
FLUSH_EVENTS = 200_000     # events folded before the rows and positions are written regardless
SHADOW = "__rebuild"


def create_tables(engine: Engine) -> list[str]:
    """Create the views' tables and the positions table (part of `minqing db init`); returns the
    views whose stored table no longer had the columns of the code, by name or kind of type (an
    upgrade changed the view): those are emptied and recreated with their position at 0, so the
    worker builds them again."""
    replaced = []
    with engine.begin() as conn:
        tracking_metadata.create_all(conn)
        stored = inspect(conn)
        for view in all_views().values():
            table = view.table
            if stored.has_table(table.name) and \
                    _stored_shape(stored.get_columns(table.name)) != _declared_shape(table, conn.dialect):
                table.drop(conn)
                conn.execute(positions.delete().where(positions.c.view == view.name))
                replaced.append(view.name)
            table.metadata.create_all(conn, tables=[table])
    return replaced


def _stored_shape(described: Iterable[dict[str, Any]]) -> dict[str, Any]:
    """Each column's name and kind of type (text, integer, datetime...), as the database describes it."""
    return {c["name"]: c["type"]._type_affinity for c in described}  # noqa: SLF001


def _declared_shape(table: Table, dialect: Any) -> dict[str, Any]:
    """The same for the table as the code declares it, on `dialect`."""
    return {c.name: (c.type.load_dialect_impl(dialect) if isinstance(c.type, TypeDecorator) else c.type)
            ._type_affinity for c in table.columns}  # noqa: SLF001


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
                 batch_size: int | None = None) -> None:
        self.recorder, self.mapper = app.recorder, app.mapper
        self.engine = engine
        self.views = list(views if views is not None else all_views().values())
        self.batch_size = batch_size or BATCH
        self.explicit_batch = batch_size
        # Rows each view's table holds, as this processor last wrote them (see RowCache).
        self.caches = {view.name: RowCache() for view in self.views}

    def positions(self) -> dict[str, int]:
        with self.engine.connect() as conn:
            return {v.name: position_of(conn, v.name) for v in self.views}

    def head(self) -> int:
        return int(self.recorder.max_notification_id() or 0)

    def run_once(self, limit: int | None = None) -> int:
        """Process one page of events for every view that is behind; returns events applied."""
        with _collector_paused():
            return self._run_once(limit)

    def _run_once(self, limit: int | None) -> int:
        known = self.positions()
        start = min(known.values()) + 1
        page = self.recorder.select_notifications(start, limit or self.batch_size)
        if not page:
            return 0
        numbered = list(zip([n.id for n in page], self._decode(page), strict=True))
        ids = [i for i, _ in numbered]
        applied = 0
        for view in self.views:
            mine = numbered[bisect.bisect_right(ids, known[view.name]):]
            if mine:
                applied += self.apply(view, known[view.name], mine)
        return applied

    def _decode(self, page: Iterable[Notification]) -> list[Any]:
        return [self.mapper.to_domain_event(n) for n in page]

    def apply(self, view: View, expected: int, numbered: list[tuple[int, Any]]) -> int:
        """Apply events and move the position in one transaction; 0 if another processor won."""
        cache = self.caches.setdefault(view.name, RowCache())
        try:
            with self.engine.begin() as conn:
                _lock_position(conn, view.name)
                if position_of(conn, view.name) != expected:
                    raise PositionMoved(view.name)
                if cache.position != expected:  # someone else moved the view since: what we kept is stale
                    cache.reset(expected, empty=expected == 0 and view.is_empty(conn))
                view.apply_batch(conn, [e for _, e in numbered], cache)
                move_position(conn, view.name, expected, numbered[-1][0])
        except (PositionMoved, StaleRows, exc.IntegrityError):
            cache.reset(None)
            return 0
        except BaseException:
            cache.reset(None)  # the fold changed kept rows in place; the rollback did not
            raise
        cache.position = numbered[-1][0]
        cache.trim()
        return len(numbered)

    def catch_up(self, progress: Callable[[int], None] | None = None) -> int:
        """Process until every view has reached the head of the log as it was at the start; returns
        events applied (summed over views). `progress` is told how many events each page added.

        With an explicit `batch_size`, each page of that many events is one transaction per view.
        Otherwise pages are folded in memory and each view's changed rows are written together (with
        the view's position) once FLUSH_ROWS rows or FLUSH_EVENTS events are pending, and at the
        head: a row changed by many events is written once, not once per page.
        """
        target, done = self.head(), 0
        while True:
            known = self.positions()
            behind = [view for view in self.views if known[view.name] < target]
            if not behind:
                return done
            done += self._catch_up(behind, known, target, progress)

    def _catch_up(self, views: list[View], known: dict[str, int], target: int,
                  progress: Callable[[int], None] | None) -> int:
        page_size = self.explicit_batch or CATCH_UP_PAGE
        pending = [_Pending(view, self._cache_at(view, known[view.name])) for view in views]
        applied = since_written = 0
        start = min(p.position for p in pending) + 1
        with _collector_paused(freeze_survivors=True):
            while pending and start <= target:
                page = self.recorder.select_notifications(start, page_size)
                if not page:
                    break
                start = page[-1].id + 1
                applied, since_written = self._fold_page(pending, page, target, progress, applied,
                                                         since_written)
                pending = [p for p in pending if p.cache.position is not None]
            return applied + sum(self._write(p) for p in pending)

    def _fold_page(self, pending: list[_Pending], page: Sequence[Notification], target: int,
                   progress: Callable[[int], None] | None, applied: int,
                   since_written: int) -> tuple[int, int]:
        """Fold one page into every pending view; write them when enough is pending or at the head."""
        ids = [n.id for n in page]
        foldings = []
        for p in pending:
            first = bisect.bisect_right(ids, p.position)
            if first < len(ids):
                foldings.append(Folding(p.view, p.cache, p.changes, first))
                p.position, p.events = ids[-1], p.events + len(ids) - first
        starts = {f.start for f in foldings}
        if len(starts) == 1 and all(f.cache.complete for f in foldings):
            # Nothing to read first: each event is decoded as it is folded and let go, so it is folded
            # while it is still in the CPU's caches (a decoded page of 5,000 is not).
            first = starts.pop()
            for f in foldings:
                f.start = 0
            fold(foldings, map(self.mapper.to_domain_event, page[first:]), self._load, self.engine.dialect)
        else:
            fold(foldings, self._decode(page), self._load, self.engine.dialect)
        since_written += len(page)
        if progress is not None:
            progress(len(page))
        if (self.explicit_batch or since_written >= FLUSH_EVENTS or ids[-1] >= target
                or sum(len(p.changes) for p in pending) >= FLUSH_ROWS):
            applied += sum(self._write(p) for p in pending)
            since_written = 0
        return applied, since_written

    def _cache_at(self, view: View, position: int) -> RowCache:
        cache = self.caches.setdefault(view.name, RowCache())
        if cache.position != position:  # someone else moved the view since: what we kept is stale
            empty = False
            if position == 0:  # a table is empty at position 0 unless someone removed only the position
                with self.engine.connect() as conn:
                    empty = view.is_empty(conn)
            cache.reset(position, empty=empty)
        return cache

    def _load(self, view: View, keys: list[str]) -> list[Any]:
        with self.engine.connect() as conn:  # a short read of rows not kept, outside any write
            return list(view.read_rows(conn, keys))

    def _write(self, p: _Pending) -> int:
        """Write what `p` folded and move its view's position, in one transaction; returns its events,
        or 0 (forgetting the fold) if another processor moved the view first."""
        if not p.events:
            return 0
        cache, expected = p.cache, p.cache.position
        assert expected is not None
        try:
            with self.engine.begin() as conn:
                _lock_position(conn, p.view.name)
                if position_of(conn, p.view.name) != expected:
                    raise PositionMoved(p.view.name)
                p.view.write(conn, cache, p.changes)
                move_position(conn, p.view.name, expected, p.position)
        except (PositionMoved, StaleRows, exc.IntegrityError):
            cache.reset(None)
            p.changes.clear()
            return 0
        except BaseException:
            cache.reset(None)  # the fold changed kept rows in place; the rollback did not
            raise
        cache.position = p.position
        cache.trim()
        events, p.events = p.events, 0
        return events

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


@dataclass
class _Pending:
    """What a catch-up folded for one view since its rows and position were last written."""

    view: View
    cache: RowCache
    changes: dict[str, Any] = field(default_factory=dict)
    events: int = 0
    position: int = -1

    def __post_init__(self) -> None:
        assert self.cache.position is not None
        self.position = self.cache.position


def shadow_of(view: View) -> View:
    """A copy of the view writing to its own table and position, for rebuilding beside the live one."""
    columns = [c._copy() for c in view.table.columns]  # noqa: SLF001 — a plain column copy
    for column in columns:
        column.index = False  # the live table's indexes are created under their own names at the swap
    return View(view.name + SHADOW, Table(view.table.name + SHADOW, MetaData(), *columns), view.key,
                view.handlers)


def rebuild(app: Any, engine: Engine, view: View, progress: Callable[[int], None] | None = None,
            batch_size: int | None = None) -> int:
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
            page = app.recorder.select_notifications(position + 1, batch_size or CATCH_UP_PAGE)
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


@contextmanager
def _collector_paused(*, freeze_survivors: bool = False) -> Iterator[None]:
    """Pause Python's cyclic garbage collector while a page is processed.

    A page's decoded events live until every view has folded them, so the collector promotes them
    and then walks every long-lived object (the kept rows above all) again and again: that cost a
    quarter to a third of the catch-up time. A page makes few reference cycles; they are collected
    once it is done.

    `freeze_survivors` (a catch-up): what is still alive at the end, the rows kept from the whole
    catch-up above all, is long-lived and acyclic, so it is moved to the collector's permanent
    generation (`gc.freeze`) rather than walked by the next collections of every generation, which
    took 0.1-0.2 s per generation after catching up 100,000 events. A catch-up leaves about ten
    unreachable objects behind (measured), which that keeps for good.
    """
    paused = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if paused:
            if freeze_survivors:
                gc.freeze()
            gc.enable()


def _lock_position(conn: Connection, name: str) -> None:
    """Hold the live view's position row so its processor waits for the swap (SQLite: BEGIN IMMEDIATE)."""
    if conn.dialect.name == "postgresql":
        conn.execute(select(positions.c.position).where(positions.c.view == name).with_for_update())
