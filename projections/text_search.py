"""Finding words in a case's title and description through an index, with the results of the plain
substring scan.

A word's pairs of neighbouring letters (`projections.words`) are looked up in an index; a case holding
every pair of the words asked for may contain them, and only those cases are then read and tested with
the plain substring test the search used before, so the results are the same as the scan's. On SQLite the
index is FTS5's over the cases' own rows (`words.WordIndex`, kept by the cases view); on PostgreSQL the
`case_words` view keeps each case's pairs as an array under a GIN index.

Words with no pair (one character, digits) are found by the scan alone.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import (
    Column,
    ColumnElement,
    Connection,
    Dialect,
    MetaData,
    String,
    Table,
    Text,
    TypeDecorator,
    and_,
    bindparam,
    func,
    or_,
    select,
    text,
)
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.types import TypeEngine

from domain.demand import Demand
from projections.cases import WORDS, demand_key
from projections.core import Row, View, id_text
from projections.words import pairs


class Pairs(TypeDecorator[list[str]]):
    """A list of pairs: an array on PostgreSQL, the pairs separated by spaces on SQLite (FTS5's tokens)."""

    impl = Text
    cache_ok = True

    def load_dialect_impl(self, dialect: Dialect) -> TypeEngine[Any]:
        return dialect.type_descriptor(ARRAY(Text) if dialect.name == "postgresql" else Text())

    def process_bind_param(self, value: list[str] | None, dialect: Dialect) -> Any:
        if value is None or dialect.name == "postgresql":
            return value
        return " ".join(value)

    def process_result_value(self, value: Any, dialect: Dialect) -> list[str] | None:
        if value is None or dialect.name == "postgresql":
            return value  # type: ignore[no-any-return]
        return str(value).split()


metadata = MetaData()

case_words = Table(
    "view_case_words", metadata,
    Column("id", String(36), primary_key=True),
    Column("pairs", Pairs, nullable=False),
)

# SQLite's full-text index of `pairs` before the cases view kept its own (`words.WordIndex`), and the
# triggers that kept it: dropped by `db init`.
RETIRED_FTS = "view_case_words_fts"


def _raised(_: Row | None, e: Demand.Raised) -> Row:
    return {"id": id_text(e.originator_id), "pairs": pairs(f"{e.title}\n{e.description}")}


def index(conn: Connection, table: Table, anew: bool) -> None:
    """Index the pairs of `table` (the view's table) on PostgreSQL: a GIN index. SQLite's index of the
    words is the cases view's own (`cases.WORDS`); the one this view kept before is dropped."""
    name = table.name
    if conn.dialect.name == "postgresql":
        conn.execute(text(f"CREATE INDEX IF NOT EXISTS ix_{name}_pairs ON {name} USING gin (pairs)"))
        return
    for trigger in ("ai", "ad", "au"):
        conn.execute(text(f"DROP TRIGGER IF EXISTS {name}_{trigger}"))
    conn.execute(text(f"DROP TABLE IF EXISTS {RETIRED_FTS}"))


def found(conn: Connection, table: Table, words: str) -> ColumnElement[bool]:
    """A case of `table` (the cases view's) whose title or description holds `words` (letter case aside),
    or whose receipt code they are: through the index of pairs when the words have any, then tested as
    the scan tests."""
    c = table.c
    lowered = words.lower()
    in_text = or_(func.lower(c.title).contains(lowered, autoescape=True),
                  func.lower(c.description).contains(lowered, autoescape=True))
    asked = pairs(words)
    if asked == [lowered] and all(ch.isascii() or ch.lower() == ch.upper() for ch in lowered):
        # Two letters, lower-cased alike by Python and by the store (ASCII, or Chinese: no case): the pair
        # is the word, found exactly by the index alone.
        in_text = _holding(conn, table, asked)
    elif asked:
        in_text = and_(_holding(conn, table, asked), in_text)
    if not words.isascii():  # a receipt code is upper-case ASCII letters and digits
        return in_text
    return or_(in_text, c.receipt == words.upper())


def _holding(conn: Connection, table: Table, asked: list[str]) -> ColumnElement[bool]:
    """The cases holding every pair asked for, found through the store's index."""
    if conn.dialect.name == "sqlite":
        return WORDS.holding(conn, table, asked)
    w = case_words.c
    return table.c.id.in_(select(w.id).where(w.pairs.op("@>")(bindparam("asked", asked, type_=ARRAY(Text)))))


def view() -> View:
    return View("case_words", case_words, demand_key, {Demand.Raised: _raised}, make_indexes=index)
