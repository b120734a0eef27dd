"""Backup and restore: every stored event and snapshot as JSON lines, read from one snapshot of the database.

A backup is taken while servers and workers keep writing: everything is read in one transaction (SQLite: a
read transaction on the WAL, PostgreSQL: REPEATABLE READ), so it holds a prefix of the log in log order,
each aggregate's events contiguous and every chain whole. The library's recorders cannot do this: each of
their reads (`select_notifications`, `select_events`) is a transaction of its own and they list no
snapshots, so the tables they write are read here with SQLAlchemy, named by the recorders.

The file, one JSON object a line:
    {"kind": "header", "format": "minqing-backup", "version": 1, "taken_at": ..., "encrypted": true,
     "cipher_key_id": "..."}
    {"kind": "event", "notification_id": 1, "originator_id": "...", "originator_version": 1,
     "topic": "...", "state": "<base64, as stored>", "chain": "<the event's chain value>"}
    {"kind": "snapshot", "originator_id": ..., "originator_version": ..., "topic": ..., "state": ...,
     "chain": "<the aggregate's chain head at that version>"}
    {"kind": "row", "table": "signed_heads", "values": {...}}   (sealing tables, when they exist)
    {"kind": "end", "events": 4597, "snapshots": 12, "rows": {"signed_heads": 3}}
Events and snapshots are kept as stored, encrypted: the file holds no personal data in clear and needs
the cipher key, kept apart (docs/keys.md). The chain values are written beside them so that the file can
be compared with a verified store without the key. The end line says the file is whole.

A restore goes into an empty store only, checks the whole file before writing anything, and re-encrypts
the events when the store's key is not the backup's (`backup_key`: key rotation, docs/keys.md).
"""

from __future__ import annotations

import base64
import hashlib
import json
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path
from typing import IO, Any
from uuid import UUID

import click
from eventsourcing.cryptography import AESCipher
from eventsourcing.domain import Snapshot
from eventsourcing.persistence import Cipher, StoredEvent
from eventsourcing.utils import Environment
from sqlalchemy import Connection, Engine, LargeBinary, MetaData, Table, inspect, text
from sqlalchemy.types import Date, DateTime

from domain.application import Minqing
from domain.chain import ChainedAggregate
from projections.sealed_log import fill_nodes

FORMAT, VERSION = "minqing-backup", 1
# The sealing tables in the views' database (issue 14, item 2), kept row by row when they exist. The stored
# complete subtrees of the log (log_nodes) are not: a restore makes them again from the leaves.
SEALING_TABLES = ("signed_heads", "log_leaves")
BATCH = 500  # events written in one transaction by a restore


class RestoreRefused(click.ClickException):
    """A restore that would not give back the backed-up store: a database that is not empty, a file that is
    not a whole Minqing backup, or no key to read its events with. Nothing has been written."""


@dataclass
class Counts:
    events: int = 0
    snapshots: int = 0
    rows: dict[str, int] = field(default_factory=dict)


def key_id(key: str | None) -> str | None:
    """A name for a cipher key that reveals nothing of it: which key a backup's events need."""
    if key is None:
        return None
    return hashlib.sha256(b"minqing cipher key " + base64.b64decode(key)).hexdigest()[:16]


def aes_cipher(key: str | None) -> AESCipher | None:
    """The library's cipher with this key (None: none)."""
    return None if key is None else AESCipher(Environment(env={AESCipher.CIPHER_KEY: key}))


# ---------------------------------------------------------------- backup
def backup(app: Minqing, engine: Engine, key: str | None, out: IO[str]) -> Counts:
    """Write the store's events, snapshots and sealing rows to `out`, from one snapshot of the database.
    `key` is the cipher key the store's events are encrypted with (None: stored unencrypted)."""
    counts = Counts()
    write = _writer(out)
    with _snapshot(engine) as conn:
        write({"kind": "header", "format": FORMAT, "version": VERSION,
               "taken_at": datetime.now(UTC).isoformat(), "encrypted": key is not None,
               "cipher_key_id": key_id(key)})
        for stored, notification_id in _rows(conn, app, snapshots=False):
            event = app.mapper.to_domain_event(stored)
            assert isinstance(event, ChainedAggregate.Event)  # every aggregate of Minqing is chained
            write({"kind": "event", "notification_id": notification_id, **_stored(stored),
                   "chain": event.chain})
            counts.events += 1
        for stored, _ in _rows(conn, app, snapshots=True):
            snapshot = app.mapper.to_domain_event(stored)
            assert isinstance(snapshot, Snapshot)  # the snapshots' table holds nothing else
            write({"kind": "snapshot", **_stored(stored), "chain": snapshot.state.get("chain_head")})
            counts.snapshots += 1
        present = set(inspect(conn).get_table_names())
        for name in (t for t in SEALING_TABLES if t in present):
            table = Table(name, MetaData(), autoload_with=conn)
            for row in conn.execute(table.select().order_by(*table.primary_key.columns)).mappings():
                write({"kind": "row", "table": name, "values": {k: _plain(v) for k, v in row.items()}})
                counts.rows[name] = counts.rows.get(name, 0) + 1  # as a restore counts them
        write({"kind": "end", "events": counts.events, "snapshots": counts.snapshots, "rows": counts.rows})
    return counts


@contextmanager
def _snapshot(engine: Engine) -> Iterator[Connection]:
    """One read-only transaction seeing one state of the whole database, however long it runs."""
    options: dict[str, Any] = {"stream_results": True}
    if engine.dialect.name == "postgresql":
        options |= {"isolation_level": "REPEATABLE READ", "postgresql_readonly": True}
    # On SQLite `projections.db.make_engine` begins every transaction itself (a reader's with BEGIN): its
    # first read fixes the snapshot of the WAL that the rest of the transaction sees.
    with engine.connect().execution_options(**options) as conn, conn.begin() as transaction:
        yield conn
        transaction.rollback()  # it only read


def _rows(conn: Connection, app: Minqing, *, snapshots: bool) -> Iterator[tuple[StoredEvent, int]]:
    """The stored events (in log order, with their notification ids) or the snapshots, as stored."""
    tables = _tables(app)
    if len(tables) < (2 if snapshots else 1):
        return
    table = tables[1 if snapshots else 0]
    sqlite = conn.dialect.name == "sqlite"
    position = "0" if snapshots else ("rowid" if sqlite else "notification_id")
    order = "originator_id, originator_version" if snapshots else position
    result = conn.execute(text(f"SELECT {position}, originator_id, originator_version, topic, state "
                               f"FROM {table} ORDER BY {order}"))
    for number, originator_id, version, topic, state in result.yield_per(BATCH):
        uuid = originator_id if isinstance(originator_id, UUID) else UUID(originator_id)
        yield StoredEvent(originator_id=uuid, originator_version=version, topic=topic,
                          state=bytes(state)), number


def _stored(stored: StoredEvent) -> dict[str, Any]:
    return {"originator_id": str(stored.originator_id), "originator_version": stored.originator_version,
            "topic": stored.topic, "state": base64.b64encode(stored.state).decode()}


def _plain(value: Any) -> Any:
    """A sealing table's value in JSON: bytes as base64, times as ISO text (`_typed` reads them back)."""
    if isinstance(value, bytes | memoryview):
        return base64.b64encode(bytes(value)).decode()
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, UUID | Decimal):
        return str(value)
    return value


def _writer(out: IO[str]) -> Callable[[dict[str, Any]], None]:
    def write(record: dict[str, Any]) -> None:
        out.write(json.dumps(record, ensure_ascii=False, separators=(",", ":")) + "\n")
    return write


# ---------------------------------------------------------------- restore
def restore(app: Minqing, engine: Engine, key: str | None, path: Path, backup_key: str | None) -> Counts:
    """Write a backup into the empty store of `app` (events encrypted with `key`, None: unencrypted). The
    file is checked whole first; events encrypted with another key are re-encrypted (`backup_key`)."""
    header, counts = _check(path)
    convert = _converter(header.get("cipher_key_id"), key, backup_key, path)
    if _holds_anything(app, engine):
        raise RestoreRefused(f"{_database(engine)} is not empty: restore only into an empty database (a new "
                             "one, after `minqing db init`)")
    snapshots = app.snapshots
    writers: dict[str, Callable[[list[Any]], Any]] = {
        "event": app.recorder.insert_events,
        "snapshot": snapshots.recorder.insert_events if snapshots else lambda _: None,
        **{name: _row_writer(engine, name) for name in counts.rows}}
    pending: dict[str, list[Any]] = {name: [] for name in writers}
    # The store numbers the restored events afresh (the original's numbers may have gaps): a backed-up
    # event's number, its number here, for the sealed leaves that name the events they seal by number.
    renumbered: dict[int, int] = {}
    backed_up_numbers: list[int] = []

    def flush(name: str) -> None:
        if not pending[name]:
            return
        numbers = writers[name](pending[name])
        if name == "event":
            renumbered.update(zip(backed_up_numbers, numbers, strict=True))
            backed_up_numbers.clear()
        pending[name] = []

    for record in _records(path):
        if record["kind"] in ("event", "snapshot"):
            name, item = record["kind"], _stored_event(record, convert)
            if name == "event":
                backed_up_numbers.append(record["notification_id"])
        elif record["kind"] == "row":
            flush("event")  # every event precedes the rows, which may name them by number
            name, item = record["table"], record["values"]
            if name == "log_leaves":
                item = item | {"notification_id": renumbered[item["notification_id"]]}
        else:
            continue
        pending[name].append(item)
        if len(pending[name]) == BATCH:
            flush(name)
    for name in pending:
        flush(name)
    if "log_leaves" in counts.rows:
        with engine.begin() as conn:
            fill_nodes(conn)
    return counts


def _converter(backup_key_id: str | None, key: str | None, backup_key: str | None,
               path: Path) -> Callable[[bytes], bytes]:
    """What turns a backed-up event's state into this store's: nothing when both use the same key (or
    none), else decrypted with the backup's key (given as `backup_key`) and encrypted with the store's."""
    if backup_key_id == key_id(key):
        return recipher(None, None)
    try:
        given = key_id(backup_key)
    except ValueError:
        raise RestoreRefused("the --backup-key file holds no base64 AES key") from None
    if backup_key_id is not None and backup_key_id != given:
        raise RestoreRefused(
            f"the events in {path} are encrypted with another cipher key (id {backup_key_id}) than this "
            f"store's (id {key_id(key)}): pass that key with --backup-key FILE to re-encrypt them with this "
            "store's key (docs/keys.md)")
    return recipher(aes_cipher(backup_key if backup_key_id else None), aes_cipher(key))


def recipher(source: Cipher | None, target: Cipher | None) -> Callable[[bytes], bytes]:
    """What turns an event's state as stored with `source` (None: unencrypted) into the state to store with
    `target`: for copying events between stores, and for restoring a backup under a new key."""
    if source is None and target is None:
        return lambda state: state

    def convert(state: bytes) -> bytes:
        plain = source.decrypt(state) if source else state
        return target.encrypt(plain) if target else plain
    return convert


def _check(path: Path) -> tuple[dict[str, Any], Counts]:
    """The header, and the counts the end line gives, of a whole, well-formed backup; else refused."""
    header: dict[str, Any] | None = None
    counts, end = Counts(), None
    for number, record in enumerate(_records(path), start=1):
        kind = record.get("kind") if isinstance(record, dict) else None
        if number == 1:
            if kind != "header" or record.get("format") != FORMAT:
                raise RestoreRefused(f"{path} is not a Minqing backup (its first line is no backup header)")
            if record.get("version") != VERSION:
                raise RestoreRefused(f"{path} is a backup of format version {record.get('version')}; this "
                                     f"version of Minqing reads version {VERSION}")
            header = record
        elif end is not None:
            raise RestoreRefused(f"{path}: line {number} follows the end line")
        elif kind in ("event", "snapshot"):
            if not _well_formed(record):
                raise RestoreRefused(f"{path}: line {number} is no whole {kind} (a damaged backup?)")
            counts.events += kind == "event"
            counts.snapshots += kind == "snapshot"
        elif kind == "row" and isinstance(table := record.get("table"), str) and isinstance(
                record.get("values"), dict):
            counts.rows[table] = counts.rows.get(table, 0) + 1
        elif kind == "end":
            end = record
        else:
            raise RestoreRefused(f"{path}: line {number} has a kind this version does not know: {kind!r}")
    if header is None or end is None:
        raise RestoreRefused(f"{path} is not whole: it has no end line (a backup cut short?)")
    if (end.get("events"), end.get("snapshots"), end.get("rows", {})) != (
            counts.events, counts.snapshots, counts.rows):
        raise RestoreRefused(f"{path} is not whole: its end line counts other records than it holds")
    return header, counts


def _well_formed(record: dict[str, Any]) -> bool:
    """Whether an event's or a snapshot's record has what a stored event needs, of the right types."""
    try:
        UUID(record["originator_id"])
        base64.b64decode(record["state"], validate=True)
    except (KeyError, TypeError, ValueError, AttributeError):
        return False
    return isinstance(record.get("originator_version"), int) and isinstance(record.get("topic"), str)


def _records(path: Path) -> Iterator[dict[str, Any]]:
    with path.open(encoding="utf-8") as lines:
        for number, line in enumerate(lines, start=1):
            try:
                yield json.loads(line)
            except ValueError:
                raise RestoreRefused(f"{path}: line {number} is not JSON (a damaged backup?)") from None


def _stored_event(record: dict[str, Any], convert: Any) -> StoredEvent:
    return StoredEvent(originator_id=UUID(record["originator_id"]),
                       originator_version=record["originator_version"], topic=record["topic"],
                       state=convert(base64.b64decode(record["state"])))


def _holds_anything(app: Minqing, engine: Engine) -> bool:
    """Whether the store holds an event or a snapshot, or a sealing table a row."""
    with engine.connect() as conn:
        present = set(inspect(conn).get_table_names())
        for name in (*_tables(app), *SEALING_TABLES):
            if name in present and conn.execute(text(f"SELECT 1 FROM {name} LIMIT 1")).first():
                return True
    return False


def _tables(app: Minqing) -> list[str]:
    """The tables of the store's events and snapshots, as the library's recorders name them."""
    recorders = [app.recorder, *([app.snapshots.recorder] if app.snapshots else [])]
    return [name for r in recorders if (name := getattr(r, "events_table_name", None))]


def _row_writer(engine: Engine, name: str) -> Callable[[list[dict[str, Any]]], None]:
    """Writes rows of a sealing table, as the backup gave them, into the same table of this database."""
    with engine.connect() as conn:  # before anything is written
        if name not in SEALING_TABLES or not inspect(conn).has_table(name):
            raise RestoreRefused(f"the backup holds rows of a table {name!r} this database does not have")
        table = Table(name, MetaData(), autoload_with=conn)

    def write(rows: list[dict[str, Any]]) -> None:
        with engine.begin() as conn:
            conn.execute(table.insert(), [_typed(table, row) for row in rows])
    return write


def _typed(table: Table, values: dict[str, Any]) -> dict[str, Any]:
    typed = {}
    for name, value in values.items():
        kind = table.c[name].type
        if value is not None and isinstance(kind, LargeBinary):
            value = base64.b64decode(value)
        elif value is not None and isinstance(kind, DateTime):
            value = datetime.fromisoformat(value)
        elif value is not None and isinstance(kind, Date):
            value = date.fromisoformat(value)
        typed[name] = value
    return typed


def _database(engine: Engine) -> str:
    return engine.url.render_as_string(hide_password=True)
