"""What every view shares: rows folded from events, one row per key, written together with the
view's position in one transaction (exactly once).

A view says which row an event touches (`key`) and how the event changes that row (a handler: a
function of the row, None while there is none, and the event). A processor folds events into each
view's changed rows in memory (`fold`), then `record`s them: in one transaction it locks the view's
position, checks it is still where the fold started, writes the rows and moves the position by a
compare-and-set. If another processor moved it first, the transaction rolls back.

A processor keeps the rows it wrote (`RowCache`) while the view stays at the position it moved it
to, so it reads only rows it has not seen.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, tzinfo
from typing import Any, Concatenate, ParamSpec, TypeVar
from uuid import UUID

from sqlalchemy import (
    JSON,
    BigInteger,
    Column,
    Connection,
    DateTime,
    Dialect,
    MetaData,
    String,
    Table,
    TypeDecorator,
    bindparam,
    delete,
    func,
    insert,
    select,
    update,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.types import TypeEngine

from domain.masking import PHONE_FIELDS, mask_number, mask_text

Row = dict[str, Any]
Handler = Callable[[Row | None, Any], Row | None]
Event = TypeVar("Event")
Context = ParamSpec("Context")
JSON_TEXT = JSON(none_as_null=True)
CHUNK = 500  # keys in one IN (...) list
REFILL_ROWS = 20_000  # a view's rows summed into a rollup at a time when it is summed afresh

tracking_metadata = MetaData()
positions = Table(
    "view_positions", tracking_metadata,
    Column("view", String(100), primary_key=True),
    Column("position", BigInteger, nullable=False),
)
# The version of each view's content its table was built with (`View.version`); a view with no row here
# was built before views declared versions (version "").
versions = Table(
    "view_versions", tracking_metadata,
    Column("view", String(100), primary_key=True),
    Column("version", String(200), nullable=False),
)


class PositionMoved(Exception):
    """Another processor of the same view recorded these events first; nothing was written."""


class StaleRows(Exception):
    """An update found fewer rows than the processor's kept rows said exist; nothing was written."""


class MissingRow(Exception):
    """An event that changes a view's row came before the event that creates it."""


def needs_row(handler: Callable[Concatenate[Row, Event, Context], Row | None]
              ) -> Callable[Concatenate[Row | None, Event, Context], Row | None]:
    """A handler for an event that only ever follows the one creating its row (and what else the view
    gives it, such as its time zone)."""
    def handle(row: Row | None, event: Event, /, *args: Context.args, **kwargs: Context.kwargs) -> Row | None:
        if row is None:
            raise MissingRow(f"{handler.__name__}: no row for {event!r}")
        return handler(row, event, *args, **kwargs)
    return handle


Group = tuple[Any, ...]
Counts = dict[str, int]
Upsert = TypeVar("Upsert", postgresql.Insert, sqlite.Insert)


@dataclass(frozen=True)
class Rollup:
    """A table of figures summed per group, kept from one view's rows: each row adds its `contributions`
    (the groups it counts in, with what it adds to each) as it stands, so when a row changes what its old
    state added is taken away and what its new state adds is put in — written in the transaction that
    writes the row and moves the view's position, exactly once like the row. A group column has no
    NULL (`NONE` instead): NULL would never meet itself in the table's key."""

    table: Table
    groups: tuple[str, ...]
    counts: tuple[str, ...]
    contributions: Callable[[Row], Iterable[tuple[Group, Counts]]]

    def add(self, into: dict[Group, Counts], row: Row | None, sign: int) -> None:
        if row is None:
            return
        for group, counts in self.contributions(row):
            summed = into.get(group)
            if summed is None:
                summed = into[group] = dict.fromkeys(self.counts, 0)
            for name, n in counts.items():
                summed[name] += sign * n

    def write(self, conn: Connection, changes: Mapping[Group, Counts]) -> None:
        """Add `changes` to the table's groups (a group not there yet starts from nothing).

        On PostgreSQL the groups go in as one array per column, unnested into rows by one statement:
        psycopg sends an executemany as one statement per row, which was 43 % of a catch-up's time."""
        rows = [{**dict(zip(self.groups, group, strict=True)), **counts}
                for group, counts in changes.items() if any(counts.values())]
        if not rows:
            return
        names = [*self.groups, *self.counts]
        if conn.dialect.name == "postgresql":
            given = func.unnest(*(bindparam(name, type_=postgresql.ARRAY(self.table.c[name].type))
                                  for name in names)).table_valued(*names).render_derived()
            statement = postgresql.insert(self.table).from_select(names, select(*given.c))
            conn.execute(self._added(statement), {name: [row[name] for row in rows] for name in names})
        else:
            conn.execute(self._added(sqlite.insert(self.table)), rows)

    def _added(self, statement: Upsert) -> Upsert:
        """`statement`, adding its counts to a group's when the group is there already."""
        return statement.on_conflict_do_update(
            index_elements=list(self.groups),
            set_={name: self.table.c[name] + statement.excluded[name] for name in self.counts})

    def refill(self, conn: Connection, source: Table) -> None:
        """Empty the table and sum every row of `source` (the view's table) into it afresh: after a rebuild
        swapped in a new view table, or when an upgrade brought a new rollup."""
        conn.execute(delete(self.table))
        rows = conn.execute(select(source).execution_options(yield_per=REFILL_ROWS)).mappings()
        for some in rows.partitions():  # summed and added a part at a time: memory bounded by the part
            summed: dict[Group, Counts] = {}
            for row in some:
                self.add(summed, dict(row), 1)
            self.write(conn, summed)


NONE = ""  # a rollup's group column with no value (no category yet, no worker)


@dataclass
class View:
    """One view: a table of rows, each folded from the events of one key."""

    name: str
    table: Table
    key: Callable[[Any], str | None]
    handlers: Mapping[type, Handler]
    # The columns of free text, where a phone or ID number may have been typed (for a JSON column of
    # items, the items' keys that are), and the columns of phone numbers (masking.PHONE_FIELDS). With
    # `masks_numbers` those numbers are written masked: set when a cipher key encrypts the events, so the
    # views do not hold in clear what the events hide.
    free_text: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    masks_numbers: bool = False
    # Indexes a table's own `Index` items cannot declare (a full-text index), made by `db init` and when a
    # rebuild swaps the table in: called with the connection, the table and whether it is new (just
    # created or swapped in: its rows, if any, have new rowids) or one `db init` kept, whose indexes are
    # made only where missing. An index the view's code keeps is given each row as it is inserted
    # (`index_inserted`, with the connection and the table); such a view never deletes a row but by a rebuild.
    make_indexes: Callable[[Connection, Table, bool], None] | None = None
    index_inserted: Callable[[Connection, Table, Sequence[Row]], None] | None = None
    rollups: tuple[Rollup, ...] = ()
    # What the rows hold, beyond the table's shape: bumped when the same columns come to be computed
    # otherwise (and naming what they depend on, such as the time zone months are cut in), so that `db init`
    # empties the view, to be built again from the log.
    version: str = ""
    # What the rollups hold beyond their tables' shape (such as the grid they are cut by): when it changes,
    # `db init` sums them afresh from the view's rows.
    rollups_version: str = ""

    @property
    def tables(self) -> list[Table]:
        """The view's table and its rollups' tables."""
        return [self.table, *(rollup.table for rollup in self.rollups)]

    @property
    def key_column(self) -> Column[Any]:
        return next(iter(self.table.primary_key.columns))

    def is_empty(self, conn: Connection) -> bool:
        return conn.execute(select(self.key_column).limit(1)).first() is None

    def read_rows(self, conn: Connection, keys: Sequence[str]) -> Iterator[Row]:
        for chunk in _chunks(keys):
            for row in conn.execute(select(self.table).where(self.key_column.in_(chunk))).mappings():
                yield dict(row)

    def write(self, conn: Connection, kept: Mapping[str, Row | None],
              changes: Mapping[str, Row | None]) -> None:
        """Write `changes` (None: no row) over the table, whose rows for those keys `kept` holds
        (a key it does not hold has no row): new rows are inserted, changed rows updated whole."""
        new: list[Row] = []
        changed: list[Row] = []
        gone: list[str] = []
        for key, row in changes.items():
            if row is not None and self.masks_numbers:
                self.mask_numbers(row)
            existed = kept.get(key) is not None
            if row is None:
                if existed:
                    gone.append(key)
            elif existed:
                changed.append({**row, "key__": key})
            else:
                new.append(row)
        for chunk in _chunks(gone):
            conn.execute(delete(self.table).where(self.key_column.in_(chunk)))
        if new:
            conn.execute(insert(self.table), new)
            if self.index_inserted is not None:
                self.index_inserted(conn, self.table, new)
        if changed:
            statement = update(self.table).where(self.key_column == bindparam("key__"))
            updated = conn.execute(statement, changed).rowcount
            if updated != len(changed):
                raise StaleRows(f"{self.table.name}: updated {updated} rows of {len(changed)}")


    def mask_numbers(self, row: Row) -> None:
        """Mask the phone and ID numbers in the row's free text, in place (so the rows a processor
        keeps are those its table holds)."""
        for column, keys in self.free_text.items():
            value = row[column]
            if isinstance(value, str):
                row[column] = mask_number(value) if column in PHONE_FIELDS else mask_text(value)
            elif isinstance(value, list):
                row[column] = [{k: mask_text(v) if k in keys and isinstance(v, str) else v
                                for k, v in item.items()} for item in value]


class RowCache:
    """The rows of one view as its table holds them at `position`, for the keys written or read lately.

    A view's table is a function of its position (the same events folded the same way), so rows a
    processor wrote stay true while the view's position is the one that processor moved it to: the
    processor keeps them between batches and reads only rows it has not seen. A key known to have
    no row maps to None. `complete` says the cache holds every row there is (it started from an
    empty table and has let none go): nothing needs reading.
    """

    def __init__(self, limit: int = 20_000) -> None:
        self.position: int | None = None
        self.rows: dict[str, Row | None] = {}
        self.complete = False
        self.limit = limit

    def reset(self, position: int | None, *, empty: bool = False) -> None:
        """Forget every row: the table is now at `position` (None: unknown); `empty`: it has no rows."""
        self.position = position
        self.rows.clear()
        self.complete = empty

    def keep(self, rows: Mapping[str, Row | None], position: int) -> None:
        """The table now holds `rows` at `position`; the rows written longest ago are let go past `limit`."""
        for key, row in rows.items():  # most recently written last
            self.rows.pop(key, None)
            self.rows[key] = row
        self.position = position
        excess = len(self.rows) - self.limit
        if excess > 0:
            for key in list(itertools.islice(self.rows, excess + self.limit // 10)):
                del self.rows[key]
            self.complete = False


@dataclass
class Fold:
    """What a processor has folded into one view and not yet recorded: the changed rows (None: no
    row), the position of the last event folded and how many events that was since `cache.position`,
    where the view's table is."""

    view: View
    cache: RowCache
    position: int
    changes: dict[str, Row | None] = field(default_factory=dict)
    events: int = 0
    # Per rollup of the view, what the changed rows added as they stood before their first change here
    # (taken away when they are recorded; see Rollup).
    before: list[dict[Group, Counts]] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.before = [{} for _ in self.view.rollups]

    def keys_to_read(self, numbered: Iterable[tuple[int, Any]]) -> list[str]:
        """The keys of rows the events will change that are neither kept nor already changed."""
        handlers, key_of, kept = self.view.handlers, self.view.key, self.cache.rows
        missing: dict[str, None] = {}
        for position, event in numbered:
            if position > self.position and type(event) in handlers:
                key = key_of(event)
                if key is not None and key not in self.changes and key not in kept:
                    missing[key] = None
        return list(missing)

    def recorded(self) -> int:
        """The changes are written and the position moved: keep the rows; returns the events recorded."""
        self.cache.keep(self.changes, self.position)
        self.changes.clear()
        self.before = [{} for _ in self.view.rollups]
        events, self.events = self.events, 0
        return events

    def lost(self) -> None:
        """Another processor moved the view first: forget the fold and the kept rows (the handlers
        changed them in place)."""
        self.cache.reset(None)
        self.changes.clear()
        self.before = [{} for _ in self.view.rollups]
        self.events = 0


def fold(folds: Sequence[Fold], numbered: Iterable[tuple[int, Any]]) -> None:
    """Fold the events, each with its position, into each view's changes in one pass; a view skips
    the events at or before the position it has folded to. A row neither changed nor kept is taken
    to be absent, so rows not kept must be read first (`Fold.keys_to_read`) unless the cache is
    complete."""
    handling: dict[type, list[tuple[Fold, Handler]]] = {}
    for f in folds:
        for kind, handler in f.view.handlers.items():
            handling.setdefault(kind, []).append((f, handler))
    for position, event in numbered:
        for f, handler in handling.get(type(event), ()):
            if position <= f.position:
                continue
            key = f.view.key(event)
            if key is None:
                continue
            changes = f.changes
            if key in changes:
                row = changes[key]
            else:
                row = f.cache.rows.get(key)
                for rollup, before in zip(f.view.rollups, f.before, strict=True):
                    rollup.add(before, row, -1)  # what it added until now, before the handler changes it
            changes[key] = handler(row, event)


def record(conn: Connection, f: Fold) -> None:
    """Write what `f` folded and move its view's position from `f.cache.position` to `f.position`,
    in the transaction of `conn`. Raises PositionMoved if another processor moved it first (and
    StaleRows or an IntegrityError if one did so unseen): the caller rolls back and calls `f.lost()`,
    or on commit `f.recorded()`."""
    name, expected = f.view.name, f.cache.position
    assert expected is not None
    if locked_position(conn, name) != expected:
        raise PositionMoved(f"view {name} is no longer at position {expected}")
    f.view.write(conn, f.cache.rows, f.changes)
    for rollup, before in zip(f.view.rollups, f.before, strict=True):
        for row in f.changes.values():
            rollup.add(before, row, 1)
        rollup.write(conn, before)
    move_position(conn, name, expected, f.position)


def position_of(conn: Connection, view: str) -> int:
    found = conn.execute(select(positions.c.position).where(positions.c.view == view)).scalar()
    return 0 if found is None else int(found)


def locked_position(conn: Connection, view: str) -> int:
    """The view's position, its row locked until the transaction ends so that no other processor
    moves it meanwhile (PostgreSQL; on SQLite a writer's transaction holds the database's write lock
    from BEGIN IMMEDIATE, see `projections.db`)."""
    query = select(positions.c.position).where(positions.c.view == view).with_for_update()
    found = conn.execute(query).scalar()
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


def _chunks(items: Sequence[str]) -> Iterator[Sequence[str]]:
    for i in range(0, len(items), CHUNK):
        yield items[i:i + CHUNK]


EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
MICROSECOND = timedelta(microseconds=1)


class UTCDateTime(TypeDecorator[datetime]):
    """Timezone-aware datetimes, read back in UTC: `timestamptz` on PostgreSQL; on SQLite, which
    keeps no zone, whole microseconds since 1970-01-01 UTC — an integer, which orders and compares
    like the instant and costs a fifth of the text SQLAlchemy would write to produce."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def load_dialect_impl(self, dialect: Dialect) -> TypeEngine[Any]:
        return dialect.type_descriptor(BigInteger() if dialect.name == "sqlite" else DateTime(timezone=True))

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | int | None:
        if value is None:
            return None
        value = value.astimezone(UTC)
        return (value - EPOCH) // MICROSECOND if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | int | str | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if isinstance(value, int):
            return EPOCH + value * MICROSECOND
        if isinstance(value, str):  # SQLite text in UTC, as releases before 2026-11 wrote it
            return datetime.fromisoformat(value).replace(tzinfo=UTC)
        return value.astimezone(UTC)


def month_of(moment: datetime, zone: tzinfo) -> str:
    """The month (YYYY-MM) a moment falls in, in the deployment's time zone: a demand raised at 07:00
    Beijing time on 1 November is November's, though it is still 31 October in UTC."""
    moment = moment.astimezone(zone)
    return f"{moment.year:04d}-{moment.month:02d}"


ID_TEXTS = 100_000
_id_texts: dict[int, str] = {}


def id_text(value: UUID) -> str:
    """`str(value)`, remembered: a view keys every event by an aggregate's id, the same few ids again
    and again, and `UUID.__str__` is Python code that cost a fifth of folding the views."""
    found = _id_texts.get(value.int)
    if found is None:
        if len(_id_texts) >= ID_TEXTS:
            _id_texts.clear()
        found = _id_texts[value.int] = str(value)
    return found
