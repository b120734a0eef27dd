"""Words in free text as pairs of neighbouring letters, and SQLite's full-text index of a view's rows by them.

Chinese is written without spaces, so a word is found as a run of characters anywhere in the text. Each
pair of neighbouring letters (二元组: "道路" in "修道路") is kept once per row; a row holding every pair of
the words asked for may contain them (see `projections.text_search`, which then tests them as the plain
substring scan does). Only pairs of two letters are kept: never digits (a phone or ID number typed into the
text stays out of the index, masked or not) nor spaces and punctuation.

On SQLite a view's table may keep such an index (`WordIndex`): an FTS5 table, each pair a token, whose
rowid is the view row's own rowid. The rows holding a word are then the index's list of rowids itself,
with no table between to turn them into the view's keys (which cost 80 ms for a word in 14 % of 350,000
cases). The index holds no text of its own (FTS5 "contentless"): it is filled from the table's rows when
the table is made or swapped in, and given each row as the view inserts it. Its text columns are written
once, when the row is inserted, and its rows are deleted only with the whole table (a rebuild).
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from sqlalchemy import ColumnElement, Connection, Integer, Table, column, literal_column, select, text

from projections.core import Row

FILL = 10_000  # rows read and indexed at a time when the index is filled from its table
# A word held by more rows than this is a common one, read in the list's order (`WordIndex.holding`).
# Measured at 350,000 cases: the district's list of a word in 1,950 cases costs 2x less gathered, one in
# 5,500 3x less in order; a street office's list reads 10x further in order to fill its page and count,
# so for it gathering wins up to more: 5,000 leans that way.
COMMON = 5_000


def pairs(words: str) -> list[str]:
    """The distinct pairs of neighbouring letters in `words`, lower-cased, in order of first appearance."""
    lowered = words.lower()
    found = dict.fromkeys(a + b for a, b in itertools.pairwise(lowered) if a.isalpha() and b.isalpha())
    return list(found)


def _tokens(texts: Iterable[str | None]) -> str:
    return " ".join(pairs("\n".join(part or "" for part in texts)))


@dataclass(frozen=True)
class WordIndex:
    """SQLite's FTS5 index of the pairs in `columns` of a view's table, under each row's rowid (nothing on
    PostgreSQL: see `projections.text_search`)."""

    columns: tuple[str, ...]

    @staticmethod
    def name(table: Table) -> str:
        return f"{table.name}_words"

    def tokens(self, row: Row) -> str:
        """The pairs of the row's text as FTS5 reads them: tokens separated by spaces."""
        return _tokens(row[column] for column in self.columns)

    def make(self, conn: Connection, table: Table, anew: bool) -> None:
        """Make the index of `table` and fill it from its rows: `anew`, the table was just created or
        swapped in by a rebuild (its rows have new rowids); else it is a table `db init` kept, indexed only
        if it is not yet (a store from before the index)."""
        if conn.dialect.name != "sqlite":
            return
        name = self.name(table)
        if not anew and conn.execute(text("SELECT 1 FROM sqlite_master WHERE name = :name"),
                                     {"name": name}).first() is not None:
            return
        conn.execute(text(f"DROP TABLE IF EXISTS {name}"))
        # Only the rowids of the rows holding each pair are kept: no text (content=''), no positions within
        # it (detail=none: a pair is one token, found without them) and no lengths (columnsize=0).
        conn.execute(text(f"CREATE VIRTUAL TABLE {name} USING fts5(pairs, content='', detail=none, "
                          "columnsize=0, tokenize='unicode61 remove_diacritics 0')"))
        rowid = literal_column("rowid", Integer)
        last = -1
        while True:
            rows = conn.execute(select(rowid, *(table.c[c] for c in self.columns))
                                .where(rowid > last).order_by(rowid).limit(FILL)).all()
            if not rows:
                return
            conn.execute(text(f"INSERT INTO {name}(rowid, pairs) VALUES (:rowid, :pairs)"),
                         [{"rowid": row[0], "pairs": _tokens(row[1:])} for row in rows])
            last = rows[-1][0]

    def add(self, conn: Connection, table: Table, rows: Sequence[Row]) -> None:
        """Index `rows`, just inserted into `table`."""
        if conn.dialect.name != "sqlite" or not rows:
            return
        key = next(iter(table.primary_key.columns)).name
        conn.execute(text(f"INSERT INTO {self.name(table)}(rowid, pairs) "
                          f"SELECT rowid, :pairs FROM {table.name} WHERE {key} = :key"),
                     [{"key": row[key], "pairs": self.tokens(row)} for row in rows])

    def holding(self, conn: Connection, table: Table, asked: Sequence[str]) -> ColumnElement[bool]:
        """The rows of `table` holding every pair `asked` (SQLite).

        How the list reads them depends on how many there are, which the index counts cheaply (it reads
        its list of rowids, at most COMMON + 1 of them); SQLite's planner cannot tell, as the index gives
        it no estimate, and always gathers every row the index names, then sorts them all to show a page.
        For a rare word that is best. A common one (走访, in 14 % of 350,000 cases: 50,000 rows) is better
        tested row by row as the list reads in its order, stopping at its page and count: the unary "+"
        keeps the term from driving the plan (SQLite's documented way), so the index's rowids become a set
        each row is looked up in, before the row itself is read."""
        name = self.name(table)
        tokens = " ".join(f'"{pair}"' for pair in asked)  # every token, in any order (FTS5's implicit AND)
        rowids = f"SELECT rowid FROM {name} WHERE {name} MATCH :tokens"
        counted = conn.execute(text(f"SELECT count(*) FROM ({rowids} LIMIT {COMMON + 1})"),
                               {"tokens": tokens}).scalar_one()
        row = literal_column(f"{'+' if counted > COMMON else ''}{table.name}.rowid", Integer)
        return row.in_(text(rowids).bindparams(tokens=tokens).columns(column("rowid", Integer)))
