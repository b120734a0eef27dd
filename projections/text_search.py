"""The `case_words` view: a case's title and description as character pairs, for finding Chinese words
through an index.

Chinese is written without spaces, so a word is found as a run of characters anywhere in the text. Each
pair of neighbouring letters (二元组: "道路" in "修道路") is kept once per case; a case holding every pair of
the words asked for may contain them, and only those cases are then read and tested with the plain
substring test the search used before, so the results are the same as the scan's. On SQLite the pairs
are indexed by FTS5 (each pair a token), on PostgreSQL as an array under a GIN index.

Only pairs of two letters are kept: never digits (a phone or ID number typed into the text stays out of
the index, masked or not) nor spaces and punctuation. Words with no such pair (one character, digits)
are found by the scan alone.
"""

from __future__ import annotations

import itertools
from typing import Any

from sqlalchemy import (
    Column,
    ColumnElement,
    Connection,
    Dialect,
    MetaData,
    Select,
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
from projections.cases import demand_key
from projections.core import Row, View, id_text


def pairs(words: str) -> list[str]:
    """The distinct pairs of neighbouring letters in `words`, lower-cased, in order of first appearance."""
    lowered = words.lower()
    found = dict.fromkeys(a + b for a, b in itertools.pairwise(lowered) if a.isalpha() and b.isalpha())
    return list(found)


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

FTS = "view_case_words_fts"  # SQLite's full-text index of `pairs`, kept by triggers on the table


def _raised(_: Row | None, e: Demand.Raised) -> Row:
    return {"id": id_text(e.originator_id), "pairs": pairs(f"{e.title}\n{e.description}")}


def index(conn: Connection, table: Table) -> None:
    """Index the pairs of `table` (the view's table, just created or swapped in by a rebuild) and keep
    the index as rows are written: a GIN index on PostgreSQL; on SQLite an FTS5 index over the table's
    rows, filled now and kept by triggers."""
    name = table.name
    if conn.dialect.name == "postgresql":
        conn.execute(text(f"CREATE INDEX IF NOT EXISTS ix_{name}_pairs ON {name} USING gin (pairs)"))
        return
    conn.execute(text(f"DROP TABLE IF EXISTS {FTS}"))
    conn.execute(text(f"CREATE VIRTUAL TABLE {FTS} USING fts5(pairs, content='{name}', content_rowid='rowid',"
                      " tokenize='unicode61 remove_diacritics 0')"))
    conn.execute(text(f"INSERT INTO {FTS}({FTS}) VALUES ('rebuild')"))
    old = f"INSERT INTO {FTS}({FTS}, rowid, pairs) VALUES ('delete', old.rowid, old.pairs);"
    new = f"INSERT INTO {FTS}(rowid, pairs) VALUES (new.rowid, new.pairs);"
    for trigger, when, body in (("ai", "AFTER INSERT", new), ("ad", "AFTER DELETE", old),
                                ("au", "AFTER UPDATE", old + " " + new)):
        conn.execute(text(f"CREATE TRIGGER IF NOT EXISTS {name}_{trigger} {when} ON {name} BEGIN {body} END"))


def found(dialect: str, case_id: ColumnElement[str], title: ColumnElement[str],
          description: ColumnElement[str], receipt: ColumnElement[str], words: str) -> ColumnElement[bool]:
    """A case whose title or description holds `words` (letter case aside), or whose receipt code they
    are: through the index of pairs when the words have any, then tested as the scan tests."""
    lowered = words.lower()
    in_text = or_(func.lower(title).contains(lowered, autoescape=True),
                  func.lower(description).contains(lowered, autoescape=True))
    asked = pairs(words)
    if asked == [lowered] and all(c.isascii() or c.lower() == c.upper() for c in lowered):
        # Two letters, lower-cased alike by Python and by the store (ASCII, or Chinese: no case): the pair
        # is the word, found exactly by the index. Left to the index alone, the planner can tell how
        # common it is and read a common word's cases in the list's order instead.
        in_text = case_id.in_(_holding(dialect, asked))
    elif asked:
        in_text = and_(case_id.in_(_holding(dialect, asked)), in_text)
    if not words.isascii():  # a receipt code is upper-case ASCII letters and digits
        return in_text
    return or_(in_text, receipt == words.upper())


def _holding(dialect: str, asked: list[str]) -> Select[tuple[str]]:
    """The ids of the cases holding every pair asked for, found through the store's index."""
    w = case_words.c
    if dialect == "postgresql":
        return select(w.id).where(w.pairs.op("@>")(bindparam("asked", asked, type_=ARRAY(Text))))
    tokens = " ".join(f'"{pair}"' for pair in asked)  # every token, in any order (FTS5's implicit AND)
    return select(w.id).where(text(f"rowid IN (SELECT rowid FROM {FTS} WHERE {FTS} MATCH :tokens)")
                              .bindparams(tokens=tokens))


def view() -> View:
    return View("case_words", case_words, demand_key, {Demand.Raised: _raised}, make_indexes=index)
