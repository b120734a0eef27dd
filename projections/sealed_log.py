"""The sealed log's storage: its leaves and signed heads in the views' database, every head also in a file
beside the signing key (outside the database), and the sealing step that appends leaves and signs a head.

Not a view: nothing here is rebuilt from the log. A leaf's salt is random, so leaves once written are the
seal itself; deleting them is what `verify` is there to find.

Beside the leaves, the root of every complete subtree of the tree (`log_nodes`: level, index, hash), written
by the sealer with the leaves that close it, so that a proof or a root reads O(log n) of them instead of
every leaf hash (domain/merkle.py). They are derived from the leaves: filled in from them, once, where they
are missing (a log sealed before they were kept, a restored backup), and checked against them by `verify`.
"""

from __future__ import annotations

import json
import os
import zlib
from collections.abc import Collection, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from sqlalchemy import (
    BigInteger,
    Column,
    Connection,
    Engine,
    Integer,
    LargeBinary,
    MetaData,
    SmallInteger,
    String,
    Table,
    and_,
    delete,
    func,
    insert,
    inspect,
    or_,
    select,
    text,
)

from domain import merkle
from domain.application import Minqing
from domain.chain import ChainedAggregate
from domain.seal import SALT_BYTES, Leaf, RetiredKey, SignedHead, Signer, leaf_of

metadata = MetaData()
log_leaves = Table(
    "log_leaves", metadata,
    Column("leaf_index", BigInteger, primary_key=True, autoincrement=False),
    Column("notification_id", BigInteger, nullable=False, unique=True),
    Column("originator_id", String(36), nullable=False, index=True),
    Column("originator_version", Integer, nullable=False),
    Column("salt", LargeBinary(SALT_BYTES), nullable=False),
    Column("leaf_hash", LargeBinary(32), nullable=False),
)
signed_heads = Table(
    "signed_heads", metadata,
    Column("tree_size", BigInteger, primary_key=True, autoincrement=False),
    Column("root_hash", LargeBinary(32), nullable=False),
    Column("signed_at", String(40), nullable=False),     # ISO text, exactly as signed
    # A rotated key's successor signs the tree it took over again at once: two heads of one size then.
    Column("key_id", String(64), primary_key=True),
    Column("signature", LargeBinary(64), nullable=False),
)
log_nodes = Table(
    "log_nodes", metadata,
    # the complete subtree of leaves node_index·2^level to (node_index+1)·2^level - 1 (level ≥ 1: a leaf's
    # root is its hash, in log_leaves)
    Column("level", SmallInteger, primary_key=True, autoincrement=False),
    Column("node_index", BigInteger, primary_key=True, autoincrement=False),
    Column("node_hash", LargeBinary(32), nullable=False),
)
HEADS_FILE = "heads.jsonl"
BATCH = 2000        # leaves per transaction: SQLite's writers wait for the seal while it holds the lock
# While catching up with a long log (a first seal of a loaded database), a head every so many leaves rather
# than one per batch: each head is a line of heads.jsonl and a signature to check.
SIGN_EVERY = 100_000
PAGE = 5000
FILL_PAGE = 50_000


def create_tables(engine: Engine) -> None:
    """Create the sealed log's tables (idempotent); fill in the complete subtrees of a log sealed before
    they were kept."""
    metadata.create_all(engine)
    if not heads_keyed_by_key(engine):
        _key_heads_by_key(engine)
    with engine.begin() as conn:
        lock(conn)
        stored_frontier(conn)


def lock(conn: Connection) -> None:
    """Hold the sealed log for this transaction: on PostgreSQL a transaction-scoped advisory lock (on SQLite
    a writer's transaction holds the database's write lock from its start, `projections.db.make_engine`)."""
    if conn.dialect.name == "postgresql":
        schema = conn.execute(text("SELECT current_schema()")).scalar() or ""
        key = zlib.crc32(f"minqing.seal.{schema}".encode())
        conn.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": key})


def last_sealed(conn: Connection) -> int:
    """The position in the event log of the last event sealed (0: none)."""
    return conn.execute(select(func.max(log_leaves.c.notification_id))).scalar() or 0


def stored_size(conn: Connection) -> int:
    largest = conn.execute(select(func.max(log_leaves.c.leaf_index))).scalar()
    return 0 if largest is None else int(largest) + 1


def stored_subtrees(conn: Connection, wanted: Collection[merkle.Node]) -> dict[merkle.Node, bytes]:
    """The roots of those of the `wanted` complete subtrees that are stored: a leaf's hash (level 0), a node's
    from log_nodes; two reads a page."""
    found: dict[merkle.Node, bytes] = {}
    asked = sorted(wanted)
    for start in range(0, len(asked), PAGE):
        page = asked[start:start + PAGE]
        leaves = [index for level, index in page if level == 0]
        if leaves:
            found.update(((0, int(index)), bytes(hash_)) for index, hash_ in conn.execute(
                select(log_leaves.c.leaf_index, log_leaves.c.leaf_hash).where(
                    log_leaves.c.leaf_index.in_(leaves))))
        by_level: dict[int, list[int]] = {}
        for level, index in page:
            if level:
                by_level.setdefault(level, []).append(index)
        if by_level:
            node = log_nodes.c
            found.update(((int(level), int(index)), bytes(hash_)) for level, index, hash_ in conn.execute(
                select(node.level, node.node_index, node.node_hash).where(or_(*(
                    and_(node.level == level, node.node_index.in_(indexes))
                    for level, indexes in by_level.items())))))
    return found


def stored_frontier(conn: Connection) -> merkle.Frontier:
    """The frontier of the sealed leaves, from their stored complete subtrees, those beyond the leaves
    dropped (left by leaves deleted since, as a rollback done row by row leaves them); filled in first from
    the leaves when some are missing (a log sealed before they were kept, or restored from a backup)."""
    size = stored_size(conn)
    node, top = log_nodes.c, size.bit_length()
    conn.execute(delete(log_nodes).where(or_(node.level > top, *(
        and_(node.level == level, node.node_index >= size >> level) for level in range(1, top + 1)))))
    try:
        return merkle.Frontier.of(size, lambda wanted: stored_subtrees(conn, wanted))
    except merkle.MissingSubtree:
        return fill_nodes(conn)


def fill_nodes(conn: Connection) -> merkle.Frontier:
    """Store every complete subtree of the sealed leaves afresh, computed from them in tree order; the
    frontier of the leaves."""
    conn.execute(delete(log_nodes))
    frontier = merkle.Frontier()
    after = -1
    while True:
        rows = conn.execute(select(log_leaves.c.leaf_index, log_leaves.c.leaf_hash)
                            .where(log_leaves.c.leaf_index > after)
                            .order_by(log_leaves.c.leaf_index).limit(FILL_PAGE)).all()
        if not rows:
            return frontier
        nodes = [node_row(node, hash_) for _, leaf in rows for node, hash_ in frontier.add(bytes(leaf))]
        if nodes:
            conn.execute(insert(log_nodes), nodes)
        after = rows[-1][0]


def node_row(node: merkle.Node, hash_: bytes) -> dict[str, Any]:
    return {"level": node[0], "node_index": node[1], "node_hash": hash_}


def heads_keyed_by_key(engine: Engine) -> bool:
    """Whether the table of signed heads holds two heads of one size by two keys (a database sealed before
    keys could be rotated keyed them by size alone, until `create_tables` rebuilt it)."""
    return "key_id" in inspect(engine).get_pk_constraint(signed_heads.name)["constrained_columns"]


def _key_heads_by_key(engine: Engine) -> None:
    """Key the signed heads of a database sealed before keys could be rotated by size and key id, every row
    kept, in one transaction (PostgreSQL changes the key in place; SQLite cannot, so a copy replaces it)."""
    name = signed_heads.name
    with engine.begin() as conn:
        if conn.dialect.name == "postgresql":
            old = inspect(conn).get_pk_constraint(name)["name"]
            conn.execute(text(f'ALTER TABLE {name} DROP CONSTRAINT "{old}", '
                              "ADD PRIMARY KEY (tree_size, key_id)"))
            return
        copy = signed_heads.to_metadata(MetaData(), name=f"{name}_keyed")
        copy.create(conn)
        conn.execute(insert(copy).from_select([c.name for c in signed_heads.columns], select(signed_heads)))
        conn.execute(text(f"DROP TABLE {name}"))
        conn.execute(text(f"ALTER TABLE {copy.name} RENAME TO {name}"))


def _leaf(row: Sequence[Any]) -> Leaf:
    return Leaf(int(row[0]), int(row[1]), str(row[2]), int(row[3]), bytes(row[4]), bytes(row[5]))


def head_of_row(row: Sequence[Any]) -> SignedHead:
    """A signed head from a row of `signed_heads` (its columns in table order)."""
    return SignedHead(int(row[0]), bytes(row[1]), str(row[2]), str(row[3]), bytes(row[4]))


LEAF_COLUMNS = (log_leaves.c.leaf_index, log_leaves.c.notification_id, log_leaves.c.originator_id,
                log_leaves.c.originator_version, log_leaves.c.salt, log_leaves.c.leaf_hash)


@dataclass
class SealedLog:
    """The leaves and heads of one database, and the heads saved beside the key (a `seal.SealedRecord`)."""

    engine: Engine
    heads_file: HeadsFile
    public_key: Ed25519PublicKey
    retired_keys: Sequence[RetiredKey] = field(default_factory=list)

    def present(self) -> bool:
        """Whether the database has the sealed log's tables (`minqing db init` creates them)."""
        found = inspect(self.engine)
        return all(found.has_table(table.name) for table in metadata.sorted_tables)

    def size(self) -> int:
        with self.engine.connect() as conn:
            return stored_size(conn)

    def leaves(self, below: int) -> Iterator[Leaf]:
        after = -1
        while True:
            with self.engine.connect() as conn:
                rows = conn.execute(select(*LEAF_COLUMNS).where(log_leaves.c.leaf_index > after,
                                                                log_leaves.c.leaf_index < below)
                                    .order_by(log_leaves.c.leaf_index).limit(PAGE)).all()
            if not rows:
                return
            for row in rows:
                yield _leaf(row)
            after = rows[-1][0]

    def leaves_of(self, aggregate_id: str) -> list[Leaf]:
        with self.engine.connect() as conn:
            rows = conn.execute(select(*LEAF_COLUMNS).where(log_leaves.c.originator_id == aggregate_id)
                                .order_by(log_leaves.c.originator_version)).all()
        return [_leaf(row) for row in rows]

    def subtrees(self, wanted: Collection[merkle.Node]) -> dict[merkle.Node, bytes]:
        with self.engine.connect() as conn:
            return stored_subtrees(conn, wanted)

    def heads(self, *, after: int = -1, limit: int | None = None) -> list[SignedHead]:
        query = (select(signed_heads).where(signed_heads.c.tree_size > after)
                 .order_by(signed_heads.c.tree_size, signed_heads.c.signed_at).limit(limit))
        with self.engine.connect() as conn:
            return [head_of_row(row) for row in conn.execute(query).all()]

    def head(self, tree_size: int) -> SignedHead | None:
        """The head of that size signed last (by the current key, after a rotation)."""
        with self.engine.connect() as conn:
            row = conn.execute(select(signed_heads).where(signed_heads.c.tree_size == tree_size)
                               .order_by(signed_heads.c.signed_at.desc())).first()
        return None if row is None else head_of_row(row)

    def saved_heads(self) -> list[SignedHead]:
        return self.heads_file.read()


@dataclass(frozen=True)
class HeadsFile:
    """The signed heads of one database saved outside it, in `heads.jsonl` in the key folder: one JSON object
    a line, each naming the database it was signed for (`Settings.database_name`), so a key folder shared by
    several databases (tests, a developer's SQLite and PostgreSQL) keeps each one's heads apart."""

    path: Path
    database: str

    def read(self) -> list[SignedHead]:
        """This database's heads, smallest first (none when there is no file yet)."""
        try:
            lines = self.path.read_text(encoding="utf-8").splitlines()
        except FileNotFoundError:
            return []
        found = [json.loads(line) for line in lines if line.strip()]
        return sorted((SignedHead.from_json(h) for h in found if h.get("database") == self.database),
                      key=lambda h: h.tree_size)

    def append(self, head: SignedHead) -> None:
        """Add a head: one line, written with one append, flushed to disk."""
        line = (json.dumps({"database": self.database, **head.as_json()}, sort_keys=True) + "\n").encode()
        self.path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        descriptor = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        try:
            os.write(descriptor, line)
            os.fsync(descriptor)
        finally:
            os.close(descriptor)


class Sealer:
    """Appends a leaf for each event recorded since the last one, in log order, and signs a head when the
    tree grew: leaves and head in one transaction, the head then added to the heads file.

    Two sealers never append the same leaf: the leaf index is the primary key, and each takes the database's
    write lock (SQLite) or a transaction-scoped advisory lock (PostgreSQL) before reading where the log ends.
    The tree's frontier is kept between runs, and read again from the stored complete subtrees when another
    sealer appended leaves meanwhile (or before this one started)."""

    def __init__(self, app: Minqing, engine: Engine, signer: Signer, heads_file: HeadsFile, *,
                 batch: int = BATCH) -> None:
        self.app, self.engine, self.signer, self.heads_file = app, engine, signer, heads_file
        self.batch = batch
        self.frontier = merkle.Frontier()
        self.nodes_table_checked = False

    def seal(self, *, vouch: bool = False) -> list[SignedHead]:
        """Seal everything recorded so far; the heads signed (none when nothing was new). With `vouch`, a
        head of the whole log is signed even when nothing was new (a new key vouching for what it took
        over)."""
        if not self.nodes_table_checked:     # a log sealed before the complete subtrees were kept
            log_nodes.create(self.engine, checkfirst=True)
            self.nodes_table_checked = True
        signed = []
        while True:
            caught_up, head = self._seal_batch(vouch)
            if head is not None:
                signed.append(head)
            if caught_up:
                return signed

    def _seal_batch(self, vouch: bool = False) -> tuple[bool, SignedHead | None]:
        """Append the leaves of at most one batch of new events, and sign a head when caught up with the log
        (or every SIGN_EVERY leaves on the way), or with `vouch` when caught up and this key has not signed
        the tree yet: whether this caught up with the log, and the head signed.

        The batch's events are read before the lock is taken, holding no connection of the views' database.
        On SQLite the lock is the database's write lock: a request of this process saving events holds the
        event store's one writer connection while it waits for that lock, and a second request waiting for
        the writer holds the store's queue; a read under the lock waited behind them, and they for the
        sealer, until the store's pool gave up after 5 s (a request answered 503). Events another sealer
        appended meanwhile are skipped."""
        with self.engine.connect() as conn:
            start = last_sealed(conn) + 1
        page = self.app.recorder.select_notifications(start, self.batch)
        with self.engine.begin() as conn:
            lock(conn)
            frontier = self._frontier(conn)
            last = last_sealed(conn)
            latest = conn.execute(select(func.max(signed_heads.c.tree_size))).scalar() or 0
            rows: list[dict[str, Any]] = []
            nodes: list[dict[str, Any]] = []
            for stored in page:
                if stored.id <= last:   # sealed by another sealer since the page was read
                    continue
                event = self.app.mapper.to_domain_event(stored)
                assert isinstance(event, ChainedAggregate.Event)   # every aggregate of Minqing is chained
                salt = os.urandom(SALT_BYTES)
                leaf = leaf_of(event, salt)
                rows.append({"leaf_index": frontier.size, "notification_id": stored.id,
                             "originator_id": str(stored.originator_id),
                             "originator_version": stored.originator_version, "salt": salt,
                             "leaf_hash": leaf})
                nodes.extend(node_row(node, hash_) for node, hash_ in frontier.add(leaf))
            if rows:
                conn.execute(insert(log_leaves), rows)
            if nodes:
                conn.execute(insert(log_nodes), nodes)
            caught_up = len(page) < self.batch
            head = None
            vouching = vouch and caught_up and frontier.size > 0 and conn.execute(
                select(func.count()).select_from(signed_heads).where(
                    signed_heads.c.tree_size == frontier.size,
                    signed_heads.c.key_id == self.signer.key_id)).scalar() == 0
            if vouching or (frontier.size > latest and (caught_up or frontier.size - latest >= SIGN_EVERY)):
                head = self.signer.sign(frontier.size, frontier.root(), self.app.clock())
                conn.execute(insert(signed_heads).values(
                    tree_size=head.tree_size, root_hash=head.root_hash, signed_at=head.signed_at,
                    key_id=head.key_id, signature=head.signature))
        self.frontier = frontier
        if head is not None:
            self.heads_file.append(head)
        return caught_up, head

    def _frontier(self, conn: Connection) -> merkle.Frontier:
        """A copy of the frontier, or the stored one when leaves were appended since (by another sealer, or
        before this one started); it becomes the sealer's once its transaction commits."""
        if stored_size(conn) == self.frontier.size:
            return self.frontier.copy()
        return stored_frontier(conn)
