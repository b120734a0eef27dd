"""The one catch-up loop shared by every view: read a page of the application log, fold it into
each view, and record each view's changed rows with its new position in one transaction.

Keeping up (`run_once`, the worker) records every page. Catching up (`catch_up`: rebuilds, a worker
far behind, tests) folds many pages in memory and records each changed row once, so a row changed
by many events is not written again and again. Either way a processor keeps the rows it wrote
(`RowCache`) and reads only the rows it has not seen.

Used by the projection worker (live), by `projections rebuild` (into a shadow table that replaces
the live one only once it has caught up) and by tests.
"""

from __future__ import annotations

import bisect
import gc
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass, replace
from typing import Any

from eventsourcing.domain import DomainEvent
from eventsourcing.persistence import Notification
from sqlalchemy import (
    Column,
    Connection,
    Dialect,
    Engine,
    MetaData,
    Table,
    TypeDecorator,
    exc,
    inspect,
    select,
    text,
)
from sqlalchemy.engine.interfaces import ReflectedColumn
from sqlalchemy.types import TypeEngine

from domain.application import Minqing
from domain.deployment import DEFAULT_TIMEZONE
from projections import all_views, views_of
from projections.core import (
    Fold,
    PositionMoved,
    RowCache,
    StaleRows,
    View,
    fold,
    locked_position,
    position_of,
    positions,
    record,
    tracking_metadata,
    versions,
)
from projections.db import analyze
from projections.rollups import Grid

BATCH = 500                # events per transaction when keeping up (the worker)
CATCH_UP_PAGE = 5_000      # events read and decoded at a time when catching up
FLUSH_ROWS = 50_000        # changed rows (over the views) kept in memory before they are written
FLUSH_EVENTS = 200_000     # events folded before the rows and positions are written regardless
SHADOW = "__rebuild"
# Views an upgrade retired, by name and table: their tables and positions are dropped at `db init`.
RETIRED = {"satisfaction": "view_satisfaction", "response_times": "view_response_times"}  # into cases
# Rollups an upgrade retired: their tables are dropped at `db init`. Step times per cell, read by nothing
# since the step-time summary reads the scoped rollups; the rollups per cell, worker and month, since the
# summaries by worker read the scoped ones too.
RETIRED_ROLLUPS = ("rollup_step_times", "rollup_case_times", "rollup_first_response", "rollup_resolution",
                   "rollup_feedback")


def create_tables(engine: Engine, zone: str = DEFAULT_TIMEZONE, grid: Grid | None = None) -> list[str]:
    """Create the views' tables and the positions table (part of `minqing db init`; months cut in `zone`,
    the summaries' scopes by `grid`: the deployment's); returns the views whose stored table no longer had
    the columns of the code, by name or kind of type, or was built by another version of the view
    (`View.version`: an upgrade changed the view, or the deployment its time zone): those are emptied and
    recreated with their position at 0, so the worker builds them again. A view's rollups are summed afresh
    from its rows when their tables or what they hold changed (`View.rollups_version`: the grid)."""
    replaced = []
    with engine.begin() as conn:
        tracking_metadata.create_all(conn)
        for retired, table_name in RETIRED.items():
            conn.execute(text(f"DROP TABLE IF EXISTS {table_name}"))
            conn.execute(positions.delete().where(positions.c.view == retired))
        for table_name in RETIRED_ROLLUPS:
            conn.execute(text(f"DROP TABLE IF EXISTS {table_name}"))
        stored = inspect(conn)
        built = _built_versions(conn)
        for view in all_views(zone, grid).values():
            table = view.table
            exists = stored.has_table(table.name)
            shape = _declared_shape(table, conn.dialect)
            if exists and (_stored_shape(stored.get_columns(table.name)) != shape
                           or built.get(view.name, "") != view.version):
                table.drop(conn)
                conn.execute(positions.delete().where(positions.c.view == view.name))
                replaced.append(view.name)
                exists = False
            if built.get(view.name, "") != view.version:
                conn.execute(versions.delete().where(versions.c.view == view.name))
                conn.execute(versions.insert().values(view=view.name, version=view.version))
            table.metadata.create_all(conn, tables=[table])
            for index in table.indexes:  # an index an upgrade added to a table that kept its shape
                index.create(conn, checkfirst=True)
            if view.make_indexes is not None:
                view.make_indexes(conn, table, not exists)
            rollups_name = _rollups_name(view)
            rollups_built = built.get(rollups_name, "")
            if view.rollups and rollups_built != view.rollups_version:
                conn.execute(versions.delete().where(versions.c.view == rollups_name))
                conn.execute(versions.insert().values(view=rollups_name, version=view.rollups_version))
            for rollup in view.rollups:  # summed from the view's rows: afresh when either is new or changed
                kept = rollups_built == view.rollups_version and stored.has_table(rollup.table.name) and \
                    _stored_shape(stored.get_columns(rollup.table.name)) == _declared_shape(rollup.table,
                                                                                           conn.dialect) \
                    and not _rowid_table(conn, rollup.table.name)
                if kept and exists:
                    continue
                rollup.table.drop(conn, checkfirst=True)
                rollup.table.create(conn)
                if exists:
                    rollup.refill(conn, table)
    return replaced


def _built_versions(conn: Connection) -> dict[str, str]:
    return {view: version for view, version in conn.execute(select(versions.c.view, versions.c.version))}


def _rollups_name(view: View) -> str:
    """The key of a view's rollups in the versions table."""
    return f"{view.name} rollups"


def _rowid_table(conn: Connection, name: str) -> bool:
    """A SQLite table with rowids: rollups made before they were kept in their key's order (WITHOUT ROWID)."""
    if conn.dialect.name != "sqlite":
        return False
    made = conn.execute(text("SELECT sql FROM sqlite_master WHERE type = 'table' AND name = :name"),
                        {"name": name}).scalar_one()
    return "WITHOUT ROWID" not in str(made).upper()


def _stored_shape(described: Iterable[ReflectedColumn]) -> dict[str, type]:
    """Each column's name and kind of value (str, int, datetime...), as the database describes it."""
    return {c["name"]: _kind(c["type"]) for c in described}


def _declared_shape(table: Table, dialect: Dialect) -> dict[str, type]:
    """The same for the table as the code declares it, on `dialect`."""
    return {c.name: _kind(c.type.load_dialect_impl(dialect) if isinstance(c.type, TypeDecorator) else c.type)
            for c in table.columns}


def _kind(column_type: TypeEngine[Any]) -> type:
    try:
        return column_type.python_type
    except NotImplementedError:  # SQLAlchemy 2.0, for a type it does not know
        return object


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
    """Keeps views current from the application's notification log.

    `batch_size`: events per page and transaction; without it `run_once` takes pages of BATCH and
    `catch_up` folds pages of CATCH_UP_PAGE in memory and records them together (see `catch_up`).
    """

    def __init__(self, app: Minqing, engine: Engine, views: Sequence[View] | None = None,
                 batch_size: int | None = None) -> None:
        self.recorder, self.mapper = app.recorder, app.mapper
        self.engine = engine
        chosen = list(views if views is not None else views_of(app.deployment).values())
        # Events encrypted at rest: the views must not hold in clear the numbers typed into free text.
        masks = app.mapper.cipher is not None
        self.views = [replace(view, masks_numbers=True) for view in chosen] if masks else chosen
        self.batch_size = batch_size
        # Rows each view's table holds, as this processor last wrote them (see RowCache).
        self.caches = {view.name: RowCache() for view in self.views}

    def positions(self) -> dict[str, int]:
        with self.engine.connect() as conn:
            return {v.name: position_of(conn, v.name) for v in self.views}

    def outdated(self) -> list[str]:
        """The views, and views' rollups, stored by another version than the code's (see `create_tables`):
        left by an upgrade, or a changed grid or time zone, until `minqing db init` builds them again. What
        they hold is not what the code reads (a summary over rollups of another version fails)."""
        with self.engine.connect() as conn:
            built = _built_versions(conn)
        outdated = []
        for view in self.views:
            if built.get(view.name, "") != view.version:
                outdated.append(view.name)
            if view.rollups and built.get(_rollups_name(view), "") != view.rollups_version:
                outdated.append(_rollups_name(view))
        return outdated

    def head(self) -> int:
        return int(self.recorder.max_notification_id() or 0)

    def run_once(self, limit: int | None = None) -> int:
        """Process one page of events for every view that is behind; returns events applied."""
        known = self.positions()
        page = self.recorder.select_notifications(min(known.values()) + 1, limit or self.batch_size or BATCH)
        if not page:
            return 0
        folds = [self._fold_from(view, known[view.name]) for view in self.views]
        self._fold_page(folds, page)
        return sum(self._record(f) for f in folds)

    def apply(self, view: View, expected: int, numbered: list[tuple[int, Any]]) -> int:
        """Apply events (each with its notification id) to `view` at position `expected` and move
        its position, in one transaction; 0 if another processor got there first."""
        f = self._fold_from(view, expected)
        self._fold([f], [i for i, _ in numbered], numbered)
        return self._record(f)

    def catch_up(self, progress: Callable[[int], None] | None = None) -> int:
        """Process until every view has reached the head of the log as it was at the start; returns
        events applied (summed over views). `progress` is told how many events each page added.

        With a `batch_size`, each page of that many events is one transaction per view. Otherwise
        pages are folded in memory and each view's changed rows are recorded together (with the
        view's position) once FLUSH_ROWS rows or FLUSH_EVENTS events are pending, and at the head:
        a row changed by many events is written once, not once per page.
        """
        target, done = self.head(), 0
        with nullcontext() if self.batch_size else _collector_paused():
            while True:
                known = self.positions()
                behind = [self._fold_from(v, known[v.name]) for v in self.views if known[v.name] < target]
                if not behind:
                    return done
                done += self._catch_up(behind, target, progress)

    def _catch_up(self, folds: list[Fold], target: int, progress: Callable[[int], None] | None) -> int:
        start = min(f.position for f in folds) + 1
        applied = folded = 0
        while folds and start <= target:
            page = self.recorder.select_notifications(start, self.batch_size or CATCH_UP_PAGE)
            if not page:
                break
            start = page[-1].id + 1
            self._fold_page(folds, page)
            folded += len(page)
            if progress is not None:
                progress(len(page))
            if (self.batch_size or folded >= FLUSH_EVENTS or start > target
                    or sum(len(f.changes) for f in folds) >= FLUSH_ROWS):
                applied += sum(self._record(f) for f in folds)
                if not self.batch_size:  # the collector is paused (see `_collector_paused`)
                    gc.collect()
                folded = 0
                folds = [f for f in folds if f.cache.position is not None]  # the others were overtaken
        return applied + sum(self._record(f) for f in folds)

    def catch_up_within(self, conn: Connection) -> int:
        """Process every event past each view's position in the caller's transaction, `conn` (the
        swap of a rebuild); returns events applied. Raises PositionMoved if another processor moved
        a view meanwhile."""
        applied = 0
        while True:
            folds = [self._fold_from(view, position_of(conn, view.name)) for view in self.views]
            start = min(f.position for f in folds) + 1
            page = self.recorder.select_notifications(start, self.batch_size or CATCH_UP_PAGE)
            if not page:
                return applied
            self._fold_page(folds, page, conn)
            for f in folds:
                if f.events:
                    record(conn, f)
                    applied += f.recorded()

    def _fold_from(self, view: View, position: int) -> Fold:
        """A fold of `view` from `position`, keeping the rows kept at it (if the view is there still)."""
        cache = self.caches.setdefault(view.name, RowCache())
        if cache.position != position:  # someone else moved the view since: what we kept is stale
            empty = False
            if position == 0:  # a table is empty at position 0 unless someone removed only the position
                with self.engine.connect() as conn:
                    empty = view.is_empty(conn)
            cache.reset(position, empty=empty)
        return Fold(view, cache, position)

    def _fold_page(self, folds: list[Fold], page: Sequence[Notification],
                   conn: Connection | None = None) -> None:
        # Each event is decoded as it is folded, unless rows must be read for the page first.
        decoded = ((n.id, self.mapper.to_domain_event(n)) for n in page)
        self._fold(folds, [n.id for n in page], decoded, conn)

    def _fold(self, folds: list[Fold], ids: list[int], numbered: Iterable[tuple[int, Any]],
              conn: Connection | None = None) -> None:
        """Fold events numbered `ids` into `folds`, reading first (through `conn` or a connection of
        its own) the rows they change that are not kept."""
        if not all(f.cache.complete for f in folds):
            numbered = list(numbered)
            if conn is None:
                with self.engine.connect() as reader:  # a short read of rows not kept, outside any write
                    _read_missing(reader, folds, numbered)
            else:
                _read_missing(conn, folds, numbered)
        fold(folds, numbered)
        for f in folds:
            f.events += len(ids) - bisect.bisect_right(ids, f.position)
            f.position = max(f.position, ids[-1])

    def _record(self, f: Fold) -> int:
        """Record what `f` folded in one transaction; returns its events, or 0 (forgetting the fold)
        if another processor moved the view first."""
        if not f.events:
            return 0
        try:
            with self.engine.begin() as conn:
                record(conn, f)
        except (PositionMoved, StaleRows, exc.IntegrityError):
            f.lost()
            return 0
        except BaseException:
            f.lost()
            raise
        return f.recorded()

    def lag(self) -> list[Lag]:
        head, now = self.head(), time.time()
        lags = []
        for name, position in self.positions().items():
            seconds = 0.0
            if position < head:
                oldest = self.recorder.select_notifications(position + 1, 1)
                if oldest:
                    event = self.mapper.to_domain_event(oldest[0])
                    assert isinstance(event, DomainEvent)
                    seconds = max(0.0, now - event.timestamp.timestamp())
            lags.append(Lag(name, position, head, seconds))
        return lags


@contextmanager
def _collector_paused() -> Iterator[None]:
    """Python's cycle collector paused while catching up in memory, and run once after each write instead
    (a catch-up in pages of `batch_size` holds a page at a time and is left alone): folding a page makes
    and drops hundreds of thousands of rows and rollup groups, and the collector, started by every 700 of
    them, walked every object alive each time it reached its oldest generation (the row cache, the folds,
    every module loaded): 37 % of a catch-up's time at 10,000 and at 100,000 demands (bench/scale.py
    --rebuild; docs/performance.md, issue 12 seventh round). Nothing the catch-up makes is kept alive by a
    cycle."""
    paused = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if paused:
            gc.enable()


def _read_missing(conn: Connection, folds: list[Fold], numbered: list[tuple[int, Any]]) -> None:
    """Read into each fold's cache the rows the events will change that it neither keeps nor has changed."""
    for f in folds:
        if not f.cache.complete:
            key = f.view.key_column.name
            f.cache.rows.update((row[key], row) for row in f.view.read_rows(conn, f.keys_to_read(numbered)))


def shadow_of(view: View) -> View:
    """A copy of the view writing to its own table and position, for rebuilding beside the live one.
    It has no indexes: the live table's are created under their own names at the swap; nor rollups."""
    columns = [Column(c.name, c.type, primary_key=c.primary_key, nullable=c.nullable)
               for c in view.table.columns]
    return replace(view, name=view.name + SHADOW, table=Table(view.table.name + SHADOW, MetaData(), *columns),
                   rollups=(), index_inserted=None)  # summed and indexed from the new table at the swap


def rebuild(app: Minqing, engine: Engine, view: View, progress: Callable[[int], None] | None = None,
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
        locked_position(conn, view.name)  # the live view's processor waits for the swap
        processed += processor.catch_up_within(conn)
        final = position_of(conn, shadow.name)
        view.table.drop(conn)
        conn.execute(text(f"ALTER TABLE {shadow.table.name} RENAME TO {view.table.name}"))
        for index in view.table.indexes:
            index.create(conn)
        if view.make_indexes is not None:
            view.make_indexes(conn, view.table, True)
        for rollup in view.rollups:
            rollup.refill(conn, view.table)
        analyze(conn, [table.name for table in view.tables])
        conn.execute(positions.delete().where(positions.c.view.in_([shadow.name, view.name])))
        conn.execute(positions.insert().values(view=view.name, position=final))
    return processed
